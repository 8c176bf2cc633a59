"""Fault tests, bounded for `make test`, while a randomized workload (transactions of 1 to 1,000 rows: inserts,
updates, deletes) keeps writing: the real streamer SIGKILLed at random moments, then caught up, compacted and
verified (master == source); the replication connection dropped, stalled, half-closed and refused by the project's
TCP fault proxy. Each prints rows lost (must be 0), duplicates delivered and the recovery time.

`CDC_CHAOS_KILLS` (default 20) sets the number of kills; `make chaos` runs more."""

from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.streamer import Streamer

from .support import BackgroundLoop, Database, run_cli, settings_for, start_cli, stop_process
from .tcp_proxy import FaultProxy
from .test_lake_delivery import lake_rows
from .test_lake_sink import checkpoint_position, lake_sink_run, streamed_keys

KILLS = int(os.environ.get("CDC_CHAOS_KILLS", "20"))
NETWORK_FAULTS = int(os.environ.get("CDC_CHAOS_NETWORK_FAULTS", "10"))


class RandomTransactions(BackgroundLoop):
    """Writes transactions of 1 to 1,000 rows (log-uniform) on its own connection until stopped."""

    def __init__(self, mariadb: LocalMariaDB, database: str, seed: int) -> None:
        super().__init__()
        self.conn = mariadb.root_connection(database=database)
        self.rng = random.Random(seed)
        self.live: list[int] = []
        self.next_id = 1
        self.transactions = 0
        self.rows = 0

    def size(self) -> int:
        return max(1, int(math.exp(self.rng.uniform(0, math.log(1000)))))

    def step(self) -> None:
        rng, n = self.rng, self.size()
        with self.conn.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            kind = rng.random()
            if kind < 0.5 or len(self.live) < n:
                keys = list(range(self.next_id, self.next_id + n))
                self.next_id += n
                cursor.executemany(
                    "INSERT INTO accounts VALUES (%s, %s, %s)", [(k, rng.randint(0, 10**12), f"n{k}") for k in keys]
                )
                self.live += keys
                changed = n
            elif kind < 0.8:
                keys = rng.sample(self.live, n)
                changed = cursor.execute(
                    f"UPDATE accounts SET balance = balance + 1, note = %s WHERE id IN ({','.join(['%s'] * n)})",
                    (f"t{self.transactions}", *keys),
                )
            else:
                keys = rng.sample(self.live, n)
                changed = cursor.execute(f"DELETE FROM accounts WHERE id IN ({','.join(['%s'] * n)})", keys)
                gone = set(keys)
                self.live = [k for k in self.live if k not in gone]
            cursor.execute("COMMIT")
        self.transactions += 1
        self.rows += changed

    def pause(self) -> float:
        return self.rng.uniform(0.02, 0.12)

    def close(self) -> None:
        self.conn.close()


def test_sigkill_the_streamer_at_random_moments_loses_nothing(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    db.execute("CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT, note VARCHAR(40))")
    lake, store = tmp_path / "lake", tmp_path / "checkpoint.json"
    start = db.position()
    args = [*lake_sink_run(mariadb, lake, f"{db.name}.*"), "--position-store", f"file:{store}",
            "--lake-buffer-seconds", "0.2"]  # fmt: skip
    workload = RandomTransactions(mariadb, db.name, seed)
    workload.start()
    recoveries: list[float] = []
    try:
        for _ in range(KILLS):
            # Until a run has saved its first checkpoint, the start is given again (as an operator would): a run
            # killed before that point saved nothing, and without it the next would start at the binlog's end.
            process = start_cli(*args, *([] if store.exists() else ["--start-position", str(start)]))
            try:
                time.sleep(rng.uniform(0.3, 1.2))
                process.send_signal(signal.SIGKILL)
                assert process.wait(timeout=30) == -signal.SIGKILL, process.stderr.read() if process.stderr else ""
            finally:
                stop_process(process)
    finally:
        workload.finish()
    end = db.position()
    began = time.monotonic()
    caught_up = run_cli(*args, "--stop-when-caught-up", timeout=600)
    recoveries.append(time.monotonic() - began)
    assert caught_up.returncode == 0, caught_up.stderr
    assert checkpoint_position(store) == end

    rows = [row for row in lake_rows(lake) if row["table"] == "accounts"]
    delivered = Counter((f"{row['binlog_file']}:{row['binlog_position']}", row["xoffset"]) for row in rows)
    expected = {(position, xoffset) for _, position, xoffset in streamed_keys(mariadb, db, start, end)}
    lost = expected - set(delivered)
    duplicates = sum(delivered.values()) - len(delivered)
    print(
        f"{KILLS} SIGKILLs during {workload.transactions} transactions ({workload.rows} row changes, 1-1,000 rows "
        f"each): rows lost {len(lost)}, duplicates delivered {duplicates}, catch-up after the last kill "
        f"{recoveries[-1]:.1f} s"
    )
    assert not lost, f"seed {seed}: {len(lost)} row events never reached the lake"
    assert set(delivered) == expected

    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, compacted.stdout + compacted.stderr
    verified = run_cli(
        "verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*", cli="cdc_lake"
    )
    assert verified.returncode == 0, f"seed {seed}:\n{verified.stdout}{verified.stderr}"


def test_dropped_stalled_and_half_closed_connections_lose_nothing(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    """The streamer reads through the project's fault proxy, which drops, stalls and half-closes its connections
    and refuses reconnects for a while; every row event arrives, and the reconnects stay bounded."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    db.execute("CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT, note VARCHAR(40))")
    start = db.position()
    proxy = FaultProxy(("127.0.0.1", mariadb.port))
    url = MySQLUrl.parse(mariadb.url().replace(f":{mariadb.port}", f":{proxy.port}"))
    sink = MemorySink()
    settings = settings_for(
        mariadb, mysql=url, start_position=start, filter=TableFilter(include=((db.name, "*"),)),
        read_timeout=2.0, max_reconnects=50, output_schema=False,
    )  # fmt: skip
    streamer = Streamer(settings, sink=sink)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            streamer.run()
        except BaseException as error:  # noqa: BLE001 - asserted below
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    workload = RandomTransactions(mariadb, db.name, seed)
    faults: Counter[str] = Counter()
    try:
        thread.start()
        workload.start()
        for _ in range(NETWORK_FAULTS):
            time.sleep(rng.uniform(0.3, 1.0))
            fault = rng.choice(["drop", "stall", "half-close", "refuse"])
            faults[fault] += 1
            if fault == "drop":
                proxy.drop()
            elif fault == "half-close":
                proxy.half_close()
            elif fault == "stall":  # longer than the read timeout: the reader must notice and reconnect
                proxy.flowing.clear()
                time.sleep(2.5)
                proxy.drop()
                proxy.flowing.set()
            else:
                proxy.refusing.set()
                proxy.drop()
                time.sleep(rng.uniform(0.5, 1.5))
                proxy.refusing.clear()
    finally:
        workload.finish()
    end = db.position()
    expected = {(position, xoffset) for _, position, xoffset in streamed_keys(mariadb, db, start, end)}
    began = time.monotonic()
    try:
        while not expected <= {(str(e.position), e.xoffset) for e in list(sink.events)}:
            assert time.monotonic() - began < 120 and not failures, f"seed {seed}: not all events arrived {failures}"
            time.sleep(0.2)
        recovered = time.monotonic() - began
    finally:
        streamer.stop.requested = True
        thread.join(timeout=60)
        proxy.close()
    assert not failures, failures
    delivered = Counter((str(e.position), e.xoffset) for e in sink.events)
    duplicates = sum(delivered.values()) - len(delivered)
    print(
        f"{sum(faults.values())} network faults ({dict(faults)}) during {workload.transactions} transactions: "
        f"rows lost {len(expected - set(delivered))}, duplicates delivered {duplicates}, "
        f"{streamer.stats.reconnects} reconnects, {proxy.connections} connections, caught up "
        f"{recovered:.1f} s after the last fault"
    )
    assert set(delivered) == expected
    assert streamer.stats.reconnects <= 4 * sum(faults.values()), "reconnects must stay bounded"
