"""The Lambda entry points (cdc_lake.lambda_handlers) invoked in-process, configured through the environment as the
container-image Lambda is, against moto's S3, Glue and Athena (real HTTP; AWS_ENDPOINT_URL points every client
there). moto's Athena runs no SQL: the statements it received are the evidence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdc_lake import lambda_handlers
from cdc_lake.lambda_handlers import MergeFailed
from cdc_streamer.errors import ConfigError
from tests.aurora_export import EXPORT_ID, write_export
from tests.lake_builder import ORDERS, Lake

from .athena_moto import own_athena, sent, upload

ENV = ("CDC_TABLES", "CDC_POSITION", "CDC_MYSQL_URL", "CDC_ENDPOINT_URL", "CDC_MAINTENANCE", "CDC_LOOKBACK_SECONDS")


@pytest.fixture
def lake(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A lake bucket and an Athena workgroup of this test's own, and the Lambda's environment pointing at them."""
    with own_athena(aws, "bucket") as names:
        for name in ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
        monkeypatch.setenv("CDC_LAKE_DIR", f"s3://{names['bucket']}/cdc")
        monkeypatch.setenv("CDC_ATHENA_WORKGROUP", names["workgroup"])
        monkeypatch.setenv("CDC_ATHENA_OUTPUT", f"s3://{names['bucket']}/athena-results/")
        monkeypatch.setenv("CDC_REGION", "us-east-1")
        monkeypatch.setattr(lambda_handlers, "_started", True)  # leave pytest's logging alone (cold_start: unit test)
        yield names


def shop_lake(root: Path, *, broken: bool = False) -> Path:
    built = Lake(root, database="shop")
    built.schema("orders", ORDERS, ["id"])
    built.write("orders", built.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    built.schema("log", [{"name": "line", "type": "text"}], [])
    built.write("log", built.txn("log", ("insert", {"line": "x"}, None)))
    if broken:  # events, but no schema event: the merge cannot build its master table
        built.write("broken", built.txn("broken", ("insert", {"id": 1}, None)))
    return root


def test_merge_returns_a_summary_per_table(aws: str, tmp_path: Path, lake: dict[str, str]) -> None:
    upload(shop_lake(tmp_path / "lake"), lake["bucket"], "cdc", aws)
    summary = lambda_handlers.merge({}, None)
    json.dumps(summary)  # JSON-able, as Lambda returns it
    assert (summary["merged"], summary["skipped"], summary["failed"]) == (1, 1, 0)
    tables = {(item["database"], item["table"]): item for item in summary["tables"]}
    assert tables[("shop", "orders")]["status"] == "merged"
    assert tables[("shop", "log")]["status"] == "skipped"
    assert tables[("shop", "log")]["message"] == "no primary key: history only, no master table"
    statements = sent(aws, lake["workgroup"])
    assert any(statement.startswith("MERGE INTO shop.orders") for statement in statements)
    assert not any(statement.startswith(("OPTIMIZE", "VACUUM")) for statement in statements)


def test_merge_takes_tables_from_the_event_and_maintenance_from_the_environment(
    aws: str, tmp_path: Path, lake: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(shop_lake(tmp_path / "lake"), lake["bucket"], "cdc", aws)
    monkeypatch.setenv("CDC_TABLES", "shop.log")
    monkeypatch.setenv("CDC_MAINTENANCE", "true")
    summary = lambda_handlers.merge({"tables": ["shop.orders"]}, None)
    assert [(item["table"], item["status"]) for item in summary["tables"]] == [("orders", "merged")]
    statements = sent(aws, lake["workgroup"])
    assert [statement.split()[0] for statement in statements[-2:]] == ["OPTIMIZE", "VACUUM"]


def test_a_failed_table_raises_after_the_others_merged(aws: str, tmp_path: Path, lake: dict[str, str]) -> None:
    upload(shop_lake(tmp_path / "lake", broken=True), lake["bucket"], "cdc", aws)
    with pytest.raises(MergeFailed) as raised:
        lambda_handlers.merge({}, None)
    assert isinstance(raised.value, RuntimeError)
    assert str(raised.value) == (
        "1 of 3 tables failed to merge (the others merged): shop.broken: failed: no schema event in the lake "
        "(events/database=D/table=_schema)"
    )
    assert any(statement.startswith("MERGE INTO shop.orders") for statement in sent(aws, lake["workgroup"]))


def test_merge_without_a_lake_is_a_config_error(lake: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDC_LAKE_DIR")
    with pytest.raises(ConfigError, match=r"^CDC_LAKE_DIR: expected the lake as s3://bucket/prefix, got 'nothing'$"):
        lambda_handlers.merge({}, None)


def test_load_export_from_a_describe_export_tasks_entry(aws: str, tmp_path: Path, lake: dict[str, str]) -> None:
    """What Step Functions passes after DescribeExportTasks: ExportTasks[0], the files under S3Prefix/<id>/."""
    upload(write_export(tmp_path, ours=True), lake["bucket"], f"exports/aurora/{EXPORT_ID}", aws)
    task = {
        "ExportTaskIdentifier": EXPORT_ID,
        "SourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:app-cluster",
        "ExportOnly": ["app"],
        "SnapshotTime": "2026-11-23T10:15:00.123000+00:00",
        "S3Bucket": lake["bucket"],
        "S3Prefix": "exports/aurora",
        "IamRoleArn": "arn:aws:iam::123456789012:role/export",
        "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "Status": "COMPLETE",
        "PercentProgress": 100,
        "TotalExtractedDataInGB": 0,
        "SourceType": "CLUSTER",
    }
    summary = lambda_handlers.load_export(task, None)
    json.dumps(summary)
    assert summary["export"] == f"s3://{lake['bucket']}/exports/aurora/{EXPORT_ID}"
    assert [(item["table"], item["rows"], item["files"], item["statements"]) for item in summary["tables"]] == [
        ("orders", 3, 2, 8),
        ("lines", 3, 1, 8),
    ]
    statements = sent(aws, lake["workgroup"])
    assert len(statements) == 3 + 1 + 16
    assert f"LOCATION 's3://{lake['bucket']}/exports/aurora/{EXPORT_ID}/app/app.orders/'" in statements[5]
    assert f"LOCATION 's3://{lake['bucket']}/cdc/master/app/orders/'" in statements[6]


def test_load_export_from_an_export_url_with_tables(aws: str, tmp_path: Path, lake: dict[str, str]) -> None:
    upload(write_export(tmp_path, ours=True), lake["bucket"], f"snapshots/{EXPORT_ID}", aws)
    event = {"export": f"s3://{lake['bucket']}/snapshots/{EXPORT_ID}/", "tables": "app.lines"}
    summary = lambda_handlers.load_export(event, None)
    assert [item["table"] for item in summary["tables"]] == ["lines"]
    assert sent(aws, lake["workgroup"])[-1] == "DROP TABLE IF EXISTS cdc_lake.load_export__app__lines"


def test_load_export_refuses_an_unfinished_task_or_a_bad_export_before_any_statement(
    aws: str, tmp_path: Path, lake: dict[str, str]
) -> None:
    running = {"ExportTaskIdentifier": "x", "S3Bucket": lake["bucket"], "S3Prefix": "", "Status": "IN_PROGRESS"}
    with pytest.raises(ConfigError, match=r"^export task x is IN_PROGRESS, not COMPLETE"):
        lambda_handlers.load_export(running, None)
    missing = {"ExportTaskIdentifier": "x", "S3Bucket": lake["bucket"], "Status": "COMPLETE"}
    with pytest.raises(ConfigError, match=rf"s3://{lake['bucket']}/x does not exist"):
        lambda_handlers.load_export(missing, None)
    assert sent(aws, lake["workgroup"]) == []
