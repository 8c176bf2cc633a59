"""Faults of the source server while the streamer runs, each against a private MariaDB started here (never the
session's shared one): the server restarted mid-stream, cleanly and with SIGKILL, its tables opened in another order
after each restart so that table ids then name other tables than before; and the binlog rotated (FLUSH BINARY LOGS)
continuously and after every transaction of a transaction-heavy workload, with the streamer stopped and restarted
from its checkpoint across the rotations.

Each compares what was streamed with the source twice over: every row change in the binlog (read again in one
session after the fact), with its values; and the final contents of every table, rebuilt from the streamed events
and read back from the server. Each prints rows lost (must be 0), duplicates delivered, reconnects and recovery.
`CDC_CHAOS_RESTARTS` (default 4) and `CDC_CHAOS_ROTATION_SECONDS` (default 6) set the size; `make chaos` can run more.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from pymysql.cursors import DictCursor

from cdc_streamer.checkpoint import FileCheckpointStore
from cdc_streamer.event import ChangeEvent, Event, Operation
from cdc_streamer.health import assess, replication_lag
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MonitoringSettings, TableFilter
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.streamer import Streamer

from .support import settings_for, stream_range

RESTARTS = int(os.environ.get("CDC_CHAOS_RESTARTS", "4"))
ROTATION_SECONDS = float(os.environ.get("CDC_CHAOS_ROTATION_SECONDS", "6"))
DATABASE = "app"

# Three layouts, so that rows decoded with another table's columns could not pass for right.
TABLES = {
    "accounts": "id INT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(40)",
    "orders": "id BIGINT PRIMARY KEY, customer VARCHAR(20) NOT NULL, amount DECIMAL(12,2), qty SMALLINT",
    "flags": "id INT PRIMARY KEY, on_off TINYINT, weight DECIMAL(20,6), label CHAR(3)",
}
COLUMNS = {
    "accounts": ("balance", "note"),
    "orders": ("customer", "amount", "qty"),
    "flags": ("on_off", "weight", "label"),
}


def random_values(table: str, rng: random.Random) -> tuple[Any, ...]:
    if table == "accounts":
        return (rng.randint(-(2**40), 2**40), f"n{rng.randrange(10**6)}")
    if table == "orders":
        return (f"c{rng.randrange(1000)}", Decimal(rng.randrange(10**9)).scaleb(-2), rng.randint(-32768, 32767))
    return (rng.randint(-128, 127), Decimal(rng.randrange(10**12)).scaleb(-6), "".join(rng.choices("abcxyz", k=3)))


# -- private servers --------------------------------------------------------------------------------------------


def installed_template(factory: pytest.TempPathFactory) -> Path:
    """An initialised data directory (mariadb-install-db once); each private server starts from a copy."""
    server = LocalMariaDB(factory.mktemp("template"))
    server.initialise()
    return server.data_dir


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_template(tmp_path_factory)


@pytest.fixture
def server(tmp_path: Path, template: Path) -> Iterator[LocalMariaDB]:
    """A private server with the cdc user, a database and the three tables."""
    mariadb = LocalMariaDB(tmp_path / "server", server_id=11, template=template)
    mariadb.start()
    try:
        mariadb.create_cdc_user()
        create_tables(mariadb)
        yield mariadb
    finally:
        mariadb.stop()


def create_tables(server: LocalMariaDB, order: Iterable[str] = TABLES) -> None:
    server.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    for table in order:
        server.execute(f"CREATE TABLE {DATABASE}.{table} ({TABLES[table]})")


def position(server: LocalMariaDB) -> BinlogPosition:
    file, offset, *_ = server.execute("SHOW MASTER STATUS")[0]
    return BinlogPosition(str(file), int(offset))


# -- the workload -----------------------------------------------------------------------------------------------


class Workload:
    """Random transactions on `server()` until finished: each touches one to three of the tables with 1 to
    `max_rows` rows per table (log-uniform): inserts of new keys, updates and deletes of existing ones. It survives
    a server going away (the transaction is abandoned, the connection opened again) and follows `server()` to
    another one. `pause()` waits for the transaction under way and holds the next; `resume()` lets them go on.

    Its bookkeeping only guides the choice of keys (a commit may have succeeded although the client saw an
    error): the tests compare with what the server has, never with what the workload believes it wrote."""

    def __init__(
        self,
        server: Callable[[], LocalMariaDB],
        seed: int,
        *,
        max_rows: int = 50,
        pause: tuple[float, float] = (0.0, 0.03),
        after_commit: str | None = None,
    ) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.max_rows = max_rows
        self.pause_seconds = pause
        self.after_commit = after_commit  # a statement run after every commit, e.g. FLUSH BINARY LOGS
        self.next_id = dict.fromkeys(TABLES, 1)
        self.live: dict[str, list[int]] = {table: [] for table in TABLES}
        self.committed = 0
        self.failed = 0
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.ready.set()
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="workload", daemon=True)

    def start(self) -> Workload:
        self._thread.start()
        return self

    def pause(self) -> None:
        self.ready.clear()
        with self._busy:
            pass

    def resume(self) -> None:
        self.ready.set()

    def finish(self) -> None:
        self._stop.set()
        self.ready.set()
        self._thread.join(timeout=60)
        self._close()
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.ready.wait(0.1):
                    continue
                with self._busy:
                    if not self.ready.is_set():
                        continue
                    try:
                        self._transaction()
                        self.committed += 1
                    except (pymysql.err.Error, OSError):
                        self.failed += 1
                        self._close()
                        time.sleep(0.05)
                time.sleep(self.rng.uniform(*self.pause_seconds))
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self.error = error

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.err.Error, OSError):
                self._conn.close()
            self._conn = None

    def _size(self) -> int:
        return max(1, int(math.exp(self.rng.uniform(0, math.log(self.max_rows)))))

    def _transaction(self) -> None:
        if self._conn is None:
            self._conn = self.server().root_connection(database=DATABASE)
        rng = self.rng
        inserted: dict[str, list[int]] = defaultdict(list)
        deleted: dict[str, set[int]] = defaultdict(set)
        with self._conn.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            for table in rng.sample(list(TABLES), rng.randint(1, 3)):
                n, kind, live = self._size(), rng.random(), self.live[table]
                if kind < 0.5 or len(live) < n:
                    keys = list(range(self.next_id[table], self.next_id[table] + n))
                    self.next_id[table] += n
                    marks = ", ".join(["%s"] * (len(COLUMNS[table]) + 1))
                    rows = [(key, *random_values(table, rng)) for key in keys]
                    cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
                    inserted[table] += keys
                elif kind < 0.8:
                    sets = ", ".join(f"{column} = %s" for column in COLUMNS[table])
                    keys = rng.sample(live, n)
                    cursor.executemany(
                        f"UPDATE {table} SET {sets} WHERE id = %s", [(*random_values(table, rng), k) for k in keys]
                    )
                else:
                    keys = rng.sample(live, n)
                    cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * n)})", keys)
                    deleted[table].update(keys)
            cursor.execute("COMMIT")
            if self.after_commit:
                cursor.execute(self.after_commit)
        for table, keys in inserted.items():
            self.live[table] += keys
        for table, gone in deleted.items():
            self.live[table] = [key for key in self.live[table] if key not in gone]


# -- running the streamer and comparing ---------------------------------------------------------------------------


class Running:
    """A Streamer on a thread of its own; `stop()` asks it to stop (flush, checkpoint) and waits."""

    def __init__(self, streamer: Streamer) -> None:
        self.streamer = streamer
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="streamer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.streamer.run()
        except BaseException as error:  # noqa: BLE001 - asserted by the tests
            self.failures.append(error)

    @property
    def connected(self) -> bool:
        reader = self.streamer.monitor.reader
        return bool(reader is not None and reader.connected)

    def stop(self) -> None:
        self.streamer.stop.requested = True
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the streamer did not stop"


def changes(events: Iterable[Event]) -> list[ChangeEvent]:
    return [event for event in events if isinstance(event, ChangeEvent)]


def by_position(events: Iterable[ChangeEvent]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """(position, xoffset) -> what the change says; a repeated change (at-least-once) counts once."""
    return {(str(e.position), e.xoffset): (e.table, e.type.value, e.data, e.old) for e in events}


def rebuilt(events: Iterable[ChangeEvent]) -> dict[str, dict[Any, dict[str, Any]]]:
    """The tables as the streamed changes leave them, applied in delivery order (a repeat re-applies a suffix of
    what came before it, which changes nothing)."""
    tables: dict[str, dict[Any, dict[str, Any]]] = {table: {} for table in TABLES}
    for event in events:
        rows = tables[event.table]
        if event.type is Operation.DELETE:
            rows.pop(event.primary_key, None)
        else:
            rows[event.primary_key] = dict(event.data)
    return tables


def contents(server: LocalMariaDB) -> dict[str, dict[Any, dict[str, Any]]]:
    with server.root_connection(database=DATABASE, cursorclass=DictCursor) as conn, conn.cursor() as cursor:
        tables: dict[str, dict[Any, dict[str, Any]]] = {}
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            tables[table] = {(row["id"],): row for row in cursor.fetchall()}
    return tables


def assert_same_contents(streamed: dict[str, dict[Any, dict[str, Any]]], source: dict[str, Any], seed: int) -> None:
    for table in TABLES:
        wrong = [key for key in source[table].keys() | streamed[table].keys()
                 if source[table].get(key) != streamed[table].get(key)]  # fmt: skip
        sample = [(key, source[table].get(key), streamed[table].get(key)) for key in wrong[:3]]
        assert not wrong, f"seed {seed}: {table}: {len(wrong)} rows differ from the source, e.g. {sample}"


def wait_until(condition: Callable[[], bool], timeout: float, what: str, running: Running | None = None) -> float:
    """Seconds it took; fails after `timeout` or as soon as the streamer failed."""
    began = time.monotonic()
    while not condition():
        assert running is None or not running.failures, f"{what}: the streamer failed: {running.failures}"
        assert time.monotonic() - began < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)
    return time.monotonic() - began


def table_ids(server: LocalMariaDB) -> dict[int, set[str]]:
    """table id -> the tables of DATABASE that TABLE_MAP events gave it, over every binlog file of the server."""
    names: dict[int, set[str]] = defaultdict(set)
    pattern = re.compile(rf"table_id: (\d+) \({DATABASE}\.(\w+)\)")
    for file, *_rest in server.execute("SHOW BINARY LOGS"):
        for row in server.execute(f"SHOW BINLOG EVENTS IN '{file}'"):
            if row[2] == "Table_map" and (match := pattern.search(str(row[5]))):
                names[int(match[1])].add(match[2])
    return names


def open_tables(server: LocalMariaDB, order: Iterable[str]) -> None:
    """Open the tables in this order: a fresh server hands out table ids in the order tables are first opened."""
    for table in order:
        server.execute(f"SELECT 1 FROM {DATABASE}.{table} LIMIT 1")


# -- the tests ----------------------------------------------------------------------------------------------------


def test_server_restarted_mid_stream_cleanly_and_killed_loses_nothing(server: LocalMariaDB) -> None:
    """The streamer reads while the workload writes; the server is restarted RESTARTS times (every other one a
    SIGKILL), and after each restart the tables are opened in another order, so that the table ids the server
    hands out name other tables than before the restart. Every change arrives, with the right table's values."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    start = position(server)
    sink = MemorySink()
    settings = settings_for(server, start_position=start, filter=TableFilter(include=((DATABASE, "*"),)))
    running = Running(Streamer(settings, sink=sink))
    workload = Workload(lambda: server, seed).start()
    orders = itertools.cycle(list(itertools.permutations(TABLES))[1:])
    downtime: list[float] = []
    reconnected: list[float] = []
    kinds: Counter[str] = Counter()
    try:
        wait_until(lambda: len(sink.events) > 0, 60, "first events", running)
        for number in range(RESTARTS):
            time.sleep(rng.uniform(0.5, 1.5))
            crash = number % 2 == 1
            kinds["SIGKILL" if crash else "clean stop"] += 1
            # The transaction under way is cut (the workload is not paused first); the next waits for the server
            # to be back and the tables opened in the new order.
            workload.ready.clear()
            began = time.monotonic()
            server.restart(crash=crash)
            downtime.append(time.monotonic() - began)
            open_tables(server, next(orders))
            back = time.monotonic()
            workload.resume()
            wait_until(lambda: running.connected, 120, f"reconnect after restart {number + 1}", running)
            reconnected.append(time.monotonic() - back)
        time.sleep(1.0)
    finally:
        workload.finish()
    end = position(server)
    expected = by_position(changes(stream_range(server, start, end, DATABASE)))
    try:
        caught_up = wait_until(lambda: expected.keys() <= by_position(changes(list(sink.events))).keys(), 120,
                               f"seed {seed}: every change delivered", running)  # fmt: skip
    finally:
        running.stop()
    assert not running.failures, running.failures
    delivered = changes(sink.events)
    counted = Counter((str(e.position), e.xoffset) for e in delivered)
    duplicates = sum(counted.values()) - len(counted)
    lost = expected.keys() - counted.keys()
    reused = {table_id: tables for table_id, tables in table_ids(server).items() if len(tables) > 1}
    print(
        f"{RESTARTS} restarts ({dict(kinds)}) during {workload.committed} transactions ({len(expected)} row changes, "
        f"{workload.failed} transactions cut by a restart): rows lost {len(lost)}, duplicates delivered {duplicates}, "
        f"{running.streamer.stats.reconnects} reconnects; server down {min(downtime):.1f}-{max(downtime):.1f} s, "
        f"streamer connected again {max(reconnected):.1f} s after the server at most, caught up {caught_up:.1f} s "
        f"after the workload stopped; {len(reused)} table ids named two tables or more ({sorted(reused.items())})"
    )
    assert not lost, f"seed {seed}: {len(lost)} row changes never arrived"
    assert by_position(delivered) == expected, f"seed {seed}: a change arrived with other values than the binlog's"
    assert_same_contents(rebuilt(delivered), contents(server), seed)
    if RESTARTS >= 2:
        assert reused, "the test meant table ids to be reused for other tables after a restart"


def test_binlog_rotated_between_transactions_and_continuously_loses_nothing(
    server: LocalMariaDB, tmp_path: Path
) -> None:
    """A transaction-heavy workload runs FLUSH BINARY LOGS after each commit, and another connection runs it as
    fast as it can, for ROTATION_SECONDS; the streamer is stopped at random moments and started again from its
    checkpoint (a file). A server rotates only between transactions (a transaction is never split across files),
    so a rotation after every commit is the densest there is. Every change arrives, at a valid position (where its
    GTID event starts), positions strictly increase within each run and each run starts at or after the previous
    one's checkpoint, every checkpoint is a position whose GTID state the server confirms, and the tables rebuilt
    from the events equal the source."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    start = position(server)
    store = tmp_path / "checkpoint.json"
    common: dict[str, Any] = {
        "position_store": f"file:{store}",
        "filter": TableFilter(include=((DATABASE, "*"),)),
        "flush_interval": 0.2,
    }
    rotations = Counter[str]()
    stop_rotating = threading.Event()

    def rotate() -> None:
        with server.root_connection() as conn, conn.cursor() as cursor:
            while not stop_rotating.is_set():
                cursor.execute("FLUSH BINARY LOGS")
                rotations["continuous"] += 1

    rotator = threading.Thread(target=rotate, name="rotator", daemon=True)
    workload = Workload(lambda: server, seed, max_rows=20, pause=(0.0, 0.0), after_commit="FLUSH BINARY LOGS")
    runs: list[list[ChangeEvent]] = []
    checkpoints: list[tuple[str, str | None]] = []

    def one_run(**overrides: Any) -> None:
        sink = MemorySink()
        running = Running(Streamer(settings_for(server, **common, **overrides), sink=sink))
        if overrides.get("stop_when_caught_up"):
            running.thread.join(timeout=300)
        else:
            wait_until(lambda: running.connected, 60, "connected", running)
            time.sleep(rng.uniform(0.3, 1.5))
            running.stop()
        assert not running.failures, f"seed {seed}: {running.failures}"
        runs.append(changes(sink.events))
        saved = FileCheckpointStore(store).load()
        assert saved is not None
        checkpoints.append((str(saved.position), saved.gtid))

    began = time.monotonic()
    rotator.start()
    workload.start()
    try:
        one_run(start_position=start)
        while time.monotonic() - began < ROTATION_SECONDS:
            one_run()
    finally:
        stop_rotating.set()
        rotator.join(timeout=60)
        workload.finish()
    rotations["after each commit"] = workload.committed
    end = position(server)
    caught_up_began = time.monotonic()
    one_run(stop_when_caught_up=True)
    caught_up = time.monotonic() - caught_up_began

    expected = by_position(changes(stream_range(server, start, end, DATABASE)))
    delivered = [event for run in runs for event in run]
    counted = Counter((str(e.position), e.xoffset) for e in delivered)
    duplicates = sum(counted.values()) - len(counted)
    lost = expected.keys() - counted.keys()
    logs = {str(name): int(size) for name, size, *_ in server.execute("SHOW BINARY LOGS")}
    files = sorted({e.position.file for e in delivered})
    print(
        f"{sum(rotations.values())} rotations ({dict(rotations)}) in {ROTATION_SECONDS:.0f} s, "
        f"{workload.committed} transactions ({len(expected)} row changes) in {len(files)} binlog files, "
        f"{len(runs)} streamer runs each resumed from the checkpoint: rows lost {len(lost)}, duplicates "
        f"delivered {duplicates}, caught up {caught_up:.1f} s after the workload stopped"
    )
    assert not lost, f"seed {seed}: {len(lost)} row changes never arrived"
    assert by_position(delivered) == expected, f"seed {seed}: a change arrived with other values than the binlog's"
    for number, run in enumerate(runs):
        keys = [(e.position.sort_key, e.xoffset) for e in run]
        assert all(a < b for a, b in itertools.pairwise(keys)), f"seed {seed}: run {number}: positions not increasing"
    # Valid: every event's position is where its transaction's GTID event starts, in a file the server has.
    starts = {str(e.position) for e in delivered}
    gtid_events = set()
    for file in files:
        assert file in logs and start <= BinlogPosition(file, logs[file]), f"{file} is not a file of this run"
        gtid_events |= {f"{file}:{row[1]}" for row in server.execute(f"SHOW BINLOG EVENTS IN '{file}'")
                        if row[2] == "Gtid"}  # fmt: skip
    invalid = sorted(starts - gtid_events)
    assert not invalid, f"seed {seed}: positions where no transaction starts: {invalid[:5]}"
    for number, (run, (resumed_from, _)) in enumerate(zip(runs[1:], checkpoints, strict=False), start=1):
        assert not run or BinlogPosition.parse(resumed_from) <= run[0].position, f"run {number} started before"
    for saved_position, saved_gtid in checkpoints:
        saved = BinlogPosition.parse(saved_position)
        assert saved.offset <= logs[saved.file]
        (at,) = server.execute("SELECT BINLOG_GTID_POS(%s, %s)", (saved.file, saved.offset))[0]
        assert saved_gtid == at, f"checkpoint {saved_position}: gtid {saved_gtid}, the server says {at}"
    assert checkpoints[-1][1] == server.gtid_binlog_pos()
    at_file_end = sum(
        server.execute(f"SHOW BINLOG EVENTS IN '{saved.file}' FROM {saved.offset} LIMIT 1")[0][2] == "Rotate"
        for saved in (BinlogPosition.parse(text) for text, _ in checkpoints[:-1])
    )
    print(f"{at_file_end} of the {len(checkpoints) - 1} restarts resumed at the very end of a binlog file")
    assert_same_contents(rebuilt(delivered), contents(server), seed)


def test_after_a_rotation_an_idle_source_is_caught_up_and_an_end_position_there_is_reached(
    server: LocalMariaDB,
) -> None:
    """A rotation writes events of its own (format description, GTID list, binlog checkpoints; the last of them
    later, in the background). The server's end of binlog is then past the last transaction: an idle streamer
    must count itself there (or /healthcheck calls it stalled and the lag grows without end), and a replay whose
    --end-position is that end (SHOW MASTER STATUS after FLUSH BINARY LOGS) must stop there, not wait for a
    transaction that may never come."""
    server.execute(f"INSERT INTO {DATABASE}.accounts VALUES (1, 1, 'a')")
    start = position(server)
    server.execute(f"INSERT INTO {DATABASE}.accounts VALUES (2, 2, 'b')")
    for _ in range(3):
        server.execute("FLUSH BINARY LOGS")
    time.sleep(0.5)  # the last binlog checkpoint event comes from a background thread
    end = position(server)

    sink = MemorySink()
    replay = settings_for(server, start_position=start, end_position=end, replay=True)
    running = Running(Streamer(replay, sink=sink))
    running.thread.join(timeout=60)
    ended = not running.thread.is_alive()
    if not ended:
        running.stop()
    assert ended, f"a replay to {end} (the end of binlog after a rotation) did not stop there"
    assert not running.failures, running.failures
    assert [e.data["id"] for e in changes(sink.events)] == [2]

    monitoring = MonitoringSettings(stall_seconds=1.0)
    running = Running(Streamer(settings_for(server, start_position=end, monitoring=monitoring), sink=MemorySink()))
    try:
        wait_until(lambda: running.connected, 60, "connected", running)
        server.execute("FLUSH BINARY LOGS")
        time.sleep(3.0)  # past the stall threshold; the probe runs every 0.5 s
        monitor = running.streamer.monitor
        wait_until(lambda: monitor.server_position == position(server), 30, "probed", running)
        observation = monitor.observe()
        health = assess(observation)
        print(f"\nafter a rotation: read {observation.read_position}, server at {observation.server_position}")
        assert health.ok, health.reasons
        assert replication_lag(observation) == 0.0
    finally:
        running.stop()
    assert not running.failures, running.failures
