"""`cdc-lake load-export` with a real MariaDB and a real (moto) S3: the primary keys of a real Aurora export read
through `--mysql-url`, the loaded master tables compared with the source by `cdc-lake verify`, the overlap
procedure end to end (position first, export, stream from the position, load, merge), and an export on S3."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB
from cdc_lake.event_schema import binlog_order
from cdc_lake.load_export import LoadSettings, load_export
from cdc_streamer.errors import ConfigError
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition, file_number
from tests.aurora_export import (
    EXPORT_ID,
    LINES,
    ORDER,
    ORDERS,
    POSITION,
    SNAPSHOT_TIME,
    edit_tables_info,
    expected_rows,
    mapping,
    write_export,
    write_part,
)

from .support import Database, file_sink_run, run_cli

AT = f"{POSITION[0]}:{POSITION[1]}"
ORDERS_DDL = (
    "CREATE TABLE orders (id INT PRIMARY KEY, tiny TINYINT, small_u SMALLINT UNSIGNED, int_u INT UNSIGNED,"
    " big BIGINT, big_u BIGINT UNSIGNED, price DECIMAL(10,2), wide DECIMAL(65,30), ratio FLOAT, score DOUBLE,"
    " flags BIT(5), mask BIT(64), day DATE, moment TIME(6), created DATETIME(6), updated TIMESTAMP NULL,"
    " code CHAR(3), name VARCHAR(40), body LONGTEXT, kind ENUM('small','large'), tags SET('gift','rush'), doc JSON,"
    " raw VARBINARY(8), yr YEAR, geom POINT) DEFAULT CHARSET = utf8mb4"
)


def rows(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    with DuckDB(lake / LAKE_DATABASE, read_only=True) as engine:
        return engine.native(sql)


def source_value(column: Any, index: int) -> Any:
    """The fixture's row `index` as MariaDB takes it."""
    value = column.expected[index]
    if column.name in ("flags", "mask") and value is not None:
        return int(value)
    if column.name == "tags" and value is not None:
        return ",".join(value)
    if column.name == "day" and column.exported[index] == "0000-00-00":
        return "0000-00-00"
    if column.name == "doc" and column.exported[index] == "null":
        return "null"
    return value


def fill_source(db: Database) -> None:
    """The fixture's tables at the source, holding the same rows as the export."""
    db.execute("SET SESSION sql_mode = ''")  # the zero date
    db.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP values are UTC
    db.execute(ORDERS_DDL)
    db.execute("CREATE TABLE `lines` (order_id INT, sku VARCHAR(12), qty INT UNSIGNED, PRIMARY KEY (sku, order_id))")
    names = [column.name for column in ORDERS]
    values = ["ST_GeomFromText(%s, %s)" if name == "geom" else "%s" for name in names]
    sql = f"INSERT INTO orders ({', '.join(f'`{n}`' for n in names)}) VALUES ({', '.join(values)})"
    for index in range(3):
        row: list[Any] = []
        for column in ORDERS:
            value = source_value(column, index)
            row += [value, 4326 if index == 1 else 0] if column.name == "geom" else [value]
        db.execute(sql, row)
    db.executemany("INSERT INTO `lines` VALUES (%s, %s, %s)", expected_rows(LINES))


def test_primary_keys_come_from_the_source_and_verify_finds_the_tables_equal(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    fill_source(db)
    export = write_export(tmp_path / "exports", database=db.name)
    lake = tmp_path / "lake"
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), "--position", AT,
                     "--mysql-url", mariadb.url(), cli="cdc_lake")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert [line.split(" in ")[0] for line in loaded.stdout.splitlines()] == [
        f"{db.name}.orders: loaded 3 rows from 2 files",
        f"{db.name}.lines: loaded 3 rows from 1 files",
    ]
    assert rows(lake, 'SELECT "table", primary_key FROM cdc_lake.watermarks ORDER BY 1') == [
        ("lines", '["sku", "order_id"]'),  # the source's key order, not the column order
        ("orders", '["id"]'),
    ]
    names = ", ".join(f'"{column.name}"' for column in ORDERS)
    assert rows(lake, f'SELECT {names} FROM "{db.name}".orders ORDER BY id') == expected_rows(ORDERS)
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*",
                       cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{db.name}.orders: source 3 rows, master 3 rows: equal" in verified.stdout


def test_tables_the_source_cannot_key_are_refused(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    db.execute(ORDERS_DDL.replace("id INT PRIMARY KEY", "id INT"))
    export = write_export(tmp_path / "exports", database=db.name)
    lake = tmp_path / "lake"
    base = ["load-export", "--export", str(export), "--lake-dir", str(lake), "--position", AT]
    refused = run_cli(*base, "--mysql-url", mariadb.url(), cli="cdc_lake")
    assert refused.returncode == 2
    assert refused.stderr == (
        f"cdc-lake: {db.name}.orders: has no primary key, so the lake keeps no master table for it (docs/lake.md, "
        "Master tables): leave it out with --tables\n"
    )
    missing = run_cli(*base, "--tables", f"{db.name}.lines", "--mysql-url", mariadb.url(), cli="cdc_lake")
    assert missing.returncode == 2
    assert missing.stderr == (
        f"cdc-lake: {db.name}.lines: not found at the source (--mysql-url): cannot read its primary key\n"
    )
    wrong = run_cli(*base, "--mysql-url", mariadb.url(password="wrong"), cli="cdc_lake")
    assert wrong.returncode == 2, wrong.stderr
    assert wrong.stderr.count("\n") == 1 and "wrong" not in wrong.stderr
    assert not (lake / LAKE_DATABASE).exists()


def test_the_overlap_procedure(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    """Record the position, then export (changes keep coming meanwhile), stream from the position, load the export
    with --position, merge: the overlap is absorbed and the master table equals the source."""
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20), amount DECIMAL(10,2), tags SET('a','b'))")
    db.executemany("INSERT INTO t VALUES (%s, %s, %s, %s)", [(i, f"n{i}", Decimal(i), "a") for i in range(1, 6)])
    position = db.position()  # 1. recorded BEFORE the export starts
    db.execute("UPDATE t SET note = 'during', tags = 'a,b' WHERE id = 1")  # 2. changes while the export runs:
    db.execute("DELETE FROM t WHERE id = 2")  # already in the export's rows, and in the binlog after the position
    db.execute("INSERT INTO t VALUES (6, 'new', 6, '')")
    snapshot = db.query("SELECT id, note, amount, tags FROM t ORDER BY id")  # 3. the export's rows
    db.execute("UPDATE t SET amount = 99 WHERE id = 1")  # 4. changes after the export
    db.execute("DELETE FROM t WHERE id = 6")
    db.execute("INSERT INTO t VALUES (2, 'back', 2, 'b')")

    export = tmp_path / "exports" / EXPORT_ID
    columns = [("id", "int", pa.int32()), ("note", "varchar(20)", pa.string())]
    columns += [("amount", "decimal(10,2)", pa.decimal128(10, 2)), ("tags", "set('a','b')", pa.string())]
    table = pa.table(
        {name: pa.array([row[i] for row in snapshot], type=arrow) for i, (name, _, arrow) in enumerate(columns)}
    )
    write_part(export / db.name / f"{db.name}.t" / "1", table)
    info = {"exportTaskIdentifier": EXPORT_ID, "status": "COMPLETE", "snapshotTime": SNAPSHOT_TIME}
    (export / f"export_info_{EXPORT_ID}.json").write_text(json.dumps(info))
    mappings = [{"columnName": name, "originalType": kind} for name, kind, _ in columns]
    status = {"target": f"{db.name}.t", "status": "COMPLETE", "schemaMetadata": {"originalTypeMappings": mappings}}
    (export / f"export_tables_info_{EXPORT_ID}_from_1_to_1.json").write_text(json.dumps({"perTableStatus": [status]}))

    events, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    streamed = run_cli(*file_sink_run(mariadb, events, f"{db.name}.t", "--start-position", str(position),
                                      "--stop-when-caught-up", "--replay"))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    delivered = run_cli("deliver", "--from-file", str(events), "--lake-dir", str(lake), cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), "--position", str(position),
                     "--mysql-url", mariadb.url(), cli="cdc_lake")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    floor = binlog_order(file_number(position.file), position.offset - 1, 0)
    assert rows(lake, "SELECT floor_order, files_since FROM cdc_lake.watermarks") == [(floor, None)]
    live = run_cli("query", "--lake-dir", str(lake), "--format", "csv",
                   f'SELECT id, note FROM "{db.name}".t_live ORDER BY id', cli="cdc_lake")  # fmt: skip
    assert live.stdout.splitlines()[1:] == ["1,during", "2,back", "3,n3", "4,n4", "5,n5"], live.stdout + live.stderr
    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, compacted.stdout + compacted.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.t",
                       cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert rows(lake, f'SELECT id, note, amount, tags FROM "{db.name}".t ORDER BY id') == [
        (1, "during", Decimal("99.00"), ["a", "b"]),
        (2, "back", Decimal("2.00"), ["b"]),
        (3, "n3", Decimal("3.00"), ["a"]),
        (4, "n4", Decimal("4.00"), ["a"]),
        (5, "n5", Decimal("5.00"), ["a"]),
    ]


def upload(directory: Path, bucket: str, prefix: str, endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            s3.put_object(
                Bucket=bucket, Key=f"{prefix}/{path.relative_to(directory).as_posix()}", Body=path.read_bytes()
            )


def test_an_export_on_s3(aws: str, tmp_path: Path) -> None:
    export = write_export(tmp_path / "exports", ours=True)
    upload(export, "exports", f"snapshots/{EXPORT_ID}", aws)
    lake = tmp_path / "lake"
    loaded = run_cli("load-export", "--export", f"s3://exports/snapshots/{EXPORT_ID}", "--lake-dir", str(lake),
                     "--endpoint-url", aws, "--region", "us-east-1", cli="cdc_lake")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert len(loaded.stdout.splitlines()) == 2
    names = ", ".join(f'"{column.name}"' for column in ORDERS)
    assert rows(lake, f"SELECT {names} FROM app.orders ORDER BY id") == expected_rows(ORDERS)
    assert rows(lake, "SELECT DISTINCT _cdc_order FROM app.lines") == [(ORDER,)]

    missing = run_cli("load-export", "--export", "s3://exports/snapshots/nope", "--lake-dir", str(lake),
                      "--endpoint-url", aws, "--region", "us-east-1", cli="cdc_lake")  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr == (
        "cdc-lake: --export (CDC_EXPORT): s3://exports/snapshots/nope does not exist (or is not a directory): give "
        "the export's directory\n"
    )


def test_an_incomplete_export_on_s3_is_refused_before_anything_changes(aws: str, tmp_path: Path) -> None:
    export = write_export(tmp_path / "exports", ours=True)
    lake = tmp_path / "lake"
    load_export(LoadSettings(str(export), lake))
    before = rows(lake, "SELECT * FROM app.orders ORDER BY id")
    edit_tables_info(export, lambda doc: doc["perTableStatus"][0]["schemaMetadata"]["originalTypeMappings"].append(
        mapping(LINES[0])))  # fmt: skip
    upload(export, "broken", EXPORT_ID, aws)
    with pytest.raises(ConfigError, match=r"columns \['order_id'\] are not in the Parquet file"):
        load_export(
            LoadSettings(f"s3://broken/{EXPORT_ID}", lake, endpoint_url=aws, region="us-east-1"),
        )
    assert rows(lake, "SELECT * FROM app.orders ORDER BY id") == before


def test_our_snapshot_loads_and_equals_the_source(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    """`cdc-streamer snapshot` (the writer of the same layout, with its cdc extras) -> load-export, no --position
    and no --mysql-url needed -> verify."""
    fill_source(db)
    db.execute("CREATE TABLE empty (id INT PRIMARY KEY, v VARCHAR(3))")
    taken = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path / "exports"),
                    "--tables", f"{db.name}.*")  # fmt: skip
    assert taken.returncode == 0, taken.stderr
    export, position = taken.stdout.splitlines()[:2]
    lake = tmp_path / "lake"
    loaded = run_cli("load-export", "--export", export, "--lake-dir", str(lake), cli="cdc_lake")
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(line.split(": loaded ")[0] for line in loaded.stdout.splitlines()) == [
        f"{db.name}.empty",
        f"{db.name}.lines",
        f"{db.name}.orders",
    ]
    recorded = BinlogPosition.parse(position.split()[0])
    floor = binlog_order(file_number(recorded.file), recorded.offset - 1, 0)
    assert rows(lake, "SELECT DISTINCT floor_order FROM cdc_lake.watermarks") == [(floor,)]
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*",
                       cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
