"""One very large transaction: `INSERT INTO t SELECT ... FROM seq_1_to_N` (MariaDB's sequence engine) in one
transaction, then one UPDATE of U of those rows in one transaction, streamed by the real `cdc-streamer run --sink
lake`: every row event arrives (N + U, each transaction's xoffsets 0.. without a gap, `commit` on its last event
only), and `cdc-lake compact` + `cdc-lake verify` find master == source.

`CDC_BIG_TXN_ROWS` sets N (default 50,000 for `make test`; the figures in docs/reliability.md are for
1,000,000), `CDC_BIG_TXN_UPDATE_ROWS` sets U (default min(N, 10,000)). Wall time, rows/s and the streamer's peak RSS
are printed, not asserted: speed and memory are another issue's work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from cdc_streamer.local_mariadb import LocalMariaDB

from .large_and_ddl import MIB, compact_and_verify, run_measured
from .support import Database
from .test_lake_sink import lake_sink_run

ROWS = int(os.environ.get("CDC_BIG_TXN_ROWS", "50000"))
UPDATE_ROWS = int(os.environ.get("CDC_BIG_TXN_UPDATE_ROWS", str(min(ROWS, 10_000))))


def lake_transactions(lake: Path, database: str, table: str) -> dict[str, tuple[int, int, int, int, int]]:
    """Per event type: (events, distinct xoffsets, max xoffset, events with commit, distinct positions)."""
    files = f"{lake}/events/database={database}/table={table}/*/*/*.parquet"
    with duckdb.connect() as conn:
        rows = conn.execute(
            'SELECT type, count(*), count(DISTINCT xoffset), max(xoffset), count(*) FILTER (WHERE "commit"),'
            f" count(DISTINCT binlog_position) FROM read_parquet('{files}') GROUP BY type"
        ).fetchall()
    return {str(kind): (int(a), int(b), int(c), int(d), int(e)) for kind, a, b, c, d, e in rows}


def test_a_transaction_of_many_rows_arrives_whole_and_the_master_equals_the_source(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE big_txn (id INT PRIMARY KEY, grp INT NOT NULL, amount DECIMAL(12,2), note VARCHAR(40))"
        " DEFAULT CHARSET = utf8mb4"
    )
    start = db.position()
    began = time.monotonic()
    inserted = db.execute(
        f"INSERT INTO big_txn SELECT seq, seq % 97, seq / 100, CONCAT('row ', seq) FROM seq_1_to_{ROWS}"
    )
    insert_seconds = time.monotonic() - began
    began = time.monotonic()
    updated = db.execute(
        "UPDATE big_txn SET amount = amount + 1, note = CONCAT(note, ' updated') WHERE id <= %s", (UPDATE_ROWS,)
    )
    update_seconds = time.monotonic() - began
    end = db.position()
    assert (inserted, updated) == (ROWS, UPDATE_ROWS)

    lake = tmp_path / "lake"
    run = run_measured(
        *lake_sink_run(mariadb, lake, f"{db.name}.*"), "--start-position", str(start), "--end-position", str(end),
        "--replay", log=tmp_path / "streamer.log",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (lake / "errors").exists()
    per_type = lake_transactions(lake, db.name, "big_txn")
    assert per_type == {
        "insert": (ROWS, ROWS, ROWS - 1, 1, 1),
        "update": (UPDATE_ROWS, UPDATE_ROWS, UPDATE_ROWS - 1, 1, 1),
    }, per_type
    files = len(list(lake.glob(f"events/database={db.name}/table=big_txn/*/*/*.parquet")))

    began = time.monotonic()
    _, verified, code = compact_and_verify(mariadb, lake, f"{db.name}.big_txn")
    checked = time.monotonic() - began
    assert code == 0, verified
    assert verified.startswith(f"{db.name}.big_txn: source {ROWS} rows, master {ROWS} rows: equal"), verified
    events = ROWS + UPDATE_ROWS
    print(
        f"\n1 transaction of {ROWS:,} inserted rows (INSERT ... SELECT FROM seq_1_to_{ROWS}: {insert_seconds:.1f} s in "
        f"MariaDB) + 1 of {UPDATE_ROWS:,} updated rows ({update_seconds:.1f} s): --sink lake streamed {events:,} "
        f"events in {run.seconds:.1f} s ({events / run.seconds:,.0f} rows/s), peak RSS {run.peak_rss / MIB:,.0f} MiB, "
        f"{files} Parquet files, 0 lost, 0 duplicated; compact + verify {checked:.1f} s: master == source"
    )
