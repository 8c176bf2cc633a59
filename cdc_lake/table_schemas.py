"""Schema events (the `_schema` partition) -> master table definitions. Pure.

A master table has every column its source table ever had, in the order they first appeared, each with its latest
type; its primary key is the latest one. A column dropped at the source stays (it is NULL in the changes made
after the drop).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .master_types import SourceColumn, TableSchema, UnknownType, master_type
from .merge_sql import MasterColumn, MasterTable


class SchemaError(ValueError):
    """A table's schema events cannot make a master table; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SchemaRow:
    """One flattened schema event: its `binlog_order`, `data` and `primary_key_columns` JSON texts."""

    database: str
    order: str
    data: str
    primary_key_columns: str | None


def parse_schema(row: SchemaRow) -> TableSchema:
    try:
        data: Any = json.loads(row.data, parse_float=Decimal)
        key: Any = json.loads(row.primary_key_columns) if row.primary_key_columns else []
        columns = tuple(SourceColumn.from_json(item) for item in data["columns"])
        return TableSchema(row.database, str(data["table"]), columns, tuple(str(name) for name in key), row.order)
    except (ValueError, KeyError, TypeError) as error:
        raise SchemaError(f"unreadable schema event at binlog order {row.order} in {row.database}: {error}") from None


def latest_schemas(rows: Iterable[SchemaRow]) -> dict[tuple[str, str], list[TableSchema]]:
    """(database, table) -> its schemas in binlog order; a schema event delivered twice counts once."""
    result: dict[tuple[str, str], list[TableSchema]] = {}
    for row in sorted(rows, key=lambda r: (r.database, r.order)):
        schema = parse_schema(row)
        schemas = result.setdefault((schema.database, schema.table), [])
        if not schemas or schemas[-1].order != schema.order:
            schemas.append(schema)
    return result


def master_table(schemas: list[TableSchema]) -> MasterTable:
    """The master table of a source table from its schemas in binlog order: every column ever seen, at its
    first-seen position, with its latest type; the latest primary key."""
    if not schemas:
        raise SchemaError("no schema events")
    columns: dict[str, SourceColumn] = {}
    for schema in schemas:
        for column in schema.columns:
            columns[column.name] = column  # a dict keeps the first-seen position, the value is the latest
    try:
        master = tuple(MasterColumn(column.name, master_type(column)) for column in columns.values())
    except UnknownType as error:
        raise SchemaError(str(error)) from None
    latest = schemas[-1]
    return MasterTable(latest.database, latest.table, master, latest.primary_key)
