"""The flattened change-event row: ONE definition for the Firehose transform's output records, the local Parquet
writer and the Glue/Athena raw events table. Stdlib only (the Lambda imports it).

`database` and `table` are partition columns, like `dt` and `hour`: they are in the object path
(`events/database=D/table=T/dt=YYYY-MM-DD/hour=HH/`), not in the Parquet files, because Athena does not allow a
table column and a partition column of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # Glue/Hive type name: string, bigint, int, boolean
    doc: str


EVENT_COLUMNS: tuple[Column, ...] = (
    Column(
        "type",
        "string",
        "insert | update | delete; the DDL kind (table-alter, ...) in the DDL partition; table-schema in the schema "
        "partition",
    ),
    Column("ts", "bigint", "commit time, Unix seconds"),
    Column("xid", "bigint", "transaction XID (null for DDL, XA and non-transactional writes)"),
    Column("xoffset", "int", "row index inside the transaction"),
    Column("commit", "boolean", "true on the transaction's last event"),
    Column("binlog_file", "string", "binlog file where the transaction starts"),
    Column("binlog_position", "bigint", "offset in that file where the transaction starts"),
    Column("binlog_order", "string", "sortable binlog-order key: file number, offset, xoffset, zero-padded"),
    Column("gtid", "string", "the transaction's GTID"),
    Column("server_id", "bigint", "server that wrote the change"),
    Column("thread_id", "bigint", "session id, when the binlog has it"),
    Column("primary_key", "string", "primary-key values, JSON array text"),
    Column("primary_key_columns", "string", "primary-key column names, JSON array text (schema events too)"),
    Column(
        "data",
        "string",
        "row after the change (before it for deletes), JSON object text; DDL events: an object with table and sql; "
        "schema events: an object with table and columns",
    ),
    Column("old", "string", "previous values of the changed columns (updates), JSON object text"),
)

PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("database", "string", "source database"),
    Column("table", "string", "source table, or _ddl / _schema for the database's DDL / schema events"),
    Column("dt", "string", "UTC date of ts, YYYY-MM-DD"),
    Column("hour", "string", "UTC hour of ts, HH"),
)

DDL_TABLE = "_ddl"
SCHEMA_TABLE = "_schema"
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in EVENT_COLUMNS)


def binlog_order(file_number: int, offset: int, xoffset: int) -> str:
    """Sorts as text in binlog order: `0000000042:00000000000000001876:0000000003`."""
    return f"{file_number:010d}:{offset:020d}:{xoffset:010d}"
