"""Unit tests for cdc_lake.load_sql: the Athena statements that load one exported table, against golden files,
each parsed by sqlglot, and the INSERT run on DuckDB (`to_duckdb`) over the hand-made Aurora export's rows.

The golden files are tests/golden/athena/load/*.sql (a directory of their own: test_merge_sql.py requires every
file directly in tests/golden/athena/ to be one of its builders). After a deliberate change to a builder, rewrite
them with `UPDATE_GOLDEN=1 pytest tests/unit/test_load_sql.py` and review the diff like code.

Two conversions have no DuckDB counterpart under sqlglot, so they are checked by parsing only: BIT
(`from_big_endian_64`, and `lpad` on varbinary) and GEOMETRY (`ST_GeomFromBinary`/`ST_AsText`: DuckDB's spatial
extension downloads at run time).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from cdc_lake.duckdb_engine import to_duckdb
from cdc_lake.export_reader import TypeMapping, parse_original_type
from cdc_lake.export_types import BIT, GEOMETRY, conversion
from cdc_lake.load_sql import (
    LoadColumn,
    clear_tombstones,
    load_insert,
    load_select,
    load_statements,
    load_watermark,
    staging_table,
)
from cdc_lake.master_types import SourceColumn, master_type
from cdc_lake.merge_sql import MasterColumn, MasterTable, duckdb_meta_ddl, duckdb_table_ddl
from tests.aurora_export import LINES, ORDER, ORDERS, SNAPSHOT_AT, Column, expected_rows, mapping, write_export

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "athena" / "load"
EXPORT = "s3://exports/aurora-export-20261123/app/app.orders/"
MASTER = "s3://lake/master/app/orders/"
STAGING = "cdc_lake.load_export__app__orders"


def load_columns(columns: list[Column]) -> list[LoadColumn]:
    """What load-export derives from a real Aurora export: the types from originalTypeMappings, the Parquet types."""
    loads = []
    for column in columns:
        entry = mapping(column)
        source = parse_original_type(
            TypeMapping(
                column.name,
                column.original_type,
                precision=entry["originalNumPrecision"],
                scale=entry["originalNumScale"],
                datetime_precision=entry["originalDateTimePrecision"],
            )
        )
        kind = master_type(source)
        found = conversion(source, kind, column.arrow)
        assert found is not None, column.name
        loads.append(LoadColumn(MasterColumn(column.name, kind), column.arrow, found))
    return loads


def master(name: str, loads: list[LoadColumn], key: list[str]) -> MasterTable:
    return MasterTable("app", name, tuple(load.column for load in loads), tuple(key))


ORDER_LOADS = load_columns(ORDERS)
LINE_LOADS = load_columns(LINES)
ORDERS_TABLE = master("orders", ORDER_LOADS, ["id"])
LINES_TABLE = master("lines", LINE_LOADS, ["order_id", "sku"])
GOLDEN: dict[str, Callable[[], list[str]]] = {
    "load_orders": lambda: load_statements(ORDERS_TABLE, ORDER_LOADS, EXPORT, MASTER, ORDER, SNAPSHOT_AT),
    "load_lines": lambda: load_statements(
        LINES_TABLE,
        LINE_LOADS,
        EXPORT.replace("orders", "lines"),
        MASTER.replace("orders", "lines"),
        ORDER,
        SNAPSHOT_AT,
    ),
}
# per statement: the dialect it is written in and what sqlglot must make of it
SHAPES = [
    ("athena", exp.Drop),
    ("athena", exp.Create),
    ("athena", exp.Create),
    ("trino", exp.Delete),
    ("trino", exp.Insert),
    ("trino", exp.Merge),
    ("trino", exp.Delete),
    ("athena", exp.Drop),
]


def render(statements: list[str]) -> str:
    return "\n".join(f"{statement};\n" for statement in statements)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_text(name: str) -> None:
    path = GOLDEN_DIR / f"{name}.sql"
    actual = render(GOLDEN[name]()).encode("utf-8")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"{path} is missing: generate it with UPDATE_GOLDEN=1 and review it"
    expected = path.read_bytes()
    if actual != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8").splitlines(keepends=True),
            actual.decode("utf-8").splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{name} (builder output)",
        )
        pytest.fail(f"the builder output differs from {path.name}:\n{''.join(diff)}", pytrace=False)


def test_every_golden_file_has_a_builder() -> None:
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.sql")) == sorted(GOLDEN)


def parse_single(sql: str, dialect: str) -> exp.Expr:
    trees = sqlglot.parse(sql, read=dialect)
    assert len(trees) == 1, f"{len(trees)} statements in {sql!r}"
    tree = trees[0]
    assert tree is not None
    assert not list(tree.find_all(exp.Command)), f"sqlglot fell back to an opaque command: {sql!r}"
    return tree


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_statement_parses(name: str) -> None:
    statements = GOLDEN[name]()
    assert len(statements) == len(SHAPES)
    for sql, (dialect, shape) in zip(statements, SHAPES, strict=True):
        assert isinstance(parse_single(sql, dialect), shape), sql
        if dialect == "trino":
            assert isinstance(parse_single(sql, "athena"), shape), sql


def test_the_staging_table_reads_the_export_with_its_parquet_types() -> None:
    drop, create, iceberg, *_ = load_statements(ORDERS_TABLE, ORDER_LOADS, EXPORT, MASTER, ORDER, SNAPSHOT_AT)
    tree = parse_single(create, "athena")
    assert tree.find(exp.ExternalProperty) is not None
    table = tree.find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("cdc_lake", staging_table(ORDERS_TABLE))
    schema = tree.this
    assert isinstance(schema, exp.Schema)
    columns = {column.name: column.args["kind"].sql("hive") for column in schema.expressions}
    assert columns["big_u"] == "DECIMAL(20, 0)"
    assert columns["code"] == columns["flags"] == columns["geom"] == "BINARY"
    assert columns["day"] == columns["tags"] == "STRING"
    assert columns["created"] == "TIMESTAMP"
    assert columns["ratio"] == "FLOAT"
    location = tree.find(exp.LocationProperty)
    assert location is not None
    assert location.this.name == EXPORT
    assert "ICEBERG" in iceberg and "IF NOT EXISTS" in iceberg
    assert drop == f"DROP TABLE IF EXISTS cdc_lake.{staging_table(ORDERS_TABLE)}"


# -- the INSERT on DuckDB -----------------------------------------------------------------------------------------

NOT_ON_DUCKDB = (BIT, GEOMETRY)


@pytest.fixture
def staged(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with the exported rows of app.orders in the staging table, as Athena's external table reads them."""
    export = write_export(tmp_path)
    files = sorted(str(path) for path in (export / "app" / "app.orders").glob("*/*.parquet"))
    assert len(files) == 2
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA cdc_lake")
    connection.execute(f"CREATE TABLE {STAGING} AS SELECT * FROM read_parquet({files!r})")
    assert sum(pq.read_metadata(path).num_rows for path in files) == 3
    return connection


def test_the_insert_runs_on_duckdb_and_gives_the_master_values(staged: duckdb.DuckDBPyConnection) -> None:
    for statement in duckdb_table_ddl(ORDERS_TABLE):
        staged.execute(statement)
    runnable = [load for load in ORDER_LOADS if load.conversion not in NOT_ON_DUCKDB]
    assert {load.column.name for load in ORDER_LOADS} - {load.column.name for load in runnable} == {
        "flags",
        "mask",
        "geom",
    }
    staged.execute(to_duckdb(load_insert(ORDERS_TABLE, runnable, STAGING, ORDER, SNAPSHOT_AT)))
    names = ", ".join(f'"{load.column.name}"' for load in runnable)
    got = staged.execute(f'SELECT {names}, _cdc_order, _cdc_ts FROM app.orders ORDER BY "id"').fetchall()
    wanted = [c for c in ORDERS if c.name in {load.column.name for load in runnable}]
    assert got == [(*row, ORDER, SNAPSHOT_AT) for row in expected_rows(wanted)]
    assert staged.execute("SELECT DISTINCT flags, mask, geom FROM app.orders").fetchall() == [(None, None, None)]


@pytest.mark.parametrize(("name", "function"), [("flags", "from_big_endian_64"), ("geom", "st_geomfrombinary")])
def test_bit_and_geometry_do_not_run_on_duckdb(staged: duckdb.DuckDBPyConnection, name: str, function: str) -> None:
    (load,) = [load for load in ORDER_LOADS if load.column.name == name]
    sql = load_select([load], STAGING, ORDER, SNAPSHOT_AT)
    assert isinstance(parse_single(sql, "trino"), exp.Select)
    with pytest.raises(duckdb.CatalogException, match=f"(?i){function}"):
        staged.execute(to_duckdb(sql))


def test_watermark_and_tombstones_run_on_duckdb(staged: duckdb.DuckDBPyConnection) -> None:
    for statement in duckdb_meta_ddl():
        staged.execute(statement)
    staged.execute("INSERT INTO cdc_lake.tombstones VALUES ('app', 'orders', '1', 'a'), ('app', 'lines', '1', 'a')")
    staged.execute(
        "INSERT INTO cdc_lake.watermarks VALUES ('app', 'orders', TIMESTAMP '2026-01-01', 'zzz', '[]', NULL, NULL)"
    )
    for table in (ORDERS_TABLE, LINES_TABLE):
        staged.execute(to_duckdb(load_watermark(table, ORDER)))
    staged.execute(to_duckdb(clear_tombstones(ORDERS_TABLE)))
    rows: list[Any] = staged.execute(
        'SELECT "table", files_since, max_order, floor_order, primary_key, merged_at IS NOT NULL'
        " FROM cdc_lake.watermarks ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("lines", None, ORDER, ORDER, '["order_id", "sku"]', True),
        ("orders", None, ORDER, ORDER, '["id"]', True),
    ]
    assert staged.execute('SELECT "table" FROM cdc_lake.tombstones').fetchall() == [("lines",)]


HOSTILE = ('a"b', "select", "it's", "with space", "Ünïcode")


def test_hostile_names_stay_identifiers() -> None:
    sources = [SourceColumn(name, "varchar") for name in HOSTILE]
    loads = [LoadColumn(MasterColumn(s.name, master_type(s)), ORDER_LOADS[0].arrow, "cast") for s in sources]
    table = MasterTable("d'b", 'x"; DROP TABLE y', tuple(load.column for load in loads), (HOSTILE[0],))
    statements = load_statements(table, loads, "s3://e/x/", "s3://l/m/", ORDER, SNAPSHOT_AT)
    for sql, (dialect, shape) in zip(statements, SHAPES, strict=True):
        tree = parse_single(sql, dialect)
        assert isinstance(tree, shape)
        assert not list(tree.find_all(exp.Drop)) or sql.startswith("DROP TABLE IF EXISTS cdc_lake.")
    created = parse_single(statements[1], "athena").this
    assert isinstance(created, exp.Schema)
    assert [column.name for column in created.expressions] == list(HOSTILE)
    insert = parse_single(statements[4], "trino")
    target = insert.find(exp.Table)
    assert target is not None
    assert (target.db, target.name) == ("d'b", 'x"; DROP TABLE y')
    assert set(HOSTILE) <= {column.name for column in insert.find_all(exp.Column)}
