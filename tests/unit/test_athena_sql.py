"""Unit tests for cdc_lake.athena_sql: the raw events table DDL and SELECT, parsed by sqlglot and run on DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from cdc_lake.athena_sql import (
    quote_ddl_identifier,
    quote_identifier,
    raw_events_select,
    raw_events_table_ddl,
    sql_string,
)
from cdc_lake.event_schema import EVENT_COLUMNS, PARTITION_COLUMNS, binlog_order

GOLDEN_DDL = """\
CREATE EXTERNAL TABLE IF NOT EXISTS cdc.raw_events (
  `type` string,
  ts bigint,
  xid bigint,
  xoffset int,
  `commit` boolean,
  binlog_file string,
  binlog_position bigint,
  binlog_order string,
  gtid string,
  server_id bigint,
  thread_id bigint,
  primary_key string,
  primary_key_columns string,
  data string,
  old string
)
PARTITIONED BY (
  `database` string,
  `table` string,
  dt string,
  `hour` string
)
STORED AS PARQUET
LOCATION 's3://my-bucket/lake/events/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.database.type'='injected',
  'projection.table.type'='injected',
  'projection.dt.type'='date',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.range'='2024-01-01,NOW',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'projection.hour.type'='integer',
  'projection.hour.range'='0,23',
  'projection.hour.digits'='2',
  'storage.location.template'='s3://my-bucket/lake/events/database=${database}/table=${table}/dt=${dt}/hour=${hour}/'
)"""

GOLDEN_SELECT = """\
SELECT
  "type",
  ts,
  xid,
  xoffset,
  "commit",
  binlog_file,
  binlog_position,
  binlog_order,
  gtid,
  server_id,
  thread_id,
  primary_key,
  primary_key_columns,
  data,
  old,
  "database",
  "table",
  dt,
  "hour"
FROM cdc.raw_events
WHERE "database" = 'app' AND "table" = 'orders'
ORDER BY binlog_order"""

APP_ORDERS = "\"database\" = 'app' AND \"table\" = 'orders'"


def ddl() -> str:
    return raw_events_table_ddl("cdc", "raw_events", "s3://my-bucket/lake")


def parsed_ddl(sql: str) -> exp.Create:
    tree = sqlglot.parse_one(sql, read="athena")
    assert isinstance(tree, exp.Create)
    return tree


def column_types(schema: exp.Schema) -> dict[str, exp.DataType]:
    types = {}
    for column in schema.expressions:
        assert isinstance(column, exp.ColumnDef)
        kind = column.args["kind"]
        assert isinstance(kind, exp.DataType)
        types[column.name] = kind
    return types


def glue_type(name: str) -> exp.DataType:
    return exp.DataType.build(name, dialect="athena")


def table_properties(tree: exp.Create) -> dict[str, str]:
    properties = tree.args["properties"].expressions
    return {prop.this.name: prop.args["value"].name for prop in properties if type(prop) is exp.Property}


# --- DDL -------------------------------------------------------------------------------------------------------------


def test_ddl_golden_text() -> None:
    assert ddl() == GOLDEN_DDL


def test_ddl_trailing_slash_and_projection_start() -> None:
    sql = raw_events_table_ddl("cdc", "raw_events", "s3://my-bucket/lake/", projection_start="2023-06-30")
    assert sql == GOLDEN_DDL.replace("2024-01-01", "2023-06-30")
    assert raw_events_table_ddl("cdc", "raw_events", "s3://my-bucket") == GOLDEN_DDL.replace("/lake/", "/")


def test_ddl_parses_with_every_column_and_partition() -> None:
    tree = parsed_ddl(ddl())
    assert tree.kind == "TABLE"
    assert tree.args["exists"] is True
    table = tree.find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("cdc", "raw_events")

    schema = tree.this
    assert isinstance(schema, exp.Schema)
    assert column_types(schema) == {column.name: glue_type(column.type) for column in EVENT_COLUMNS}
    assert [column.name for column in schema.expressions] == [column.name for column in EVENT_COLUMNS]

    partitioned = tree.find(exp.PartitionedByProperty)
    assert partitioned is not None
    assert isinstance(partitioned.this, exp.Schema)
    assert column_types(partitioned.this) == {column.name: glue_type(column.type) for column in PARTITION_COLUMNS}

    assert tree.find(exp.ExternalProperty) is not None
    file_format = tree.find(exp.FileFormatProperty)
    assert file_format is not None
    assert file_format.name.upper() == "PARQUET"
    location = tree.find(exp.LocationProperty)
    assert location is not None
    assert location.this.name == "s3://my-bucket/lake/events/"


def test_ddl_projection_properties() -> None:
    properties = table_properties(parsed_ddl(ddl()))
    assert properties == {
        "projection.enabled": "true",
        "projection.database.type": "injected",
        "projection.table.type": "injected",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2024-01-01,NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": (
            "s3://my-bucket/lake/events/database=${database}/table=${table}/dt=${dt}/hour=${hour}/"
        ),
    }
    # Every partition column has a projection type and a place in the template.
    for column in PARTITION_COLUMNS:
        assert f"projection.{column.name}.type" in properties
        assert f"/{column.name}=${{{column.name}}}/" in properties["storage.location.template"]


def test_ddl_quotes_keywords_and_odd_names() -> None:
    sql = raw_events_table_ddl("select", "_raw", "/srv/lake")
    assert sql.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `select`.`_raw` (\n")
    assert "LOCATION '/srv/lake/events/'" in sql
    table = parsed_ddl(sql).find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("select", "_raw")
    assert raw_events_table_ddl("2024db", "t1", "/srv/lake").startswith(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `2024db`.t1 ("
    )


def test_ddl_escapes_quotes_and_backslashes_in_location() -> None:
    sql = raw_events_table_ddl("cdc", "raw_events", "s3://my-bucket/o'brien\\x")
    assert "LOCATION 's3://my-bucket/o\\'brien\\\\x/events/'" in sql
    tree = parsed_ddl(sql)
    location = tree.find(exp.LocationProperty)
    assert location is not None
    assert location.this.name == "s3://my-bucket/o'brien\\x/events/"
    template = table_properties(tree)["storage.location.template"]
    assert template.startswith("s3://my-bucket/o'brien\\x/events/database=${database}/")


@pytest.mark.parametrize(
    ("name", "ddl_form", "query_form"),
    [
        ("ts", "ts", "ts"),
        ("binlog_order", "binlog_order", "binlog_order"),
        ("table", "`table`", '"table"'),
        ("commit", "`commit`", '"commit"'),
        ("hour", "`hour`", '"hour"'),
        ("type", "`type`", '"type"'),
        ("database", "`database`", '"database"'),
        ("_ddl", "`_ddl`", '"_ddl"'),
        ("9lives", "`9lives`", '"9lives"'),
        ("Mixed", "`Mixed`", '"Mixed"'),
        ("we`ird", "`we``ird`", '"we`ird"'),
        ('we"ird', '`we"ird`', '"we""ird"'),
    ],
)
def test_identifier_quoting(name: str, ddl_form: str, query_form: str) -> None:
    assert quote_ddl_identifier(name) == ddl_form
    assert quote_identifier(name) == query_form


def test_query_string_literal() -> None:
    assert sql_string("it's") == "'it''s'"
    literal = sqlglot.parse_one("SELECT " + sql_string("o'brien"), read="trino").find(exp.Literal)
    assert literal is not None
    assert literal.name == "o'brien"


@pytest.mark.parametrize(
    "database",
    ["", "Cdc", "my-db", "my db", "cdc.raw", "c`dc", "x" * 256, "café"],
)
def test_invalid_database_name(database: str) -> None:
    with pytest.raises(ValueError, match="invalid Athena database name"):
        raw_events_table_ddl(database, "raw_events", "s3://my-bucket/lake")
    with pytest.raises(ValueError, match="invalid Athena database name"):
        raw_events_select(database, "raw_events")


@pytest.mark.parametrize("table", ["", "Raw", "raw-events", "raw events", "a.b", "t'"])
def test_invalid_table_name(table: str) -> None:
    with pytest.raises(ValueError, match="invalid Athena table name"):
        raw_events_table_ddl("cdc", table, "s3://my-bucket/lake")
    with pytest.raises(ValueError, match="invalid Athena table name"):
        raw_events_select("cdc", table)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "empty"),
        ("s3://", "valid bucket"),
        ("s3://My_Bucket/lake", "valid bucket"),
        ("s3://b/lake", "valid bucket"),
        ("s3:/my-bucket/lake", "absolute"),
        ("gs://my-bucket/lake", "only s3://"),
        ("file:///srv/lake", "only s3://"),
        ("lake", "absolute"),
        ("./lake", "absolute"),
        ("/srv/lake\n", "control characters"),
    ],
)
def test_invalid_location(location: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        raw_events_table_ddl("cdc", "raw_events", location)


@pytest.mark.parametrize("start", ["2024-1-1", "2024-02-30", "NOW", "2024-01-01T00", ""])
def test_invalid_projection_start(start: str) -> None:
    with pytest.raises(ValueError, match="projection_start"):
        raw_events_table_ddl("cdc", "raw_events", "s3://my-bucket/lake", projection_start=start)


# --- SELECT ----------------------------------------------------------------------------------------------------------


def test_select_golden_text() -> None:
    assert raw_events_select("cdc", "raw_events", APP_ORDERS) == GOLDEN_SELECT


def test_select_without_where() -> None:
    assert raw_events_select("cdc", "raw_events") == GOLDEN_SELECT.replace(f"WHERE {APP_ORDERS}\n", "")


def test_select_blank_where_is_rejected() -> None:
    with pytest.raises(ValueError, match="where is blank"):
        raw_events_select("cdc", "raw_events", "  ")


@pytest.mark.parametrize("dialect", ["athena", "trino"])
def test_select_parses(dialect: str) -> None:
    tree = sqlglot.parse_one(raw_events_select("cdc", "raw_events", APP_ORDERS), read=dialect)
    assert isinstance(tree, exp.Select)
    assert tree.named_selects == [column.name for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS)]
    order = tree.args["order"]
    assert [ordered.this.name for ordered in order.expressions] == ["binlog_order"]
    table = tree.find(exp.Table)
    assert table is not None
    assert (table.db, table.name) == ("cdc", "raw_events")


DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN"}


def event_row(database: str, table: str, file_number: int, offset: int, xoffset: int, data: str) -> tuple[object, ...]:
    row: dict[str, object] = {
        "type": "insert",
        "ts": 1714558500,
        "xid": 1207,
        "xoffset": xoffset,
        "commit": None,
        "binlog_file": f"binlog.{file_number:06d}",
        "binlog_position": offset,
        "binlog_order": binlog_order(file_number, offset, xoffset),
        "gtid": "0-1-317",
        "server_id": 1,
        "thread_id": None,
        "primary_key": "[1]",
        "primary_key_columns": '["id"]',
        "data": data,
        "old": None,
        "database": database,
        "table": table,
        "dt": "2024-05-01",
        "hour": "10",
    }
    return tuple(row[column.name] for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS))


def test_select_runs_on_duckdb() -> None:
    connection = duckdb.connect()
    try:
        connection.execute("CREATE SCHEMA cdc")
        columns = ", ".join(
            f'"{column.name}" {DUCKDB_TYPES[column.type]}' for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS)
        )
        connection.execute(f"CREATE TABLE cdc.raw_events ({columns})")
        rows = [
            # Inserted out of binlog order; the text order of binlog_order is the numeric order (9 < 10, 99 < 100).
            event_row("app", "orders", 10, 4, 0, '{"id":1,"price":12345678901234567890.123456789}'),
            event_row("app", "orders", 9, 100, 1, '{"id":1,"price":1.50}'),
            event_row("app", "orders", 9, 100, 0, '{"id":1,"price":1.00}'),
            event_row("app", "orders", 9, 99, 0, '{"id":1,"price":0.10}'),
            event_row("app", "other", 9, 50, 0, '{"id":1}'),
            event_row("shop", "orders", 9, 60, 0, '{"id":1}'),
        ]
        placeholders = ", ".join("?" for _ in (*EVENT_COLUMNS, *PARTITION_COLUMNS))
        connection.executemany(f"INSERT INTO cdc.raw_events VALUES ({placeholders})", rows)

        sql = sqlglot.transpile(raw_events_select("cdc", "raw_events", APP_ORDERS), read="trino", write="duckdb")[0]
        result = connection.execute(sql)
        assert [description[0] for description in result.description] == [
            column.name for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS)
        ]
        fetched = result.fetchall()
    finally:
        connection.close()

    names = [column.name for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS)]
    order_index, data_index = names.index("binlog_order"), names.index("data")
    assert [row[order_index] for row in fetched] == [
        binlog_order(9, 99, 0),
        binlog_order(9, 100, 0),
        binlog_order(9, 100, 1),
        binlog_order(10, 4, 0),
    ]
    # JSON text comes back byte for byte: numbers keep every digit.
    assert fetched[-1][data_index] == '{"id":1,"price":12345678901234567890.123456789}'
    assert fetched[1][data_index] == '{"id":1,"price":1.00}'
    assert fetched == sorted(
        (row for row in rows if row[-4:-2] == ("app", "orders")), key=lambda row: str(row[order_index])
    )


# --- docs/lake.md stays in step with the code ------------------------------------------------------------------------

LAKE_DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


def test_lake_doc_shows_the_current_ddl_and_schema() -> None:
    text = LAKE_DOC.read_text(encoding="utf-8")
    assert raw_events_table_ddl("cdc", "raw_events", "s3://my-cdc-lake/") in text
    for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS):
        doc = column.doc.replace("|", "\\|")  # a pipe inside a Markdown table cell
        assert f"| `{column.name}` | {column.type} | {doc} |" in text
