"""Canonical values: a source column's kind, and every value of it in one comparable form.

`normalize` takes the source's column type (information_schema) and accepts either side's Python value, so one
function serves both: the master's representation is the one `master_types` gives and the pipeline writes
(docs/events.md), the source's is what pymysql returns. Pure: no I/O.

    kind       source (pymysql)                    master (duckdb)              canonical
    integer    int                                 int, Decimal (BIGINT UNS.)   int
    bit        bytes, big-endian                   int, Decimal (BIT(64))       int
    decimal    Decimal                             Decimal, str (> 38 digits)   int if whole, else normalized Decimal
    float      float (selected as DOUBLE: exact)   float (REAL)                 float rounded to float32
    double     float                               float                        float (-0.0 is 0.0)
    date       date, str for zero/invalid dates    date, NULL                   date, None
    datetime   datetime (UTC for TIMESTAMP), str   datetime, NULL               naive UTC datetime, None
    time       timedelta                           str `[-]HH:MM:SS[.f]`        timedelta
    string     str                                 str                          str
    binary     bytes                               bytes                        bytes
    set        str `a,b` (or a set)                list[str]                    sorted tuple of members
    json       str                                 str (JSON text)              parsed: numbers by value, sorted keys
    geometry   bytes: SRID + WKB                   str: WKT                     WKT as cdc_streamer.wkb prints it
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

from cdc_streamer.wkb import GeometryDecodeError, geometry_to_wkt

from .master_types import SourceColumn

__all__ = [
    "ColumnInfo",
    "Row",
    "canonical_json",
    "canonical_number",
    "json_columns_from_checks",
    "normalize",
    "normalize_row",
    "parse_time",
    "row_digest",
    "row_normalizer",
    "to_float32",
]

Row = tuple[Any, ...]

# ---------------------------------------------------------------------------------------------- column kinds

_KINDS: dict[str, str] = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), "integer"),
    "bit": "bit",
    **dict.fromkeys(("decimal", "numeric"), "decimal"),
    "float": "float",
    **dict.fromkeys(("double", "real", "double precision"), "double"),
    "date": "date",
    **dict.fromkeys(("datetime", "timestamp"), "datetime"),
    "time": "time",
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum"), "string"),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "binary"),
    "set": "set",
    "json": "json",
    **dict.fromkeys(
        (
            "geometry",
            "point",
            "linestring",
            "polygon",
            "multipoint",
            "multilinestring",
            "multipolygon",
            "geometrycollection",
        ),
        "geometry",
    ),
}
# information_schema DATA_TYPE -> the schema-event vocabulary of master_types, where the two differ.
_EVENT_TYPES = {
    **dict.fromkeys(("tinytext", "mediumtext", "longtext"), "text"),
    **dict.fromkeys(("tinyblob", "mediumblob", "longblob"), "blob"),
    **dict.fromkeys(
        ("point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"),
        "geometry",
    ),
}


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A source column as information_schema.COLUMNS describes it (`is_json`: MariaDB's LONGTEXT with a
    json_valid CHECK, or MySQL's JSON)."""

    name: str
    data_type: str
    column_type: str = ""
    precision: int | None = None
    scale: int | None = None
    fsp: int | None = None
    is_json: bool = False

    @property
    def kind(self) -> str:
        """How values compare: integer | bit | decimal | float | double | date | datetime | time | string |
        binary | set | json | geometry | other (a type the lake does not know: compared as is)."""
        if self.is_json:
            return "json"
        return _KINDS.get(self.data_type.lower(), "other")

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()

    def source_column(self) -> SourceColumn:
        """The column in master_types' vocabulary (so `master_type(info.source_column())` is its master type)."""
        data_type = self.data_type.lower()
        return SourceColumn(
            name=self.name,
            type="json" if self.is_json else _EVENT_TYPES.get(data_type, data_type),
            unsigned=self.unsigned,
            precision=self.precision if data_type in ("decimal", "numeric") else None,
            scale=self.scale if data_type in ("decimal", "numeric") else None,
            fsp=self.fsp,
            bits=self.precision if data_type == "bit" else None,
        )


_JSON_VALID = re.compile(r"json_valid\(`(?P<column>(?:[^`]|``)+)`\)", re.IGNORECASE)


def json_columns_from_checks(clauses: Iterable[str]) -> frozenset[str]:
    """MariaDB's JSON columns: those whose CHECK clause is exactly `json_valid(`col`)`."""
    found = set()
    for clause in clauses:
        match = _JSON_VALID.fullmatch(clause.strip())
        if match:
            found.add(match["column"].replace("``", "`"))
    return frozenset(found)


# ---------------------------------------------------------------------------------------------- canonical values


INT_DIGITS = 4300  # sys.get_int_max_str_digits() by default
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # normalize() without rounding


def canonical_number(value: int | Decimal) -> int | Decimal:
    """A number by value: an int when whole, else a Decimal without trailing zeros (never rounded)."""
    if isinstance(value, int) or not value.is_finite():
        return value
    normalized = value.normalize(_EXACT)
    exponent = normalized.as_tuple().exponent
    # Past Python's int text limit json.loads makes no int, so a huge whole number can stay a Decimal.
    whole = isinstance(exponent, int) and 0 <= exponent <= INT_DIGITS
    return int(normalized) if whole else normalized


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return canonical_number(value)
    if isinstance(value, str):
        try:
            return canonical_number(Decimal(value.strip()))
        except InvalidOperation:
            return value
    if isinstance(value, float):
        return canonical_number(Decimal(value))
    return value


def to_float32(value: float) -> float:
    """The float32 nearest to `value`, widened back to a float (what a REAL/FLOAT column holds)."""
    try:
        result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return value
    return result + 0.0


def _float(value: Any) -> Any:
    return to_float32(float(value)) if isinstance(value, float | int | Decimal) else value


def _double(value: Any) -> Any:
    return float(value) + 0.0 if isinstance(value, float | int | Decimal) else value


def _bit(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    return _number(value)


def _date(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):  # zero or invalid dates: the master's TRY_CAST makes them NULL
        return None
    return value


def _datetime(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return None
    return value


_TIME = re.compile(r"(?P<sign>-)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<f>\d{1,6}))?")


def parse_time(text: str) -> datetime.timedelta | str:
    """`[-]HH:MM:SS[.ffffff]` (hours may exceed 24) -> a timedelta; text of another shape is returned as is."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return text
    delta = datetime.timedelta(
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=int(match["s"]),
        microseconds=int((match["f"] or "").ljust(6, "0")),
    )
    return -delta if match["sign"] else delta


def _time(value: Any) -> Any:
    return parse_time(value) if isinstance(value, str) else value


def _string(value: Any) -> Any:
    # The streamer emits text it cannot decode as base64; do the same with bytes.
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes | bytearray) else value


def _binary(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value


def _set(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return tuple(sorted({member for member in value.split(",") if member}))
    if isinstance(value, set | frozenset | list | tuple):
        return tuple(sorted({str(member) for member in value}))
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def canonical_json(value: Any) -> Any:
    """A parsed JSON value with numbers by value (`1.50` is `1.5`, `-3e2` is `-300`) and keys sorted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal | float):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(key): canonical_json(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical_json(item) for item in value]
    return value


def _json(value: Any) -> Any:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else value
    if not isinstance(text, str):
        return canonical_json(value)
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        return text  # not JSON: the streamer passes such text on as a string, compare it as one
    return canonical_json(parsed)


def _geometry(value: Any) -> Any:
    if not isinstance(value, bytes | bytearray):
        return value
    try:
        return geometry_to_wkt(bytes(value))
    except GeometryDecodeError:
        return base64.b64encode(value).decode("ascii")  # the streamer's fallback


def _other(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytearray | memoryview) else value


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "integer": _number,
    "bit": _bit,
    "decimal": _number,
    "float": _float,
    "double": _double,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "string": _string,
    "binary": _binary,
    "set": _set,
    "json": _json,
    "geometry": _geometry,
    "other": _other,
}


def normalize(value: Any, column: ColumnInfo) -> Any:
    """A source value (pymysql) or a master value (duckdb) of `column` -> its canonical form (table above)."""
    if value is None:
        return None
    return _NORMALIZERS[column.kind](value)


def row_normalizer(columns: Sequence[ColumnInfo]) -> Callable[[Sequence[Any]], Row]:
    """`normalize` for whole rows of `columns`, with each column's function looked up once."""
    functions = tuple(_NORMALIZERS[column.kind] for column in columns)

    def convert(values: Sequence[Any]) -> Row:
        return tuple(None if value is None else f(value) for f, value in zip(functions, values, strict=True))

    return convert


def normalize_row(values: Sequence[Any], columns: Sequence[ColumnInfo]) -> Row:
    return row_normalizer(columns)(values)


def row_digest(row: Row) -> bytes:
    """A row's content hash over its canonical values (their repr is deterministic: sorted sets and keys)."""
    return hashlib.sha256(repr(row).encode("utf-8", errors="surrogatepass")).digest()[:16]
