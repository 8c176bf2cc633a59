"""`make demo`: the whole local pipeline on one machine, with no AWS account, and proof that it works.

    .venv/bin/python -m cdc_demo [--dir .demo] [--sales 100000] [--workload-seconds 30] [--seed 7]

1. Starts a private MariaDB under `<dir>/mariadb` (binlog on, a free port); a previous demo's server found there is
   stopped and `<dir>` is wiped first, so every run starts from scratch (nothing outside `<dir>` is touched).
2. Loads the sample data (TICKIT ticket sales + `stock_day`, cdc_demo.sample_data).
3. `cdc-streamer snapshot` of the database, `cdc-lake load-export` of it into the lake `<dir>/lake`.
4. `cdc-streamer run --sink lake --from-snapshot ...`: the streamer writes Parquet straight into the lake.
5. A live workload (inserts, updates, deletes) for `--workload-seconds`, while marker rows measure how long a
   committed change takes to show in the `_live` view.
6. `cdc-lake compact`, `cdc-lake verify`, three analytical answers from `cdc-lake query`, and the commands to
   query the lake yourself. Everything is stopped on exit or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cdc_streamer.checkpoint import Checkpoint
from cdc_streamer.errors import ConfigError
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition

from .sample_data import Sizes, create_schema, load
from .workload import Workload

DATABASE = "tickit"
MARKERS = "demo_marker"
MARKER_INTERVAL = 0.5  # seconds between marker rows
POLL_INTERVAL = 0.05


class DemoFailed(RuntimeError):
    pass


# -- output -------------------------------------------------------------------------------------------------------


class Console:
    """Steps as plain lines; long steps as a progress bar on a terminal, as plain lines otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()
        self._last_plain = 0.0

    def step(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def progress(self, label: str, done: float, total: float) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        if self.tty:
            bar = "#" * int(fraction * 30)
            sys.stdout.write(f"\r         {label} [{bar:<30}] {fraction:4.0%}")
            if fraction >= 1.0:
                sys.stdout.write("\n")
            sys.stdout.flush()
        elif fraction >= 1.0 or time.monotonic() - self._last_plain >= 5:
            self._last_plain = time.monotonic()
            print(f"         {label}: {fraction:.0%}", flush=True)


# -- commands -----------------------------------------------------------------------------------------------------


def cli(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DemoFailed(f"{module} {args[0]} failed (exit {result.returncode}): {detail[-1] if detail else ''}")
    return result


def stop_previous_server(base: Path) -> None:
    """A server left by a demo that was killed: stop it (only if its pid file is under `base`)."""
    pid_file = base / "mariadb" / "mysqld.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if str(base.resolve()) not in command:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(150):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.2)


# -- latency ------------------------------------------------------------------------------------------------------


@dataclass
class Markers:
    """Marker rows: committed at a known time, seen in the `_live` view at another."""

    server: LocalMariaDB
    lake: Path
    committed: dict[int, float] = field(default_factory=dict)
    visible: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")  # after `stop`, keep watching the pending markers until then

    def write(self, first_id: int) -> None:
        conn = self.server.root_connection(database=DATABASE)
        marker = first_id
        try:
            while not self.stop.is_set():
                with conn.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {MARKERS} (id, note) VALUES (%s, 'marker')", (marker,))
                self.committed[marker] = time.monotonic()
                marker += 1
                self.stop.wait(MARKER_INTERVAL)
        finally:
            conn.close()

    def watch(self) -> None:
        import duckdb

        while not self.stop.is_set() or self.pending():
            pending = self.pending()
            if pending:
                try:
                    with duckdb.connect(str(self.lake / "lake.duckdb"), read_only=True) as conn:
                        rows = conn.execute(
                            f'SELECT id FROM "{DATABASE}"."{MARKERS}_live" WHERE id >= ?', [min(pending)]
                        ).fetchall()
                except duckdb.Error:
                    rows = []
                now = time.monotonic()
                for (marker,) in rows:
                    if marker in self.committed and marker not in self.visible:
                        self.visible[marker] = now
            if self.stop.is_set() and time.monotonic() > self.deadline:
                return
            time.sleep(POLL_INTERVAL)

    def pending(self) -> list[int]:
        return [marker for marker in list(self.committed) if marker not in self.visible]

    def latencies(self) -> list[float]:
        return sorted(self.visible[m] - self.committed[m] for m in self.visible if m in self.committed)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


# -- the demo -----------------------------------------------------------------------------------------------------

ANSWERS = (
    (
        "Top events by tickets sold",
        f"""SELECT e.eventname, sum(s.qtysold) AS tickets, sum(s.pricepaid) AS revenue
FROM "{DATABASE}".sales AS s JOIN "{DATABASE}".event AS e ON e.eventid = s.eventid
GROUP BY e.eventname ORDER BY tickets DESC, e.eventname LIMIT 5""",
    ),
    (
        "Monthly revenue of the venue that sells the most",
        f"""WITH revenue AS (
  SELECT s.*, e.venueid FROM "{DATABASE}".sales AS s JOIN "{DATABASE}".event AS e ON e.eventid = s.eventid
), top_venue AS (
  SELECT venueid FROM revenue GROUP BY venueid ORDER BY sum(pricepaid) DESC, venueid LIMIT 1
)
SELECT v.venuename, strftime(r.saletime, '%Y-%m') AS month, sum(r.pricepaid) AS revenue, count(*) AS sales
FROM revenue AS r JOIN top_venue USING (venueid) JOIN "{DATABASE}".venue AS v ON v.venueid = r.venueid
GROUP BY v.venuename, month ORDER BY month LIMIT 12""",
    ),
    (
        "Daily returns of the first ticker (last 5 trading days)",
        f"""SELECT ticker, tradeDate, closePrice,
  round(closePrice / lag(closePrice) OVER (ORDER BY tradeDate) - 1, 5) AS daily_return
FROM "{DATABASE}".stock_day
WHERE ticker = (SELECT min(ticker) FROM "{DATABASE}".stock_day)
ORDER BY tradeDate DESC LIMIT 5""",
    ),
)


def run_demo(directory: Path, sizes: Sizes, workload_seconds: float, seed: int) -> int:
    console = Console()
    directory = directory.resolve()
    stop_previous_server(directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    lake, exports, checkpoint = directory / "lake", directory / "exports", directory / "checkpoint.json"
    server = LocalMariaDB(directory / "mariadb")
    streamer: subprocess.Popen[str] | None = None
    markers = Markers(server, lake)
    threads: list[threading.Thread] = []
    try:
        console.step(f"starting a private MariaDB under {server.base_dir}")
        server.start()
        server.create_cdc_user()
        url = server.url()
        console.step(f"loading sample data into {DATABASE}: TICKIT ({sizes.sales:,} sales) and stock_day")
        with server.root_connection(charset="utf8mb4") as conn:
            create_schema(conn, DATABASE)
            with conn.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE `{DATABASE}`.{MARKERS} (id INT PRIMARY KEY, note VARCHAR(20),"
                    " at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))"
                )
            load(conn, DATABASE, sizes, seed, progress=lambda done, total: console.progress("rows", done, total))

        console.step("snapshot (cdc-streamer snapshot) of the database, with its binlog position")
        result = cli("cdc_streamer", "snapshot", "--mysql-url", url, "--out", str(exports), "--tables", f"{DATABASE}.*")
        export = Path(result.stdout.strip().splitlines()[0])
        console.step(f"loading the snapshot into the lake (cdc-lake load-export): {export.name}")
        cli("cdc_lake", "load-export", "--export", str(export), "--lake-dir", str(lake))

        console.step("starting the streamer: cdc-streamer run --sink lake (binlog -> Parquet in the lake)")
        streamer = subprocess.Popen(
            [sys.executable, "-m", "cdc_streamer", "run", "--mysql-url", url, "--sink", "lake", "--lake-dir",
             str(lake), "--from-snapshot", str(export), "--include-tables", f"{DATABASE}.*", "--position-store",
             f"file:{checkpoint}", "--lake-buffer-seconds", "1", "--flush-interval", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        first_marker_visible(server, lake, streamer)

        console.step(f"live workload for {workload_seconds:.0f} s (sales, refunds, price changes, new trading days)")
        threads = [
            threading.Thread(target=markers.write, args=(1,), daemon=True),
            threading.Thread(target=markers.watch, daemon=True),
        ]
        for thread in threads:
            thread.start()
        transactions = _workload(server, workload_seconds, seed, console, streamer)
        markers.stop.set()
        markers.deadline = time.monotonic() + 30
        for thread in threads:
            thread.join(timeout=40)
        console.step(f"workload done: {transactions:,} transactions; waiting for the streamer to catch up")
        _wait_until_caught_up(server, checkpoint, streamer)
        _stop_streamer(streamer)
        streamer = None

        console.step("merging the changes into the master tables (cdc-lake compact)")
        compacted = cli("cdc_lake", "compact", "--lake-dir", str(lake))
        for line in compacted.stdout.strip().splitlines():
            print(f"         {line}")
        console.step("comparing every master table with its source table (cdc-lake verify)")
        verified = subprocess.run(
            [sys.executable, "-m", "cdc_lake", "verify", "--mysql-url", url, "--lake-dir", str(lake), "--tables",
             f"{DATABASE}.*"], capture_output=True, text=True, check=False,
        )  # fmt: skip
        _print_summary(verified.stdout, markers, transactions)
        for title, sql in ANSWERS:
            answer = cli("cdc_lake", "query", "--lake-dir", str(lake), sql)
            print(f"\n{title}:\n{answer.stdout.rstrip()}")
        print(
            "\nQuery the lake yourself (the MariaDB is stopped, the lake stays):\n"
            f"  .venv/bin/cdc-lake query --lake-dir {lake} 'SELECT count(*) FROM {DATABASE}.sales'\n"
            f"  .venv/bin/cdc-lake query --lake-dir {lake} --format csv 'SELECT * FROM {DATABASE}.stock_day LIMIT 10'\n"
            f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{lake}/lake.duckdb', read_only=True)"
            f".sql('SHOW ALL TABLES'))\""
        )
        return 0 if verified.returncode == 0 else 1
    finally:
        markers.stop.set()
        if streamer is not None:
            streamer.kill()
            streamer.wait()
        server.stop()


def first_marker_visible(server: LocalMariaDB, lake: Path, streamer: subprocess.Popen[str]) -> None:
    """A first marker row through the whole path, then one compaction so every table has its `_live` view."""
    with server.root_connection(database=DATABASE) as conn, conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO {MARKERS} (id, note) VALUES (0, 'first')")
    marker_dir = lake / "events" / f"database={DATABASE}" / f"table={MARKERS}"
    deadline = time.monotonic() + 60
    while not any(marker_dir.rglob("*.parquet")):
        if streamer.poll() is not None:
            raise DemoFailed(f"the streamer stopped: {(streamer.stderr.read() if streamer.stderr else '')[-500:]}")
        if time.monotonic() > deadline:
            raise DemoFailed("the first marker did not reach the lake within 60 s")
        time.sleep(0.1)
    cli("cdc_lake", "compact", "--lake-dir", str(lake))


def _workload(
    server: LocalMariaDB, seconds: float, seed: int, console: Console, streamer: subprocess.Popen[str]
) -> int:
    conn = server.root_connection(charset="utf8mb4")
    try:
        workload = Workload(conn, DATABASE, seed)
        started = time.monotonic()
        count = 0
        while (elapsed := time.monotonic() - started) < seconds:
            if streamer.poll() is not None:
                raise DemoFailed("the streamer stopped during the workload")
            workload.step()
            count += 1
            if count % 50 == 0:
                console.progress("workload", elapsed, seconds)
        console.progress("workload", seconds, seconds)
        return count
    finally:
        conn.close()


def _wait_until_caught_up(server: LocalMariaDB, checkpoint: Path, streamer: subprocess.Popen[str]) -> None:
    """Until the streamer's checkpoint (saved only after the lake holds the files durably) reaches the server's
    binlog end as it was when the workload stopped: every committed change is then in the lake."""
    with server.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW MASTER STATUS")
        file, offset = cursor.fetchone()[:2]
    end = BinlogPosition(str(file), int(offset))
    deadline = time.monotonic() + 120
    while True:
        try:
            saved = Checkpoint.from_json(checkpoint.read_text(), origin=str(checkpoint)).position
        except (OSError, ConfigError):
            saved = None
        if saved is not None and end <= saved:
            return
        if streamer.poll() is not None:
            raise DemoFailed(f"the streamer stopped: {(streamer.stderr.read() if streamer.stderr else '')[-500:]}")
        if time.monotonic() > deadline:
            raise DemoFailed(f"the streamer did not reach the binlog end {end} within 120 s (checkpoint: {saved})")
        time.sleep(POLL_INTERVAL)


def _stop_streamer(streamer: subprocess.Popen[str]) -> None:
    """SIGTERM: the streamer flushes its last buffer into the lake, saves its checkpoint and exits 0."""
    streamer.send_signal(signal.SIGTERM)
    try:
        _, stderr = streamer.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        streamer.kill()
        raise DemoFailed("the streamer did not stop within 60 s after SIGTERM") from None
    if streamer.returncode != 0:
        raise DemoFailed(f"the streamer exited {streamer.returncode}: {stderr.strip().splitlines()[-1:]}")


def _print_summary(verify_output: str, markers: Markers, transactions: int) -> None:
    print("\nSource vs master (cdc-lake verify):")
    for line in verify_output.strip().splitlines():
        print(f"  {line}")
    latencies = markers.latencies()
    lost = len(markers.committed) - len(latencies)
    print(f"\nCommit-to-visible latency in the _live views ({len(latencies)} marker rows, one every"
          f" {MARKER_INTERVAL} s, 1 s delivery buffer, during {transactions:,} workload transactions):")  # fmt: skip
    if latencies:
        print(
            f"  p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s,"
            f" max {latencies[-1]:.2f} s" + (f"; {lost} marker(s) not seen" if lost else "")
        )
    else:
        print("  no marker became visible")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdc_demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=Path(".demo"), help="working directory, wiped first (.demo)")
    parser.add_argument("--sales", type=int, default=100_000, help="TICKIT sales rows (100000)")
    parser.add_argument("--workload-seconds", type=float, default=30.0, help="live workload duration (30)")
    parser.add_argument("--seed", type=int, default=7, help="sample data and workload seed (7)")
    args = parser.parse_args(argv)
    if args.sales < 100 or args.workload_seconds <= 0:
        parser.error("--sales must be at least 100 and --workload-seconds positive")
    try:
        return run_demo(args.dir, Sizes(sales=args.sales), args.workload_seconds, args.seed)
    except DemoFailed as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; the MariaDB and the streamer are stopped", file=sys.stderr)
        return 130
