"""`--sink lake`: buffering by age and size, acknowledgement only after the lake's files are durable, rejected
events as error records that never hold an acknowledgement back, a broken sink, the CLI flags, and that the
streamer imports cdc_lake only when this sink is chosen."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from cdc_lake.deliver import INVOCATION_BYTES, deliver_payloads, invocations
from cdc_lake.storage import LakeStore
from cdc_streamer.cli import build_parser, main, settings_from
from cdc_streamer.encoding import encode_event
from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.event import ChangeEvent, Event, Operation
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MIB, LakeSettings
from cdc_streamer.sinks.lake import LakeSink

TS = 1_763_884_800  # 2025-11-23 08:00:00 UTC
ROOT = Path(__file__).resolve().parent.parent.parent


def change(number: int, table: str = "orders", *, note: str = "") -> ChangeEvent:
    return ChangeEvent(
        "shop", table, Operation.INSERT, TS, number, 0, True, BinlogPosition("binlog.000001", 4 + number * 100),
        f"0-1-{number}", 1, None, (number,), ("id",), {"id": number, "note": note},
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class RecordingStore(LakeStore):
    """A local LakeStore that logs each completed write, so a test can see writes and acks in order."""

    log: list[str] = field(default_factory=list)
    fail: bool = False

    def write_parquet(self, relative: str, table: pa.Table) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        super().write_parquet(relative, table)
        self.log.append(f"wrote {relative.split('/')[2]}")

    def write_bytes(self, relative: str, data: bytes) -> None:
        super().write_bytes(relative, data)
        self.log.append(f"wrote {relative.split('/', 1)[0]}")


def store_at(lake: Path, *, fail: bool = False) -> RecordingStore:
    opened = LakeStore.open(str(lake))
    return RecordingStore(opened.filesystem, opened.root, opened.local, fail=fail)


def sink_for(store: LakeStore, clock: Clock, *, seconds: float = 1.0, size: int = 64 * MIB) -> LakeSink:
    return LakeSink(store, LakeSettings(store.root, buffer_seconds=seconds, buffer_bytes=size), clock=clock)


def lake_ids(lake: Path) -> list[int]:
    if not (lake / "events").exists():
        return []
    query = (
        f"SELECT data FROM read_parquet('{lake}/events/**/*.parquet', hive_partitioning = true) "
        "WHERE \"table\" <> '_schema' ORDER BY binlog_order"
    )
    with duckdb.connect() as conn:
        return [json.loads(row[0])["id"] for row in conn.execute(query).fetchall()]


def parquet_files(lake: Path) -> list[Path]:
    return sorted((lake / "events").rglob("*.parquet")) if (lake / "events").exists() else []


def acker(log: list[str], name: str) -> Any:
    return lambda: log.append(f"ack {name}")


def test_nothing_is_written_or_acknowledged_until_the_buffer_is_due_or_flushed(tmp_path: Path) -> None:
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake)
    sink = sink_for(store, clock)
    sink.send([change(1), change(2)], acker(store.log, "t1"))
    clock.now = 0.5
    sink.send([change(3, "customers")], acker(store.log, "t2"))
    assert store.log == [] and parquet_files(lake) == []
    sink.flush()
    # one object per partition, all written before the first acknowledgement
    assert store.log == ["wrote table=customers", "wrote table=orders", "ack t1", "ack t2"]
    assert lake_ids(lake) == [1, 2, 3]
    assert {path.parent.parent.parent.name for path in parquet_files(lake)} == {"table=orders", "table=customers"}
    sink.flush()  # nothing more to deliver: nothing written, nothing acknowledged twice
    assert len(store.log) == 4
    assert not list(lake.rglob(".*.tmp"))


def test_the_buffer_is_delivered_once_its_oldest_event_is_buffer_seconds_old(tmp_path: Path) -> None:
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake)
    sink = sink_for(store, clock, seconds=1.0)
    sink.send([change(1)], acker(store.log, "t1"))
    clock.now = 0.9
    sink.send([change(2)], acker(store.log, "t2"))
    assert store.log == []
    clock.now = 1.0
    sink.send([change(3)], acker(store.log, "t3"))
    assert store.log == ["wrote table=orders", "ack t1", "ack t2", "ack t3"]
    clock.now = 1.5  # the age counts from the oldest event of the new buffer
    sink.send([change(4)], acker(store.log, "t4"))
    clock.now = 2.4
    sink.send([change(5)], acker(store.log, "t5"))
    assert store.log[-1] == "ack t3"
    clock.now = 2.5
    sink.send([change(6)], acker(store.log, "t6"))
    assert store.log[-3:] == ["ack t4", "ack t5", "ack t6"]
    assert lake_ids(lake) == [1, 2, 3, 4, 5, 6]


def test_a_full_buffer_is_delivered_and_a_big_transaction_acknowledged_after_its_last_part(tmp_path: Path) -> None:
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake)
    size = len(encode_event(change(10)).encode())
    sink = sink_for(store, clock, seconds=3600, size=3 * size)
    sink.send([change(number) for number in range(10, 20)], acker(store.log, "big"))
    assert len(parquet_files(lake)) == 3 and "ack big" not in store.log  # its 10th event is still buffered
    sink.send([change(20), change(21)], acker(store.log, "small"))  # the 3rd event fills the buffer
    assert store.log[-3:] == ["wrote table=orders", "ack big", "ack small"]
    assert lake_ids(lake) == list(range(10, 22))
    sink.send([change(22)], acker(store.log, "last"))
    assert store.log[-1] == "ack small"
    sink.flush()
    assert store.log[-1] == "ack last"


def test_events_the_transform_rejects_become_error_records_and_never_hold_an_ack_back(tmp_path: Path) -> None:
    """An event the transform rejects (here a `ts` no partition date can hold) becomes an error record."""
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake)
    sink = sink_for(store, clock)
    sink.send([change(1), dataclasses.replace(change(2), ts=-1)], acker(store.log, "t1"))
    sink.send([dataclasses.replace(change(3), ts=-1)], acker(store.log, "t2"))
    sink.flush()
    assert store.log == ["wrote table=orders", "wrote errors", "ack t1", "ack t2"]
    assert lake_ids(lake) == [1]
    errors = [json.loads(line) for path in (lake / "errors").rglob("*") if path.is_file()
              for line in path.read_text().splitlines()]  # fmt: skip
    assert len(errors) == 2
    assert all(e["errorCode"] == "Lambda.ProcessingFailed" and "'ts' is out of range" in e["errorMessage"]
               for e in errors)  # fmt: skip
    assert [json.loads(base64.b64decode(e["rawData"]))["xid"] for e in errors] == [2, 3]
    assert (sink.stats.records, sink.stats.rows, sink.stats.failed) == (3, 1, 2)


def test_a_failed_write_breaks_the_sink_and_acknowledges_nothing(tmp_path: Path) -> None:
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake, fail=True)
    sink = sink_for(store, clock)
    sink.send([change(1)], acker(store.log, "t1"))
    with pytest.raises(RuntimeFailure, match=r"cannot deliver 1 events into the lake at .*No space left") as error:
        sink.flush()
    assert "\n" not in error.value.message
    with pytest.raises(RuntimeFailure):
        sink.flush()
    with pytest.raises(RuntimeFailure):
        sink.send([change(2)], acker(store.log, "t2"))
    sink.close()
    assert store.log == [] and parquet_files(lake) == []


def test_close_delivers_what_a_failed_run_left_buffered(tmp_path: Path) -> None:
    lake, clock = tmp_path / "lake", Clock()
    store = store_at(lake)
    sink = sink_for(store, clock)
    sink.send([change(1)], acker(store.log, "t1"))
    sink.close()
    assert lake_ids(lake) == [1]


def test_events_bigger_than_one_lambda_response_in_total_are_all_rows(tmp_path: Path) -> None:
    """500 events of 20 kB would make one transform response of over 6 MB; invocations are cut by size too."""
    lake = tmp_path / "lake"
    events: list[Event] = [change(number, note="x" * 20_000) for number in range(500)]
    payloads = [encode_event(event).encode() for event in events]
    assert all(len(payloads[chunk.start : chunk.stop]) == 1 or sum(
        len(payload) for payload in payloads[chunk.start : chunk.stop]) <= INVOCATION_BYTES
        for chunk in invocations(payloads))  # fmt: skip
    stats = deliver_payloads(LakeStore.open(str(lake)), payloads, "test")
    assert (stats.records, stats.rows, stats.failed, stats.files) == (500, 500, 0, 1)
    assert lake_ids(lake) == list(range(500))


def test_invocations_cut_at_500_records_and_keep_a_single_oversize_record() -> None:
    assert [len(chunk) for chunk in invocations([b"x"] * 1001)] == [500, 500, 1]
    big = b"x" * (INVOCATION_BYTES + 1)
    assert [list(chunk) for chunk in invocations([b"a", big, b"b"])] == [[0], [1], [2]]
    assert list(invocations([])) == []


def test_a_claim_check_pointer_costs_the_event_it_stands_for() -> None:
    pointer = json.dumps({"claim_check": {"uri": "s3://b/k", "bytes": INVOCATION_BYTES // 2 + 1}}).encode()
    assert [list(chunk) for chunk in invocations([pointer, pointer, pointer])] == [[0], [1], [2]]
    broken = b'{"claim_check": "not an object"}'
    assert [list(chunk) for chunk in invocations([broken, broken])] == [[0, 1]]


# -- flags -------------------------------------------------------------------------------------------------------

URL = "mysql://cdc:secret@127.0.0.1:1"


def test_lake_dir_is_required_with_sink_lake(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--mysql-url", URL, "--sink", "lake"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lake-dir (CDC_LAKE_DIR) is required with --sink lake" in err


@pytest.mark.parametrize(
    ("flag", "value"), [("--lake-buffer-seconds", "soon"), ("--lake-buffer-seconds", "-1"), ("--lake-buffer-mb", "0")]
)
def test_bad_buffer_flags_are_usage_errors(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--mysql-url", URL, "--sink", "lake", "--lake-dir", "/tmp/x", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err


def test_flags_come_from_cdc_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CDC_SINK", "lake")
    monkeypatch.setenv("CDC_LAKE_DIR", str(tmp_path))
    monkeypatch.setenv("CDC_LAKE_BUFFER_SECONDS", "0.25")
    monkeypatch.setenv("CDC_LAKE_BUFFER_MB", "0.5")
    settings = settings_from(build_parser().parse_args(["run", "--mysql-url", URL]))
    assert settings.sink == "lake"
    assert settings.lake == LakeSettings(str(tmp_path), buffer_seconds=0.25, buffer_bytes=MIB // 2)
    # every flush delivers: unset, the flush interval is the buffer age; idle heartbeats come that often too
    assert settings.flush_interval == 0.25 and settings.heartbeat_seconds == 0.25


def test_flush_interval_and_heartbeat_defaults() -> None:
    def parsed(*extra: str) -> tuple[float, float]:
        settings = settings_from(build_parser().parse_args(["run", "--mysql-url", URL, *extra]))
        return settings.flush_interval, settings.heartbeat_seconds

    assert parsed() == (1.0, 1.0)
    assert parsed("--sink", "lake", "--lake-dir", "/tmp/x") == (1.0, 1.0)
    assert parsed("--sink", "lake", "--lake-dir", "/tmp/x", "--lake-buffer-seconds", "30") == (30.0, 1.0)
    assert parsed("--sink", "lake", "--lake-dir", "/tmp/x", "--lake-buffer-seconds", "0") == (0.0, 0.1)
    assert parsed("--sink", "lake", "--lake-dir", "/tmp/x", "--flush-interval", "0.5") == (0.5, 1.0)
    assert parsed("--flush-interval", "0") == (0.0, 1.0)


# -- imports -----------------------------------------------------------------------------------------------------


def imported_after(code: str) -> dict[str, bool]:
    probe = (
        code
        + "\nimport json, sys\nprint(json.dumps({m: m in sys.modules for m in ('cdc_lake', 'firehose_transform')}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    loaded: dict[str, bool] = json.loads(result.stdout)
    return loaded


def test_the_streamer_does_not_import_cdc_lake_unless_the_lake_sink_is_chosen(tmp_path: Path) -> None:
    assert imported_after("import cdc_streamer.streamer, cdc_streamer.cli, cdc_streamer.sinks") == {
        "cdc_lake": False,
        "firehose_transform": False,
    }
    for sink in ("stdout", "memory"):
        opened = imported_after(
            "from cdc_streamer.settings import MySQLUrl, StreamerSettings\n"
            "from cdc_streamer.sinks import open_sink\n"
            f"open_sink(StreamerSettings(MySQLUrl.parse({URL!r}), 1, sink={sink!r}))"
        )
        assert opened["cdc_lake"] is False, sink
    chosen = imported_after(
        "from cdc_streamer.settings import LakeSettings, MySQLUrl, StreamerSettings\n"
        "from cdc_streamer.sinks import open_sink\n"
        f"open_sink(StreamerSettings(MySQLUrl.parse({URL!r}), 1, sink='lake', lake=LakeSettings({str(tmp_path)!r})))"
    )
    assert chosen["cdc_lake"] is True
