"""`cdc-streamer run --sink lake` against a real MariaDB: the same lake rows as `--sink file` + `cdc-lake deliver`,
a checkpoint that never runs ahead of the lake (SIGKILL, SIGTERM), a quiet source's change visible within about
the buffer time, and a lake that `cdc-lake compact` and `cdc-lake verify` accept."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdc_streamer.event import SchemaEvent
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition

from .golden import parse_scenario
from .support import Database, file_sink_run, run_cli, start_cli, stop_process, stream_range
from .test_lake_delivery import lake_rows
from .test_master_tables import Workload

GOLDEN = Path(__file__).parent.parent / "golden"


def lake_sink_run(server: LocalMariaDB, lake: Path, tables: str, *extra: str) -> list[str]:
    return ["run", "--mysql-url", server.url(), "--sink", "lake", "--lake-dir", str(lake), "--include-tables", tables,
            *extra]  # fmt: skip


def checkpoint_position(store: Path) -> BinlogPosition:
    return BinlogPosition.parse(json.loads(store.read_text())["position"])


def lake_keys(lake: Path) -> set[tuple[str, str, int]]:
    """(table, position, xoffset) of every row in the lake."""
    if not list(lake.glob("events/**/*.parquet")):
        return set()
    return {
        (row["table"], f"{row['binlog_file']}:{row['binlog_position']}", row["xoffset"])
        for row in lake_rows(lake)
        if row["table"] != "_schema"
    }


@pytest.fixture
def golden_workload(mariadb: LocalMariaDB, db: Database) -> Iterator[tuple[str, str]]:
    """Every golden scenario's SQL, run in one database; yields (start, end) positions."""
    start = db.position()
    for path in sorted(GOLDEN.glob("*.sql")):
        for step in parse_scenario(path).steps:
            db.execute(step.sql)
        db.execute(f"USE `{db.name}`")
    yield str(start), str(db.position())


def test_lake_sink_writes_the_rows_file_sink_and_deliver_write(
    mariadb: LocalMariaDB, db: Database, golden_workload: tuple[str, str], tmp_path: Path
) -> None:
    start, end = golden_workload
    embedded, delivered_lake = tmp_path / "embedded", tmp_path / "delivered"
    events_file, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"

    streamed = run_cli(
        *lake_sink_run(mariadb, embedded, f"{db.name}.*"), "--output-ddl", "--start-position", start,
        "--stop-when-caught-up", "--position-store", f"file:{store}",
    )  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    assert str(checkpoint_position(store)) == end == str(db.position())

    reference = run_cli(
        *file_sink_run(mariadb, events_file, f"{db.name}.*"), "--output-ddl", "--start-position", start,
        "--end-position", end,
    )  # fmt: skip
    assert reference.returncode == 0, reference.stderr
    delivered = run_cli("deliver", "--from-file", str(events_file), "--lake-dir", str(delivered_lake), cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr

    rows = lake_rows(embedded)
    assert len(rows) > 50 and {"_ddl", "_schema"} <= {row["table"] for row in rows}
    assert rows == lake_rows(delivered_lake)
    assert not (embedded / "errors").exists() and not (delivered_lake / "errors").exists()
    assert not list(embedded.rglob(".*.tmp"))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - began


def streamed_keys(
    server: LocalMariaDB, db: Database, start: BinlogPosition, end: BinlogPosition
) -> set[tuple[str, str, int]]:
    """(table, position, xoffset) of the row events in [start, end), read again from the binlog."""
    if end <= start:
        return set()
    events = stream_range(server, start, end, db.name)
    return {(str(e.table), str(e.position), e.xoffset) for e in events if not isinstance(e, SchemaEvent)}


def interrupted_run(
    server: LocalMariaDB, db: Database, workload: Workload, args: list[str], store: Path, sig: signal.Signals
) -> int:
    """Start the streamer, run workload steps while it streams, send `sig` half-way; return its exit code."""
    saved = store.stat()
    process = start_cli(*args)
    try:
        # It saves its start position once connected: a new file replaces the old one.
        wait_for(lambda: (s := store.stat()).st_ino != saved.st_ino or s.st_mtime_ns != saved.st_mtime_ns, 60,
                 "the streamer saved its start position")  # fmt: skip
        for step in range(200):
            workload.step()
            time.sleep(0.005)
            if step == 120:
                process.send_signal(sig)
        code = process.wait(timeout=60)
    finally:
        stop_process(process)
    return code


def test_the_checkpoint_never_runs_ahead_of_the_lake_and_the_lake_verifies(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    workload = Workload(db, random.Random(seed))
    lake, store = tmp_path / "lake", tmp_path / "checkpoint.json"
    start = db.position()
    workload.create()
    for _ in range(20):
        workload.step()
    args = lake_sink_run(mariadb, lake, f"{db.name}.*", "--position-store", f"file:{store}")

    # A quiet source: one change reaches the lake within about --lake-buffer-seconds (the idle-heartbeat flush).
    process = start_cli(*args, "--start-position", str(start), "--lake-buffer-seconds", "0.5")
    try:
        wait_for(lambda: len(lake_keys(lake)) > 20, 60, "the backlog reached the lake")
        db.execute("INSERT INTO orders (id, customer) VALUES (%s, 'quiet')", (10**7,))
        marker = db.position()
        latency = wait_for(lambda: checkpoint_position(store) >= marker, 10, "the checkpoint reached the change")
        print(f"quiet source: the change was in the lake and the checkpoint after {latency:.2f} s")
        assert latency < 5, latency
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        stop_process(process)
    assert streamed_keys(mariadb, db, start, checkpoint_position(store)) <= lake_keys(lake)

    # Killed hard mid-run, then stopped with SIGTERM mid-run, with a long buffer: each time, every row before the
    # checkpoint is in the lake (the checkpoint may lag the lake, never lead it).
    for sig, buffer in ((signal.SIGKILL, "0.3"), (signal.SIGTERM, "30")):
        before = checkpoint_position(store)
        code = interrupted_run(mariadb, db, workload, [*args, "--lake-buffer-seconds", buffer], store, sig)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
        after = checkpoint_position(store)
        print(f"{sig.name}: checkpoint {before} -> {after}, binlog end {db.position()}")
        assert before <= after < db.position(), (sig, before, after)
        assert streamed_keys(mariadb, db, start, after) <= lake_keys(lake), sig

    # Caught up: the checkpoint is the end of the binlog; the lake compacts and equals the source.
    caught_up = run_cli(*args, "--stop-when-caught-up")
    assert caught_up.returncode == 0, caught_up.stderr
    assert checkpoint_position(store) == db.position()
    assert streamed_keys(mariadb, db, start, db.position()) <= lake_keys(lake)
    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, compacted.stdout + compacted.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*",
                       cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, f"seed {seed}:\n{verified.stdout}{verified.stderr}"
