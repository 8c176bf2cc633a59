"""Source columns, as information_schema describes them, for the snapshot: their Parquet (Arrow) type in the export
layout, their schema-event definition, their `originalTypeMappings` entry, and the conversion of selected values
into Arrow arrays. Pure (no connection).

The export's Parquet types are Aurora's (the table in /tmp/notes/export_spec.md, docs/operations.md "Snapshot").
Values arrive from the snapshot connection mostly as the server's text (`SNAPSHOT_DECODERS`): DECIMAL, DATE, TIME,
DATETIME and TIMESTAMP are never parsed by pymysql, so DECIMAL stays exact and zero dates stay visible; the Arrow
conversion is vectorized per column.

The schema-event definition must equal what the streamer derives from the binlog's TABLE_MAP (`schema.py`): the
binlog stores storage types, so every TEXT size is `text`, every BLOB size `blob`, every geometry subtype
`geometry`, and MariaDB's JSON (a LONGTEXT with a `json_valid` CHECK constraint) is `json`.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pymysql.constants import FIELD_TYPE
from pymysql.converters import conversions

from .event import ColumnDefinition

MAX_DECIMAL128_PRECISION = 38

# What the exported column holds, by information_schema DATA_TYPE.
_SMALL_INTEGERS = frozenset({"tinyint", "smallint", "mediumint"})
_TEXTS = frozenset({"tinytext", "text", "mediumtext", "longtext"})
_BLOBS = frozenset({"tinyblob", "blob", "mediumblob", "longblob"})
_GEOMETRIES = frozenset(
    {
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
        "geomcollection",
    }
)
_NUMBERS = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double"})

# Server text for these types is kept as str (None = no conversion): exact decimals, zero dates, TIME's sign.
_RAW_TEXT_TYPES = (
    FIELD_TYPE.DECIMAL,
    FIELD_TYPE.NEWDECIMAL,
    FIELD_TYPE.DATE,
    FIELD_TYPE.NEWDATE,
    FIELD_TYPE.TIME,
    FIELD_TYPE.DATETIME,
    FIELD_TYPE.TIMESTAMP,
)
SNAPSHOT_DECODERS: dict[Any, Any] = {key: value for key, value in conversions.items() if key not in _RAW_TEXT_TYPES}


class UnsupportedColumn(ValueError):
    """A column type the export layout has no mapping for (e.g. MariaDB's UUID, INET4, INET6)."""


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column of information_schema.COLUMNS (plus whether MariaDB's json_valid check guards it)."""

    name: str
    data_type: str  # DATA_TYPE, lowercase
    column_type: str  # COLUMN_TYPE as the server prints it: `int(10) unsigned`, `enum('a','b')`
    char_max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    datetime_precision: int | None = None
    is_json: bool = False

    @property
    def unsigned(self) -> bool:
        return self.data_type in _NUMBERS and "unsigned" in self.column_type.lower()

    @property
    def kind(self) -> str:
        """How the column is exported: int32 | int64 | udecimal | decimal | decimal_text | float32 | float64 |
        binary | char | string | timestamp. Raises UnsupportedColumn."""
        return column_kind(self)

    @property
    def members(self) -> tuple[str, ...]:
        """ENUM/SET members in definition order, from COLUMN_TYPE."""
        return parse_members(self.column_type) if self.data_type in ("enum", "set") else ()


MASK_LENGTH = 64  # hex digits of an HMAC-SHA256


def masked_column(column: ColumnInfo) -> ColumnInfo:
    """A `--mask-columns` column as exported: a string of the HMAC's hex digits, `varchar` in schema events."""
    return ColumnInfo(column.name, "varchar", f"varchar({MASK_LENGTH})", char_max_length=MASK_LENGTH)


def column_kind(column: ColumnInfo) -> str:
    kind = column.data_type
    if kind in _SMALL_INTEGERS or kind == "year" or (kind == "int" and not column.unsigned):
        return "int32"
    if kind == "int" or (kind == "bigint" and not column.unsigned):
        return "int64"
    if kind == "bigint":
        return "udecimal"
    if kind == "decimal":
        return "decimal" if (column.precision or 10) <= MAX_DECIMAL128_PRECISION else "decimal_text"
    if kind == "float":
        return "float32"
    if kind == "double":
        return "float64"
    if kind in ("datetime", "timestamp"):
        return "timestamp"
    if kind == "char":
        return "char"
    if kind in ("varchar", "enum", "set", "json", "date", "time") or kind in _TEXTS:
        return "string"
    if kind in ("bit", "binary", "varbinary") or kind in _BLOBS or kind in _GEOMETRIES:
        return "binary"
    raise UnsupportedColumn(f"{column.name} ({column.column_type})")


def arrow_type(column: ColumnInfo) -> pa.DataType:
    kind = column.kind
    if kind == "decimal":
        return pa.decimal128(column.precision or 10, column.scale or 0)
    return _ARROW_TYPES[kind]


_ARROW_TYPES: dict[str, pa.DataType] = {
    "int32": pa.int32(),
    "int64": pa.int64(),
    "udecimal": pa.decimal128(20, 0),
    "decimal_text": pa.string(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "timestamp": pa.timestamp("us"),
    "char": pa.binary(),
    "string": pa.string(),
    "binary": pa.binary(),
}


def arrow_schema(columns: Sequence[ColumnInfo]) -> pa.Schema:
    return pa.schema([pa.field(column.name, arrow_type(column)) for column in columns])


def schema_column(column: ColumnInfo) -> ColumnDefinition:
    """The column as the streamer's schema events describe it (docs/events.md, "Schema events")."""
    name, kind = column.name, column.data_type
    if kind in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        return ColumnDefinition(name, kind, unsigned=column.unsigned)
    if kind == "decimal":
        return ColumnDefinition(name, "decimal", precision=column.precision, scale=column.scale)
    if kind in ("time", "datetime", "timestamp"):
        return ColumnDefinition(name, kind, fsp=column.datetime_precision or 0)
    if kind == "bit":
        return ColumnDefinition(name, "bit", bits=column.precision)
    if kind in ("enum", "set"):
        return ColumnDefinition(name, kind, values=column.members)
    if kind in _TEXTS:
        return ColumnDefinition(name, "json" if column.is_json else "text")
    if kind in _BLOBS:
        return ColumnDefinition(name, "blob")
    if kind in _GEOMETRIES:
        return ColumnDefinition(name, "geometry")
    column_kind(column)  # raises for a type the export does not know
    return ColumnDefinition(name, kind)  # float, double, year, date, char, varchar, binary, varbinary, json


def original_type(column: ColumnInfo) -> str:
    return f"{column.data_type} unsigned" if column.unsigned else column.data_type


def type_mapping(column: ColumnInfo) -> dict[str, Any]:
    """The column's `originalTypeMappings` entry of export_tables_info (Aurora's field names)."""
    return {
        "columnName": column.name,
        "originalType": original_type(column),
        "expectedExportedType": str(arrow_type(column)),
        "originalCharMaxLength": column.char_max_length or 0,
        "originalNumPrecision": column.precision or 0,
        "originalNumScale": column.scale or 0,
        "originalDateTimePrecision": column.datetime_precision or 0,
    }


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}


def parse_members(column_type: str) -> tuple[str, ...]:
    """`enum('a','it''s','back\\\\slash')` -> ('a', "it's", 'back\\slash'). Quotes are doubled, backslashes escaped."""
    text = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    members: list[str] = []
    index = 0
    while index < len(text):
        if text[index] != "'":
            index += 1  # the commas between members
            continue
        index += 1
        chars: list[str] = []
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                chars.append(_ESCAPES.get(text[index + 1], text[index + 1]))
                index += 2
            elif char == "'" and text[index + 1 : index + 2] == "'":
                chars.append("'")
                index += 2
            elif char == "'":
                index += 1
                break
            else:
                chars.append(char)
                index += 1
        members.append("".join(chars))
    return tuple(members)


def to_arrow(column: ColumnInfo, values: Sequence[Any]) -> pa.Array:
    """One column of selected rows (values as the snapshot connection returns them) -> its Arrow array."""
    kind = column.kind
    if kind == "decimal":
        return pa.array(values, pa.string()).cast(arrow_type(column))
    if kind == "char":
        return pa.array(values, pa.string()).cast(pa.binary())
    if kind == "timestamp":
        return timestamps(values)
    return pa.array(values, _ARROW_TYPES[kind])


ZERO_DATE_PREFIX = "0000-00-00"


def timestamps(values: Sequence[Any]) -> pa.Array:
    """DATETIME/TIMESTAMP text -> timestamp[us]. Zero dates, and dates no timestamp can hold ('2024-02-30',
    '2024-00-10' with sql_mode ''), become null."""
    text = pa.array(values, pa.string())
    zero = pc.fill_null(pc.starts_with(text, ZERO_DATE_PREFIX), False)
    text = pc.if_else(zero, pa.scalar(None, pa.string()), text)
    try:
        return text.cast(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_parse_datetime(value) for value in text.to_pylist()], pa.timestamp("us"))


def _parse_datetime(value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def key_placeholder(column: ColumnInfo) -> str:
    """The SQL placeholder comparing a key column with a value read back from it. FLOAT needs the cast: `1.1` is a
    double literal and the stored float 1.1 is larger than it, so the row would be read again."""
    return "CAST(%s AS FLOAT)" if column.data_type == "float" else "%s"


def key_value(column: ColumnInfo, value: Any) -> Any:
    """A key column's selected value -> the parameter that compares with the column the way ORDER BY sorts it.

    Integers and DECIMAL as numbers (never strings: a string is compared as a double), ENUM by index and SET by
    bitmask (the order ORDER BY uses), BIT as its integer; strings, bytes and temporal text as they are.
    """
    kind = column.data_type
    if kind == "decimal":
        return Decimal(value)
    if kind == "bit":
        return int.from_bytes(value, "big")
    if kind == "enum":
        members = column.members
        return members.index(value) + 1 if value in members else 0
    if kind == "set":
        members = column.members
        chosen = set(value.split(",")) if value else set()
        return sum(1 << index for index, member in enumerate(members) if member in chosen)
    return value
