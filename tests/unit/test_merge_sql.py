"""Unit tests for cdc_lake.merge_sql: the Athena text of every builder against golden files, parsed by sqlglot;
hostile names stay identifiers; the name checks of `compact` and `compact_athena`.

The golden files are tests/golden/athena/*.sql, one statement per `;`. After a deliberate change to a builder,
rewrite them with `UPDATE_GOLDEN=1 pytest tests/unit/test_merge_sql.py` and review the diff like code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from cdc_lake.athena_sql import quote_ddl_identifier
from cdc_lake.compact import name_problems
from cdc_lake.compact_athena import athena_name_problems
from cdc_lake.duckdb_engine import to_duckdb
from cdc_lake.master_types import BIGINT, SourceColumn, master_type
from cdc_lake.merge_sql import (
    MasterColumn,
    MasterTable,
    athena_add_columns,
    athena_maintenance,
    athena_meta_ddl,
    athena_table_ddl,
    athena_widen_column,
    changes_select,
    duckdb_add_column,
    duckdb_meta_ddl,
    duckdb_table_ddl,
    duckdb_widen_column,
    json_path,
    live_view,
    merge_master,
    merge_tombstones,
    merge_watermark,
)

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "athena"
RAW = "cdc_lake.raw_events"
FILES_SINCE = "2026-11-23T10:00:00Z"

ORDERS = MasterTable.of(
    "shop",
    "orders",
    [
        SourceColumn("id", "int"),
        SourceColumn("customer_id", "bigint", unsigned=True),
        SourceColumn("total", "decimal", precision=12, scale=2),
        SourceColumn("placed_at", "datetime", fsp=6),
        SourceColumn("note", "varchar"),
        SourceColumn("tags", "set", values=("gift", "rush")),
        SourceColumn("payload", "json"),
        SourceColumn("photo", "blob"),
    ],
    ["id"],
)
ORDER_LINES = MasterTable.of(
    "shop",
    "order_lines",
    [
        SourceColumn("order_id", "int"),
        SourceColumn("sku", "varchar"),
        SourceColumn("qty", "int", unsigned=True),
        SourceColumn("price", "decimal", precision=10, scale=2),
    ],
    ["order_id", "sku"],
)
NEW_COLUMNS = (
    MasterColumn("shipped_on", master_type(SourceColumn("shipped_on", "date"))),
    MasterColumn("discount", master_type(SourceColumn("discount", "decimal", precision=5, scale=2))),
)
WIDER_ID = MasterColumn("id", BIGINT)


def golden_statements() -> dict[str, Callable[[], list[str]]]:
    """Golden file name -> the statements it holds."""
    changes = changes_select(RAW, ORDERS, "true")
    line_changes = changes_select(RAW, ORDER_LINES, "true")
    return {
        "changes_select": lambda: [changes],
        "merge_master": lambda: [merge_master(ORDERS, changes)],
        "merge_tombstones": lambda: [merge_tombstones(ORDERS, changes)],
        "merge_watermark": lambda: [merge_watermark(ORDERS, FILES_SINCE, changes)],
        "merge_watermark_without_changes": lambda: [merge_watermark(ORDERS, FILES_SINCE, None)],
        "live_view": lambda: [live_view(ORDERS, RAW)],
        "athena_table_ddl": lambda: [athena_table_ddl(ORDERS, "s3://lake/master/shop/orders/")],
        "athena_meta_ddl": lambda: athena_meta_ddl("s3://lake/"),
        "athena_add_columns": lambda: [athena_add_columns(ORDERS, NEW_COLUMNS)],
        "athena_widen_column": lambda: [athena_widen_column(ORDERS, WIDER_ID)],
        "athena_maintenance": lambda: athena_maintenance(ORDERS),
        "composite_changes_select": lambda: [line_changes],
        "composite_merge_master": lambda: [merge_master(ORDER_LINES, line_changes)],
        "composite_merge_tombstones": lambda: [merge_tombstones(ORDER_LINES, line_changes)],
    }


GOLDEN = golden_statements()


def render(statements: list[str]) -> str:
    """A golden file's text: each statement ended by `;` and a newline, a blank line between statements."""
    return "\n".join(f"{statement};\n" for statement in statements)


# --- golden text -----------------------------------------------------------------------------------------------------


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
        pytest.fail(
            f"the builder output differs from {path.name} (UPDATE_GOLDEN=1 rewrites it):\n{''.join(diff)}",
            pytrace=False,
        )


def test_every_golden_file_has_a_builder() -> None:
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.sql")) == sorted(GOLDEN)


# --- the golden statements parse -------------------------------------------------------------------------------------

QUERIES = {
    "changes_select": exp.Select,
    "composite_changes_select": exp.Select,
    "merge_master": exp.Merge,
    "composite_merge_master": exp.Merge,
    "merge_tombstones": exp.Merge,
    "composite_merge_tombstones": exp.Merge,
    "merge_watermark": exp.Merge,
    "merge_watermark_without_changes": exp.Merge,
    "live_view": exp.Create,
}
HIVE_DDL = {
    "athena_table_ddl": [exp.Create],
    "athena_meta_ddl": [exp.Create, exp.Create, exp.Create],
    "athena_add_columns": [exp.Alter],
    "athena_widen_column": [exp.Alter],
}


def test_golden_names_are_classified() -> None:
    assert set(QUERIES) | set(HIVE_DDL) | {"athena_maintenance"} == set(GOLDEN)


def parse_single(sql: str, dialect: str) -> exp.Expr:
    trees = sqlglot.parse(sql, read=dialect)
    assert len(trees) == 1, f"{len(trees)} statements in {sql!r}"
    tree = trees[0]
    assert tree is not None
    assert not list(tree.find_all(exp.Command)), f"sqlglot fell back to an opaque command: {sql!r}"
    return tree


@pytest.mark.parametrize("dialect", ["athena", "trino"])
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_queries_parse(name: str, dialect: str) -> None:
    (sql,) = GOLDEN[name]()
    assert isinstance(parse_single(sql, dialect), QUERIES[name])


@pytest.mark.parametrize("name", sorted(HIVE_DDL))
def test_hive_ddl_parses(name: str) -> None:
    statements = GOLDEN[name]()
    assert [type(parse_single(sql, "athena")) for sql in statements] == HIVE_DDL[name]


def test_table_ddl_is_iceberg_with_every_column() -> None:
    tree = parse_single(athena_table_ddl(ORDERS, "s3://lake/master/shop/orders/"), "athena")
    assert isinstance(tree, exp.Create)
    assert tree.args["exists"] is True
    table = tree.find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("shop", "orders")
    schema = tree.this
    assert isinstance(schema, exp.Schema)
    columns = {column.name: column.args["kind"] for column in schema.expressions}
    expected = [(column.name, column.type.athena) for column in ORDERS.columns]
    expected += [("_cdc_order", "string"), ("_cdc_ts", "timestamp")]
    assert columns == {name: exp.DataType.build(kind, dialect="athena") for name, kind in expected}
    assert list(columns) == [name for name, _ in expected]
    location = tree.find(exp.LocationProperty)
    assert location is not None
    assert location.this.name == "s3://lake/master/shop/orders/"
    assert tree.find(exp.ExternalProperty) is None  # Athena refuses EXTERNAL for Iceberg tables
    properties = {
        p.this.name: p.args["value"].name for p in tree.args["properties"].expressions if type(p) is exp.Property
    }
    assert properties == {"table_type": "ICEBERG", "format": "parquet", "write_compression": "snappy"}


def test_meta_ddl_locations() -> None:
    locations = []
    for sql in athena_meta_ddl("s3://lake/prefix"):
        location = parse_single(sql, "athena").find(exp.LocationProperty)
        locations.append(location.this.name if location else None)
    assert locations == [None, "s3://lake/prefix/meta/tombstones/", "s3://lake/prefix/meta/watermarks/"]


def test_maintenance_is_optimize_then_vacuum() -> None:
    # sqlglot has no grammar for Athena's OPTIMIZE ... REWRITE DATA USING BIN_PACK or VACUUM: it parses each as an
    # opaque exp.Command (verb + the rest as text) in every dialect. So check that each is still ONE statement with
    # the expected verb, and parse the table reference on its own.
    optimize, vacuum = athena_maintenance(ORDERS)
    cases = ((optimize, "OPTIMIZE", "shop.orders REWRITE DATA USING BIN_PACK"), (vacuum, "VACUUM", "shop.orders"))
    for sql, verb, rest in cases:
        for dialect in ("athena", "trino"):
            trees = sqlglot.parse(sql, read=dialect)
            assert len(trees) == 1
            command = trees[0]
            assert isinstance(command, exp.Command)
            assert (command.this, command.expression.name) == (verb, rest)
    assert optimize == "OPTIMIZE shop.orders REWRITE DATA USING BIN_PACK"
    assert vacuum == "VACUUM shop.orders"


def test_vacuum_quotes_an_underscore_table_with_backticks() -> None:
    table = MasterTable.of("shop", "_prisma_migrations", [SourceColumn("id", "varchar")], ["id"])
    assert athena_maintenance(table)[1] == "VACUUM shop.`_prisma_migrations`"


def test_builders_refuse_a_table_without_primary_key() -> None:
    table = MasterTable.of("shop", "log", [SourceColumn("line", "varchar")], [])
    with pytest.raises(ValueError, match=r"shop\.log has no primary key"):
        changes_select(RAW, table, "true")


# --- the golden statements say what they should ----------------------------------------------------------------------


def json_keys(tree: exp.Expr) -> list[str]:
    """The keys of every `$["key"]` path, as sqlglot parsed them (it unescapes `\\"` but keeps `\\\\`)."""
    keys = []
    for path in tree.find_all(exp.JSONPath):
        root, key = path.expressions
        assert isinstance(root, exp.JSONPathRoot)
        assert isinstance(key, exp.JSONPathKey)
        keys.append(str(key.this).replace("\\\\", "\\"))
    return keys


def test_changes_select_reads_every_column_from_data_and_keys_from_old() -> None:
    tree = parse_single(changes_select(RAW, ORDER_LINES, "true"), "trino")
    assert isinstance(tree, exp.Select)
    assert tree.named_selects == ["order_id", "sku", "qty", "price", "_cdc_order", "_cdc_ts", "_cdc_deleted"]
    keys = json_keys(tree)
    # every column from data; each key column from old and data (the old key), plus the key-changed test on old
    assert sorted(set(keys)) == ["order_id", "price", "qty", "sku"]
    assert keys.count("order_id") == keys.count("sku") == 4
    union = tree.find(exp.Union)
    assert union is not None
    assert union.args.get("distinct") is False  # UNION ALL: an event and its old-key delete both stay
    window = tree.find(exp.Window)
    assert window is not None
    assert [column.name for column in window.args["partition_by"]] == ["order_id", "sku"]


def test_json_path_escapes() -> None:
    assert json_path("id") == """'$["id"]'"""
    assert json_path('a"b') == """'$["a\\"b"]'"""
    assert json_path("a\\b") == """'$["a\\\\b"]'"""
    assert json_path("it's") == """'$["it''s"]'"""


# --- hostile names ---------------------------------------------------------------------------------------------------

HOSTILE = ('a"b', "x; DROP TABLE y", "select", "Ünïcode", "it's", "a\\b", "a.b", "with space")
# Aliases, the lake's own tables and columns, the raw events' columns: every other identifier a builder may write.
INTERNAL = frozenset(
    {
        *("c", "e", "m", "p", "r", "t", "w", "pending"),
        *("cdc_lake", "raw_events", "tombstones", "watermarks"),
        *("_cdc_order", "_cdc_ts", "_cdc_deleted", "_cdc_rank"),
        *("database", "table", "key", "files_since", "max_order", "primary_key", "merged_at"),
        *("binlog_order", "data", "old", "ts", "type"),
    }
)
HOSTILE_COLUMNS = (
    SourceColumn('a"b', "int"),
    SourceColumn("x; DROP TABLE y", "varchar"),
    SourceColumn("select", "decimal", precision=10, scale=2),
    SourceColumn("Ünïcode", "datetime", fsp=6),
    SourceColumn("it's", "json"),
    SourceColumn("a\\b", "set"),
    SourceColumn("a.b", "blob"),
    SourceColumn("with space", "bigint", unsigned=True),
)


def hostile_tables() -> list[MasterTable]:
    """For each hostile name: a table with that database, table and key column name; plus one table with every
    hostile name as a column, two of them its key."""
    tables = [
        MasterTable.of(name, name, [SourceColumn(name, "int"), SourceColumn("v", "varchar")], [name])
        for name in HOSTILE
    ]
    tables.append(MasterTable.of('a"b', "x; DROP TABLE y", HOSTILE_COLUMNS, ['a"b', "select"]))
    return tables


HOSTILE_TABLES = hostile_tables()


def table_id(table: MasterTable) -> str:
    return f"{table.database}.{table.table}[{len(table.columns)}]"


def query_builders(table: MasterTable) -> dict[str, str]:
    changes = changes_select(RAW, table, "true")
    return {
        "changes_select": changes,
        "merge_master": merge_master(table, changes),
        "merge_tombstones": merge_tombstones(table, changes),
        "merge_watermark": merge_watermark(table, FILES_SINCE, changes),
        "live_view": live_view(table, RAW),
    }


def assert_identifiers(tree: exp.Expr, table: MasterTable, tables: set[tuple[str, str]]) -> None:
    """The statement's tables are exactly `tables`, its identifiers are the table's own names or the builders'
    internal ones, and every column name is there whole."""
    assert not list(tree.find_all(exp.Command, exp.Drop)), "part of a name became SQL"
    assert {(node.db, node.name) for node in tree.find_all(exp.Table)} == tables
    names = {column.name for column in table.columns}
    allowed = names | {table.database, table.table, table.table + "_live"} | INTERNAL
    identifiers = {node.name for node in tree.find_all(exp.Identifier)}
    assert identifiers <= allowed, f"unexpected identifiers {identifiers - allowed}"
    columns = {node.name for node in tree.find_all(exp.Column) if not node.is_star}
    assert columns <= allowed, f"unexpected columns {columns - allowed}"


def expected_tables(builder: str, t: MasterTable) -> set[tuple[str, str]]:
    """The tables each query builder's statement names."""
    own, raw = (t.database, t.table), ("cdc_lake", "raw_events")
    return {
        "changes_select": {raw},
        "merge_master": {own, raw, ("cdc_lake", "tombstones")},
        "merge_tombstones": {raw, ("cdc_lake", "tombstones")},
        "merge_watermark": {raw, ("cdc_lake", "watermarks")},
        "live_view": {own, (t.database, t.table + "_live"), raw, ("cdc_lake", "watermarks"), ("", "pending")},
    }[builder]


@pytest.mark.parametrize("dialect", ["athena", "trino", "duckdb"])
@pytest.mark.parametrize("table", HOSTILE_TABLES, ids=table_id)
def test_hostile_names_stay_identifiers_in_queries(table: MasterTable, dialect: str) -> None:
    """Parsed as Athena and Trino, and as DuckDB after `to_duckdb` (the local engine's text)."""
    names = {column.name for column in table.columns}
    assert names <= set(HOSTILE) | {"v"}
    for builder, sql in query_builders(table).items():
        tree = parse_single(to_duckdb(sql) if dialect == "duckdb" else sql, dialect)
        assert_identifiers(tree, table, expected_tables(builder, table))
        if builder != "merge_watermark":
            assert names <= {node.name for node in tree.find_all(exp.Column)}, builder
        if builder in ("changes_select", "live_view") and dialect != "duckdb":
            assert set(json_keys(tree)) == names, builder
        literals = {node.name for node in tree.find_all(exp.Literal) if node.is_string}
        assert {table.database, table.table} <= literals, builder


@pytest.mark.parametrize("table", HOSTILE_TABLES, ids=table_id)
def test_hostile_names_stay_identifiers_in_athena_ddl(table: MasterTable) -> None:
    own = {(table.database, table.table)}
    for sql in (
        athena_table_ddl(table, "s3://lake/master/x/"),
        athena_add_columns(table, table.columns),
        athena_widen_column(table, table.columns[0]),
    ):
        tree = parse_single(sql, "athena")
        assert_identifiers(tree, table, own)
        assert table.columns[0].name in {node.name for node in tree.find_all(exp.Identifier)}
    created = parse_single(athena_table_ddl(table, "s3://lake/master/x/"), "athena").this
    assert isinstance(created, exp.Schema)
    assert [column.name for column in created.expressions] == [c.name for c in table.columns] + [
        "_cdc_order",
        "_cdc_ts",
    ]


@pytest.mark.parametrize("table", HOSTILE_TABLES, ids=table_id)
def test_hostile_names_stay_identifiers_in_maintenance(table: MasterTable) -> None:
    # OPTIMIZE and VACUUM are opaque commands to sqlglot (see test_maintenance_is_optimize_then_vacuum) and take
    # Hive-quoted names (backticks) in Athena: check that a name cannot split them and that the table reference
    # alone parses to the table. (compact --athena refuses such names before; locally they never run.)
    for sql, verb in zip(athena_maintenance(table), ("OPTIMIZE", "VACUUM"), strict=True):
        trees = sqlglot.parse(sql, read="hive")
        assert len(trees) == 1
        assert isinstance(trees[0], exp.Command)
        assert trees[0].this == verb
        ddl_name = f"{quote_ddl_identifier(table.database)}.{quote_ddl_identifier(table.table)}"
        assert sql.startswith(f"{verb} {ddl_name} ") or sql == f"{verb} {ddl_name}"
    reference = sqlglot.parse_one(f"SELECT * FROM {ddl_name}", read="hive").find(exp.Table)
    assert reference is not None
    assert (reference.db, reference.name) == (table.database, table.table)


@pytest.mark.parametrize("table", HOSTILE_TABLES, ids=table_id)
def test_hostile_names_stay_identifiers_in_duckdb_ddl(table: MasterTable) -> None:
    schema_sql, table_sql = duckdb_table_ddl(table)
    schema = parse_single(schema_sql, "duckdb").find(exp.Table)
    assert schema is not None
    assert (schema.db, schema.name) == (table.database, "")
    for sql in (table_sql, duckdb_add_column(table, table.columns[0]), duckdb_widen_column(table, table.columns[0])):
        assert_identifiers(parse_single(sql, "duckdb"), table, {(table.database, table.table)})
    for sql in duckdb_meta_ddl():
        parse_single(sql, "duckdb")


# --- names the lake cannot hold --------------------------------------------------------------------------------------


def test_name_problems_accepts_ordinary_names() -> None:
    assert name_problems([("shop", "orders"), ("shop", "order_lines"), ("crm", "orders")], ORDERS) == []


# The wording of these lines is compact's; the tests pin what each must say: the name, and why.


def one_line(problems: list[str]) -> str:
    """The problems all say the same (one line, maybe repeated for each spelling of a name)."""
    assert problems, "no problem found"
    assert len(set(problems)) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


@pytest.mark.parametrize("database", ["cdc_lake", "CDC_Lake"])
def test_name_problems_rejects_the_lakes_own_schema(database: str) -> None:
    problem = one_line(name_problems([(database, "orders"), ("shop", "orders")]))
    assert problem.startswith(f"{database}.orders: ")
    assert "lake's own schema" in problem


def test_name_problems_rejects_tables_that_differ_only_by_case() -> None:
    problem = one_line(name_problems([("shop", "orders"), ("shop", "Orders"), ("crm", "Orders")]))
    assert "shop.Orders" in problem
    assert "shop.orders" in problem
    assert "differ only by case" in problem
    assert "crm." not in problem


def test_name_problems_rejects_a_table_named_like_a_live_view() -> None:
    problem = one_line(name_problems([("shop", "t_live"), ("shop", "t"), ("crm", "t_live")]))
    assert problem.startswith("shop.t_live: ")
    assert "_live view of" in problem
    assert "crm." not in problem


@pytest.mark.parametrize("column", ["_cdc_order", "_cdc_ts", "_CDC_deleted"])
def test_name_problems_rejects_metadata_column_names(column: str) -> None:
    table = MasterTable.of("shop", "orders", [SourceColumn("id", "int"), SourceColumn(column, "int")], ["id"])
    (problem,) = name_problems([], table)
    assert problem == f"shop.orders: column {column!r} clashes with the lake's _cdc_ metadata columns"


def test_athena_name_problems_accepts_letters_digits_and_underscores() -> None:
    assert athena_name_problems(ORDERS) == []
    table = MasterTable.of("Shop_2", "_Orders9", [SourceColumn("Id_1", "int")], ["Id_1"])
    assert athena_name_problems(table) == []


@pytest.mark.parametrize("name", [*HOSTILE, "a-b", "ü", "tab\tname"])
def test_athena_name_problems_names_the_column(name: str) -> None:
    table = MasterTable.of("shop", "orders", [SourceColumn("id", "int"), SourceColumn(name, "varchar")], ["id"])
    if name == "select":  # a keyword, but only letters: Athena takes it quoted
        assert athena_name_problems(table) == []
        return
    (problem,) = athena_name_problems(table)
    assert problem == (
        f"shop.orders: column name {name!r} has characters Athena does not allow in names "
        "(letters, digits and _ only); exclude it from the lake or rename it at the source"
    )
    assert "\n" not in problem


def test_athena_name_problems_checks_database_and_table() -> None:
    table = MasterTable.of("my-shop", "order lines", [SourceColumn("id", "int")], ["id"])
    assert athena_name_problems(table) == [
        "my-shop.order lines: database name 'my-shop' has characters Athena does not allow in names "
        "(letters, digits and _ only); exclude it from the lake or rename it at the source",
        "my-shop.order lines: table name 'order lines' has characters Athena does not allow in names "
        "(letters, digits and _ only); exclude it from the lake or rename it at the source",
    ]
