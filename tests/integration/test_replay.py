"""Checkpoints and replay through the real command: first start, stop-when-caught-up, --replay, --start-gtid."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli, start_cli


def events_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def rows_in(path: Path) -> list[dict[str, Any]]:
    """The row events (not the schema events, which a new streamer process emits again)."""
    return [event for event in events_in(path) if event["type"] != "table-schema"]


def base_args(mariadb: LocalMariaDB, db: Database, output: Path) -> list[str]:
    return file_sink_run(mariadb, output, f"{db.name}.*")


def test_first_start_records_the_current_position_so_a_restart_misses_nothing(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    output, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")  # before the first start: not streamed
    process = start_cli(*base_args(mariadb, db, output), "--position-store", f"file:{store}")
    deadline = time.monotonic() + 30
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=15)
    assert process.returncode == 0
    assert store.exists(), "the start position must be saved before any event arrives"

    db.execute("INSERT INTO t VALUES (2)")  # while the streamer is down
    result = run_cli(*base_args(mariadb, db, output), "--position-store", f"file:{store}", "--stop-when-caught-up")
    assert result.returncode == 0, result.stderr
    assert [e["data"]["id"] for e in rows_in(output)] == [2]
    assert json.loads(store.read_text())["position"] == str(db.position())


def test_replay_never_writes_the_checkpoint(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    output, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    start = db.position()
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1), (2)")
    args = [*base_args(mariadb, db, output), "--position-store", f"file:{store}", "--stop-when-caught-up"]
    result = run_cli(*args, "--replay", "--start-position", str(start))
    assert result.returncode == 0, result.stderr
    assert [e["data"]["id"] for e in rows_in(output)] == [1, 2]
    assert not store.exists()


def test_end_position_stops_after_the_transaction_that_reaches_it(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    output = tmp_path / "events.jsonl"
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    start = db.position()
    db.execute("INSERT INTO t VALUES (1)")
    middle = db.position()
    db.execute("INSERT INTO t VALUES (2)")
    result = run_cli(*base_args(mariadb, db, output), "--start-position", str(start), "--end-position", str(middle))
    assert result.returncode == 0, result.stderr
    assert [e["data"]["id"] for e in rows_in(output)] == [1]


def test_start_gtid_reads_the_same_events_as_the_equivalent_position(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))")
    start = db.position()
    gtid = db.query("SELECT BINLOG_GTID_POS(%s, %s)", (start.file, start.offset))[0][0]
    db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    db.execute("UPDATE t SET v = 'c'")
    db.execute("DELETE FROM t WHERE id = 1")
    end = db.position()

    by_position, by_gtid = tmp_path / "position.jsonl", tmp_path / "gtid.jsonl"
    for output, start_flag in ((by_position, ["--start-position", str(start)]), (by_gtid, ["--start-gtid", gtid])):
        result = run_cli(*base_args(mariadb, db, output), *start_flag, "--end-position", str(end))
        assert result.returncode == 0, result.stderr
    assert len(rows_in(by_gtid)) == 5 and events_in(by_gtid)[0]["type"] == "table-schema"
    assert events_in(by_gtid) == events_in(by_position)


def test_the_checkpoint_carries_the_gtid_state_for_a_restart_by_gtid(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    output, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    args = [*base_args(mariadb, db, output), "--position-store", f"file:{store}", "--stop-when-caught-up"]
    assert run_cli(*args, "--start-position", str(db.position())).returncode == 0
    saved = json.loads(store.read_text())
    end = db.position()
    expected = db.query("SELECT BINLOG_GTID_POS(%s, %s)", (end.file, end.offset))[0][0]
    assert saved["gtid"] == expected
