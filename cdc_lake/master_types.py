"""Source column types (from the streamer's schema events) -> master-table column types. Pure.

One mapping, three spellings: the Iceberg DDL type Athena takes in `CREATE TABLE` (Hive's spelling), the Trino type
the merge casts to, and the DuckDB type of the local master table. docs/lake.md has the table.

How a value gets from the event's JSON `data` into the column (`extract`):

- `cast`: the value's JSON text, cast to the type (`CAST(json_extract_scalar(data, path) AS DECIMAL(10, 2))`).
  `json_extract_scalar` returns a number's text as written, so DECIMAL and BIGINT UNSIGNED stay exact.
- `try_cast`: the same, but a value the type cannot hold becomes NULL: DATE/DATETIME/TIMESTAMP zero dates
  (`0000-00-00`), which no SQL engine's date type has.
- `text`: the JSON text as is (strings, TIME, DECIMAL wider than 38 digits, geometry).
- `base64`: BLOB/BINARY arrive base64-encoded: decoded to bytes.
- `array`: SET arrives as a JSON array of strings.
- `json`: a JSON column arrives as nested JSON: stored as its JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MasterType", "SourceColumn", "TableSchema", "master_type", "widens"]


@dataclass(frozen=True, slots=True)
class SourceColumn:
    """One column as a schema event describes it (docs/events.md, "Schema events")."""

    name: str
    type: str
    unsigned: bool = False
    precision: int | None = None
    scale: int | None = None
    fsp: int | None = None
    bits: int | None = None
    values: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> SourceColumn:
        def number(key: str) -> int | None:
            value = item.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            name=str(item["name"]),
            type=str(item["type"]).lower(),
            unsigned=item.get("unsigned") is True,
            precision=number("precision"),
            scale=number("scale"),
            fsp=number("fsp"),
            bits=number("bits"),
            values=tuple(str(value) for value in item.get("values") or ()),
        )


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A source table's definition at one point of the binlog (`order` = the schema event's binlog_order)."""

    database: str
    table: str
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]
    order: str = ""

    def column(self, name: str) -> SourceColumn | None:
        return next((column for column in self.columns if column.name == name), None)


@dataclass(frozen=True, slots=True)
class MasterType:
    athena: str  # Iceberg column type in Athena DDL: int, bigint, decimal(20,0), timestamp, array<string>, ...
    trino: str  # the type in Trino queries: INTEGER, DECIMAL(20, 0), TIMESTAMP(6), ARRAY(VARCHAR), ...
    duckdb: str  # the local master table's column type
    extract: str  # cast | try_cast | text | base64 | array | json


INTEGER = MasterType("int", "INTEGER", "INTEGER", "cast")
BIGINT = MasterType("bigint", "BIGINT", "BIGINT", "cast")
UNSIGNED_BIGINT = MasterType("decimal(20,0)", "DECIMAL(20, 0)", "DECIMAL(20, 0)", "cast")
REAL = MasterType("float", "REAL", "REAL", "cast")
DOUBLE = MasterType("double", "DOUBLE", "DOUBLE", "cast")
DATE = MasterType("date", "DATE", "DATE", "try_cast")
TIMESTAMP = MasterType("timestamp", "TIMESTAMP(6)", "TIMESTAMP", "try_cast")
STRING = MasterType("string", "VARCHAR", "VARCHAR", "text")
BINARY = MasterType("binary", "VARBINARY", "BLOB", "base64")
STRING_ARRAY = MasterType("array<string>", "ARRAY(VARCHAR)", "VARCHAR[]", "array")
JSON_TEXT = MasterType("string", "VARCHAR", "VARCHAR", "json")

MAX_DECIMAL_PRECISION = 38  # Iceberg's, Athena's and DuckDB's
_SMALL_INTS = frozenset({"tinyint", "smallint", "mediumint"})
_STRINGS = frozenset({"char", "varchar", "text", "enum", "time", "geometry"})
_BINARIES = frozenset({"binary", "varbinary", "blob"})


class UnknownType(ValueError):
    pass


def master_type(column: SourceColumn) -> MasterType:
    """The master column type for a source column. Raises UnknownType for a type the schema event vocabulary
    does not have."""
    kind = column.type
    if kind in _SMALL_INTS or (kind == "int" and not column.unsigned) or kind == "year":
        return INTEGER
    if kind == "int" or (kind == "bigint" and not column.unsigned):
        return BIGINT
    if kind == "bigint":
        return UNSIGNED_BIGINT
    if kind == "bit":
        return UNSIGNED_BIGINT if (column.bits or 64) > 63 else BIGINT
    if kind == "decimal":
        precision = column.precision if column.precision is not None else 10
        scale = column.scale if column.scale is not None else 0
        if precision > MAX_DECIMAL_PRECISION:
            return STRING
        return MasterType(
            f"decimal({precision},{scale})", f"DECIMAL({precision}, {scale})", f"DECIMAL({precision}, {scale})", "cast"
        )
    if kind == "float":
        return REAL
    if kind == "double":
        return DOUBLE
    if kind == "date":
        return DATE
    if kind in ("datetime", "timestamp"):
        return TIMESTAMP
    if kind in _STRINGS:
        return STRING
    if kind in _BINARIES:
        return BINARY
    if kind == "set":
        return STRING_ARRAY
    if kind == "json":
        return JSON_TEXT
    raise UnknownType(f"column {column.name!r} has type {column.type!r}, which the lake does not know")


def widens(old: MasterType, new: MasterType) -> bool:
    """Whether a master column of type `old` can become `new` in place (Iceberg's allowed promotions: int to
    bigint, float to double, a decimal's precision up with the same scale)."""
    if old == new:
        return True
    if (old, new) in ((INTEGER, BIGINT), (REAL, DOUBLE)):
        return True
    old_decimal, new_decimal = _decimal(old), _decimal(new)
    if old_decimal and new_decimal:
        return new_decimal[1] == old_decimal[1] and new_decimal[0] >= old_decimal[0]
    return False


def _decimal(kind: MasterType) -> tuple[int, int] | None:
    if not kind.athena.startswith("decimal("):
        return None
    precision, scale = kind.athena.removeprefix("decimal(").removesuffix(")").split(",")
    return int(precision), int(scale)
