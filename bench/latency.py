"""Commit -> visible in the `_live` view, end to end on one machine, with a 1 s delivery buffer.

    .venv/bin/python bench/latency.py [--seconds 30] [--rows-per-second 500] [--no-save]

A private MariaDB, `cdc-streamer run --sink lake --lake-buffer-seconds 1 --flush-interval 0.5` (what `make demo`
runs), one compaction so that the `_live` views exist, then for `--seconds`: a workload of 10-row transactions
(inserts, updates, deletes of a 6-column table) at `--rows-per-second`, and a marker row committed every 0.5 s by
another connection. A watcher polls `SELECT id FROM tickit.demo_marker_live` through DuckDB every 50 ms; a marker's
latency is from the moment its INSERT returned (committed) to the first poll that returned it. The markers, the
watcher, and the first marker with the compaction before them are the demo's own (`cdc_demo.demo`). Prints p50,
p95 and max, and stores them under `latency` in `bench/results/<date>.json` (the docs page renders them).
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from results_file import store  # bench/, this script's directory, is on sys.path

from cdc_demo.demo import DATABASE, MARKER_INTERVAL, MARKERS, DemoFailed, Markers, first_marker_visible, percentile
from cdc_streamer.local_mariadb import LocalMariaDB, ServerNotInstalled, free_port

BUFFER_SECONDS = 1.0
TARGET_P95_SECONDS = 2.0


def stderr_of(process: subprocess.Popen[str]) -> str:
    return (process.stderr.read() if process.stderr else "").strip()[-500:]


def workload(server: LocalMariaDB, rows_per_second: float, stop: threading.Event) -> int:
    """10-row transactions against `orders` at the given rate: inserts, then updates and deletes of earlier rows."""
    rng, written, next_id = random.Random(7), 0, 1
    interval = 10 / rows_per_second
    conn = server.root_connection(database=DATABASE)
    try:
        deadline = time.monotonic()
        while not stop.is_set():
            with conn.cursor() as cursor:
                kind = rng.random()
                if kind < 0.6 or next_id < 100:
                    values = ",".join(
                        f"({next_id + i}, 'customer-{next_id + i}', {rng.randrange(10**9)}, {rng.randrange(10**7)}.25,"
                        f" NOW(3), {rng.random()})"
                        for i in range(10)
                    )
                    cursor.execute(f"INSERT INTO orders VALUES {values}")
                    next_id += 10
                elif kind < 0.9:
                    low = rng.randrange(1, next_id - 10)
                    cursor.execute("UPDATE orders SET qty = qty + 1, at = NOW(3) WHERE id BETWEEN %s AND %s",
                                   (low, low + 9))  # fmt: skip
                else:
                    low = rng.randrange(1, next_id - 10)
                    cursor.execute("DELETE FROM orders WHERE id BETWEEN %s AND %s", (low, low + 9))
            conn.commit()
            written += 10
            deadline += interval
            stop.wait(max(0.0, deadline - time.monotonic()))
    finally:
        conn.close()
    return written


def measure(directory: Path, seconds: float, rows_per_second: float) -> dict[str, Any]:
    server = LocalMariaDB(directory / "mariadb", port=free_port())
    lake = directory / "lake"
    streamer: subprocess.Popen[str] | None = None
    markers = Markers(server, lake)
    stop = threading.Event()
    try:
        server.start()
        server.create_cdc_user()
        with server.root_connection() as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
            cursor.execute(
                f"CREATE TABLE {DATABASE}.{MARKERS} (id INT PRIMARY KEY, note VARCHAR(20),"
                " at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))"
            )
            cursor.execute(
                f"CREATE TABLE {DATABASE}.orders (id INT PRIMARY KEY, customer VARCHAR(64), qty BIGINT,"
                " amount DECIMAL(12,2), at DATETIME(3), score DOUBLE)"
            )
            cursor.execute("SHOW MASTER STATUS")
            file, offset = cursor.fetchone()[:2]  # type: ignore[index]
        streamer = subprocess.Popen(
            [sys.executable, "-m", "cdc_streamer", "run", "--mysql-url", server.url(), "--sink", "lake",
             "--lake-dir", str(lake), "--start-position", f"{file}:{offset}", "--include-tables", f"{DATABASE}.*",
             "--position-store", f"file:{directory / 'checkpoint.json'}",
             "--lake-buffer-seconds", str(BUFFER_SECONDS), "--flush-interval", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        first_marker_visible(server, lake, streamer)
        written: list[int] = []
        threads = [
            threading.Thread(target=markers.write, args=(1,), daemon=True),
            threading.Thread(target=markers.watch, daemon=True),
            threading.Thread(target=lambda: written.append(workload(server, rows_per_second, stop)), daemon=True),
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        markers.stop.set()
        markers.deadline = time.monotonic() + 15
        for thread in threads:
            thread.join(timeout=30)
        if streamer.poll() is not None:
            raise SystemExit(f"latency bench: the streamer stopped: {stderr_of(streamer)}")
    finally:
        stop.set()
        markers.stop.set()
        if streamer is not None and streamer.poll() is None:
            streamer.send_signal(signal.SIGTERM)
            try:
                streamer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                streamer.kill()
                streamer.wait()
        server.stop()
    latencies = markers.latencies()
    if not latencies:
        raise SystemExit("latency bench: no marker became visible")
    return {
        "buffer_seconds": BUFFER_SECONDS,
        "seconds": seconds,
        "markers": len(latencies),
        "markers_not_seen": len(markers.committed) - len(latencies),
        "marker_interval_seconds": MARKER_INTERVAL,
        "workload_rows": written[0] if written else 0,
        "workload_rows_per_second": rows_per_second,
        "p50_seconds": round(statistics.median(latencies), 3),
        "p95_seconds": round(percentile(latencies, 0.95), 3),
        "max_seconds": round(max(latencies), 3),
        "target_p95_seconds": TARGET_P95_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rows-per-second", type=float, default=500.0)
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="cdc-bench-latency-") as directory:
            result = measure(Path(directory), args.seconds, args.rows_per_second)
    except (ServerNotInstalled, DemoFailed) as error:
        raise SystemExit(f"latency bench: {error}") from None
    print(
        f"commit -> visible in _live ({result['markers']} markers, {BUFFER_SECONDS:g} s buffer, "
        f"{result['workload_rows']:,} workload rows in {args.seconds:g} s): p50 {result['p50_seconds']:.2f} s, "
        f"p95 {result['p95_seconds']:.2f} s, max {result['max_seconds']:.2f} s (target p95 < {TARGET_P95_SECONDS:g} s)"
    )
    if not args.no_save:
        store("latency", result)


if __name__ == "__main__":
    main()
