"""A 300,000-row backlog read by the real command: to the end, through killed connections, and across SIGKILL.

The backlog: 200 transactions of 1,000 inserts, then one 100,000-row UPDATE (300,000 row events). Each streamer
process also emits the table's schema event once, before its first row (a reconnect does not repeat it).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition

from .support import Database, file_sink_run, run_cli, start_cli, stop_process

INSERT_TRANSACTIONS, ROWS_PER_TRANSACTION, UPDATED_ROWS = 200, 1_000, 100_000
TOTAL_ROWS = INSERT_TRANSACTIONS * ROWS_PER_TRANSACTION + UPDATED_ROWS


@dataclass(frozen=True)
class Backlog:
    database: str
    start: BinlogPosition
    end: BinlogPosition


@pytest.fixture(scope="module")
def backlog(mariadb: LocalMariaDB) -> Backlog:
    db = Database(mariadb, "backlog")
    db.recreate()
    db.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(32), amount BIGINT, price DECIMAL(10,2), "
        "at DATETIME(3), score DOUBLE)"
    )
    start = db.position()
    for txn in range(INSERT_TRANSACTIONS):
        base = txn * ROWS_PER_TRANSACTION
        db.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)",
            (
                (i, f"name-{i}", i * 1000, f"{i % 10000}.{i % 100:02d}", "2024-05-06 07:08:09.123", i / 7)
                for i in range(base, base + ROWS_PER_TRANSACTION)
            ),
        )
    db.execute("UPDATE t SET amount = amount + 1 WHERE id < %s", (UPDATED_ROWS,))
    end = db.position()
    db.close()
    return Backlog("backlog", start, end)


def command(mariadb: LocalMariaDB, backlog: Backlog, output: Path, *extra: str) -> list[str]:
    return file_sink_run(mariadb, output, f"{backlog.database}.t", "--end-position", str(backlog.end), *extra)


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] != "table-schema"]


def schema_events(events: list[dict[str, Any]]) -> int:
    return len(events) - len(rows(events))


def row_keys(events: list[dict[str, Any]]) -> Counter[tuple[object, object]]:
    return Counter((event["type"], event["data"]["id"]) for event in rows(events))


def expected_keys() -> set[tuple[object, object]]:
    inserts = {("insert", i) for i in range(INSERT_TRANSACTIONS * ROWS_PER_TRANSACTION)}
    return inserts | {("update", i) for i in range(UPDATED_ROWS)}


def lines_in(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


class LineCounter:
    """Lines of a growing file, reading only what was appended since the last count."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def count(self) -> int:
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
            self.offset += len(data)
            self.lines += data.count(b"\n")
        return self.lines


def wait_until(
    condition: Callable[[], bool], timeout: float, process: subprocess.Popen[str], interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"streamer exited early ({process.returncode}): {stderr}")
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def test_a_300000_row_backlog_is_read_to_the_end_exactly_once(
    mariadb: LocalMariaDB, backlog: Backlog, tmp_path: Path
) -> None:
    output = tmp_path / "events.jsonl"
    began = time.monotonic()
    result = run_cli(*command(mariadb, backlog, output, "--start-position", str(backlog.start)), timeout=600)
    seconds = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    events = read_events(output)
    assert len(events) == TOTAL_ROWS + 1 and events[0]["type"] == "table-schema"
    assert set(row_keys(events)) == expected_keys()
    update = [e for e in events if e["type"] == "update"]
    assert all(e["old"] == {"amount": e["data"]["amount"] - 1} for e in update)
    print(f"\n300,000-row catch-up to the file sink: {seconds:.1f}s wall, {TOTAL_ROWS / seconds:,.0f} rows/s")
    print(re.sub(r"^.*info cdc-streamer ", "", result.stderr.strip().splitlines()[-1]))


def binlog_dump_threads(mariadb: LocalMariaDB) -> list[int]:
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        return [int(row[0]) for row in cursor.fetchall()]


def kill_replication(mariadb: LocalMariaDB) -> int:
    threads = binlog_dump_threads(mariadb)
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        for thread in threads:
            cursor.execute(f"KILL {thread}")
    return len(threads)


def test_killed_replication_connections_resume_without_loss_or_duplicates(
    mariadb: LocalMariaDB, backlog: Backlog, tmp_path: Path
) -> None:
    output = tmp_path / "events.jsonl"
    # --flush-interval 0: every transaction is written as soon as it is read, so the file shows where the reader is
    args = command(mariadb, backlog, output, "--start-position", str(backlog.start), "--flush-interval", "0")
    process = start_cli(*args)
    try:
        # once among the inserts, once in the middle of the 100,000-row UPDATE transaction
        wait_until(lambda: lines_in(output) >= 50_000, 300, process)
        assert kill_replication(mariadb) == 1
        # The moment the inserts (and the schema event before the first one) are out, the reader is on the UPDATE:
        # freeze it there, so that the server cannot send it the whole UPDATE before the kill (the compiled decoder
        # reads it in well under a second); the kill then cuts the transaction half-way.
        lines = LineCounter(output)
        wait_until(lambda: lines.count() >= 200_001, 300, process, interval=0.01)
        process.send_signal(signal.SIGSTOP)
        try:
            assert lines.count() == 200_001, "the UPDATE transaction must not be written before it is complete"
            assert kill_replication(mariadb) == 1
        finally:
            process.send_signal(signal.SIGCONT)
        _, stderr = process.communicate(timeout=600)
    finally:
        stop_process(process)
    assert process.returncode == 0, stderr
    assert stderr.count("reconnecting from") >= 2, stderr
    events = read_events(output)
    keys = row_keys(events)
    assert set(keys) == expected_keys()
    assert max(keys.values()) == 1, "no row may be delivered twice"
    assert schema_events(events) == 1, "a reconnect must not repeat the schema event"


def test_sigkill_and_restart_loses_nothing_and_repeats_only_unacknowledged_transactions(
    mariadb: LocalMariaDB, backlog: Backlog, tmp_path: Path
) -> None:
    output, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    args = command(mariadb, backlog, output, "--position-store", f"file:{store}", "--flush-interval", "0.2")
    process = start_cli(*args, "--start-position", str(backlog.start))
    try:
        wait_until(lambda: lines_in(output) >= 80_000, 300, process)
        process.send_signal(signal.SIGKILL)
    finally:
        stop_process(process)
    checkpoint = BinlogPosition.parse(json.loads(store.read_text())["position"])
    assert backlog.start < checkpoint < backlog.end

    resumed = run_cli(*args, timeout=600)  # no --start-position: from the stored checkpoint
    assert resumed.returncode == 0, resumed.stderr
    events = read_events(output)
    keys = row_keys(events)
    assert set(keys) == expected_keys(), "a row is missing after the restart"
    repeated = {key for key, count in keys.items() if count > 1}
    assert max(keys.values()) <= 2
    assert schema_events(events) == 2, "each process announces the table once"
    for event in rows(events):
        if (event["type"], event["data"]["id"]) in repeated:
            assert checkpoint <= BinlogPosition.parse(str(event["position"])), "repeated a checkpointed transaction"
    assert json.loads(store.read_text())["position"] == str(backlog.end)
