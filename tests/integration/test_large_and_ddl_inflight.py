"""DDL while events are in flight: a workload keeps writing to two tables on its own connection while another
connection runs ALTER TABLE (ADD, MODIFY, ADD ... FIRST, DROP COLUMN), RENAME TABLE (there and back, and a swap of
two tables' names) and TRUNCATE TABLE, with the real `cdc-streamer run --sink lake --output-ddl` streaming, its
buffer delivered every second (so each DDL lands while events written before it wait in the buffer).

Checked:
- every row event in the lake has the columns its table had when the row was written, in that order, with the
  values the workload wrote there (`a` = 10 * id, `b` = 'b<id>' or 'u<id>', `c` = 100 * id, `a2` = -id);
- the same holds for a second streamer that reads the whole backlog only after every DDL ran (the binlog's own
  table maps decode it, not the table as it is now): its lake rows are the same;
- `cdc-lake compact` (which applies TRUNCATE and RENAME, docs/lake.md "Schema changes") + `cdc-lake verify`:
  master == source, and the old names of renamed tables hold nothing.

Each test prints one line: row events, DDL statements, events in flight at each DDL, write errors the DDL caused.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql

from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition

from .large_and_ddl import compact_and_verify
from .support import BackgroundLoop, Database, run_cli, start_cli, stop_process
from .test_lake_delivery import lake_rows
from .test_lake_sink import checkpoint_position, lake_sink_run, wait_for

Columns = dict[str, list[str]]  # table name -> its columns, in order
VALUES: dict[str, Callable[[int], Any]] = {"a": lambda k: 10 * k, "c": lambda k: 100 * k, "a2": lambda k: -k}


class Workload(BackgroundLoop):
    """Writes inserts, updates and deletes to the tables in `names` on its own connection until stopped. The DDL
    side tells it the tables' names and columns after each statement; a statement that meets a table or column
    the DDL just changed fails (counted) and the next uses the new definition."""

    def __init__(self, server: LocalMariaDB, database: str, columns: Columns, seed: int) -> None:
        super().__init__()
        self.conn = server.root_connection(database=database)
        self.rng = random.Random(seed)
        self.columns = {name: list(cols) for name, cols in columns.items()}
        self.lock = threading.Lock()
        self.live: dict[str, list[int]] = {name: [] for name in columns}
        self.next_id = 1
        self.writes = 0
        self.errors: Counter[str] = Counter()

    def set_columns(self, columns: Columns) -> None:
        with self.lock:
            self.columns = {name: list(cols) for name, cols in columns.items()}
            self.live = {name: self.live.get(name, []) for name in columns}

    def step(self) -> None:
        try:
            self.write()
        except pymysql.err.MySQLError as error:
            self.errors[f"{error.args[0]}"] += 1
            self.conn.rollback()

    def pause(self) -> float:
        return self.rng.uniform(0.001, 0.01)

    def close(self) -> None:
        self.conn.close()

    def write(self) -> None:
        with self.lock:
            table = self.rng.choice(sorted(self.columns))
            columns = list(self.columns[table])
            live = self.live[table]
        roll = self.rng.random()
        with self.conn.cursor() as cursor:
            if roll < 0.6 or len(live) < 5:
                key, self.next_id = self.next_id, self.next_id + 1
                names = [c for c in columns if c != "id"]
                values = [VALUES[c](key) if c in VALUES else f"b{key}" for c in names]
                placeholders = ", ".join(["%s"] * (len(names) + 1))
                cursor.execute(f"INSERT INTO `{table}` (id, {', '.join(names)}) VALUES ({placeholders})",
                               (key, *values))  # fmt: skip
                live.append(key)
            elif roll < 0.9:
                keys = self.rng.sample(live, min(len(live), self.rng.randint(1, 5)))
                cursor.execute("BEGIN")
                for key in keys:
                    cursor.execute(f"UPDATE `{table}` SET b = %s WHERE id = %s", (f"u{key}", key))
                cursor.execute("COMMIT")
            else:
                key = live.pop(self.rng.randrange(len(live)))
                cursor.execute(f"DELETE FROM `{table}` WHERE id = %s", (key,))
        self.writes += 1


def apply(columns: Columns, sql: str) -> Columns:
    """What a DDL statement of these tests does to the tables' columns (names in the workload's tables)."""
    after = {name: list(cols) for name, cols in columns.items()}
    words = sql.replace(",", " ").split()
    if sql.startswith("ALTER TABLE"):
        table, cols = words[2], after[words[2]]
        if words[3:5] == ["ADD", "COLUMN"]:
            if words[-1] == "FIRST":
                cols.insert(0, words[5])
            else:
                cols.append(words[5])
        elif words[3:5] == ["DROP", "COLUMN"]:
            cols.remove(words[5])
        after[table] = cols
    elif sql.startswith("RENAME TABLE"):
        pairs = [(words[i], words[i + 2]) for i in range(2, len(words), 3)]
        for old, new in pairs:
            after[new] = after.pop(old)
    return after


def check_row_events(rows: list[dict[str, Any]], columns: Columns) -> int:
    """Walk the lake's rows in binlog order: every row event has its table's columns of that moment, in order,
    and the values the workload writes to them. Returns the number of row events."""
    events = 0
    for row in rows:
        if row["table"] == "_schema":
            continue
        if row["table"] == "_ddl":
            if row["xoffset"] == 0:  # a RENAME of several pairs is one event per pair: apply the statement once
                columns = apply(columns, json.loads(row["data"])["sql"])
            continue
        data = json.loads(row["data"])
        where = f"{row['table']} at {row['binlog_file']}:{row['binlog_position']} xoffset {row['xoffset']}"
        assert list(data) == columns[row["table"]], f"{where}: columns {list(data)}, expected {columns[row['table']]}"
        key = data["id"]
        for name, value in data.items():
            if name in VALUES:
                assert value in (VALUES[name](key), None), f"{where}: {name} = {value!r}"
            elif name == "b":
                assert value in (f"b{key}", f"u{key}"), f"{where}: b = {value!r}"
        events += 1
    return events


def run_with_ddl(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path, statements: list[str], seed: int
) -> tuple[Path, BinlogPosition, BinlogPosition, Workload, list[int]]:
    """Tables t and u, the streamer running from before them, the workload, each DDL ~0.6 s apart; returns the
    lake, the start and end positions, the workload and the row events in flight (written, not yet delivered)
    when each DDL ran."""
    start = db.position()
    columns: Columns = {"t": ["id", "a", "b"], "u": ["id", "a", "b"]}
    for table in columns:
        db.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, a INT, b VARCHAR(20)) DEFAULT CHARSET = utf8mb4")
    lake, store = tmp_path / "lake", tmp_path / "checkpoint.json"
    args = [*lake_sink_run(mariadb, lake, f"{db.name}.*"), "--output-ddl", "--position-store", f"file:{store}",
            "--lake-buffer-seconds", "1"]  # fmt: skip
    workload = Workload(mariadb, db.name, columns, seed)
    process = start_cli(*args, "--start-position", str(start))
    checkpoints: list[tuple[BinlogPosition, BinlogPosition]] = []
    ddl = mariadb.root_connection(database=db.name)
    try:
        wait_for(store.exists, 60, "the streamer saved its start position")
        workload.thread.start()
        for sql in statements:
            time.sleep(0.6)
            before = db.position()
            delivered = checkpoint_position(store)
            with ddl.cursor() as cursor:
                cursor.execute(sql)
            columns = apply(columns, sql)
            workload.set_columns(columns)
            checkpoints.append((delivered, before))
        time.sleep(0.6)
        workload.finish()
        end = db.position()
        wait_for(lambda: checkpoint_position(store) >= end, 60, "the streamer caught up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    finally:
        ddl.close()
        workload.stop.set()
        stop_process(process)
    rows = [r for r in lake_rows(lake) if r["table"] not in ("_schema", "_ddl")]
    in_flight = [
        sum(1 for r in rows if delivered <= BinlogPosition(r["binlog_file"], r["binlog_position"]) < ran)
        for delivered, ran in checkpoints
    ]
    return lake, start, end, workload, in_flight


INITIAL: Columns = {"t": ["id", "a", "b"], "u": ["id", "a", "b"]}


def test_alter_table_while_events_are_in_flight(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    statements = [
        "ALTER TABLE t ADD COLUMN c INT",
        "ALTER TABLE t MODIFY b VARCHAR(100)",
        "ALTER TABLE t MODIFY a BIGINT",
        "ALTER TABLE t ADD COLUMN a2 BIGINT FIRST",
        "ALTER TABLE t DROP COLUMN a",
        "ALTER TABLE u ADD COLUMN c INT FIRST",
        "ALTER TABLE u DROP COLUMN c",
    ]
    lake, start, end, workload, in_flight = run_with_ddl(mariadb, db, tmp_path, statements, seed)
    rows = lake_rows(lake)
    events = check_row_events(rows, INITIAL)

    # A streamer that starts after every DDL ran decodes the backlog the same way.
    backlog = tmp_path / "backlog"
    replayed = run_cli(*lake_sink_run(mariadb, backlog, f"{db.name}.*"), "--output-ddl", "--replay",
                       "--start-position", str(start), "--end-position", str(end))  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    again = lake_rows(backlog)
    assert check_row_events(again, INITIAL) == events
    assert [(r["binlog_order"], r["table"], r["data"]) for r in again] == [
        (r["binlog_order"], r["table"], r["data"]) for r in rows
    ], "the backlog read after the DDL differs from the events streamed while it ran"

    _, verified, code = compact_and_verify(mariadb, lake, f"{db.name}.*")
    assert code == 0, f"seed {seed}:\n{verified}"
    print(
        f"\nALTER while in flight (seed {seed}): {len(statements)} statements, {events} row events, in flight at each "
        f"DDL {in_flight}, {workload.writes} writes, failed writes {dict(workload.errors)}; every event with its "
        f"table's columns of the moment; the backlog read after all DDL identical; {verified.splitlines()[-1]}"
    )


def test_rename_swap_and_truncate_while_events_are_in_flight(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    statements = [
        "RENAME TABLE t TO t2",
        "RENAME TABLE t2 TO t",
        "RENAME TABLE t TO tmp, u TO t, tmp TO u",
        "TRUNCATE TABLE t",
        "ALTER TABLE u ADD COLUMN c INT",
        "RENAME TABLE u TO t3",
    ]
    lake, _, _, workload, in_flight = run_with_ddl(mariadb, db, tmp_path, statements, seed)
    events = check_row_events(lake_rows(lake), INITIAL)
    compacted, verified, code = compact_and_verify(mariadb, lake, f"{db.name}.*")
    assert code == 0, f"seed {seed}:\n{compacted}\n{verified}"
    applied = [line for line in compacted.splitlines() if ": merged" not in line]
    moved = [int(line.split(": ")[-1].split()[0]) for line in applied if ": RENAME at " in line]
    removed = [int(line.split(": ")[-1].split()[0]) for line in applied if ": TRUNCATE at " in line]
    assert moved and removed, compacted
    lines = verified.splitlines()
    assert any(line.startswith(f"{db.name}.t2: skipped: no such table at the source") for line in lines), verified
    assert any(line.startswith(f"{db.name}.t3: source ") and line.endswith(": equal") for line in lines), verified
    print(
        f"\nRENAME/swap/TRUNCATE while in flight (seed {seed}): {len(statements)} statements, {events} row events, in "
        f"flight at each DDL {in_flight}, {workload.writes} writes, failed writes {dict(workload.errors)}; compact "
        f"moved rows for {len(moved)} renames ({moved}) and removed {removed} rows before the TRUNCATE; {lines[-1]}"
    )
