"""Kinesis throttled and partly failing for a sustained period, under the real streamer reading a transaction-heavy
workload from MariaDB: nothing lost, per-key binlog order kept, memory bounded by the settings (not by the
backlog), the checkpoint never ahead of what Kinesis accepted (the streamer is killed mid-fault and restarted from
its checkpoint), and no give-up on throttling that ends.

The faults come from `tests/kinesis_faults.py` around a real boto3 client; moto runs as its own process here, so
this process's memory is the streamer's (and the workload writer's), not the stream's stored records.
`CDC_CHAOS_KINESIS_SECONDS` (default 15; 60 for the chaos run) sets how long the faults last; `CDC_CHAOS_SEED`
replays a printed seed. Prints one line of figures per run.
"""

from __future__ import annotations

import ctypes
import gc
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymysql
import pytest

from cdc_streamer.checkpoint import FileCheckpointStore
from cdc_streamer.local_mariadb import LocalMariaDB, free_port
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import KinesisSettings, TableFilter
from cdc_streamer.sinks.kinesis import KinesisSink
from cdc_streamer.streamer import Streamer

from ..kinesis_faults import FaultRates, Killed, KinesisFaults
from .aws import StreamRecord, create_stream, kinesis, read_stream
from .conftest import AWS_TEST_ENV
from .support import Database, settings_for

SECONDS = float(os.environ.get("CDC_CHAOS_KINESIS_SECONDS", "15"))
ROWS_PER_SECOND = 1_100  # the workload's pace: about 16,000 row changes (37 MiB of JSON) in 15 s, 66,000 in 60 s
TABLE = "CREATE TABLE items (id INT PRIMARY KEY, version INT, note VARCHAR(2000)) CHARACTER SET utf8mb4"
MIB = 1024 * 1024
# What a bounded streamer holds: up to --max-inflight-rows rows plus one transaction (at most 320 rows here, 1.5 KB
# each), the sink's fewer than --batch-records (500) encoded records plus that transaction's, and one PutRecords
# call being built (with --aggregate it may carry every waiting record; with the aggregator's and boto3's copies,
# five or six times their size): from 4 MiB to about 15 MiB at worst with 1,000 in-flight rows. Measured: 4 to 14
# MiB. A sink that kept the backlog would hold its JSON and more: over 24 MiB after 15 s of faults (the test checks
# that the backlog is that large), over 100 MiB after 60 s; a stand-in sink that kept everything while the stream
# refused reached 53 MiB in 15 s at 700 row changes a second.
MAX_INFLIGHT = 1_000  # --max-inflight-rows, lowered from 10,000 so that the bound is small next to the backlog
MEMORY_BOUND = 24 * MIB


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """moto's server in its own process (the session's `aws` runs inside this one and would hold every record)."""
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_TEST_ENV.items():
            patch.setenv(name, value)
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    kinesis(endpoint).list_streams()
                    break
                except Exception:  # noqa: BLE001 - not listening yet
                    assert time.monotonic() < deadline and process.poll() is None, "moto server did not start"
                    time.sleep(0.2)
            yield endpoint
        finally:
            process.terminate()
            process.wait(timeout=30)


Change = tuple[int, str, int]  # (id, type, version): one row change, as the workload made it


class Writer:
    """Transactions of 1 to 300 rows (log-uniform) at about `rate` row changes a second: inserts, updates and
    deletes of random rows, and in every transaction an update of one of 20 hot rows, so many keys change many
    times while Kinesis is failing. Every update bumps `version`, so each change it made, kept in `changes`, is one
    (id, type, version): the oracle for what the stream must hold."""

    HOT = 20

    def __init__(self, conn: Any, seed: int, rate: float) -> None:
        self.conn = conn
        self.rng = random.Random(seed)
        self.rate = rate
        self.notes = ["".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz ", k=1500)) for _ in range(64)]
        self.versions: dict[int, int] = {}
        self.live: list[int] = []  # not the hot rows, which are never deleted
        self.next_id = self.HOT + 1
        self.changes: list[Change] = []
        self.transactions = 0

    def run(self, stop: threading.Event) -> None:
        began = time.monotonic()
        while not stop.is_set():
            self.step()
            stop.wait(max(0.0, began + len(self.changes) / self.rate - time.monotonic()))

    def step(self) -> None:
        rng = self.rng
        n = max(1, int(math.exp(rng.uniform(0, math.log(300)))))
        changes: list[Change] = []
        with self.conn.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            if self.transactions == 0:
                changes += self._insert(cursor, list(range(1, self.HOT + 1)))
            else:
                changes += self._update(cursor, [rng.randint(1, self.HOT)])
            kind = rng.random()
            if kind < 0.5 or len(self.live) < n:
                keys = list(range(self.next_id, self.next_id + n))
                self.next_id += n
                changes += self._insert(cursor, keys)
                self.live += keys
            elif kind < 0.85:
                changes += self._update(cursor, rng.sample(self.live, n))
            else:
                keys = rng.sample(self.live, n)
                assert cursor.execute(f"DELETE FROM items WHERE id IN ({','.join(['%s'] * n)})", keys) == n
                changes += [(k, "delete", self.versions.pop(k)) for k in keys]
                gone = set(keys)
                self.live = [k for k in self.live if k not in gone]
            cursor.execute("COMMIT")
        self.transactions += 1
        self.changes += changes

    def _insert(self, cursor: Any, keys: list[int]) -> list[Change]:
        cursor.executemany("INSERT INTO items VALUES (%s, 0, %s)", [(k, self.rng.choice(self.notes)) for k in keys])
        self.versions.update(dict.fromkeys(keys, 0))
        return [(k, "insert", 0) for k in keys]

    def _update(self, cursor: Any, keys: list[int]) -> list[Change]:
        placeholders = ",".join(["%s"] * len(keys))
        sql = f"UPDATE items SET version = version + 1, note = %s WHERE id IN ({placeholders})"
        assert cursor.execute(sql, (self.rng.choice(self.notes), *keys)) == len(keys)
        for k in keys:
            self.versions[k] += 1
        return [(k, "update", self.versions[k]) for k in keys]


def write(socket: str, database: str, seed: int, rate: float) -> None:
    """The workload process: writes until a line arrives on stdin, then prints what it did as JSON."""
    conn = pymysql.connect(unix_socket=socket, user="root", database=database, autocommit=True, charset="utf8mb4")
    writer, stop = Writer(conn, seed, rate), threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    writer.run(stop)
    conn.close()
    json.dump({"changes": writer.changes, "transactions": writer.transactions}, sys.stdout)


class Workload:
    """`Writer` in its own process, so neither its writes nor its growing record of them count in this process's
    memory (which is the streamer's) or take its CPU."""

    def __init__(self, mariadb: LocalMariaDB, database: str, seed: int, rate: float) -> None:
        self.command = [sys.executable, "-m", __name__, str(mariadb.socket_path), database, str(seed), str(rate)]
        self.process: subprocess.Popen[str] | None = None
        self.changes: list[Change] = []
        self.transactions = 0

    def start(self) -> None:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root
        )

    def finish(self) -> None:
        assert self.process is not None
        out, err = self.process.communicate("stop\n", timeout=120)
        assert self.process.returncode == 0, err
        done = json.loads(out)
        self.changes = [(c[0], c[1], c[2]) for c in done["changes"]]
        self.transactions = done["transactions"]


class Background:
    """A streamer run in a thread; what it raised is kept."""

    def __init__(self, streamer: Streamer) -> None:
        self.streamer = streamer
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.streamer.run()
        except BaseException as error:  # noqa: BLE001 - inspected by the test
            self.error = error

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.streamer.stop.requested = True
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the streamer did not stop"


class MemoryMeter:
    """Over chosen stretches: the peak of the Python allocations made in them (tracemalloc, every thread), and the
    growth of the process's resident set (sampled every 0.1 s; printed, not asserted: it also moves with the
    allocator's own reuse of memory)."""

    def __init__(self) -> None:
        self.peak = 0
        self.rss_growth = 0
        self._sampling = threading.Event()
        self._baseline = 0

    @staticmethod
    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def start(self) -> None:
        gc.collect()
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc: hand freed heap back to the system
        if trim is not None:
            trim(0)
        tracemalloc.start()
        self._baseline = self.rss()
        self._sampling.set()
        threading.Thread(target=self._sample, daemon=True).start()

    def stop(self) -> None:
        self._sampling.clear()
        if tracemalloc.is_tracing():
            self.peak = max(self.peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    def _sample(self) -> None:
        while self._sampling.is_set():
            self.rss_growth = max(self.rss_growth, self.rss() - self._baseline)
            time.sleep(0.1)


def change(event: dict[str, Any]) -> Change:
    return (event["data"]["id"], event["type"], event["data"]["version"])


def binlog_order(event: dict[str, Any]) -> tuple[Any, ...]:
    return (BinlogPosition.parse(event["position"]).sort_key, event["xoffset"])


def out_of_order(records: list[StreamRecord]) -> int:
    """First deliveries of a key that arrived after a later change (binlog order) of the same key; a resent record
    (seen before) is a duplicate, not a reordering."""
    seen: set[Change] = set()
    latest: dict[str, tuple[Any, ...]] = {}
    count = 0
    for record in sorted(records, key=lambda r: (r.shard, r.sequence)):  # stable: an aggregate's records in order
        key, mark = record.user_key, binlog_order(record.event)
        if change(record.event) in seen:
            continue
        seen.add(change(record.event))
        if key in latest and mark < latest[key]:
            count += 1
        latest[key] = max(latest.get(key, mark), mark)
    return count


def keys_on_two_shards(records: list[StreamRecord]) -> int:
    shards: dict[str, set[str]] = {}
    for record in records:
        shards.setdefault(record.user_key, set()).add(record.shard)
    return sum(len(found) > 1 for found in shards.values())


def wait_until(condition: Callable[[], bool], timeout: float, what: str, run: Background) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.alive(), f"the streamer stopped while {what}: {run.error!r}"
        assert time.monotonic() < deadline, f"not {what} within {timeout} s"
        time.sleep(0.1)


# Both record formats run under faults in one run: the streamer is killed mid-fault and restarted from its checkpoint
# with `--aggregate` toggled (as an operator may do), which must lose and reorder nothing either. `make test` runs
# plain, then aggregated; the longer chaos run also the other way round.
FORMATS = [("plain", "aggregated"), *([("aggregated", "plain")] if SECONDS >= 60 else [])]


@pytest.mark.parametrize(("before", "after"), FORMATS, ids=[f"{b}-then-{a}" for b, a in FORMATS])
def test_sustained_throttling_and_partial_failures_lose_nothing(
    moto: str, mariadb: LocalMariaDB, db: Database, tmp_path: Path, before: str, after: str
) -> None:
    seed = int(os.environ.get("CDC_CHAOS_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    variant = f"{before}, then {after} after the kill"
    print(f"\nseed {seed} ({variant})")
    stream = f"faults-{before}-{seed}"
    create_stream(moto, stream, shards=4)
    db.execute(TABLE)
    start = db.position()
    faults = KinesisFaults(kinesis(moto), seed=rng.randrange(2**32))
    store = FileCheckpointStore(tmp_path / "checkpoint.json")

    def sink(record_format: str) -> KinesisSink:
        aggregate = record_format == "aggregated"
        return KinesisSink(faults, KinesisSettings(stream_name=stream, endpoint_url=moto, aggregate=aggregate))

    settings = settings_for(
        mariadb, start_position=start, filter=TableFilter(include=((db.name, "*"),)), max_inflight_rows=MAX_INFLIGHT
    )
    workload = Workload(mariadb, db.name, rng.randrange(2**32), ROWS_PER_SECOND)
    meter = MemoryMeter()

    run = Background(Streamer(settings, sink=sink(before), store=store))
    workload.start()
    try:
        wait_until(lambda: (c := store.load()) is not None and c.position > start, 60, "checkpointing", run)
        faults.faulting.set()
        meter.start()
        began = time.monotonic()
        time.sleep(rng.uniform(0.2, 0.4) * SECONDS)
        faults.kill()  # as SIGKILL: the streamer dies at its next call, without flushing
        run.thread.join(timeout=120)
        assert isinstance(run.error, Killed), run.error
        at_kill = store.load()
        assert at_kill is not None
        in_stream_at_kill = dict(faults.high_water)
        faults.revive()
        restarted = replace(settings, start_position=None)  # from the checkpoint
        run = Background(Streamer(restarted, sink=sink(after), store=store))
        gc.collect()  # the dead streamer's state hangs in reference cycles (its traceback): free it, as a kill would
        time.sleep(max(0.0, began + SECONDS - time.monotonic()))
    except BaseException:
        run.streamer.stop.requested = True
        raise
    finally:
        meter.stop()
        workload.finish()
    end = db.position()
    faults.faulting.clear()
    stopped = time.monotonic()
    at_fault_end = store.load()
    assert at_fault_end is not None
    try:
        wait_until(lambda: (c := store.load()) is not None and c.position >= end, 600, "caught up", run)
        catch_up = time.monotonic() - stopped
    finally:
        run.stop()
    assert run.error is None, run.error

    # Row events only: each streamer process also sends the table's schema event once, before its first row.
    records = [r for r in read_stream(moto, stream) if r.event["type"] != "table-schema"]
    made = set(workload.changes)
    assert len(made) == len(workload.changes)
    delivered = Counter(change(r.event) for r in records)
    lost = made - set(delivered)
    duplicates = sum(delivered.values()) - len(delivered)
    disorder = out_of_order(records)
    position = {change(r.event): BinlogPosition.parse(r.event["position"]) for r in records}
    covered_at_kill = {c for c, p in position.items() if p < at_kill.position}
    held_at_kill = {change(r.event) for r in records if r.sequence <= in_stream_at_kill.get(r.shard, 0)}
    backlog = {change(r.event): r.event for r in records if position[change(r.event)] >= at_fault_end.position}
    backlog_bytes = sum(len(json.dumps(e)) for e in backlog.values())
    counts = faults.counts
    print(
        f"seed {seed} {variant}: {SECONDS:.0f} s of faults ({counts.outages} outages): {counts.calls} calls, "
        f"{counts.throttled_calls} throttled, {counts.connection_errors} cut ({counts.lost_responses} after "
        f"delivery), {counts.failed_entries} entries failed, {counts.records_sent} records sent; "
        f"{len(made)} changes in {workload.transactions} transactions: lost {len(lost)}, duplicates {duplicates}, "
        f"out of order {disorder}; peak memory {meter.peak / MIB:.1f} MiB (bound {MEMORY_BOUND / MIB:.0f} MiB; "
        f"RSS +{meter.rss_growth / MIB:.0f} MiB); killed with {len(covered_at_kill)} changes behind the checkpoint; "
        f"backlog when the faults stopped {len(backlog)} changes ({backlog_bytes / MIB:.0f} MiB of JSON); "
        f"caught up {catch_up:.1f} s after the faults stopped"
    )
    assert not lost, f"seed {seed}: {len(lost)} changes never reached the stream"
    assert set(delivered) == made, "the stream holds changes the workload did not make"
    assert covered_at_kill and covered_at_kill <= held_at_kill, "the checkpoint was ahead of what Kinesis accepted"
    assert disorder == 0, f"seed {seed}: {disorder} changes arrived after a later change of their key"
    assert keys_on_two_shards(records) == 0
    assert backlog_bytes > MEMORY_BOUND, "too small a backlog to tell a bounded sink from one that buffers it"
    assert meter.peak < MEMORY_BOUND, f"seed {seed}: memory grew with the backlog"


@pytest.mark.skipif(SECONDS < 60, reason="a minute or more of throttling: runs with CDC_CHAOS_KINESIS_SECONDS >= 60")
def test_a_minute_of_total_throttling_does_not_stop_the_streamer(
    moto: str, mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    """Every PutRecords call throttled for the whole period, default settings (`--max-send-attempts` 20): the
    streamer waits it out (the reader waits too), then catches up; nothing lost, per-key order kept."""
    seed = int(os.environ.get("CDC_CHAOS_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    print(f"\nseed {seed} (total throttling)")
    create_stream(moto, "throttled", shards=2)
    db.execute(TABLE)
    start = db.position()
    faults = KinesisFaults(kinesis(moto), seed=rng.randrange(2**32), rates=FaultRates(outage=1.0))
    store = FileCheckpointStore(tmp_path / "checkpoint.json")
    settings = settings_for(mariadb, start_position=start, filter=TableFilter(include=((db.name, "*"),)))
    sink = KinesisSink(faults, KinesisSettings(stream_name="throttled", endpoint_url=moto, region="us-east-1"))
    streamer = Streamer(settings, sink=sink, store=store)
    workload = Workload(mariadb, db.name, rng.randrange(2**32), rate=100)
    run = Background(streamer)
    workload.start()
    try:
        wait_until(lambda: (c := store.load()) is not None and c.position > start, 60, "checkpointing", run)
        faults.faulting.set()
        time.sleep(SECONDS)
        assert run.alive(), f"the streamer gave up: {run.error!r}"
    except BaseException:
        run.streamer.stop.requested = True
        raise
    finally:
        workload.finish()
    end = db.position()
    faults.faulting.clear()
    stopped = time.monotonic()
    try:
        wait_until(lambda: (c := store.load()) is not None and c.position >= end, 600, "caught up", run)
        catch_up = time.monotonic() - stopped
    finally:
        run.stop()
    assert run.error is None, run.error
    records = [r for r in read_stream(moto, "throttled") if r.event["type"] != "table-schema"]
    delivered = Counter(change(r.event) for r in records)
    lost = set(workload.changes) - set(delivered)
    disorder = out_of_order(records)
    print(
        f"seed {seed}: every call throttled for {SECONDS:.0f} s ({faults.counts.throttled_calls} calls), "
        f"{len(workload.changes)} changes: lost {len(lost)}, duplicates {sum(delivered.values()) - len(delivered)}, "
        f"out of order {disorder}, {streamer.stats.reconnects} binlog reconnects; "
        f"caught up {catch_up:.1f} s after the throttling stopped"
    )
    assert not lost and set(delivered) == set(workload.changes)
    assert disorder == 0 and keys_on_two_shards(records) == 0


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
