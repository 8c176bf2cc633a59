"""A real MariaDB workload through `cdc-streamer run --sink file` and `cdc-lake deliver`, read back with DuckDB:
every change, with every value equal to what the streamer emitted, for every type in the golden scenarios."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cdc_streamer.encoding import RawJson
from cdc_streamer.local_mariadb import LocalMariaDB

from .golden import parse_scenario
from .support import Database, file_sink_run, run_cli, start_cli, stop_process

GOLDEN = Path(__file__).parent.parent / "golden"

# A schema event shares binlog_order with the row event after it, and comes first.
ORDER = """binlog_order, "table" <> '_schema'"""
LAKE_COLUMNS = (
    'database, "table", type, ts, xid, xoffset, "commit", binlog_file, binlog_position, binlog_order, gtid, '
    "server_id, thread_id, primary_key, primary_key_columns, data, old"
)


def exact(text: str | None) -> Any:
    """JSON text with numbers kept as written, for comparing values exactly."""
    return None if text is None else json.loads(text, parse_float=RawJson)


def lake_rows(lake: Path) -> list[dict[str, Any]]:
    query = (
        f"SELECT {LAKE_COLUMNS} FROM read_parquet('{lake}/events/**/*.parquet', hive_partitioning = true) "
        f"ORDER BY {ORDER}"
    )
    with duckdb.connect() as conn:
        cursor = conn.execute(query)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def as_lake_row(event: dict[str, Any]) -> dict[str, Any]:
    """What the lake must hold for one emitted event."""
    file, _, offset = event["position"].rpartition(":")
    ddl = "sql" in event
    schema = event["type"] == "table-schema"
    if ddl:
        data = {"table": event["table"], "sql": event["sql"]}
    elif schema:
        data = {"table": event["table"], "columns": event["columns"]}
    else:
        data = event["data"]
    return {
        "database": event["database"],
        "table": "_ddl" if ddl else "_schema" if schema else event["table"],
        "type": event["type"],
        "ts": event["ts"],
        "xid": event.get("xid"),
        "xoffset": event.get("xoffset", 0),
        "commit": event.get("commit", False),
        "binlog_file": file,
        "binlog_position": int(offset),
        "gtid": event["gtid"],
        "server_id": event["server_id"],
        "thread_id": event["thread_id"],
        "primary_key": event.get("primary_key"),
        "primary_key_columns": event.get("primary_key_columns"),
        "data": data,
        "old": event.get("old"),
    }


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row.pop("binlog_order")
    for column in ("primary_key", "primary_key_columns", "data", "old"):
        row[column] = exact(row[column])
    return row


@pytest.fixture
def golden_workload(mariadb: LocalMariaDB, db: Database) -> Iterator[tuple[str, str]]:
    """Every golden scenario's SQL, run in one database; yields (start, end) positions."""
    start = db.position()
    for path in sorted(GOLDEN.glob("*.sql")):
        for step in parse_scenario(path).steps:
            db.execute(step.sql)
        db.execute(f"USE `{db.name}`")
    yield str(start), str(db.position())


def test_every_golden_change_lands_in_the_lake_with_equal_values(
    mariadb: LocalMariaDB, db: Database, golden_workload: tuple[str, str], tmp_path: Path
) -> None:
    start, end = golden_workload
    events_file, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    streamed = run_cli(
        *file_sink_run(mariadb, events_file, f"{db.name}.*"),
        "--start-position", start, "--end-position", end, "--output-ddl",
    )  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    delivered = run_cli("deliver", "--from-file", str(events_file), "--lake-dir", str(lake), cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr

    events = [json.loads(line, parse_float=RawJson) for line in events_file.read_text().splitlines()]
    assert len(events) > 50 and any("sql" in e for e in events) and any("columns" in e for e in events)
    rows = lake_rows(lake)
    assert [comparable(row) for row in rows] == [as_lake_row(event) for event in events]
    assert not (lake / "errors").exists()


def test_bad_lines_go_to_the_error_prefix_and_the_rest_is_delivered(tmp_path: Path) -> None:
    events_file, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    good = {
        "database": "d", "table": "t", "type": "insert", "ts": 1700000000, "xid": 5, "xoffset": 0, "commit": True,
        "position": "binlog.000001:4", "gtid": "0-1-1", "server_id": 1, "thread_id": None, "primary_key": [1],
        "primary_key_columns": ["id"], "data": {"id": 1},
    }  # fmt: skip
    events_file.write_text(json.dumps(good) + "\nnot json\n" + json.dumps({**good, "ts": "x"}) + "\n")
    delivered = run_cli("deliver", "--from-file", str(events_file), "--lake-dir", str(lake), cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr
    assert [row["data"] for row in lake_rows(lake)] == ['{"id":1}']
    errors = [json.loads(line) for path in (lake / "errors").rglob("*") if path.is_file()
              for line in path.read_text().splitlines()]  # fmt: skip
    assert len(errors) == 2 and all(e["errorCode"] == "Lambda.ProcessingFailed" and e["rawData"] for e in errors)


def test_killed_delivery_restarts_without_losing_an_event(tmp_path: Path) -> None:
    events_file, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    with events_file.open("w") as handle:
        for i in range(20_000):
            event = {
                "database": "d", "table": "t", "type": "insert", "ts": 1700000000 + i, "xid": i, "xoffset": 0,
                "commit": True, "position": f"binlog.000001:{4 + i * 100}", "gtid": f"0-1-{i}", "server_id": 1,
                "thread_id": None, "primary_key": [i], "primary_key_columns": ["id"], "data": {"id": i},
            }  # fmt: skip
            handle.write(json.dumps(event) + "\n")
    args = ("deliver", "--from-file", str(events_file), "--lake-dir", str(lake), "--buffer-mb", "0.2")
    process = start_cli(*args, cli="cdc_lake")
    try:
        checkpoint = lake / "_checkpoints" / "deliver-cdc-lake-deliver.json"
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        stop_process(process)
    resumed = run_cli(*args, cli="cdc_lake")
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(row["data"])["id"] for row in lake_rows(lake)]
    assert set(ids) == set(range(20_000))
    assert not list(lake.rglob(".*.tmp")), "a half-written file is visible"


def test_delivery_from_kinesis_with_aggregation_into_an_s3_lake(
    aws: str, mariadb: LocalMariaDB, db: Database, golden_workload: tuple[str, str], tmp_path: Path
) -> None:
    import boto3
    import pyarrow.dataset as ds
    from pyarrow import fs

    from .aws import create_stream

    start, end = golden_workload
    create_stream(aws, "lake-source", shards=2)
    boto3.client("s3", endpoint_url=aws, region_name="us-east-1").create_bucket(Bucket="lake")
    streamed = run_cli(
        "run", "--mysql-url", mariadb.url(), "--include-tables", f"{db.name}.*", "--output-ddl",
        "--start-position", start, "--end-position", end,
        "--sink", "kinesis", "--stream-name", "lake-source", "--endpoint-url", aws, "--aggregate",
        "--partition-by", "table",
    )  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    delivered = run_cli(
        "deliver", "--from-kinesis", "lake-source", "--endpoint-url", aws, "--lake-dir", "s3://lake/cdc",
        cli="cdc_lake",
    )  # fmt: skip
    assert delivered.returncode == 0, delivered.stderr

    s3 = fs.S3FileSystem(endpoint_override=aws.removeprefix("http://"), scheme="http", region="us-east-1")
    dataset = ds.dataset("lake/cdc/events", filesystem=s3, format="parquet", partitioning="hive")
    table = dataset.to_table()
    with duckdb.connect() as conn:
        conn.register("lake", table)
        cursor = conn.execute(f"SELECT {LAKE_COLUMNS} FROM lake ORDER BY {ORDER}")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    expected_file = tmp_path / "expected.jsonl"
    reference = run_cli(
        *file_sink_run(mariadb, expected_file, f"{db.name}.*"),
        "--start-position", start, "--end-position", end, "--output-ddl",
    )  # fmt: skip
    assert reference.returncode == 0, reference.stderr
    events = [json.loads(line, parse_float=RawJson) for line in expected_file.read_text().splitlines()]
    assert [comparable(row) for row in rows] == [as_lake_row(event) for event in events]


def test_follow_delivers_new_events_until_sigterm(tmp_path: Path) -> None:
    events_file, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    events_file.write_text("")
    process = start_cli(
        "deliver", "--from-file", str(events_file), "--lake-dir", str(lake), "--follow", "--buffer-seconds", "0.2",
        cli="cdc_lake",
    )  # fmt: skip
    try:
        with events_file.open("a") as handle:
            for i in range(3):
                event = {
                    "database": "d", "table": "t", "type": "insert", "ts": 1700000000, "xid": i, "xoffset": 0,
                    "commit": True, "position": f"binlog.000001:{4 + i}", "gtid": None, "server_id": 1,
                    "thread_id": None, "primary_key": [i], "primary_key_columns": ["id"], "data": {"id": i},
                }  # fmt: skip
                handle.write(json.dumps(event) + "\n")
                handle.flush()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(list(lake.rglob("*.parquet"))) <= i:
                    time.sleep(0.05)
        assert len(lake_rows(lake)) == 3
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
        assert process.returncode == 0
    finally:
        stop_process(process)
