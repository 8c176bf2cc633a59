"""SQL that loads one exported table into its master table, in Athena's dialects. Pure: schemas in, SQL text out.

On Athena (`load_statements`, run one by one in this order):

1. `DROP TABLE IF EXISTS` + `CREATE EXTERNAL TABLE` (Hive DDL): a staging table `cdc_lake.load_export__<db>__<table>`
   over the exported table's Parquet files (`<export>/<db>/<db>.<table>/`; Athena reads the partition
   directories `1/`, `2/`, ... under it), with the Parquet files' own types.
2. `CREATE TABLE IF NOT EXISTS` the master Iceberg table (`merge_sql.athena_table_ddl`), then `DELETE FROM` it.
3. `INSERT INTO` the master table `SELECT` every column converted from the export's form (`export_types`:
   `from_utf8` for CHAR bytes, `TRY_CAST` for date text, `split` for SET text, `from_big_endian_64` for BIT bytes,
   `ST_AsText(ST_GeomFromBinary(...))` for geometry), the snapshot's order as `_cdc_order` and its time as `_cdc_ts`.
4. The table's watermark (`load_watermark`: `floor_order` = `max_order` = the snapshot's order, no `files_since`, so
   the next merge reads every events file and skips the changes at or before the floor) and `DELETE` of its
   tombstones (`clear_tombstones`); then the staging table is dropped.

Athena has no multi-statement transaction: a load stopped part-way is re-run whole (every step is idempotent), and
the table is not merged until it completed. Locally (`load_export`) steps 2-4 are one DuckDB transaction and use
`load_watermark` and `clear_tombstones` as they are (transpiled like the merge SQL).

Limitations, not run on Athena here: Trino's WKT spells geometries its own way (`POINT (1 2)`, where the streamer
and MariaDB write `POINT(1 2)`), and geometry and BIT conversions have no DuckDB equivalent under sqlglot, so they are
checked by parsing only.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from .athena_sql import quote_ddl_identifier, quote_identifier, sql_string
from .export_types import BIT, CAST, DATE_TEXT, GEOMETRY, JSON, SET_TEXT, TIMESTAMP_TEXT, UTF8, hive_type
from .master_types import UNSIGNED_BIGINT
from .merge_sql import (
    CHANGED_AT,
    META_SCHEMA,
    ORDER,
    TOMBSTONES,
    WATERMARKS,
    MasterColumn,
    MasterTable,
    athena_table_ddl,
    meta_table,
)

__all__ = [
    "LoadColumn",
    "clear_tombstones",
    "export_table_ddl",
    "load_insert",
    "load_select",
    "load_statements",
    "load_watermark",
    "staging_table",
]

TWO_TO_THE_64 = "18446744073709551616"


@dataclass(frozen=True, slots=True)
class LoadColumn:
    """A master column, the Parquet type it is exported as, and the conversion between them (`export_types`)."""

    column: MasterColumn
    arrow: pa.DataType
    conversion: str


def staging_table(table: MasterTable) -> str:
    """The staging table's name (in the `cdc_lake` database): Glue names are lowercase."""
    return f"load_export__{table.database}__{table.table}".lower()


def _ddl_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def export_table_ddl(name: str, columns: Sequence[tuple[str, pa.DataType]], location: str) -> str:
    """`CREATE EXTERNAL TABLE cdc_lake.<name>` over the Parquet files under `location` (the exported table's
    directory, `s3://bucket/prefix/<export_id>/<db>/<db>.<table>/`), with the files' types."""
    body = ",\n  ".join(f"{quote_ddl_identifier(column)} {hive_type(arrow)}" for column, arrow in columns)
    root = location if location.endswith("/") else location + "/"
    return (
        f"CREATE EXTERNAL TABLE {quote_ddl_identifier(META_SCHEMA)}.{quote_ddl_identifier(name)} (\n  {body}\n)\n"
        "STORED AS PARQUET\n"
        f"LOCATION {_ddl_literal(root)}"
    )


def converted(load: LoadColumn) -> str:
    """The Trino expression of a column's master value from its exported value."""
    value = quote_identifier(load.column.name)
    kind = load.column.type
    if load.conversion == UTF8:
        return f"from_utf8({value})"
    if load.conversion == JSON:
        return f"NULLIF({value}, 'null')"
    if load.conversion in (DATE_TEXT, TIMESTAMP_TEXT):
        return f"TRY_CAST({value} AS {kind.trino})"
    if load.conversion == SET_TEXT:
        return f"CASE WHEN {value} = '' THEN CAST(ARRAY[] AS ARRAY(VARCHAR)) ELSE split({value}, ',') END"
    if load.conversion == BIT:
        number = f"from_big_endian_64(lpad({value}, 8, X'00'))"
        if kind != UNSIGNED_BIGINT:
            return number
        # BIT(64): from_big_endian_64 is signed; a set top bit reads negative
        unsigned = f"CASE WHEN {number} < 0 THEN DECIMAL '{TWO_TO_THE_64}' ELSE DECIMAL '0' END"
        return f"CAST(CAST({number} AS DECIMAL(20, 0)) + {unsigned} AS DECIMAL(20, 0))"
    if load.conversion == GEOMETRY:
        return f"ST_AsText(ST_GeomFromBinary(substr({value}, 5)))"  # past MySQL's 4-byte SRID: WKB
    if load.conversion != CAST:
        raise ValueError(f"unknown conversion {load.conversion!r}")
    return f"CAST({value} AS {kind.trino})"


def _timestamp(moment: datetime.datetime) -> str:
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def load_select(columns: Sequence[LoadColumn], staging: str, order: str, snapshot_time: datetime.datetime) -> str:
    """The master rows of the exported rows in `staging` (a relation name): every column converted, then
    `_cdc_order` = the snapshot's order and `_cdc_ts` = its time (UTC)."""
    values = [f"{converted(load)} AS {quote_identifier(load.column.name)}" for load in columns]
    values += [f"{sql_string(order)} AS {ORDER}", f"{_timestamp(snapshot_time)} AS {CHANGED_AT}"]
    body = ",\n  ".join(values)
    return f"SELECT\n  {body}\nFROM {staging}"


def load_insert(
    table: MasterTable, columns: Sequence[LoadColumn], staging: str, order: str, snapshot_time: datetime.datetime
) -> str:
    names = ", ".join([quote_identifier(load.column.name) for load in columns] + [ORDER, CHANGED_AT])
    return f"INSERT INTO {table.name} ({names})\n{load_select(columns, staging, order, snapshot_time)}"


def load_watermark(table: MasterTable, order: str) -> str:
    """The table's watermark after a load: `floor_order` and `max_order` = the snapshot's order, no `files_since`
    (the next merge reads every events file; the floor makes the changes already in the export no-ops)."""
    database, name = quote_identifier("database"), quote_identifier("table")
    primary_key = json.dumps(list(table.primary_key), ensure_ascii=False)
    now = "CAST(current_timestamp AS TIMESTAMP(6))"
    return (
        f"MERGE INTO {meta_table(WATERMARKS)} AS w\n"
        "USING (\n"
        f"  SELECT {sql_string(table.database)} AS {database}, {sql_string(table.table)} AS {name},"
        f" CAST(NULL AS TIMESTAMP(6)) AS files_since, {sql_string(order)} AS max_order,"
        f" {sql_string(order)} AS floor_order, {sql_string(primary_key)} AS primary_key\n"
        ") AS c\n"
        f"ON w.{database} = c.{database} AND w.{name} = c.{name}\n"
        "WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = c.max_order,"
        f" floor_order = c.floor_order, primary_key = c.primary_key, merged_at = {now}\n"
        f"WHEN NOT MATCHED THEN INSERT ({database}, {name}, files_since, max_order, floor_order, primary_key,"
        f" merged_at) VALUES (c.{database}, c.{name}, c.files_since, c.max_order, c.floor_order, c.primary_key,"
        f" {now})"
    )


def clear_tombstones(table: MasterTable) -> str:
    return (
        f"DELETE FROM {meta_table(TOMBSTONES)} WHERE {quote_identifier('database')} = {sql_string(table.database)}"
        f" AND {quote_identifier('table')} = {sql_string(table.table)}"
    )


def load_statements(
    table: MasterTable,
    columns: Sequence[LoadColumn],
    export_location: str,
    master_location: str,
    order: str,
    snapshot_time: datetime.datetime,
) -> list[str]:
    """Every statement of one table's load on Athena, in order (module docstring). `export_location` is the
    exported table's directory, `master_location` the master table's (`s3://LAKE/master/<db>/<table>/`)."""
    staging = staging_table(table)
    ddl_name = f"{quote_ddl_identifier(META_SCHEMA)}.{quote_ddl_identifier(staging)}"
    exported = [(load.column.name, load.arrow) for load in columns]
    staged = f"{quote_identifier(META_SCHEMA)}.{quote_identifier(staging)}"
    return [
        f"DROP TABLE IF EXISTS {ddl_name}",
        export_table_ddl(staging, exported, export_location),
        athena_table_ddl(table, master_location),
        f"DELETE FROM {table.name}",
        load_insert(table, columns, staged, order, snapshot_time),
        load_watermark(table, order),
        clear_tombstones(table),
        f"DROP TABLE IF EXISTS {ddl_name}",
    ]
