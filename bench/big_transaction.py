"""One transaction of 1,000,000 rows through the streamer: peak RSS (target < 300 MB), rows/s and CPU seconds.

    .venv/bin/python bench/big_transaction.py [--rows 1000000] [--sinks file[,lake]] [--deliver-rows N] [--no-save]

A private MariaDB; `INSERT INTO big SELECT ... FROM seq_1_to_N` (one transaction, the 6-column table of
bench/readers.py); then `cdc-streamer run --sink file` (and with `--sinks file,lake` the `--sink lake`, default
buffers), each from the transaction's start to its end as its own process; then `cdc-lake deliver --from-file` of
the first `--deliver-rows` events of the file sink's output (the pipeline's local delivery step, (e)). Peak RSS
and CPU seconds are that process's, from `os.wait4` in readers.py's small helper process (a child started by this
script would count this script's memory too); the output is checked (N row events, xoffsets 0..N-1,
`commit` on the last only). Stores the figures under `big_transaction` in `bench/results/<date>.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from readers import BenchFailure, Spawner, run_child  # bench/, this script's directory, is on sys.path
from results_file import store

from cdc_streamer.local_mariadb import LocalMariaDB, ServerNotInstalled, free_port

TARGET_RSS_MB = 300
MIB = 1024 * 1024
STREAMER = str(Path(sys.executable).with_name("cdc-streamer"))


def run_measured(spawner: Spawner, work: Path, command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one child process, started by readers.py's small helper
    process so that its peak RSS is its own (see readers.SPAWNER); exits with one line if it fails."""
    try:
        child = run_child(spawner, work, command, discard_stdout=True, timeout=1800)
    except BenchFailure as error:
        raise SystemExit(f"big transaction bench: {error}") from None
    return child.seconds, child.cpu_seconds, child.peak_rss_mib * MIB / 1e6


def check_file(path: Path, rows: int) -> None:
    count, last = 0, ""
    with path.open() as lines:
        for count, line in enumerate(lines, 1):
            if f'"xoffset":{count - 1},' not in line:
                raise SystemExit(f"big transaction bench: line {count} has the wrong xoffset: {line[:200]}")
            last = line
    if count != rows or '"commit":true' not in last:
        raise SystemExit(f"big transaction bench: {count} events (expected {rows}), last {last[:200]}")


def check_lake(lake: Path, rows: int) -> None:
    files = f"{lake}/events/database=bench/table=big/*/*/*.parquet"
    with duckdb.connect() as conn:
        found = conn.execute(
            f"SELECT count(*), count(DISTINCT xoffset), count(*) FILTER (WHERE \"commit\") FROM read_parquet('{files}')"
        ).fetchone()
    if found != (rows, rows, 1):
        raise SystemExit(f"big transaction bench: the lake has (events, xoffsets, commits) {found}, expected {rows}")


def deliver(spawner: Spawner, events: Path, lake: Path, rows: int) -> dict[str, Any]:
    """(e) local delivery: `cdc-lake deliver --from-file` of the first `rows` events of the streamer's output into
    Parquet files in a lake (the last of them carries `commit`: the file is cut at a line)."""
    sample = events.with_name("deliver.jsonl")
    with events.open("rb") as source, sample.open("wb") as target:
        for _, line in zip(range(rows), source, strict=False):
            target.write(line)
    command = [str(Path(sys.executable).with_name("cdc-lake")), "deliver", "--from-file", str(sample),
               "--lake-dir", str(lake)]  # fmt: skip
    seconds, cpu, rss = run_measured(spawner, events.parent, command)
    files = f"{lake}/events/database=bench/table=big/*/*/*.parquet"
    with duckdb.connect() as conn:
        found = conn.execute(f"SELECT count(*) FROM read_parquet('{files}')").fetchone()
    if found != (rows,):
        raise SystemExit(f"big transaction bench: cdc-lake deliver wrote {found} events, expected {rows}")
    print(
        f"cdc-lake deliver --from-file of those {rows:,} events: {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
        f"CPU {cpu:.1f} s, peak RSS {rss:,.0f} MB",
        flush=True,
    )
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(rss, 1)}  # fmt: skip


def measure(directory: Path, rows: int, sinks: list[str], deliver_rows: int) -> dict[str, Any]:
    server = LocalMariaDB(directory / "mariadb", port=free_port())
    spawner = Spawner()
    try:
        server.start()
        server.create_cdc_user()
        with server.root_connection() as conn, conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE bench")
            cursor.execute(
                "CREATE TABLE bench.big (id INT PRIMARY KEY, name VARCHAR(64), qty BIGINT, amount DECIMAL(12,2),"
                " at DATETIME(3), score DOUBLE)"
            )
            cursor.execute("FLUSH BINARY LOGS")
            cursor.execute("SHOW MASTER STATUS")
            start = "{}:{}".format(*cursor.fetchone()[:2])  # type: ignore[index]
            cursor.execute("USE bench")
            began = time.monotonic()
            cursor.execute(
                "INSERT INTO big SELECT seq, CONCAT('name-', seq), seq * 7, seq / 100,"
                f" '2024-05-06 07:08:09.123' + INTERVAL seq SECOND, seq / 3 FROM seq_1_to_{rows}"
            )
            conn.commit()
            insert_seconds = time.monotonic() - began
            cursor.execute("SHOW MASTER STATUS")
            end = "{}:{}".format(*cursor.fetchone()[:2])  # type: ignore[index]
        common = [STREAMER, "run", "--mysql-url", server.url(), "--position-store", "none", "--start-position", start,
                  "--end-position", end, "--no-output-schema", "--include-tables", "bench.big"]  # fmt: skip
        result: dict[str, Any] = {"rows": rows, "insert_seconds": round(insert_seconds, 1), "target_rss_mb": 300}
        for sink in sinks:
            if sink == "file":
                output = directory / "big.jsonl"
                seconds, cpu, rss = run_measured(spawner, directory, [*common, "--sink", "file", "--file", str(output)])
                check_file(output, rows)
                result["deliver"] = deliver(spawner, output, directory / "delivered", min(rows, deliver_rows))
                output.unlink()
            else:
                lake = directory / "lake"
                seconds, cpu, rss = run_measured(
                    spawner, directory, [*common, "--sink", "lake", "--lake-dir", str(lake)]
                )
                check_lake(lake, rows)
            result[sink] = {
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mb": round(rss, 1),
            }
            print(
                f"1 transaction of {rows:,} rows, --sink {sink}: {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
                f"CPU {cpu:.1f} s, peak RSS {rss:,.0f} MB (target < {TARGET_RSS_MB} MB)",
                flush=True,
            )
        return result
    finally:
        spawner.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sinks", default="file", help="file and/or lake (the lake sink takes ~2 min per 1M rows)")
    parser.add_argument("--deliver-rows", type=int, default=200_000, help="events `cdc-lake deliver` is timed on")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="cdc-bench-big-") as directory:
            result = measure(Path(directory), args.rows, args.sinks.split(","), args.deliver_rows)
    except ServerNotInstalled as error:
        raise SystemExit(f"big transaction bench: {error}") from None
    if not args.no_save:
        store("big_transaction", result)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
