"""SQL builders for the master tables, in Athena's dialect. Pure functions: schemas in, SQL text out.

Queries and DML (`SELECT`, `MERGE INTO`, `CREATE VIEW`) are Trino SQL, written once: Athena runs them on Iceberg
tables, and locally `cdc_lake.engines.DuckDB` runs the same text after `sqlglot.transpile(read="trino",
write="duckdb")`. Table DDL differs by engine (Athena's Iceberg DDL is Hive's dialect with table properties;
DuckDB's is its own), so each engine has its DDL builder here.

The merge of one source table, in order (docs/lake.md, "Master tables"):

1. `changes_select`: the batch. Every change event of the table in the raw events since the watermark, typed by
   the master schema, plus a delete of the old key for each UPDATE that changed the primary key; then the latest
   change per primary key by `binlog_order`.
2. `merge_master`: MERGE the batch into the master table: delete when the change is a delete, update when it is
   newer than the stored row's order, insert when absent and not a delete. Changes before a key's tombstone (the
   order of the key's last merged delete) are dropped first, so a late duplicate never resurrects a key; the delete
   itself (same order) passes, so a tombstone written before its delete reached the master table cannot block it.
3. `merge_tombstones`: record the batch's deletes.
4. `merge_watermark`: the table's watermark, written last.

Every statement is idempotent: re-running a batch, or any prefix of the steps, changes nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .athena_sql import quote_ddl_identifier, quote_identifier, sql_string
from .master_types import MasterType, SourceColumn, master_type

__all__ = [
    "META_SCHEMA",
    "MasterColumn",
    "MasterTable",
    "changes_select",
    "json_path",
    "live_view",
    "merge_master",
    "merge_tombstones",
    "merge_watermark",
]

META_SCHEMA = "cdc_lake"
TOMBSTONES = "tombstones"
WATERMARKS = "watermarks"
ORDER = "_cdc_order"
CHANGED_AT = "_cdc_ts"
DELETED = "_cdc_deleted"
RANK = "_cdc_rank"
METADATA_COLUMNS: tuple[tuple[str, MasterType], ...] = (
    (ORDER, MasterType("string", "VARCHAR", "VARCHAR", "text")),
    (CHANGED_AT, MasterType("timestamp", "TIMESTAMP(6)", "TIMESTAMP", "cast")),
)
ROW_TYPES = ("insert", "update", "delete")
LIVE_SUFFIX = "_live"


@dataclass(frozen=True, slots=True)
class MasterColumn:
    name: str
    type: MasterType


@dataclass(frozen=True, slots=True)
class MasterTable:
    """A master table: its source columns (every column the source ever had, in first-seen order, each with its
    latest type) and its primary key."""

    database: str
    table: str
    columns: tuple[MasterColumn, ...]
    primary_key: tuple[str, ...]

    @classmethod
    def of(cls, database: str, table: str, columns: Sequence[SourceColumn], primary_key: Sequence[str]) -> MasterTable:
        return cls(database, table, tuple(MasterColumn(c.name, master_type(c)) for c in columns), tuple(primary_key))

    @property
    def name(self) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(self.table)}"

    @property
    def live_name(self) -> str:
        return f"{quote_identifier(self.database)}.{quote_identifier(self.table + LIVE_SUFFIX)}"

    def key_columns(self) -> tuple[MasterColumn, ...]:
        by_name = {column.name: column for column in self.columns}
        return tuple(by_name[name] for name in self.primary_key)


def meta_table(name: str) -> str:
    return f"{quote_identifier(META_SCHEMA)}.{quote_identifier(name)}"


# -- values out of the event's JSON ---------------------------------------------------------------------------


def json_path(name: str) -> str:
    """The JSON path literal of a top-level key: `'$["name"]'` (`"` and `\\` escaped inside the key)."""
    return sql_string('$["' + name.replace("\\", "\\\\").replace('"', '\\"') + '"]')


def value_sql(image: str, column: MasterColumn) -> str:
    """The typed value of `column` from the JSON object text `image` (an event's `data` or `old`)."""
    path = json_path(column.name)
    kind = column.type
    if kind.extract == "array":
        return f"CAST(json_extract({image}, {path}) AS {kind.trino})"
    if kind.extract == "json":
        return f"NULLIF(json_format(json_extract({image}, {path})), 'null')"
    return typed_text(f"json_extract_scalar({image}, {path})", kind)


def typed_text(text: str, kind: MasterType) -> str:
    """A scalar's JSON text (`json_extract_scalar`) as the master type."""
    if kind.extract == "cast":
        return f"CAST({text} AS {kind.trino})"
    if kind.extract == "try_cast":
        return f"TRY_CAST({text} AS {kind.trino})"
    if kind.extract == "base64":
        return f"from_base64({text})"
    return text


def key_text(alias: str, table: MasterTable) -> str:
    """One text value per primary key (the tombstones' key): each key value as text, prefixed with its length
    when the key has several columns, so ('a:b', 'c') and ('a', 'b:c') differ."""
    parts = []
    for column in table.key_columns():
        value = f"{alias}.{quote_identifier(column.name)}"
        text = f"to_base64({value})" if column.type.extract == "base64" else f"CAST({value} AS VARCHAR)"
        parts.append(text if len(table.primary_key) == 1 else f"CAST(length({text}) AS VARCHAR) || ':' || {text}")
    return " || ',' || ".join(parts)


# -- the batch --------------------------------------------------------------------------------------------------


def changes_select(raw: str, table: MasterTable, where: str) -> str:
    """The latest change per primary key among the table's change events in `raw` (a relation with the raw
    events table's columns) that satisfy `where` (Trino SQL on alias `e`, e.g. the watermark condition).

    Columns: the master columns, `_cdc_order`, `_cdc_ts`, `_cdc_deleted`."""
    if not table.primary_key:
        raise ValueError(f"{table.database}.{table.table} has no primary key: it has no master table")
    names = [quote_identifier(column.name) for column in table.columns]
    keys = ", ".join(quote_identifier(name) for name in table.primary_key)
    base = (
        f"e.{quote_identifier('database')} = {sql_string(table.database)}"
        f" AND e.{quote_identifier('table')} = {sql_string(table.table)}"
        f" AND ({where})"
    )
    images = [f"{value_sql('e.data', column)} AS {name}" for column, name in zip(table.columns, names, strict=True)]
    old_keys = []
    key_names = set(table.primary_key)
    for column, name in zip(table.columns, names, strict=True):
        if column.name in key_names:
            path = json_path(column.name)
            text = f"coalesce(json_extract_scalar(e.old, {path}), json_extract_scalar(e.data, {path}))"
            old_keys.append(f"{typed_text(text, column.type)} AS {name}")
        else:
            old_keys.append(f"CAST(NULL AS {column.type.trino}) AS {name}")
    key_changed = " OR ".join(
        f"json_extract_scalar(e.old, {json_path(name)}) IS NOT NULL" for name in table.primary_key
    )
    metadata = f"e.binlog_order AS {ORDER}, CAST(from_unixtime(e.ts) AS TIMESTAMP(6)) AS {CHANGED_AT}"
    row_types = ", ".join(sql_string(kind) for kind in ROW_TYPES)
    type_column = f"e.{quote_identifier('type')}"
    columns = ",\n      ".join(names)
    image_list = ",\n      ".join(images)
    old_key_list = ",\n      ".join(old_keys)
    return (
        f"SELECT\n      {columns},\n      {ORDER}, {CHANGED_AT}, {DELETED}\n"
        "FROM (\n"
        f"  SELECT c.*, row_number() OVER (PARTITION BY {keys} ORDER BY {ORDER} DESC) AS {RANK}\n"
        "  FROM (\n"
        f"    SELECT\n      {image_list},\n"
        f"      {metadata}, {type_column} = 'delete' AS {DELETED}\n"
        f"    FROM {raw} AS e\n"
        f"    WHERE {base} AND {type_column} IN ({row_types})\n"
        "    UNION ALL\n"
        f"    SELECT\n      {old_key_list},\n"
        f"      {metadata}, true AS {DELETED}\n"
        f"    FROM {raw} AS e\n"
        f"    WHERE {base} AND {type_column} = 'update' AND ({key_changed})\n"
        "  ) AS c\n"
        ") AS r\n"
        f"WHERE {RANK} = 1"
    )


def _relation(changes: str) -> str:
    """A table name as is; a query in parentheses."""
    return f"(\n{changes}\n)" if changes.lstrip().upper().startswith("SELECT") else changes


def merge_master(table: MasterTable, changes: str) -> str:
    """MERGE the batch `changes` (a relation name, or the text of `changes_select`) into the master table."""
    tombstones = meta_table(TOMBSTONES)
    on = " AND ".join(f"m.{quote_identifier(name)} = c.{quote_identifier(name)}" for name in table.primary_key)
    names = [quote_identifier(column.name) for column in table.columns] + [ORDER, CHANGED_AT]
    sets = ", ".join(f"{name} = c.{name}" for name in names)
    values = ", ".join(f"c.{name}" for name in names)
    return (
        f"MERGE INTO {table.name} AS m\n"
        "USING (\n"
        "  SELECT c.*\n"
        f"  FROM {_relation(changes)} AS c\n"
        f"  LEFT JOIN {tombstones} AS t\n"
        f"    ON t.{quote_identifier('database')} = {sql_string(table.database)}"
        f" AND t.{quote_identifier('table')} = {sql_string(table.table)}"
        f" AND t.{quote_identifier('key')} = {key_text('c', table)}\n"
        f"  WHERE t.{ORDER} IS NULL OR c.{ORDER} >= t.{ORDER}\n"
        ") AS c\n"
        f"ON {on}\n"
        f"WHEN MATCHED AND c.{ORDER} > m.{ORDER} AND c.{DELETED} THEN DELETE\n"
        f"WHEN MATCHED AND c.{ORDER} > m.{ORDER} THEN UPDATE SET {sets}\n"
        f"WHEN NOT MATCHED AND NOT c.{DELETED} THEN INSERT ({', '.join(names)}) VALUES ({values})"
    )


def merge_tombstones(table: MasterTable, changes: str) -> str:
    """Record the batch's deletes: per key, the order of its newest merged delete."""
    database, name, key = (quote_identifier(n) for n in ("database", "table", "key"))
    return (
        f"MERGE INTO {meta_table(TOMBSTONES)} AS t\n"
        "USING (\n"
        f"  SELECT {key_text('c', table)} AS {key}, c.{ORDER}\n"
        f"  FROM {_relation(changes)} AS c\n"
        f"  WHERE c.{DELETED}\n"
        ") AS c\n"
        f"ON t.{database} = {sql_string(table.database)} AND t.{name} = {sql_string(table.table)}"
        f" AND t.{key} = c.{key}\n"
        f"WHEN MATCHED AND c.{ORDER} > t.{ORDER} THEN UPDATE SET {ORDER} = c.{ORDER}\n"
        f"WHEN NOT MATCHED THEN INSERT ({database}, {name}, {key}, {ORDER})"
        f" VALUES ({sql_string(table.database)}, {sql_string(table.table)}, c.{key}, c.{ORDER})"
    )


def merge_watermark(table: MasterTable, files_since: str, changes: str | None) -> str:
    """Write the table's watermark: `files_since` (ISO-8601 UTC) is where the next batch's files start, and
    `max_order` the newest binlog_order merged so far (the `_live` view shows changes after it)."""
    database, name = quote_identifier("database"), quote_identifier("table")
    primary_key = json.dumps(list(table.primary_key), ensure_ascii=False)
    newest = f"(SELECT max({ORDER}) FROM {_relation(changes)} AS c)" if changes else "CAST(NULL AS VARCHAR)"
    return (
        f"MERGE INTO {meta_table(WATERMARKS)} AS w\n"
        "USING (\n"
        f"  SELECT {sql_string(table.database)} AS {database}, {sql_string(table.table)} AS {name},"
        f" CAST(from_iso8601_timestamp({sql_string(files_since)}) AS TIMESTAMP(6)) AS files_since,"
        f" {newest} AS max_order, {sql_string(primary_key)} AS primary_key\n"
        ") AS c\n"
        f"ON w.{database} = c.{database} AND w.{name} = c.{name}\n"
        "WHEN MATCHED THEN UPDATE SET files_since = c.files_since, max_order = CASE"
        " WHEN c.max_order IS NULL OR c.max_order < w.max_order THEN w.max_order ELSE c.max_order END,"
        " primary_key = c.primary_key, merged_at = CAST(current_timestamp AS TIMESTAMP(6))\n"
        f"WHEN NOT MATCHED THEN INSERT ({database}, {name}, files_since, max_order, primary_key, merged_at)"
        f" VALUES (c.{database}, c.{name}, c.files_since, c.max_order, c.primary_key,"
        " CAST(current_timestamp AS TIMESTAMP(6)))"
    )


def watermark_select(table: MasterTable) -> str:
    return (
        f"SELECT CAST(files_since AS VARCHAR), max_order, primary_key FROM {meta_table(WATERMARKS)}"
        f" WHERE {quote_identifier('database')} = {sql_string(table.database)}"
        f" AND {quote_identifier('table')} = {sql_string(table.table)}"
    )


def live_view(table: MasterTable, raw: str) -> str:
    """`D.T_live`: the master rows no pending change supersedes, plus the latest pending change per key that is
    not a delete. Pending = the table's change events after the watermark's `max_order` in `raw`."""
    watermark = (
        f"SELECT w.max_order FROM {meta_table(WATERMARKS)} AS w"
        f" WHERE w.{quote_identifier('database')} = {sql_string(table.database)}"
        f" AND w.{quote_identifier('table')} = {sql_string(table.table)}"
    )
    pending = changes_select(raw, table, f"e.binlog_order > coalesce(({watermark}), '')")
    names = [quote_identifier(column.name) for column in table.columns] + [ORDER, CHANGED_AT]
    on = " AND ".join(f"p.{quote_identifier(name)} = m.{quote_identifier(name)}" for name in table.primary_key)
    return (
        f"CREATE OR REPLACE VIEW {table.live_name} AS\n"
        f"WITH pending AS (\n{pending}\n)\n"
        f"SELECT {', '.join(f'm.{name}' for name in names)}\n"
        f"FROM {table.name} AS m\n"
        f"WHERE NOT EXISTS (SELECT 1 FROM pending AS p WHERE {on})\n"
        "UNION ALL\n"
        f"SELECT {', '.join(f'p.{name}' for name in names)}\n"
        "FROM pending AS p\n"
        f"WHERE NOT p.{DELETED}"
    )


# -- DDL ----------------------------------------------------------------------------------------------------------


def duckdb_table_ddl(table: MasterTable) -> list[str]:
    """The local master table (DuckDB): its schema and the table, if absent."""
    columns = [(column.name, column.type) for column in table.columns] + list(METADATA_COLUMNS)
    body = ",\n  ".join(f"{_duck(name)} {kind.duckdb}" for name, kind in columns)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {_duck(table.database)}",
        f"CREATE TABLE IF NOT EXISTS {_duck(table.database)}.{_duck(table.table)} (\n  {body}\n)",
    ]


def duckdb_meta_ddl() -> list[str]:
    meta = _duck(META_SCHEMA)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {meta}",
        f'CREATE TABLE IF NOT EXISTS {meta}.{_duck(TOMBSTONES)} ("database" VARCHAR, "table" VARCHAR, "key" VARCHAR,'
        f' {ORDER} VARCHAR, PRIMARY KEY ("database", "table", "key"))',
        f'CREATE TABLE IF NOT EXISTS {meta}.{_duck(WATERMARKS)} ("database" VARCHAR, "table" VARCHAR,'
        " files_since TIMESTAMP, max_order VARCHAR, primary_key VARCHAR, merged_at TIMESTAMP, floor_order VARCHAR,"
        ' PRIMARY KEY ("database", "table"))',
    ]


def duckdb_add_column(table: MasterTable, column: MasterColumn) -> str:
    return (
        f"ALTER TABLE {_duck(table.database)}.{_duck(table.table)} ADD COLUMN {_duck(column.name)} {column.type.duckdb}"
    )


def duckdb_widen_column(table: MasterTable, column: MasterColumn) -> str:
    return (
        f"ALTER TABLE {_duck(table.database)}.{_duck(table.table)}"
        f" ALTER COLUMN {_duck(column.name)} TYPE {column.type.duckdb}"
    )


def duckdb_identifier(name: str) -> str:
    """DuckDB identifiers: always double-quoted (its keywords differ from Athena's)."""
    return '"' + name.replace('"', '""') + '"'


_duck = duckdb_identifier


def athena_table_ddl(table: MasterTable, location: str) -> str:
    """The master table as an Iceberg table in Athena, under `location` (`s3://bucket/prefix/master/db/table/`)."""
    columns = [(column.name, column.type) for column in table.columns] + list(METADATA_COLUMNS)
    body = ",\n  ".join(f"{quote_ddl_identifier(name)} {kind.athena}" for name, kind in columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_ddl_identifier(table.database)}.{quote_ddl_identifier(table.table)} (\n"
        f"  {body}\n)\n"
        f"LOCATION {_ddl_literal(location)}\n"
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', 'write_compression'='snappy')"
    )


def athena_meta_ddl(location: str) -> list[str]:
    meta = quote_ddl_identifier(META_SCHEMA)
    root = location.rstrip("/")
    iceberg = "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet')"
    return [
        f"CREATE DATABASE IF NOT EXISTS {meta}",
        f"CREATE TABLE IF NOT EXISTS {meta}.{TOMBSTONES} (`database` string, `table` string, `key` string,"
        f" `{ORDER}` string)\nLOCATION {_ddl_literal(root + '/meta/tombstones/')}\n{iceberg}",
        f"CREATE TABLE IF NOT EXISTS {meta}.{WATERMARKS} (`database` string, `table` string,"
        f" files_since timestamp, max_order string, primary_key string, merged_at timestamp, floor_order string)\n"
        f"LOCATION {_ddl_literal(root + '/meta/watermarks/')}\n{iceberg}",
    ]


def athena_add_columns(table: MasterTable, columns: Sequence[MasterColumn]) -> str:
    body = ", ".join(f"{quote_ddl_identifier(column.name)} {column.type.athena}" for column in columns)
    return (
        f"ALTER TABLE {quote_ddl_identifier(table.database)}.{quote_ddl_identifier(table.table)} ADD COLUMNS ({body})"
    )


def athena_widen_column(table: MasterTable, column: MasterColumn) -> str:
    name = quote_ddl_identifier(column.name)
    return (
        f"ALTER TABLE {quote_ddl_identifier(table.database)}.{quote_ddl_identifier(table.table)}"
        f" CHANGE COLUMN {name} {name} {column.type.athena}"
    )


def athena_maintenance(table: MasterTable) -> list[str]:
    """Per-table Iceberg upkeep: compact small files, then expire old snapshots and remove orphan files."""
    # Hive-style quoting: Athena's VACUUM does not take double-quoted names
    name = f"{quote_ddl_identifier(table.database)}.{quote_ddl_identifier(table.table)}"
    return [f"OPTIMIZE {name} REWRITE DATA USING BIN_PACK", f"VACUUM {name}"]


def _ddl_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
