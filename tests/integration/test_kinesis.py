"""The Kinesis sink against moto's real HTTP server: exactly once per key, per-key binlog order, partial failures
and throttling injected, aggregation, oversize rows, a crash mid-send, and bad input."""

from __future__ import annotations

import json
import random
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest

from cdc_streamer.checkpoint import FileCheckpointStore
from cdc_streamer.encoding import encode_event
from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import KinesisSettings, TableFilter
from cdc_streamer.sinks.kinesis import KinesisSink
from cdc_streamer.streamer import Streamer

from .aws import FaultyKinesis, StreamRecord, create_stream, kinesis, read_stream, wait_for
from .support import Database, run_cli, settings_for, start_cli, stop_process, stream_range


def write_workload(db: Database, keys: int = 60, rounds: int = 4) -> tuple[BinlogPosition, BinlogPosition]:
    """Inserts, hot-key updates, deletes and multi-row transactions over two tables (one without a key)."""
    db.execute("CREATE TABLE w (id INT PRIMARY KEY, v INT, note VARCHAR(20))")
    db.execute("CREATE TABLE log (msg VARCHAR(20))")
    start = db.position()
    rng = random.Random(7)
    db.executemany("INSERT INTO w VALUES (%s, 0, 'new')", [(i,) for i in range(keys)])
    for round_ in range(rounds):
        db.execute("BEGIN")
        for _ in range(40):
            db.execute("UPDATE w SET v = v + 1, note = %s WHERE id = %s", (f"r{round_}", rng.randrange(keys)))
        db.execute("INSERT INTO log VALUES (%s)", (f"round {round_}",))
        db.execute("COMMIT")
        db.execute("UPDATE w SET v = v + 100 WHERE id < 5")  # hot keys, several rows per statement
    db.execute("DELETE FROM w WHERE id % 7 = 0")
    return start, db.position()


def run_with(
    sink: KinesisSink, mariadb: LocalMariaDB, db: Database, start: BinlogPosition, end: BinlogPosition, **overrides: Any
) -> None:
    overrides.setdefault("replay", True)
    store = overrides.pop("store", None)
    settings = settings_for(
        mariadb, start_position=start, end_position=end, filter=TableFilter(include=((db.name, "*"),)), **overrides
    )
    Streamer(settings, sink=sink, store=store).run()


def expected_events(mariadb: LocalMariaDB, db: Database, start: BinlogPosition, end: BinlogPosition) -> list[Any]:
    return [json.loads(encode_event(e)) for e in stream_range(mariadb, start, end, db.name)]


def identity(event: dict[str, Any]) -> tuple[Any, ...]:
    """Binlog order; a schema event has the xoffset of the row event after it, and comes first."""
    return (BinlogPosition.parse(event["position"]).sort_key, event["xoffset"], event["type"] != "table-schema")


def row_id(event: dict[str, Any]) -> Any:
    """The `id` of a row event; None for a schema event (it has no row)."""
    return event["data"]["id"] if "data" in event else None


def assert_exactly_once_in_key_order(records: list[StreamRecord], expected: list[Any]) -> None:
    assert sorted(identity(r.event) for r in records) == sorted(identity(e) for e in expected), "not exactly once"
    by_identity = {identity(e): e for e in expected}
    assert all(r.event == by_identity[identity(r.event)] for r in records), "payload differs from the event"
    per_key: dict[str, list[StreamRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.shard, r.sequence)):
        per_key[record.user_key].append(record)
    for key, items in per_key.items():
        assert len({r.shard for r in items}) == 1, f"key {key} spread over shards"
        order = [identity(r.event) for r in items]
        assert order == sorted(order), f"key {key} out of binlog order"


def sink_for(endpoint: str, stream: str, client: Any = None, **options: Any) -> KinesisSink:
    settings = KinesisSettings(stream_name=stream, endpoint_url=endpoint, region="us-east-1", **options)
    return KinesisSink(client or kinesis(endpoint), settings, sleep=lambda seconds: None)


def test_every_event_arrives_once_in_per_key_order(aws: str, mariadb: LocalMariaDB, db: Database) -> None:
    create_stream(aws, "plain")
    start, end = write_workload(db)
    sink = sink_for(aws, "plain")
    run_with(sink, mariadb, db, start, end)
    records = read_stream(aws, "plain")
    expected = expected_events(mariadb, db, start, end)
    assert len(expected) > 200
    assert_exactly_once_in_key_order(records, expected)
    assert {r.user_key for r in records if r.event["table"] == "log"} == {f"{db.name}.log"}  # no key: by table
    assert sink.stats.records == len(expected)


def test_partial_failures_and_throttling_lose_nothing_and_keep_key_order(
    aws: str, mariadb: LocalMariaDB, db: Database
) -> None:
    create_stream(aws, "faulty")
    start, end = write_workload(db)
    rng = random.Random(11)
    faulty = FaultyKinesis(
        kinesis(aws),
        fail_entry=lambda entry: "ProvisionedThroughputExceededException" if rng.random() < 0.3 else None,
        fail_call=lambda call: call % 3 == 0,
    )
    sink = sink_for(aws, "faulty", client=faulty, max_send_attempts=60, batch_records=50)
    run_with(sink, mariadb, db, start, end)
    assert faulty.failed_entries > 50 and faulty.failed_calls >= 3
    assert_exactly_once_in_key_order(read_stream(aws, "faulty"), expected_events(mariadb, db, start, end))


def test_the_checkpoint_never_passes_an_unsent_row(
    aws: str, mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    create_stream(aws, "stuck")
    start, end = write_workload(db)
    stuck_key = f"{db.name}.w.[3]"
    faulty = FaultyKinesis(
        kinesis(aws), fail_entry=lambda entry: "InternalFailure" if entry["PartitionKey"] == stuck_key else None
    )
    store = FileCheckpointStore(tmp_path / "checkpoint.json")
    sink = sink_for(aws, "stuck", client=faulty, max_send_attempts=3)
    with pytest.raises(RuntimeFailure, match=rf"{db.name}\.w at binlog\.\d+:\d+ xoffset \d+ 3 times"):
        run_with(sink, mariadb, db, start, end, replay=False, store=store)
    first_stuck = min(
        BinlogPosition.parse(e["position"])
        for e in expected_events(mariadb, db, start, end)
        if e["table"] == "w" and row_id(e) == 3
    )
    saved = store.load()
    assert saved is not None and saved.position <= first_stuck


def test_skip_on_send_failure_is_opt_in_and_counted(aws: str, mariadb: LocalMariaDB, db: Database) -> None:
    create_stream(aws, "skipping")
    start, end = write_workload(db)
    stuck_key = f"{db.name}.w.[3]"
    faulty = FaultyKinesis(
        kinesis(aws), fail_entry=lambda entry: "InternalFailure" if entry["PartitionKey"] == stuck_key else None
    )
    sink = sink_for(aws, "skipping", client=faulty, max_send_attempts=2, on_send_failure="skip")
    run_with(sink, mariadb, db, start, end)
    expected = [e for e in expected_events(mariadb, db, start, end)]
    kept = [e for e in expected if not (e["table"] == "w" and row_id(e) == 3)]
    assert sink.stats.skipped_failed == len(expected) - len(kept) > 0
    assert_exactly_once_in_key_order(read_stream(aws, "skipping"), kept)


@pytest.mark.parametrize("partition_by", ["primary_key", "table"])
def test_aggregated_records_round_trip_with_one_key_each(
    aws: str, mariadb: LocalMariaDB, db: Database, partition_by: str
) -> None:
    stream = f"agg-{partition_by.replace('_', '-')}"
    create_stream(aws, stream)
    start, end = write_workload(db)
    sink = sink_for(aws, stream, aggregate=True, partition_by=partition_by)
    run_with(sink, mariadb, db, start, end)
    records = read_stream(aws, stream)
    assert all(r.user_key == r.partition_key for r in records), "an aggregate mixed partition keys"
    assert len({(r.shard, r.sequence) for r in records}) < len(records) / 2, "records were not aggregated"
    assert_exactly_once_in_key_order(records, expected_events(mariadb, db, start, end))


def write_oversize(db: Database) -> tuple[BinlogPosition, BinlogPosition]:
    db.execute("CREATE TABLE big (id INT PRIMARY KEY, body MEDIUMTEXT)")
    start = db.position()
    db.execute("INSERT INTO big VALUES (1, 'small'), (2, REPEAT('x', 20000)), (3, 'small too')")
    return start, db.position()


def test_oversize_fail_names_the_row(aws: str, mariadb: LocalMariaDB, db: Database) -> None:
    create_stream(aws, "over-fail")
    start, end = write_oversize(db)
    sink = sink_for(aws, "over-fail", record_limit=8192)
    with pytest.raises(RuntimeFailure, match=rf"{db.name}\.big at binlog\.\d+:\d+ xoffset 1 is \d+ bytes"):
        run_with(sink, mariadb, db, start, end)
    assert read_stream(aws, "over-fail") == []


def test_oversize_skip_sends_the_rest(aws: str, mariadb: LocalMariaDB, db: Database) -> None:
    create_stream(aws, "over-skip")
    start, end = write_oversize(db)
    sink = sink_for(aws, "over-skip", record_limit=8192, oversize="skip")
    run_with(sink, mariadb, db, start, end)
    events = [r.event for r in read_stream(aws, "over-skip")]
    assert sorted(row_id(e) for e in events if "data" in e) == [1, 3]
    assert [e["type"] for e in events].count("table-schema") == 1
    assert sink.stats.skipped_oversize == 1


def test_oversize_claim_check_puts_the_event_in_s3(aws: str, mariadb: LocalMariaDB, db: Database) -> None:
    create_stream(aws, "over-claim")
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="claims")
    start, end = write_oversize(db)
    settings = KinesisSettings(
        stream_name="over-claim", endpoint_url=aws, record_limit=8192, oversize="claim-check:s3://claims/cdc"
    )
    sink = KinesisSink(kinesis(aws), settings, object_store=s3, sleep=lambda seconds: None)
    run_with(sink, mariadb, db, start, end)
    records = {r.event["xoffset"]: r.event for r in read_stream(aws, "over-claim") if r.event["type"] != "table-schema"}
    pointer = records[1]
    assert "data" not in pointer and pointer["primary_key"] == [2]
    uri = pointer["claim_check"]["uri"]
    assert uri.startswith(f"s3://claims/cdc/{db.name}/big/")
    body = s3.get_object(Bucket="claims", Key=uri.removeprefix("s3://claims/"))["Body"].read()
    full = json.loads(body)
    assert full["data"]["body"] == "x" * 20000 and pointer["claim_check"]["bytes"] == len(body)
    assert records[0]["data"]["id"] == 1 and records[2]["data"]["id"] == 3


def cli_args(mariadb: LocalMariaDB, aws: str, stream: str, database: str, *extra: str) -> list[str]:
    return [
        "run", "--mysql-url", mariadb.url(), "--sink", "kinesis", "--stream-name", stream,
        "--endpoint-url", aws, "--include-tables", f"{database}.*", *extra,
    ]  # fmt: skip


def test_sigkill_while_sending_then_restart_loses_nothing(
    aws: str, mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    create_stream(aws, "crash", shards=2)
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))")
    start = db.position()
    for txn in range(40):
        db.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"value {i}") for i in range(txn * 250, txn * 250 + 250)])
    end = db.position()
    store = tmp_path / "checkpoint.json"
    args = cli_args(mariadb, aws, "crash", db.name, "--position-store", f"file:{store}", "--end-position", str(end))
    process = start_cli(*args, "--start-position", str(start), "--flush-interval", "0.1")
    try:
        wait_for(lambda: store.exists() and BinlogPosition.parse(json.loads(store.read_text())["position"]) > start)
        process.send_signal(signal.SIGKILL)
    finally:
        stop_process(process)
    resumed = run_cli(*args, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    ids = [row_id(r.event) for r in read_stream(aws, "crash") if r.event["type"] != "table-schema"]
    assert set(ids) == set(range(10_000)), "a row is missing after the restart"


@pytest.mark.parametrize(
    ("extra", "env", "fragment"),
    [
        (["--stream-name", "no-such-stream"], {}, "stream 'no-such-stream' does not exist"),
        (["--stream-name", "bad-input", "--region", "eu-west-3"], {}, "does not exist in region eu-west-3"),
        ([], {}, "--stream-name"),
        (["--stream-name", "bad-input", "--partition-by", "colour"], {}, "--partition-by"),
        (["--stream-name", "bad-input", "--oversize", "claim-check:nowhere"], {}, "--oversize"),
        (["--stream-name", "bad-input", "--batch-records", "501"], {}, "--batch-records"),
        (
            ["--stream-name", "bad-input"],
            {
                "AWS_ACCESS_KEY_ID": "",
                "AWS_SECRET_ACCESS_KEY": "",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_CONFIG_FILE": "/nonexistent",
            },
            "no AWS credentials",
        ),
    ],
)
def test_bad_kinesis_input_is_one_line_exit_2_and_nothing_checkpointed(
    aws: str, mariadb: LocalMariaDB, tmp_path: Path, extra: list[str], env: dict[str, str], fragment: str
) -> None:
    if "bad-input" not in {s["StreamName"] for s in kinesis(aws).list_streams().get("StreamSummaries", [])}:
        create_stream(aws, "bad-input", shards=1)
    store = tmp_path / "checkpoint.json"
    args = ["run", "--mysql-url", mariadb.url(), "--sink", "kinesis", "--endpoint-url", aws]
    result = run_cli(*args, "--position-store", f"file:{store}", *extra, env=env, timeout=60)
    lines = [line for line in result.stderr.splitlines() if " info " not in line]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert not store.exists()
