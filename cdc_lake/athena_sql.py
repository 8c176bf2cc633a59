"""SQL builders in Athena's dialect. Pure functions: text in, SQL text out; no I/O, no boto3.

Athena speaks two dialects, and so do these builders:

- DDL (`CREATE EXTERNAL TABLE ...`) is Hive's: identifiers are quoted with backticks, string literals escape `'` and
  `\\` with a backslash.
- Queries (`SELECT`, later `MERGE`) are Trino's: identifiers are quoted with double quotes, a `'` inside a string
  literal is doubled. Locally the same text runs on DuckDB after `sqlglot.transpile(sql, read="trino",
  write="duckdb")`.

An identifier is quoted when it is not a plain lowercase name (`[a-z][a-z0-9_]*`) or when it is a keyword: Athena's
reserved words for DDL and for queries, plus a few words that are non-reserved keywords in Hive or Trino (date and
time units, `type`), quoted because it costs nothing. Glue stores names in lowercase, so names given here must be
lowercase already.

The raw change-events table has the columns of `cdc_lake.event_schema.EVENT_COLUMNS`, is partitioned by
`PARTITION_COLUMNS` and finds its partitions by partition projection (no crawler, no `MSCK REPAIR`): `dt` is a date
range, `hour` an integer range, `database` and `table` are injected from the query's `WHERE` clause.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from .event_schema import EVENT_COLUMNS, PARTITION_COLUMNS

__all__ = [
    "EVENTS_PREFIX",
    "KEYWORDS",
    "quote_ddl_identifier",
    "quote_identifier",
    "raw_events_select",
    "raw_events_table_ddl",
    "sql_string",
]

EVENTS_PREFIX = "events/"

# Athena's reserved keywords for DDL statements and for SELECT statements (Athena user guide, "Escape reserved
# keywords in queries"), and non-reserved keywords worth quoting anyway.
_DDL_RESERVED = """
all alter and array as authorization between bigint binary boolean both by case cashe cast char column conf
constraint commit create cross cube current current_date current_timestamp cursor database date dayofweek decimal
delete describe distinct div double drop else end exchange exists extended external extract false fetch float floor
following for foreign from full function grant group grouping having if import in inner insert int integer
intersect interval into is join lateral left less like local macro map more none not null numeric of on only or
order out outer over partialscan partition percent preceding precision preserve primary procedure range reads
reduce regexp references revoke right rlike rollback rollup row rows select set smallint start table tablesample
then time timestamp to transform trigger true truncate unbounded union uniquejoin update user using utc_timestamp
values varchar views when where window with
"""
_QUERY_RESERVED = """
alter and as between by case cast constraint create cross cube current_catalog current_date current_path
current_role current_schema current_time current_timestamp current_user deallocate delete describe distinct drop
else end escape except execute exists extract false first for from full function group grouping having in inner
insert intersect into is join json_array json_exists json_object json_query json_table json_value last left like
listagg localtime localtimestamp natural normalize not null of on or order outer prepare recursive right rollup
select skip table then trim true uescape union unnest using values when where with
"""
_QUOTED_ANYWAY = "year month day hour minute second type"
KEYWORDS: frozenset[str] = frozenset((_DDL_RESERVED + _QUERY_RESERVED + _QUOTED_ANYWAY).split())

_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NAME = re.compile(r"[a-z0-9_]{1,255}")
_S3_LOCATION = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/.*)?", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _needs_quotes(name: str) -> bool:
    return name in KEYWORDS or _PLAIN_NAME.fullmatch(name) is None


def quote_ddl_identifier(name: str) -> str:
    """`name` as a Hive/Athena DDL identifier: backticks when needed (a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`" if _needs_quotes(name) else name


def quote_identifier(name: str) -> str:
    """`name` as a Trino/Athena query identifier: double quotes when needed (a `"` inside is doubled)."""
    return '"' + name.replace('"', '""') + '"' if _needs_quotes(name) else name


def sql_string(value: str) -> str:
    """`value` as a Trino/Athena query string literal: `'it''s'`."""
    return "'" + value.replace("'", "''") + "'"


def _ddl_string(value: str) -> str:
    """`value` as a Hive/Athena DDL string literal: `'it\\'s'` (Hive reads `''` as two adjacent literals)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid Athena {kind} name {name!r}: use 1 to 255 lowercase letters, digits and underscores "
            "(Glue stores names in lowercase)"
        )
    return name


def _qualified(database: str, table: str, quote: Callable[[str], str]) -> str:
    return f"{quote(_check_name('database', database))}.{quote(_check_name('table', table))}"


def _check_location(location: str) -> str:
    """The lake root as a directory (ending in `/`): `s3://bucket[/prefix]` or an absolute local path."""
    if not location or _CONTROL.search(location):
        raise ValueError(f"invalid lake location {location!r}: it is empty or has control characters")
    if location.startswith("s3://"):
        if not _S3_LOCATION.fullmatch(location):
            raise ValueError(f"invalid lake location {location!r}: expected s3://BUCKET[/PREFIX] with a valid bucket")
    elif "://" in location:
        raise ValueError(f"invalid lake location {location!r}: only s3:// locations or local paths are supported")
    elif not location.startswith("/"):
        raise ValueError(f"invalid lake location {location!r}: a local path must be absolute")
    return location if location.endswith("/") else location + "/"


def _check_day(value: str) -> str:
    try:
        if _DAY.fullmatch(value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise ValueError(f"invalid projection_start {value!r}: expected a date as YYYY-MM-DD")


def raw_events_table_ddl(database: str, table: str, location: str, *, projection_start: str = "2024-01-01") -> str:
    """`CREATE EXTERNAL TABLE IF NOT EXISTS database.table` over `location/events/`, with partition projection.

    `location` is the lake root (`s3://bucket/prefix/`); `projection_start` the first `dt` Athena looks at.
    """
    name = _qualified(database, table, quote_ddl_identifier)
    events = _check_location(location) + EVENTS_PREFIX
    template = events + "".join(f"{column.name}=${{{column.name}}}/" for column in PARTITION_COLUMNS)
    properties = {
        "projection.enabled": "true",
        "projection.database.type": "injected",
        "projection.table.type": "injected",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{_check_day(projection_start)},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": template,
    }
    columns = ",\n".join(f"  {quote_ddl_identifier(column.name)} {column.type}" for column in EVENT_COLUMNS)
    partitions = ",\n".join(f"  {quote_ddl_identifier(column.name)} {column.type}" for column in PARTITION_COLUMNS)
    tblproperties = ",\n".join(f"  {_ddl_string(key)}={_ddl_string(value)}" for key, value in properties.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{columns}\n)\n"
        f"PARTITIONED BY (\n{partitions}\n)\n"
        "STORED AS PARQUET\n"
        f"LOCATION {_ddl_string(events)}\n"
        f"TBLPROPERTIES (\n{tblproperties}\n)"
    )


def raw_events_select(database: str, table: str, where: str | None = None) -> str:
    """`SELECT` every column (event columns, then partition columns) of the raw table, in binlog order.

    `where` is Trino SQL text put as is after `WHERE` (build its literals with `sql_string`); Athena requires it
    to pin the injected partitions: `"database" = 'app' AND "table" = 'orders'`.
    """
    name = _qualified(database, table, quote_identifier)
    if where is not None and not where.strip():
        raise ValueError("where is blank: pass None for no WHERE clause")
    columns = ",\n".join(f"  {quote_identifier(column.name)}" for column in (*EVENT_COLUMNS, *PARTITION_COLUMNS))
    condition = f"WHERE {where.strip()}\n" if where is not None else ""
    return f"SELECT\n{columns}\nFROM {name}\n{condition}ORDER BY binlog_order"
