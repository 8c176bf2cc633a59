"""TABLE_MAP column metadata -> the column definitions of schema events (docs/events.md, "Schema events"). Pure.

The binlog names a column's storage type, not its SQL type, so a few SQL types share a code and are told apart by
the column's charset: CHAR/BINARY (STRING), VARCHAR/VARBINARY (VARCHAR), TEXT/BLOB (BLOB; every TINY/MEDIUM/LONG
size has the same code), where the `binary` charset means the binary type. MariaDB's JSON is a LONGTEXT alias,
known only from the table's CHECK constraint (`is_json`). Pre-5.6 temporal types have no fraction: fsp 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .event import ColumnDefinition
from .values import (
    BIT,
    BLOB,
    DATE,
    DATETIME,
    DATETIME2,
    DOUBLE,
    ENUM,
    FLOAT,
    GEOMETRY,
    INT24,
    JSON,
    LONG,
    LONGLONG,
    NEWDATE,
    NEWDECIMAL,
    SET,
    SHORT,
    STRING,
    TIME,
    TIME2,
    TIMESTAMP,
    TIMESTAMP2,
    TINY,
    VAR_STRING,
    VARCHAR,
    YEAR,
)

BINARY_CHARSET = "binary"

_INTEGERS = {TINY: "tinyint", SHORT: "smallint", INT24: "mediumint", LONG: "int", LONGLONG: "bigint"}
_TEMPORAL = {
    TIME: "time",
    TIME2: "time",
    DATETIME: "datetime",
    DATETIME2: "datetime",
    TIMESTAMP: "timestamp",
    TIMESTAMP2: "timestamp",
}
_PLAIN = {FLOAT: "float", DOUBLE: "double", YEAR: "year", DATE: "date", NEWDATE: "date", JSON: "json"}
_STRINGS = {STRING: ("char", "binary"), VARCHAR: ("varchar", "varbinary"), VAR_STRING: ("varchar", "varbinary")}


class UnknownColumnType(ValueError):
    """A TABLE_MAP type code outside the schema event vocabulary."""


def column_definition(column: Any, is_json: bool = False) -> ColumnDefinition:
    """One library column (`pymysqlreplication.column.Column`) -> its schema event definition."""
    code, name = column.type, column.name
    if code in _INTEGERS:
        return ColumnDefinition(name, _INTEGERS[code], unsigned=bool(column.unsigned))
    if code in _TEMPORAL:
        return ColumnDefinition(name, _TEMPORAL[code], fsp=getattr(column, "fsp", 0) or 0)
    if code in _PLAIN:
        return ColumnDefinition(name, _PLAIN[code])
    binary = getattr(column, "character_set_name", None) == BINARY_CHARSET
    if code == BLOB:
        return ColumnDefinition(name, "json" if is_json else "blob" if binary else "text")
    if code in _STRINGS:
        text, binary_type = _STRINGS[code]
        return ColumnDefinition(name, binary_type if binary else text)
    if code == NEWDECIMAL:
        return ColumnDefinition(name, "decimal", precision=column.precision, scale=column.decimals)
    if code == BIT:
        return ColumnDefinition(name, "bit", bits=column.bits)
    if code == ENUM:
        # The library puts "" (the invalid-value index 0) in front of the members.
        return ColumnDefinition(name, "enum", values=tuple((column.enum_values or [""])[1:]))
    if code == SET:
        return ColumnDefinition(name, "set", values=tuple(column.set_values or ()))
    if code == GEOMETRY:
        return ColumnDefinition(name, "geometry")
    raise UnknownColumnType(f"column {name!r} has binlog type code {code}, which schema events do not describe")


def table_definition(
    columns: Iterable[Any], is_json: Callable[[str], bool], excluded: frozenset[str]
) -> tuple[ColumnDefinition, ...]:
    """The definitions of a table's columns in table order, without the `excluded` ones."""
    return tuple(column_definition(column, is_json(column.name)) for column in columns if column.name not in excluded)
