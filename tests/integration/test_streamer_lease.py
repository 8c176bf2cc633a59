"""Two real streamers on one DynamoDB checkpoint (moto's server): the second refuses to run while the first holds
the lease, and starts where the first stopped once it has released it. The initial load's `record_position`
Lambda handler stores the source's position in the same table."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cdc_streamer import lambda_handlers
from cdc_streamer.checkpoint import open_store
from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli, start_cli


@pytest.fixture
def table(aws: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "checkpoints-" + request.node.name.replace("_", "-")[:60]
    client = boto3.client("dynamodb", endpoint_url=aws, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pipeline", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pipeline", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws)
    yield name
    client.delete_table(TableName=name)


def wait_for_line(path: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {count} lines")


def test_a_second_streamer_on_the_same_checkpoint_refuses_to_run(
    mariadb: LocalMariaDB, db: Database, table: str, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    store = f"dynamodb:{table}/orders"
    first_out, second_out = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    common = ("--position-store", store)
    first = start_cli(*file_sink_run(mariadb, first_out, f"{db.name}.*"), "--no-output-schema", *common)
    try:
        deadline = time.monotonic() + 30
        while open_store(store).load() is None:  # the first streamer saves its start position once streaming
            assert time.monotonic() < deadline and first.poll() is None, "the first streamer did not start"
            time.sleep(0.1)
        db.execute("INSERT INTO t VALUES (1)")
        wait_for_line(first_out, 1)
        second = run_cli(*file_sink_run(mariadb, second_out, f"{db.name}.*"), *common, timeout=60)
        assert second.returncode == 3, second.stderr
        message = second.stderr.strip()
        assert message.count("\n") == 0 and "another streamer" in message and f"{table}/orders" in message
        assert not second_out.exists() or second_out.read_text() == ""
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
    assert first.returncode == 0, stderr
    # released on a clean stop: the next streamer starts at once, from the first one's checkpoint
    db.execute("INSERT INTO t VALUES (2)")
    caught_up = run_cli(
        *file_sink_run(mariadb, second_out, f"{db.name}.*"), "--no-output-schema", *common, "--stop-when-caught-up"
    )
    assert caught_up.returncode == 0, caught_up.stderr
    assert [json.loads(line)["data"]["id"] for line in second_out.read_text().splitlines()] == [2]


def test_record_position_stores_the_sources_position_for_the_first_load(
    mariadb: LocalMariaDB, db: Database, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    expected = db.position()
    monkeypatch.setenv("CDC_MYSQL_URL", mariadb.url())
    monkeypatch.setenv("CDC_POSITION_STORE", f"dynamodb:{table}")
    monkeypatch.delenv("CDC_MYSQL_SECRET_ARN", raising=False)
    monkeypatch.setattr(lambda_handlers, "_configure_logging", lambda: None)  # leave pytest's logging alone
    result = lambda_handlers.record_position({}, None)
    assert result["position"] == str(expected)
    assert result["gtid"]  # MariaDB: the GTID state at that position
    stored = open_store(f"dynamodb:{table}").load()
    assert stored is not None and stored.position == expected and stored.gtid == result["gtid"]
    position = run_cli("position", "--position-store", f"dynamodb:{table}")
    assert position.returncode == 0 and position.stdout.startswith(str(expected))
