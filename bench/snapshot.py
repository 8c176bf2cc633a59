"""Rows/s and peak RSS of `cdc-streamer snapshot` on a 1,000,000-row table in a private MariaDB.

    .venv/bin/python bench/snapshot.py [--rows N] [--chunk-rows C] [--json]

The table `bench.orders` (id INT primary key, customer VARCHAR(40), qty BIGINT, amount DECIMAL(12,2),
placed_at DATETIME(3), score DOUBLE) is filled with one `INSERT ... SELECT` from MariaDB's SEQUENCE engine
(`seq_1_to_N`) in a server started for the run (cdc_streamer.local_mariadb, as the integration tests do) and
thrown away afterwards. The snapshot runs as the real command in a child process; its peak RSS is the child's
own `ru_maxrss` from `os.wait4` (what `/usr/bin/time -v` reports as "Maximum resident set size"), so neither this
process nor the server is counted. Time is the child's wall clock, Python start-up and imports included.

Checks (exit 1 on a miss): the export holds exactly N rows, sum(qty) and the key order are right, and the peak
RSS is under the target (300 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdc_streamer.local_mariadb import LocalMariaDB

DATABASE, TABLE = "bench", "orders"
RSS_TARGET_MIB = 300
CLI = Path(sys.executable).with_name("cdc-streamer")


def fill(server: LocalMariaDB, rows: int) -> float:
    began = time.monotonic()
    with server.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {DATABASE}")
        cursor.execute(f"USE {DATABASE}")  # the SEQUENCE engine's seq_1_to_N tables exist in every database
        cursor.execute(
            f"CREATE TABLE {DATABASE}.{TABLE} (id INT PRIMARY KEY, customer VARCHAR(40), qty BIGINT, "
            "amount DECIMAL(12,2), placed_at DATETIME(3), score DOUBLE)"
        )
        cursor.execute(
            f"INSERT INTO {DATABASE}.{TABLE} SELECT seq, CONCAT('customer-', LPAD(seq % 100000, 8, '0'), "
            "'@example.com'), seq * 1000, (seq % 100000) / 100 + 0.01, "
            "TIMESTAMP('2024-01-01') + INTERVAL seq * 1001000 MICROSECOND, seq / 7 "
            f"FROM seq_1_to_{rows}"
        )
        cursor.execute(f"ANALYZE TABLE {DATABASE}.{TABLE}")
    return time.monotonic() - began


def run_snapshot(server: LocalMariaDB, out: Path, chunk_rows: int) -> tuple[float, float, str, str]:
    """(seconds, peak RSS MiB, stdout, stderr) of one `cdc-streamer snapshot` child."""
    command = [
        str(CLI), "snapshot", "--mysql-url", server.url(), "--out", str(out),
        "--tables", f"{DATABASE}.{TABLE}", "--chunk-rows", str(chunk_rows),
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        began = time.monotonic()
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out_text, err_text = stdout.read(), stderr.read()
    if child.returncode != 0:
        raise SystemExit(f"snapshot failed (exit {child.returncode}): {err_text}")
    peak = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
    return seconds, peak, out_text, err_text


def check(export_dir: Path, rows: int) -> list[str]:
    problems = []
    files = sorted((export_dir / DATABASE / f"{DATABASE}.{TABLE}" / "1").glob("part-*.gz.parquet"))
    count = sum(pq.ParquetFile(file).metadata.num_rows for file in files)
    if count != rows:
        problems.append(f"the export holds {count} rows, expected {rows}")
    qty_sum = sum(pc.sum(pq.read_table(file, columns=["qty"])["qty"]).as_py() or 0 for file in files)
    if qty_sum != 1000 * rows * (rows + 1) // 2:
        problems.append(f"sum(qty) is {qty_sum}")
    previous = 0
    for file in files:
        ids = pq.read_table(file, columns=["id"])["id"]
        if len(ids) and (pc.min(ids).as_py() <= previous or not pc.all(pc.greater(ids[1:], ids[:-1])).as_py()):
            problems.append(f"{file.name}: ids out of key order")
        previous = pc.max(ids).as_py() if len(ids) else previous
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cdc-bench-snapshot-"))
    server = LocalMariaDB(base / "server", server_id=1)
    try:
        server.start()
        server.create_cdc_user()
        fill_seconds = fill(server, args.rows)
        seconds, peak, stdout, stderr = run_snapshot(server, base / "out", args.chunk_rows)
        export_dir = Path(stdout.splitlines()[0])
        size = sum(path.stat().st_size for path in export_dir.rglob("*") if path.is_file())
        problems = check(export_dir, args.rows)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    if peak >= RSS_TARGET_MIB:
        problems.append(f"peak RSS {peak:.0f} MiB is over the {RSS_TARGET_MIB} MiB target")
    result: dict[str, Any] = {
        "rows": args.rows,
        "chunk_rows": args.chunk_rows,
        "fill_seconds": round(fill_seconds, 1),
        "snapshot_seconds": round(seconds, 2),
        "rows_per_s": round(args.rows / seconds),
        "peak_rss_mib": round(peak, 1),
        "export_mib": round(size / (1024 * 1024), 1),
        "python": platform.python_version(),
        "problems": problems,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"table          {DATABASE}.{TABLE}: {args.rows:,} rows, 6 columns (filled in {fill_seconds:.1f}s)")
        print(f"snapshot       {seconds:.2f}s wall (child process, start-up included), --chunk-rows {args.chunk_rows}")
        print(f"rows/s         {result['rows_per_s']:,}")
        print(f"peak RSS       {peak:.1f} MiB (target < {RSS_TARGET_MIB} MiB)")
        print(f"export size    {result['export_mib']} MiB")
        print(f"last progress  {stderr.strip().splitlines()[-2] if stderr.strip() else ''}")
        print("checks         " + ("ok" if not problems else "; ".join(problems)))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
