"""Unit tests for cdc_lake.lambda_handlers' decoding: the event shapes `load_export` accepts (an export URL, an RDS
DescribeExportTasks entry as Step Functions passes it, the whole response), the `tables` and `position` overrides,
the environment's checks, and the logging set up at cold start. No AWS call is made here."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from cdc_lake import lambda_handlers
from cdc_lake.lambda_handlers import export_location
from cdc_streamer.errors import ConfigError
from cdc_streamer.position import BinlogPosition

TASK = {
    "ExportTaskIdentifier": "app-export-1",
    "SourceArn": "arn:aws:rds:eu-west-1:123456789012:cluster:app",
    "S3Bucket": "my-exports",
    "S3Prefix": "aurora",
    "Status": "COMPLETE",
    "PercentProgress": 100,
}


@pytest.mark.parametrize(
    ("event", "location"),
    [
        ({"export": "s3://my-exports/aurora/app-export-1"}, "s3://my-exports/aurora/app-export-1"),
        ({"export": "s3://my-exports/aurora/app-export-1/"}, "s3://my-exports/aurora/app-export-1"),
        (TASK, "s3://my-exports/aurora/app-export-1"),
        ({**TASK, "S3Prefix": "/a/b/"}, "s3://my-exports/a/b/app-export-1"),
        ({**TASK, "S3Prefix": ""}, "s3://my-exports/app-export-1"),
        (
            {key: value for key, value in TASK.items() if key not in ("S3Prefix", "Status")},
            "s3://my-exports/app-export-1",
        ),
        ({**TASK, "Status": "complete"}, "s3://my-exports/aurora/app-export-1"),
        ({"ExportTasks": [TASK]}, "s3://my-exports/aurora/app-export-1"),
    ],
)
def test_export_locations(event: dict[str, Any], location: str) -> None:
    assert export_location(event) == location


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, 'the event names no export: expected {"export": "s3://bucket/prefix/<export_id>"} or an RDS'),
        ({"export": "/local/dir"}, "event field export: expected s3://bucket/prefix/<export_id>, got '/local/dir'"),
        ({"export": "s3://"}, "event field export: expected s3://bucket/prefix/<export_id>, got 's3://'"),
        ({"export": 7}, "event field export: expected s3://bucket/prefix/<export_id>, got 7"),
        ({**TASK, "Status": "FAILED"}, "export task app-export-1 is FAILED, not COMPLETE: load it once the export"),
        ({**TASK, "S3Bucket": None}, "the export task: expected ExportTaskIdentifier and S3Bucket as text"),
        ({"S3Bucket": "b"}, "the export task: expected ExportTaskIdentifier and S3Bucket as text, got None and 'b'"),
        ({**TASK, "S3Prefix": 3}, "export task app-export-1: S3Prefix: expected text, got 3"),
        ({"ExportTasks": []}, "event field ExportTasks: expected a list of exactly one export task, got 0 entries"),
        ({"ExportTasks": [TASK, TASK]}, "expected a list of exactly one export task, got 2 entries"),
        ({"ExportTasks": "x"}, "expected a list of exactly one export task, got str"),
    ],
)
def test_bad_events_are_one_line_config_errors(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        export_location(event)
    assert message in raised.value.message
    assert "\n" not in raised.value.message


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CDC_TABLES", "CDC_POSITION", "CDC_MAINTENANCE", "CDC_LOOKBACK_SECONDS", "CDC_ATHENA_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDC_LAKE_DIR", "s3://lake/cdc")
    monkeypatch.setattr(lambda_handlers, "_started", True)
    return monkeypatch


def test_tables_come_from_the_event_before_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("CDC_TABLES", "app.orders")
    assert lambda_handlers._tables({}).include == (("app", "orders"),)
    assert lambda_handlers._tables({"tables": "crm.*, app.lines"}).include == (("crm", "*"), ("app", "lines"))
    assert lambda_handlers._tables({"tables": ["crm.*", "app.lines"]}).include == (("crm", "*"), ("app", "lines"))
    assert lambda_handlers._tables({"tables": []}).include == ()  # every table
    with pytest.raises(ConfigError, match=r"^event field tables: expected db.table or db.\* entries"):
        lambda_handlers._tables({"tables": "app"})
    with pytest.raises(ConfigError, match=r"^event field tables: expected a string or a list"):
        lambda_handlers._tables({"tables": {"app": "orders"}})
    env.setenv("CDC_TABLES", "nodot")
    with pytest.raises(ConfigError, match=r"^CDC_TABLES: expected db.table"):
        lambda_handlers._tables({})


def test_position_comes_from_the_event_before_the_environment(env: pytest.MonkeyPatch) -> None:
    assert lambda_handlers._position({}) is None
    env.setenv("CDC_POSITION", "mysql-bin-changelog.000042:1876")
    assert lambda_handlers._position({}) == BinlogPosition("mysql-bin-changelog.000042", 1876)
    assert lambda_handlers._position({"position": "binlog.000007:4"}) == BinlogPosition("binlog.000007", 4)
    with pytest.raises(ConfigError, match=r"^event field position: expected FILE:POS"):
        lambda_handlers._position({"position": "nowhere"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CDC_LAKE_DIR", "/tmp/lake", "CDC_LAKE_DIR: expected the lake as s3://bucket/prefix, got '/tmp/lake'"),
        ("CDC_ATHENA_OUTPUT", "results/", "CDC_ATHENA_OUTPUT: expected s3://bucket/prefix/ for Athena's query"),
        ("CDC_MAINTENANCE", "maybe", "CDC_MAINTENANCE: expected true or false, got 'maybe'"),
        ("CDC_LOOKBACK_SECONDS", "-1", "CDC_LOOKBACK_SECONDS: expected seconds >= 0, got '-1'"),
        ("CDC_TABLES", "x", "CDC_TABLES: expected db.table or db.* entries"),
    ],
)
def test_bad_environment_fails_before_any_aws_call(
    env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    env.setenv(name, value)
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: an AWS call would fail differently
    with pytest.raises(ConfigError) as raised:
        lambda_handlers.merge({}, None)
    assert raised.value.message.startswith(message)


def test_load_export_checks_its_event_before_any_aws_call(env: pytest.MonkeyPatch) -> None:
    env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"^the event names no export"):
        lambda_handlers.load_export({}, None)
    with pytest.raises(ConfigError, match=r"^the event: expected a JSON object, got list"):
        lambda_handlers.load_export([], None)  # type: ignore[arg-type]
    env.setenv("CDC_MYSQL_URL", "postgres://x@y")
    with pytest.raises(ConfigError, match=r"^CDC_MYSQL_URL: expected mysql://"):
        lambda_handlers.load_export({"export": "s3://b/e"}, None)


COLD_START = """
import logging, sys
runtime = logging.StreamHandler(sys.stdout)  # as the Lambda runtime's own root handler
logging.getLogger().addHandler(runtime)
from cdc_lake import lambda_handlers
lambda_handlers.cold_start()
lambda_handlers.cold_start()
logging.getLogger("cdc_lake.test").info("loaded", extra={"fields": {"rows": 3}})
logging.getLogger("cdc_lake.test").debug("not shown")
"""


def test_cold_start_logs_json_lines_once_and_replaces_the_runtime_handler() -> None:
    done = subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    record = json.loads(lines[0])
    assert (record["level"], record["logger"], record["message"], record["rows"]) == (
        "info",
        "cdc_lake.test",
        "loaded",
        3,
    )
