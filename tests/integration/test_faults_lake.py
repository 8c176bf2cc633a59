"""Fault tests for the lake's own commands, bounded for `make test`: `cdc-lake deliver` and `cdc-lake compact`
SIGKILLed at random moments while a randomized workload (transactions of 1 to 1,000 row changes over three tables:
inserts, updates, deletes, deleted keys inserted again) flows from MariaDB through the real streamer (`--sink
file`) into the lake. After every kill no half-written file is visible to the lake's readers and `lake.duckdb`
opens for `cdc-lake query`; the re-runs converge to master == source (`cdc-lake verify`). Each test prints its
figures and its seed.

`CDC_CHAOS_LAKE_KILLS` (default 10) and `CDC_CHAOS_COMPACT_KILLS` (default 6) set the number of kills;
`CDC_CHAOS_SEED` replays a printed seed (the workload and the kill moments; the timing is the machine's)."""

from __future__ import annotations

import base64
import contextlib
import datetime
import glob
import io
import json
import math
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pymysql.cursors

from cdc_lake.cli import main as lake_main
from cdc_lake.compact import CompactSettings, compact_lake, event_files, source_tables
from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB
from cdc_lake.layout import checkpoint_path
from cdc_lake.parquet_schema import EVENT_SCHEMA
from cdc_streamer.local_mariadb import LocalMariaDB

from .support import BackgroundLoop, Database, file_sink_run, run_cli, start_cli, stop_process
from .test_lake_delivery import lake_rows
from .test_lake_sink import checkpoint_position

LAKE_KILLS = int(os.environ.get("CDC_CHAOS_LAKE_KILLS", "10"))
COMPACT_KILLS = int(os.environ.get("CDC_CHAOS_COMPACT_KILLS", "6"))
TABLES = ("accounts", "orders", "order_lines")
# The lake's readers: the `cdc_lake.raw_events` view under every `_live` view reads this glob
# (compact._create_raw_view); compact lists files with compact.event_files. LakeStore's temp files: `.<uuid>.tmp`.
RAW_GLOB = "events/*/*/*/*/*.parquet"
TEMP_GLOBS = ("events/*/*/*/*/.*.tmp", "errors/processing-failed/*/*/*/*/.*.tmp", "_checkpoints/.*.tmp")
DELIVERY_CHECKPOINT = checkpoint_path("cdc-lake-deliver")


def chaos_seed() -> int:
    seed = int(os.environ.get("CDC_CHAOS_SEED") or random.randrange(2**32))
    print(f"\nseed {seed} (CDC_CHAOS_SEED={seed} replays it)")
    return seed


# -- the workload and the input of deliver -----------------------------------------------------------------------


class BulkWorkload(BackgroundLoop):
    """Transactions of 1 to 1,000 row changes (log-uniform), each of one to three statements over three tables
    (one with a composite key): inserts, updates, deletes, and inserts of deleted keys again. Runs a number of
    transactions (`run`) or, on its own thread, until `finish` (`start`)."""

    def __init__(self, db: Database, rng: random.Random) -> None:
        super().__init__()
        self.db = db
        self.rng = rng
        self.live: dict[str, list[tuple[int, ...]]] = {table: [] for table in TABLES}
        self.deleted: dict[str, list[tuple[int, ...]]] = {table: [] for table in TABLES}
        self.next_id = 1
        self.transactions = 0
        self.rows = 0

    def create(self) -> None:
        self.db.execute(
            "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT UNSIGNED, note VARCHAR(40))"
            " DEFAULT CHARSET = utf8mb4"
        )
        self.db.execute(
            "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(20), amount DECIMAL(14,2),"
            " placed DATETIME(3), status ENUM('new','paid','shipped')) DEFAULT CHARSET = utf8mb4"
        )
        self.db.execute(
            "CREATE TABLE order_lines (order_id BIGINT, line INT, sku VARCHAR(20), qty INT,"
            " PRIMARY KEY (order_id, line)) DEFAULT CHARSET = utf8mb4"
        )

    def run(self, transactions: int) -> None:
        for _ in range(transactions):
            self.transaction()

    def step(self) -> None:
        self.transaction()

    def pause(self) -> float:
        return self.rng.uniform(0.1, 0.5)

    def transaction(self) -> None:
        total = max(1, int(math.exp(self.rng.uniform(0, math.log(1000)))))
        statements = self.rng.randint(1, 3)
        changed = 0
        with self.db.conn.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            for index in range(statements):
                n = max(1, total // statements + (total % statements if index == 0 else 0))
                changed += self.statement(cursor, self.rng.choice(TABLES), n)
            cursor.execute("COMMIT")
        self.transactions += 1
        self.rows += changed

    def statement(self, cursor: pymysql.cursors.Cursor, table: str, n: int) -> int:
        rng, live = self.rng, self.live[table]
        kind = rng.random()
        if kind < 0.5 or len(live) < n:
            keys = self.new_keys(table, n)
            rows = [self.values(table, key) for key in keys]
            cursor.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)
            live += keys
            return len(keys)
        picked = rng.sample(live, n)
        where = self.where(table, picked)
        params = [part for key in picked for part in key]
        if kind < 0.8:
            change = {
                "accounts": "balance = balance DIV 2, note = 'u'",
                "orders": "status = 'paid', amount = amount + 0.01",
                "order_lines": "qty = qty + 1",
            }[table]
            return int(cursor.execute(f"UPDATE {table} SET {change} WHERE {where}", params))
        changed = int(cursor.execute(f"DELETE FROM {table} WHERE {where}", params))
        gone = set(picked)
        self.live[table] = [key for key in live if key not in gone]
        self.deleted[table] += picked
        return changed

    def new_keys(self, table: str, n: int) -> list[tuple[int, ...]]:
        again = self.deleted[table][: self.rng.randint(0, n)] if self.rng.random() < 0.3 else []
        del self.deleted[table][: len(again)]
        fresh = n - len(again)
        keys: list[tuple[int, ...]]
        if table == "order_lines":
            keys = [(self.next_id + i // 4, i % 4) for i in range(fresh)]
            self.next_id += fresh // 4 + 1
        else:
            keys = [(self.next_id + i,) for i in range(fresh)]
            self.next_id += fresh
        return again + keys

    def values(self, table: str, key: tuple[int, ...]) -> tuple[object, ...]:
        r = self.rng
        if table == "accounts":
            return (*key, r.choice([0, 2**64 - 1, r.randint(0, 2**64 - 1)]), r.choice(["n", "é😀", None]))
        if table == "orders":
            cents = r.randint(-(10**13), 10**13)
            placed = datetime.datetime(2026, 1, 1) + datetime.timedelta(milliseconds=r.randint(0, 10**10))
            return (*key, f"c{r.randint(0, 99)}", f"{cents / 100:.2f}", placed, r.choice(["new", "paid", "shipped"]))
        return (*key, f"sku-{r.randint(0, 9999)}", r.randint(0, 10**6))

    @staticmethod
    def where(table: str, keys: list[tuple[int, ...]]) -> str:
        if table == "order_lines":
            return f"(order_id, line) IN ({', '.join(['(%s, %s)'] * len(keys))})"
        return f"id IN ({', '.join(['%s'] * len(keys))})"


class Rounds:
    """The input of deliver, made round by round: workload transactions, then the real streamer appends their
    events to the JSON-lines file (`--start-position`/`--end-position`), with a few lines the transform rejects
    (they must land under errors/) put among them."""

    def __init__(self, mariadb: LocalMariaDB, db: Database, events: Path, rng: random.Random) -> None:
        self.mariadb = mariadb
        self.db = db
        self.events = events
        self.rng = rng
        self.workload = BulkWorkload(db, rng)
        self.workload.create()
        self.rounds = 0
        self.bad_lines: list[str] = []
        events.touch()

    def round(self, transactions: int) -> None:
        start, kept = self.db.position(), self.events.stat().st_size
        self.workload.run(transactions)
        streamed = run_cli(
            *file_sink_run(self.mariadb, self.events, f"{self.db.name}.*"),
            "--start-position", str(start), "--end-position", str(self.db.position()), "--replay",
        )  # fmt: skip
        assert streamed.returncode == 0, streamed.stderr
        self.rounds += 1
        with self.events.open("r+b") as handle:  # nothing reads the new part yet
            handle.seek(kept)
            lines = handle.read().splitlines(keepends=True)
            for n in range(3):
                self.bad_lines.append(f"not an event: round {self.rounds}, line {n}")
                lines.insert(self.rng.randint(0, len(lines)), self.bad_lines[-1].encode() + b"\n")
            handle.seek(kept)
            handle.write(b"".join(lines))


def row_events(events: Path) -> set[tuple[str, str, int]]:
    """(table, position, xoffset) of every row event in a JSON-lines file of the streamer."""
    keys = set()
    for line in events.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event["type"] in ("insert", "update", "delete"):
                keys.add((event["table"], event["position"], event["xoffset"]))
    return keys


# -- what readers of the lake see ---------------------------------------------------------------------------------


class VisibleFiles:
    """What the lake's readers see: the events files compact lists, the files the raw-events glob matches and the
    names without a leading dot must be the same set, each complete Parquet of the event schema; every error object
    complete JSON lines of Firehose error records. Visible files never change, so each is read in full once."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.checked: set[str] = set()
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        listed = {file.path for path in source_tables(self.lake).values() for file in event_files(path)}
        pattern = str(self.lake / RAW_GLOB)
        with duckdb.connect() as conn:
            globbed = {row[0] for row in conn.execute("SELECT file FROM glob(?)", [pattern]).fetchall()}
        named = {str(p) for p in (self.lake / "events").rglob("*") if p.is_file() and not p.name.startswith(".")}
        assert listed == globbed == named, "compact, the raw-events view and the directory disagree on the files"
        for path in sorted(named - self.checked):
            assert path.endswith(".parquet"), f"{path}: not a Parquet name under events/"
            table = pq.read_table(path)
            assert table.num_rows == pq.ParquetFile(path).metadata.num_rows > 0, f"{path}: incomplete"
            assert table.schema.equals(EVENT_SCHEMA, check_metadata=False), f"{path}: schema {table.schema}"
            self.checked.add(path)
        for error_file in sorted((self.lake / "errors").rglob("*")):
            if not error_file.is_file() or error_file.name.startswith(".") or str(error_file) in self.checked:
                continue
            text = error_file.read_text()
            assert text.endswith("\n"), f"{error_file}: a torn error object"
            assert all(json.loads(line)["errorCode"] == "Lambda.ProcessingFailed" for line in text.splitlines())
            self.checked.add(str(error_file))
        if globbed:  # all of it, as every `_live` view reads it
            with duckdb.connect() as conn:
                conn.execute(
                    "SELECT count(*) FROM read_parquet(?, hive_partitioning = true, hive_types_autocast = false,"
                    " union_by_name = true)",
                    [pattern],
                ).fetchall()


def temp_files(lake: Path) -> set[str]:
    """The hidden temp files of LakeStore's writes in progress (or killed) anywhere deliver writes."""
    root = glob.escape(str(lake))
    return {path for pattern in TEMP_GLOBS for path in glob.glob(f"{root}/{pattern}")}


def error_lines(lake: Path) -> list[str]:
    """The raw data of every error record in the lake."""
    return [
        base64.b64decode(json.loads(line)["rawData"]).decode()
        for path in (lake / "errors").rglob("*")
        if path.is_file() and not path.name.startswith(".")
        for line in path.read_text().splitlines()
    ]


def delivered_counts(lake: Path) -> Counter[tuple[str, str, int]]:
    """(table, position, xoffset) -> copies in the lake, for every row event of the workload's tables."""
    return Counter(
        (row["table"], f"{row['binlog_file']}:{row['binlog_position']}", row["xoffset"])
        for row in lake_rows(lake)
        if row["table"] in TABLES
    )


def compact_in_process(lake: Path) -> None:
    """`compact` between two deliveries, as a scheduled one would run; then every `_live` view is read (they read
    every visible events file); a table has one once it has an events file. No lookback: nothing delivers while it
    runs, so no file can become visible late, and it stays fast."""
    outcomes = compact_lake(CompactSettings(lake, lookback_seconds=0))
    assert all(outcome.status == "merged" for outcome in outcomes), [outcome.line() for outcome in outcomes]
    with DuckDB(lake / LAKE_DATABASE, read_only=True) as engine:
        views = engine.native("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal")
        for database, table in source_tables(lake):
            assert table.startswith("_") or (database, f"{table}_live") in views, f"no {database}.{table}_live"
        for database, view in views:
            engine.native(f'SELECT count(*) FROM "{database}"."{view}"')


def query_lake(lake: Path, sql: str) -> list[dict[str, Any]]:
    """`cdc-lake query --format json` through the real CLI (parser, command, error handling), in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = lake_main(["query", "--lake-dir", str(lake), "--format", "json", sql])
    assert code == 0, err.getvalue()
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- processes ---------------------------------------------------------------------------------------------------


def stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def alive(process: subprocess.Popen[str], name: str) -> None:
    if process.poll() is not None:
        raise AssertionError(f"{name} exited {process.returncode}: {process.communicate()[1]}")


def deliver_args(events: Path, lake: Path, *extra: str) -> list[str]:
    return ["deliver", "--from-file", str(events), "--lake-dir", str(lake), *extra]


def delivered_offset(lake: Path) -> int:
    """How far into its input file deliver's checkpoint is."""
    checkpoint = lake / DELIVERY_CHECKPOINT
    return int(json.loads(checkpoint.read_bytes())["offset"]) if checkpoint.exists() else 0


def kill_deliver(process: subprocess.Popen[str], lake: Path, mode: str, rng: random.Random, nth: int) -> int:
    """SIGKILL a running `cdc-lake deliver`; its exit code (0 if it finished first). `random`: at a random moment
    up to 0.5 s after its first checkpoint of the run; `mid-write`: as soon as the `nth` temp file of the run
    appears (from 0), so the kill lands between a write and its rename."""
    checkpoint = lake / DELIVERY_CHECKPOINT
    deadline = time.monotonic() + 60
    if mode == "random":
        saved = stat_key(checkpoint)
        while stat_key(checkpoint) == saved and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.5))
    else:
        seen, wanted = temp_files(lake), nth
        while process.poll() is None and time.monotonic() < deadline:
            new = temp_files(lake) - seen
            if new and wanted <= 0:
                break
            wanted -= len(new)
            seen |= new
            time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30)


def kill_creating_compact(process: subprocess.Popen[str], lake: Path) -> int:
    """SIGKILL the lake's first `cdc-lake compact` as soon as lake.duckdb, or a file it is made under, appears:
    inside the creation of the file or just after it. Its exit code (0 if it finished first)."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        if any(LAKE_DATABASE in name for name in os.listdir(lake)):
            break
        time.sleep(0.0005)
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=30)


def kill_compact(process: subprocess.Popen[str], lake: Path, rng: random.Random, span: float) -> tuple[int, float]:
    """SIGKILL a running `cdc-lake compact` at a random moment up to `span` seconds after it opened the DuckDB file
    (its WAL changed); its exit code (0 if it finished first) and the seconds since it opened the file."""
    wal = lake / f"{LAKE_DATABASE}.wal"
    saved = stat_key(wal)
    wait_for(lambda: stat_key(wal) != saved or process.poll() is not None, 60, "compact opened the lake")
    opened = time.monotonic()
    try:
        process.wait(timeout=rng.uniform(0, span))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    code = process.wait(timeout=30)
    return code, time.monotonic() - opened


def compact_and_verify(mariadb: LocalMariaDB, db: Database, lake: Path, seed: int) -> None:
    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, f"seed {seed}:\n{compacted.stdout}{compacted.stderr}"
    verified = run_cli(
        "verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*", cli="cdc_lake"
    )
    assert verified.returncode == 0, f"seed {seed}:\n{verified.stdout}{verified.stderr}"


# -- the tests ---------------------------------------------------------------------------------------------------


def test_sigkill_deliver_at_random_moments_shows_no_half_file_and_loses_nothing(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    """deliver is killed at random moments (half of them right after a temp file appeared, the first at the lake's
    first file); after each kill the readers see only complete files, and compact runs; re-runs lose nothing."""
    seed = chaos_seed()
    rng = random.Random(seed)
    lake, events = tmp_path / "lake", tmp_path / "events.jsonl"
    source = Rounds(mariadb, db, events, rng)
    visible = VisibleFiles(lake)
    kills: Counter[str] = Counter()
    mid_write = runs = 0
    drained = True
    while kills.total() < LAKE_KILLS:
        if drained:  # enough for most of the kills at once: one streamer run is cheaper than many
            source.round(transactions=20 if source.rounds else 6 * LAKE_KILLS)
        # Small buffers, so a run writes many files and the kills land in every phase of a delivery: read,
        # transform, write, rename, checkpoint.
        buffer_mb = f"{rng.uniform(0.01, 0.2):.3f}"
        mode = "mid-write" if not kills or rng.random() < 0.5 else "random"
        temps = temp_files(lake)
        process = start_cli(*deliver_args(events, lake, "--buffer-mb", buffer_mb), cli="cdc_lake")
        runs += 1
        try:
            code = kill_deliver(process, lake, mode, rng, nth=rng.randint(0, 20) if kills else 0)
        finally:
            stop_process(process)
        drained = code != -signal.SIGKILL
        if drained:  # it finished first: the input is all delivered
            assert code == 0, process.stderr.read() if process.stderr else ""
        else:
            kills[mode] += 1
            if temp_files(lake) - temps:  # it died between a write and its rename: do compact and _live see it?
                mid_write += 1
                compact_in_process(lake)
        visible.check()

    rest = events.stat().st_size - delivered_offset(lake)
    began = time.monotonic()
    finished = run_cli(*deliver_args(events, lake), cli="cdc_lake")
    assert finished.returncode == 0, finished.stderr
    redelivered = time.monotonic() - began
    visible.check()
    delivered = delivered_counts(lake)
    expected = row_events(events)
    lost = expected - set(delivered)
    duplicates = sum(delivered.values()) - len(delivered)
    assert set(error_lines(lake)) == set(source.bad_lines), "every rejected line lands under errors/"
    began = time.monotonic()
    compact_and_verify(mariadb, db, lake, seed)
    print(
        f"{kills.total()} SIGKILLs of cdc-lake deliver ({dict(kills)}; {runs} runs; {mid_write} between a write "
        f"and its rename, their hidden temp files left: {len(temp_files(lake))}) over "
        f"{source.workload.transactions} transactions ({source.workload.rows} row changes, {source.rounds} rounds): "
        f"{len(visible.checked)} files, half files visible 0 in {visible.checks} checks (+ compact and every "
        f"_live view after each kill mid-write), rows lost {len(lost)}, duplicates delivered {duplicates}; after "
        f"the last kill the re-run delivered the remaining {rest // 1024:,} KB of input in {redelivered:.1f} s, "
        f"compact + verify (master == source) {time.monotonic() - began:.1f} s"
    )
    assert not lost, f"seed {seed}: {len(lost)} row events never reached the lake"
    assert set(delivered) == expected


def test_sigkill_compact_at_random_moments_keeps_the_lake_usable_and_converges(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    """The whole pipeline runs (workload, `cdc-streamer run --sink file`, `cdc-lake deliver --follow`) while
    compact is killed: first as it creates lake.duckdb, then at random moments after it opened it; after each kill
    the file opens and the query command reads the master tables and `_live` views; a clean compact then
    converges to master == source."""
    seed = chaos_seed()
    rng = random.Random(seed)
    lake, events, store = tmp_path / "lake", tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    writer = Database(mariadb, db.name)
    writer.execute(f"USE `{db.name}`")
    workload = BulkWorkload(writer, random.Random(seed + 1))
    workload.create()
    counts = " UNION ALL ".join(
        f"SELECT '{table}' AS t, (SELECT count(*) FROM \"{db.name}\".{table}) AS master,"
        f' (SELECT count(*) FROM "{db.name}".{table}_live) AS live'
        for table in TABLES
    )
    events.touch()
    streamer = start_cli(
        *file_sink_run(mariadb, events, f"{db.name}.*"), "--position-store", f"file:{store}",
        "--start-position", str(db.position()),
    )  # fmt: skip
    deliver = start_cli(*deliver_args(events, lake, "--follow", "--buffer-seconds", "0.3"), cli="cdc_lake")
    kills = runs = 0
    try:
        workload.start()
        wait_for(lambda: {t for _, t in source_tables(lake)} >= set(TABLES), 60, "every table has events")
        creating = start_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
        runs += 1
        try:
            kills += kill_creating_compact(creating, lake) == -signal.SIGKILL
        finally:
            stop_process(creating)
        if (lake / LAKE_DATABASE).exists():  # whatever it left opens
            DuckDB(lake / LAKE_DATABASE, read_only=True).close()
        in_creation = len(list(lake.glob(f".{LAKE_DATABASE}.*.tmp")))
        span = math.inf  # the next run is never killed: it creates the master tables and measures the work
        while kills < COMPACT_KILLS:
            alive(streamer, "the streamer")
            alive(deliver, "deliver")
            process = start_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
            runs += 1
            try:
                code, elapsed = kill_compact(process, lake, rng, span)
            finally:
                stop_process(process)
            if code == -signal.SIGKILL:
                kills += 1
            else:
                assert code == 0, process.stderr.read() if process.stderr else ""
                span = elapsed  # how long its work takes now, for the next random moment
            assert len(query_lake(lake, counts)) == len(TABLES), f"seed {seed}"
        workload.finish()
        end = db.position()

        def caught_up() -> bool:
            alive(streamer, "the streamer")
            alive(deliver, "deliver")
            done = store.exists() and checkpoint_position(store) == end
            return done and delivered_offset(lake) == events.stat().st_size

        wait_for(caught_up, 60, "the streamer and deliver caught up")
        for process in (streamer, deliver):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, process.communicate()[1]
    finally:
        workload.halt()
        for process in (streamer, deliver):
            stop_process(process)
        writer.close()
    began = time.monotonic()
    compact_and_verify(mariadb, db, lake, seed)
    converged = time.monotonic() - began
    delivered = delivered_counts(lake)
    lost = row_events(events) - set(delivered)
    duplicates = sum(delivered.values()) - len(delivered)
    rows = query_lake(lake, counts)
    assert all(row["master"] == row["live"] for row in rows), rows
    print(
        f"{kills} SIGKILLs of cdc-lake compact ({runs} runs; the first as it created lake.duckdb"
        f"{', inside the creation' if in_creation else ''}, the others at random moments after it opened it) over "
        f"{workload.transactions} transactions ({workload.rows} row changes; the streamer and deliver --follow "
        f"running alongside): {len(list((lake / 'events').rglob('*.parquet')))} files, `cdc-lake query` answered "
        f"after every kill, rows lost {len(lost)}, duplicates delivered {duplicates}; after the last kill compact + "
        f"verify (master == source) {converged:.1f} s"
    )
    assert not lost, f"seed {seed}: {len(lost)} row events never reached the lake"
