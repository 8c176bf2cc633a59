"""Oversize rows against a real MariaDB: values of 1 MiB - 1, exactly 1 MiB and 1 MiB + 1 byte (LONGBLOB, and
LONGTEXT of multibyte UTF-8), and rows whose whole event lands at Kinesis' 1 MiB record limit - 1, + 0 and + 1 byte
(event JSON + partition key, as Kinesis counts a record).

- `--sink lake` end to end: every value reaches the master table byte for byte, `cdc-lake verify` finds it equal.
- `--sink kinesis` against moto: what fits is sent and read back byte for byte; the first event over the limit stops
  `--oversize fail` with one line (exit 1, checkpoint before it); `--oversize skip` counts what it drops;
  `--oversize claim-check:s3://...` puts the whole event in (moto) S3, and `cdc-lake deliver --from-kinesis`
  (the local Firehose, with the same transform) brings it back: master == source.

The Firehose transform near Firehose's own limits is in test_large_and_ddl_transform.py. Each test prints one line
of figures.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from cdc_streamer.encoding import encode_event
from cdc_streamer.event import ChangeEvent, Event, Operation
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.partition import by_primary_key
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import KinesisSettings, TableFilter
from cdc_streamer.sinks.kinesis import KinesisSink
from cdc_streamer.streamer import Streamer
from firehose_transform.transform import SIZE_LIMIT_REASON

from .aws import create_stream, kinesis
from .large_and_ddl import MIB, compact_and_verify, master_rows, run_measured
from .support import Database, run_cli, settings_for, stream_range
from .test_lake_sink import checkpoint_position, lake_sink_run

VALUE_SIZES = (MIB - 1, MIB, MIB + 1)
EDGE_OFFSETS = (-1, 0, 1)  # the event's size (JSON + partition key) relative to the Kinesis record limit
BLOB_IDS = (1, 2, 3)
TEXT_IDS = (11, 12, 13)
MULTIBYTE = "é€😀a"  # 2 + 3 + 4 + 1 bytes of UTF-8


def multibyte_text(size: int) -> str:
    """Text of exactly `size` bytes of UTF-8, mostly 2-, 3- and 4-byte characters."""
    whole, rest = divmod(size, len(MULTIBYTE.encode()))
    text = MULTIBYTE * whole + "a" * rest
    assert len(text.encode()) == size
    return text


def record_size(event: Event) -> int:
    """What Kinesis counts for the record of an event: its JSON plus its (default) partition key, in bytes."""
    return len(encode_event(event).encode()) + len(by_primary_key(event).encode())


@dataclass(frozen=True)
class OversizeRows:
    database: str
    start: BinlogPosition  # every row below is in [start, end)
    end: BinlogPosition
    blobs: dict[int, bytes]
    texts: dict[int, str]
    edges: dict[int, int]  # id -> record size of its insert event (limit - 1, limit, limit + 1)
    edge_start: BinlogPosition  # the three edge transactions, one after the other, in [edge_start, end)
    events: list[Event]  # every event the streamer emits for [start, end)

    @property
    def row_events(self) -> list[ChangeEvent]:
        return [e for e in self.events if isinstance(e, ChangeEvent)]


def next_gtid(db: Database) -> str:
    """The GTID MariaDB gives the next transaction of this server (domain 0)."""
    current = str(db.query("SELECT @@gtid_binlog_pos")[0][0] or "")
    sequence = max((int(g.split("-")[2]) for g in current.split(",") if g.startswith("0-")), default=0)
    return f"0-1-{sequence + 1}"


def write_edges(server: LocalMariaDB, db: Database, xid_guess: int) -> tuple[BinlogPosition, dict[int, int]]:
    """Three inserts into `edge` whose events are exactly limit - 1, limit and limit + 1 bytes as Kinesis counts
    them. The binlog position, GTID and commit time of each transaction are known before it is written; the XID
    is not, so its digits are guessed from an earlier one, and the three are written again if a guess was wrong."""
    next_id = 100
    for _ in range(5):
        start = db.position()
        wanted: dict[int, int] = {}
        for offset in EDGE_OFFSETS:
            key, next_id = next_id, next_id + 1
            template = ChangeEvent(
                database=db.name, table="edge", type=Operation.INSERT, ts=int(time.time()), xid=xid_guess,
                xoffset=0, commit=True, position=db.position(), gtid=next_gtid(db), server_id=1, thread_id=None,
                primary_key=(key,), primary_key_columns=("id",), data={"id": key, "body": ""},
            )  # fmt: skip
            wanted[key] = MIB + offset
            db.execute("INSERT INTO edge VALUES (%s, REPEAT('x', %s))", (key, MIB + offset - record_size(template)))
        events = [e for e in stream_range(server, start, db.position(), db.name) if isinstance(e, ChangeEvent)]
        actual = {e.data["id"]: record_size(e) for e in events}
        if actual == wanted:
            return start, actual
        xid_guess = max(e.xid or 0 for e in events)
    raise AssertionError("could not write events of the exact sizes in 5 attempts")


@pytest.fixture(scope="module")
def oversize(mariadb: LocalMariaDB) -> Iterator[OversizeRows]:
    db = Database(mariadb, "t_large_and_ddl_oversize")
    db.recreate()
    db.execute(
        "CREATE TABLE big (id INT PRIMARY KEY, blob_value LONGBLOB, text_value LONGTEXT) DEFAULT CHARSET=utf8mb4"
    )
    db.execute("CREATE TABLE edge (id INT PRIMARY KEY, body LONGTEXT) DEFAULT CHARSET=utf8mb4")
    rng = random.Random(20261123)
    blobs = {key: rng.randbytes(size) for key, size in zip(BLOB_IDS, VALUE_SIZES, strict=True)}
    texts = {key: multibyte_text(size) for key, size in zip(TEXT_IDS, VALUE_SIZES, strict=True)}
    start = db.position()
    for key, value in blobs.items():
        db.execute("INSERT INTO big (id, blob_value) VALUES (%s, %s)", (key, value))
    for key, text in texts.items():
        db.execute("INSERT INTO big (id, text_value) VALUES (%s, %s)", (key, text))
    first = [e for e in stream_range(mariadb, start, db.position(), db.name) if isinstance(e, ChangeEvent)]
    edge_start, edges = write_edges(mariadb, db, max(e.xid or 0 for e in first))
    end = db.position()
    events = stream_range(mariadb, start, end, db.name)
    yield OversizeRows(db.name, start, end, blobs, texts, edges, edge_start, events)
    db.close()


def size_summary(events: list[ChangeEvent]) -> str:
    return ", ".join(f"{record_size(e):,}" for e in events)


# -- the lake sink ------------------------------------------------------------------------------------------------


def test_oversize_values_reach_the_master_byte_exact_through_the_lake_sink(
    mariadb: LocalMariaDB, oversize: OversizeRows, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    run = run_measured(
        *lake_sink_run(mariadb, lake, f"{oversize.database}.*"), "--start-position", str(oversize.start),
        "--end-position", str(oversize.end), "--replay", "--output-ddl", log=tmp_path / "streamer.log",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not (lake / "errors").exists(), "an event went to errors/"
    _, verified, code = compact_and_verify(mariadb, lake, f"{oversize.database}.*")
    assert code == 0, verified
    stored = {
        key: (blob, text)
        for key, blob, text in master_rows(lake, oversize.database, "big", "id, blob_value, text_value")
    }
    for key, blob in oversize.blobs.items():
        assert stored[key] == (blob, None), f"blob {key} differs in the master"
    for key, text in oversize.texts.items():
        assert stored[key] == (None, text), f"text {key} differs in the master"
    edges = dict(master_rows(lake, oversize.database, "edge", "id, length(body)"))
    assert set(edges) >= set(oversize.edges)
    largest = max(len(encode_event(e).encode()) for e in oversize.row_events)
    print(
        f"\n--sink lake: {len(oversize.blobs)} LONGBLOB + {len(oversize.texts)} multibyte LONGTEXT values of "
        f"{', '.join(f'{s:,}' for s in VALUE_SIZES)} bytes and {len(oversize.edges)} events of "
        f"{size_summary([e for e in oversize.row_events if e.table == 'edge' and e.data['id'] in oversize.edges])} "
        f"record bytes; largest event {largest:,} bytes; streamed in {run.seconds:.1f} s (peak RSS "
        f"{run.peak_rss / MIB:,.0f} MiB); 0 in errors/; master byte-exact; "
        f"{verified.splitlines()[-1]}"
    )


# -- the Kinesis sink ---------------------------------------------------------------------------------------------


def stream_data(endpoint: str, stream: str) -> list[bytes]:
    """Every record's data, exactly as stored, shard by shard in sequence order."""
    client = kinesis(endpoint)
    found: list[bytes] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=100)
            found += [bytes(record["Data"]) for record in response["Records"]]
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return found


def kinesis_run(server: LocalMariaDB, endpoint: str, stream: str, tables: str, *extra: str) -> list[str]:
    return [
        "run", "--mysql-url", server.url(), "--sink", "kinesis", "--stream-name", stream, "--endpoint-url", endpoint,
        "--include-tables", tables, *extra,
    ]  # fmt: skip


def test_kinesis_sends_up_to_the_limit_and_fail_stops_at_the_first_byte_over(
    aws: str, mariadb: LocalMariaDB, oversize: OversizeRows, tmp_path: Path
) -> None:
    create_stream(aws, "oversize-fail", shards=1)
    store = tmp_path / "checkpoint.json"
    edges = stream_range(mariadb, oversize.edge_start, oversize.end, oversize.database)
    under, at, over = (e for e in edges if isinstance(e, ChangeEvent))
    args = kinesis_run(mariadb, aws, "oversize-fail", f"{oversize.database}.edge", "--position-store", f"file:{store}")

    # Up to the row over the limit: the events of limit - 1 and limit bytes are sent, byte for byte.
    fitting = run_cli(*args, "--start-position", str(oversize.edge_start), "--end-position", str(over.position))
    assert fitting.returncode == 0, fitting.stderr
    sent = stream_data(aws, "oversize-fail")
    assert sent == [encode_event(e).encode() for e in edges if e is not over], "not the events that fit, byte for byte"
    assert checkpoint_position(store) == over.position

    # From there: the first event over the limit stops the streamer with one line, and nothing moves.
    failing = run_cli(*args, "--end-position", str(oversize.end))
    lines = [line for line in failing.stderr.splitlines() if " info " not in line]
    assert failing.returncode == 1, failing.stderr
    assert len(lines) == 1, failing.stderr
    json_bytes = MIB + 1 - len(by_primary_key(over).encode())
    assert f"{oversize.database}.edge at {over.position} xoffset 0 is {json_bytes} bytes" in lines[0], lines[0]
    assert f"over the {MIB}-byte Kinesis record limit" in lines[0]
    assert stream_data(aws, "oversize-fail") == sent
    assert checkpoint_position(store) == over.position
    print(
        f"\n--oversize fail: record sizes (JSON + key) {size_summary([under, at, over])}, limit {MIB:,}: the first two "
        f"sent byte-exact ({len(sent)} records with the schema event), the third: exit 1, one line, nothing sent, "
        f"checkpoint stays at {over.position}: {lines[0].split(': ', 1)[-1][:100]}..."
    )


def test_kinesis_skip_counts_every_oversize_event_and_sends_the_rest(
    aws: str, mariadb: LocalMariaDB, oversize: OversizeRows
) -> None:
    create_stream(aws, "oversize-skip", shards=2)
    settings = KinesisSettings(stream_name="oversize-skip", endpoint_url=aws, region="us-east-1", oversize="skip")
    sink = KinesisSink(kinesis(aws), settings, sleep=lambda seconds: None)
    Streamer(
        settings_for(mariadb, start_position=oversize.start, end_position=oversize.end, replay=True,
                     filter=TableFilter(include=((oversize.database, "*"),))),
        sink=sink,
    ).run()  # fmt: skip
    fits = [encode_event(e).encode() for e in oversize.events if record_size(e) <= MIB]
    too_big = [e for e in oversize.events if record_size(e) > MIB]
    assert Counter(stream_data(aws, "oversize-skip")) == Counter(fits)
    assert sink.stats.skipped_oversize == len(too_big) == len(oversize.blobs) + len(oversize.texts) + 1
    assert sink.stats.records == len(fits)
    print(
        f"\n--oversize skip: {len(oversize.events)} events, {len(fits)} sent byte-exact, {sink.stats.skipped_oversize} "
        f"skipped and counted (record sizes {size_summary([e for e in too_big if isinstance(e, ChangeEvent)])})"
    )


def test_kinesis_claim_check_round_trips_through_s3_into_the_master(
    aws: str, mariadb: LocalMariaDB, oversize: OversizeRows, tmp_path: Path
) -> None:
    create_stream(aws, "oversize-claim", shards=2)
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="oversize-claims")
    streamed = run_cli(*kinesis_run(mariadb, aws, "oversize-claim", f"{oversize.database}.*",
                                    "--start-position", str(oversize.start), "--end-position", str(oversize.end),
                                    "--replay", "--oversize", "claim-check:s3://oversize-claims/cdc"))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    expected = {(e.table, str(e.position), e.xoffset, e.type != "table-schema"): encode_event(e).encode()
                for e in oversize.events}  # fmt: skip
    pointers = 0
    for data in stream_data(aws, "oversize-claim"):
        event = json.loads(data)
        identity = (event["table"], event["position"], event["xoffset"], event["type"] != "table-schema")
        whole = expected.pop(identity)
        if "claim_check" in event:
            pointers += 1
            uri = event["claim_check"]["uri"]
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert body == whole and event["claim_check"]["bytes"] == len(whole), uri
            assert len(data) + len(by_primary_key_of(event)) <= MIB
        else:
            assert data == whole
    assert not expected, f"{len(expected)} events never arrived"
    assert pointers == len(oversize.blobs) + len(oversize.texts) + 1

    # The local Firehose: the same transform, invoked on batches of stream records as Firehose invokes the Lambda.
    lake = tmp_path / "lake"
    deliver = ("--lake-dir", str(lake), "--endpoint-url", aws, "--region", "us-east-1")
    delivered = run_cli("deliver", "--from-kinesis", "oversize-claim", *deliver, cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr
    failures = error_records(lake)
    assert all(f["errorMessage"] == SIZE_LIMIT_REASON for f in failures), failures
    assert f"{len(failures)} failed" in delivered.stderr

    # What did not fit one transform response is in errors/, whole (the pointer), with the reason; delivered again
    # one record per invocation (the documented replay), it fits.
    replay = tmp_path / "replay.jsonl"
    replay.write_bytes(b"".join(base64.b64decode(f["rawData"]) + b"\n" for f in failures))
    replayed = run_cli("deliver", "--from-file", str(replay), *deliver, "--buffer-mb", "0.000001", "--name", "replay",
                       cli="cdc_lake")  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert len(error_records(lake)) == len(failures), "a replayed record failed again"
    _, verified, code = compact_and_verify(mariadb, lake, f"{oversize.database}.*")
    assert code == 0, verified
    stored = dict(master_rows(lake, oversize.database, "big", "id, coalesce(blob_value, encode(text_value))"))
    assert all(stored[key] == blob for key, blob in oversize.blobs.items())
    assert all(stored[key] == text.encode() for key, text in oversize.texts.items())
    print(
        f"\n--oversize claim-check: {pointers} pointer events, their S3 objects byte-exact; cdc-lake deliver "
        f"--from-kinesis resolved them in one batch: {len(failures)} over the 6 MB transform response -> errors/ "
        f"('{SIZE_LIMIT_REASON}', counted), replayed one per invocation: master byte-exact; {verified.splitlines()[-1]}"
    )


def error_records(lake: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(lake.glob("errors/**/*")) if path.is_file()
            for line in path.read_text().splitlines()]  # fmt: skip


def by_primary_key_of(event: dict[str, Any]) -> str:
    from cdc_streamer.encoding import encode_value

    return f"{event['database']}.{event['table']}.{encode_value(event['primary_key'])}"
