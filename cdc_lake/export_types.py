"""How an exported Parquet column becomes its master column. Pure: types in, a conversion name out.

An Aurora export writes some MySQL types in a form of its own (export_spec, "Parquet column types"); the master
table has the types of `master_types.master_type`. One conversion name per column says how to get from one to the
other; `load_export` spells it in DuckDB SQL, `load_sql` in Trino SQL, so both engines load the same values:

| conversion | Parquet column | master column | how |
|---|---|---|---|
| `cast` | the value as is (numbers, decimals, timestamps, text, bytes) | its type | a plain cast |
| `utf8` | CHAR as binary, the UTF-8 bytes | VARCHAR | decoded as UTF-8 |
| `json` | JSON as text | VARCHAR | as is; the JSON document `null` becomes NULL, as the merge stores it |
| `date_text` | DATE as text `YYYY-MM-DD` | DATE | cast; a zero or invalid date becomes NULL |
| `timestamp_text` | DATETIME/TIMESTAMP as text | TIMESTAMP | cast; a zero or invalid date becomes NULL |
| `set_text` | SET as text `a,b` | VARCHAR[] | split on `,`; `''` is the empty set `[]` |
| `bit` | BIT as big-endian bytes | BIGINT, DECIMAL(20,0) for BIT(64) | the bytes as an unsigned number |
| `geometry` | GEOMETRY as SRID + WKB | VARCHAR | WKT (`cdc_streamer.wkb.geometry_to_wkt`, as the streamer) |

A Parquet type the master column cannot come from is refused (`ConfigError`), before anything is loaded.
"""

from __future__ import annotations

import pyarrow as pa

from cdc_streamer.errors import ConfigError

from .master_types import BINARY, DATE, JSON_TEXT, STRING, STRING_ARRAY, TIMESTAMP, MasterType, SourceColumn

__all__ = [
    "BIT",
    "CAST",
    "DATE_TEXT",
    "GEOMETRY",
    "JSON",
    "SET_TEXT",
    "TIMESTAMP_TEXT",
    "UTF8",
    "check_conversion",
    "conversion",
    "hive_type",
]

CAST = "cast"
UTF8 = "utf8"
DATE_TEXT = "date_text"
TIMESTAMP_TEXT = "timestamp_text"
SET_TEXT = "set_text"
BIT = "bit"
GEOMETRY = "geometry"
JSON = "json"


def _kind(arrow: pa.DataType) -> str:
    if pa.types.is_null(arrow):
        return "null"
    if pa.types.is_boolean(arrow) or pa.types.is_integer(arrow):
        return "integer"
    if pa.types.is_floating(arrow):
        return "float"
    if pa.types.is_decimal(arrow):
        return "decimal"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        return "string"
    if pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow) or pa.types.is_fixed_size_binary(arrow):
        return "binary"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_date(arrow):
        return "date"
    return str(arrow)


_NUMBERS = frozenset({"integer", "float", "decimal"})


def conversion(source: SourceColumn, master: MasterType, arrow: pa.DataType) -> str | None:
    """The conversion of a Parquet column of type `arrow` into `master`; None when there is none."""
    kind = _kind(arrow)
    if kind == "null":
        return CAST  # every value is NULL
    if source.type == "geometry":
        return {"binary": GEOMETRY, "string": CAST}.get(kind)
    if source.type == "bit":
        return BIT if kind == "binary" else CAST if kind in _NUMBERS else None
    if master == STRING_ARRAY:
        return SET_TEXT if kind == "string" else None
    if master == DATE:
        return DATE_TEXT if kind == "string" else CAST if kind in ("date", "timestamp") else None
    if master == TIMESTAMP:
        return TIMESTAMP_TEXT if kind == "string" else CAST if kind in ("date", "timestamp") else None
    if master == JSON_TEXT:
        return JSON if kind == "string" else None
    if master == STRING:
        return UTF8 if kind == "binary" else CAST if kind == "string" else None
    if master == BINARY:
        return CAST if kind == "binary" else None
    if master.extract == "cast":  # numbers
        return CAST if kind in _NUMBERS or kind == "string" else None
    return None


def check_conversion(table: str, source: SourceColumn, master: MasterType, arrow: pa.DataType, file: str) -> str:
    found = conversion(source, master, arrow)
    if found is None:
        raise ConfigError(
            f"{table}: {file}: column {source.name!r} ({source.type}) is {arrow} in the Parquet file, which cannot "
            f"become the master type {master.duckdb}: an export whose schema differs from the source"
        )
    return found


def hive_type(arrow: pa.DataType) -> str:
    """The Hive (Athena DDL) type that reads a Parquet column of type `arrow`."""
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_int64(arrow) or pa.types.is_uint32(arrow) or pa.types.is_uint64(arrow):
        return "bigint"
    if pa.types.is_integer(arrow):
        return "int"
    if pa.types.is_float32(arrow):
        return "float"
    if pa.types.is_floating(arrow):
        return "double"
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})"
    if _kind(arrow) == "binary":
        return "binary"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    if pa.types.is_date(arrow):
        return "date"
    return "string"  # text, and a column with no type (every value NULL)
