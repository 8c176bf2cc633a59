"""`cdc-lake load-export` of a 1,000,000-row table: every row arrives, and memory stays bounded because rows go
from Parquet to DuckDB a record batch at a time (never the whole table as Python objects).

Memory is compared with a 100,000-row load of the same shape, each the peak RSS of a real `cdc-lake load-export`
process: what grows with the table is DuckDB's own storage of the rows (about 110 MB per million rows here), while
holding a million such rows as Python lists would add about 600 MB.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB

FILE_ROWS = 250_000
MAPPINGS = [
    ("id", "int"),
    ("name", "varchar(40)"),
    ("amount", "decimal(12,2)"),
    ("created", "datetime(6)"),
    ("tags", "set('a','b')"),
    ("code", "char(3)"),
]
PEAK_RSS = """
import resource, sys
from cdc_lake.cli import main
code = main(sys.argv[1:])
print("peak-rss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def write_big_export(root: Path, rows: int) -> Path:
    """app.big with `rows` rows in files of FILE_ROWS (row groups of 100,000), two files per partition."""
    export = root / "big"
    for start in range(0, rows, FILE_ROWS):
        ids = pa.array(range(start, min(rows, start + FILE_ROWS)), pa.int32())
        count = len(ids)
        table = pa.table(
            {
                "id": ids,
                "name": pc.binary_join_element_wise(pa.array(["name-"] * count), pc.cast(ids, pa.string()), ""),
                "amount": pc.cast(pc.divide(pc.cast(ids, pa.float64()), 100), pa.decimal128(12, 2)),
                "created": pc.cast(pc.multiply(pc.cast(ids, pa.int64()), 1_000_000), pa.timestamp("us")),
                "tags": pa.array(["a,b"] * count),
                "code": pa.array([b"xyz"] * count, pa.binary()),
            }
        )
        directory = export / "app" / "app.big" / str(start // FILE_ROWS // 2 + 1)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"part-{start // FILE_ROWS:05d}-{uuid.uuid4()}.gz.parquet"
        pq.write_table(table, directory / name, compression="gzip", row_group_size=100_000)
    partitions = len({path.parent for path in export.rglob("*.parquet")})
    info = {"exportTaskIdentifier": "big", "status": "COMPLETE", "snapshotTime": "2026-11-23T10:15:00Z"}
    (export / "export_info_big.json").write_text(json.dumps(info))
    status = {
        "target": "app.big",
        "status": "COMPLETE",
        "TableStatistics": {
            "partitioningInfo": {"numberOfPartitions": partitions, "numberOfCompletedPartitions": partitions}
        },
        "schemaMetadata": {"originalTypeMappings": [{"columnName": n, "originalType": t} for n, t in MAPPINGS]},
        "cdc": {"rows": rows, "primaryKey": ["id"]},
    }
    (export / "export_tables_info_big_from_1_to_1.json").write_text(json.dumps({"perTableStatus": [status]}))
    (export / "cdc_position.json").write_text(json.dumps({"file": "binlog.000001", "position": 4}))
    return export


def load(export: Path, lake: Path) -> tuple[str, int]:
    """The command's output line and its peak RSS in MB."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, "load-export", "--export", str(export), "--lake-dir", str(lake)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    peak = next(line for line in done.stderr.splitlines() if line.startswith("peak-rss-kb"))
    return done.stdout.strip(), int(peak.split()[1]) // 1024


def test_a_million_rows_in_bounded_memory(tmp_path: Path) -> None:
    small_line, small_mb = load(write_big_export(tmp_path / "small", 100_000), tmp_path / "lake-small")
    line, peak_mb = load(write_big_export(tmp_path / "large", 1_000_000), tmp_path / "lake")
    assert small_line.startswith("app.big: loaded 100000 rows from 1 files in ")
    assert line.startswith("app.big: loaded 1000000 rows from 4 files in ")
    assert peak_mb - small_mb < 300, f"peak RSS {peak_mb} MB for 1,000,000 rows, {small_mb} MB for 100,000"
    with DuckDB(tmp_path / "lake" / LAKE_DATABASE, read_only=True) as engine:
        assert engine.native(
            "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(amount), max(tags), min(code), max(created)"
            " FROM app.big"
        ) == [
            (
                1_000_000,
                1_000_000,
                0,
                999_999,
                sum(range(1_000_000)) / Decimal(100),
                ["a", "b"],
                "xyz",
                datetime.datetime(1970, 1, 12, 13, 46, 39),
            )
        ]
