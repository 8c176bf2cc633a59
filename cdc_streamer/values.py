"""Column values as the binlog library decodes them -> the JSON-ready values of the event format.

Pure functions only. The library gets a few types wrong or lossy, and this is where they are put right:
an empty SET arrives as None (we emit `[]`), zero dates arrive as None (we emit `0000-00-00[ 00:00:00]`),
FLOAT arrives widened to a double (we emit the shortest decimal that round-trips as a 32-bit float), BIT arrives
as a string of 0s and 1s (we emit an integer), MySQL's binary JSON may carry bytes keys and values (we decode
them), MariaDB's JSON is a text column (we parse it), GEOMETRY arrives as SRID+WKB (we emit WKT), and binary
strings arrive as bytes (we emit base64).
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .wkb import GeometryDecodeError, geometry_to_wkt

# MySQL column type codes as they appear in a TABLE_MAP event.
TINY, SHORT, LONG, FLOAT, DOUBLE, TIMESTAMP, LONGLONG, INT24 = 1, 2, 3, 4, 5, 7, 8, 9
DATE, TIME, DATETIME, YEAR, NEWDATE, VARCHAR, BIT = 10, 11, 12, 13, 14, 15, 16
TIMESTAMP2, DATETIME2, TIME2 = 17, 18, 19
JSON, NEWDECIMAL, ENUM, SET, BLOB, VAR_STRING, STRING, GEOMETRY = 245, 246, 247, 248, 252, 253, 254, 255

ZERO_DATE = "0000-00-00"
ZERO_DATETIME = "0000-00-00 00:00:00"

Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """What the conversion needs to know about one column, taken from the TABLE_MAP event."""

    name: str
    type_code: int
    fsp: int = 0
    set_values: tuple[str, ...] = ()
    is_json: bool = False
    max_length: int = 0


def to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _as_float32(value: float) -> float | None:
    try:
        result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # past the largest float32
        return None
    return result


def float32(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (what MySQL and Maxwell print).

    For each length, the nearest decimal of that length and its two neighbours are tried: at powers of two the
    float32 rounding interval is lopsided, and the shortest decimal can lie on the far side of the nearest one.
    """
    target = _as_float32(value)
    if target is None or not math.isfinite(value) or value == 0:
        return value
    exact = Decimal(value)
    for digits in range(1, 10):
        nearest = Decimal(f"{value:.{digits - 1}e}")
        step = Decimal(1).scaleb(nearest.adjusted() - (digits - 1))
        fits = [c for c in (nearest, nearest - step, nearest + step) if _as_float32(float(c)) == target]
        if fits:
            return float(min(fits, key=lambda c: abs(c - exact)))
    return value


def format_fraction(microsecond: int, fsp: int) -> str:
    return "." + f"{microsecond:06d}"[:fsp] if fsp > 0 else ""


def format_datetime(value: datetime.datetime, fsp: int) -> str:
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{format_fraction(value.microsecond, fsp)}"
    )


def format_time(value: datetime.timedelta, fsp: int) -> str:
    """MySQL TIME: `[-]HH:MM:SS[.fff]`, hours may exceed 24 (range -838:59:59 .. 838:59:59)."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, micro = divmod(abs(micros), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours:02d}:{minute:02d}:{second:02d}{format_fraction(micro, fsp)}"


def normalize_json(value: Any) -> Any:
    """MySQL binary JSON as decoded by the library: bytes keys and strings become text, recursively."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {normalize_json(key): normalize_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize_json(item) for item in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def parse_json_text(value: Any) -> Any:
    """A JSON document stored as text (MariaDB's JSON type): nested JSON, numbers kept exact."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        return text


def _text(value: Any) -> Any:
    return to_base64(value) if isinstance(value, bytes) else value


def _geometry(value: Any) -> Any:
    if not isinstance(value, bytes):
        return value
    try:
        return geometry_to_wkt(value)
    except GeometryDecodeError:
        return to_base64(value)


def _bit(value: Any) -> Any:
    return int(value, 2) if isinstance(value, str) else value


def _year(value: Any) -> Any:
    # YEAR 0000 is stored as 0, which the library returns as 1900 (not a valid YEAR value otherwise).
    return 0 if value == 1900 else value


def _date(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def _timestamp(fsp: int) -> Converter:
    epoch = datetime.datetime(1970, 1, 1)
    zero = zero_datetime(fsp)

    def convert(value: Any) -> Any:
        if value == epoch:  # TIMESTAMP 0 is MySQL's zero timestamp, not 1970-01-01 00:00:00
            return zero
        return format_datetime(value, fsp)

    return convert


def zero_datetime(fsp: int) -> str:
    return ZERO_DATETIME + format_fraction(0, fsp)


def _binary_char(length: int) -> Converter:
    # The binlog drops BINARY(n)'s trailing 0x00 padding; the stored (and selected) value has it.
    return lambda value: to_base64(value.ljust(length, b"\0")) if isinstance(value, bytes) else value


def _datetime(fsp: int) -> Converter:
    # A string is an invalid date the server accepted ('2024-02-30 ...'), already printed as the server would.
    return lambda value: value if isinstance(value, str) else format_datetime(value, fsp)


def _time(fsp: int) -> Converter:
    return lambda value: format_time(value, fsp)


def _set(members: tuple[str, ...]) -> Converter:
    def convert(value: Any) -> list[str]:
        chosen = set(value)
        return [member for member in members if member in chosen]

    return convert


def converter_for(column: ColumnSpec) -> Converter | None:
    """The conversion for one column; None where the library's value is already the event's value."""
    code = column.type_code
    if column.is_json:
        return parse_json_text
    if code == JSON:
        return normalize_json
    if code == FLOAT:
        return float32
    if code in (DATETIME, DATETIME2):
        return _datetime(column.fsp)
    if code in (TIMESTAMP, TIMESTAMP2):
        return _timestamp(column.fsp)
    if code in (TIME, TIME2):
        return _time(column.fsp)
    if code in (DATE, NEWDATE):
        return _date
    if code == SET:
        return _set(column.set_values)
    if code == BIT:
        return _bit
    if code == YEAR:
        return _year
    if code == GEOMETRY:
        return _geometry
    if code == STRING and column.max_length:
        return _binary_char(column.max_length)
    if code in (VARCHAR, VAR_STRING, STRING, BLOB):
        return _text
    return None


def zero_value_for(column: ColumnSpec) -> str | None:
    """What a zero date of this column prints as; None for columns that have no zero date."""
    if column.type_code in (DATE, NEWDATE):
        return ZERO_DATE
    if column.type_code in (DATETIME, DATETIME2, TIMESTAMP, TIMESTAMP2):
        return zero_datetime(column.fsp)
    return None


@dataclass(frozen=True, slots=True)
class RowConverter:
    """Converts the rows of one table version (one TABLE_MAP) column by column."""

    columns: tuple[tuple[str, Converter | None, str | None], ...]

    @classmethod
    def build(cls, specs: Sequence[ColumnSpec]) -> RowConverter:
        return cls(tuple((spec.name, converter_for(spec), zero_value_for(spec)) for spec in specs))

    def convert(self, values: Mapping[str, Any], none_sources: Mapping[str, str]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, convert, zero in self.columns:
            value = values.get(name)
            if value is None:
                row[name] = _value_for_none(none_sources.get(name), zero)
            elif convert is None:
                row[name] = value
            else:
                row[name] = convert(value)
        return row


def _value_for_none(source: str | None, zero: str | None) -> Any:
    """The library returns None for NULL, and also for an empty SET and for zero dates: tell them apart."""
    if source is None or source == "null":
        return None
    if source == "empty set":
        return []
    return zero


def same_value(a: Any, b: Any) -> bool:
    """Equality as the JSON text sees it: `true` is not `1`, and `1` is not `1.0`."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return bool(a.keys() == b.keys()) and all(same_value(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return bool(a == b) and a.as_tuple().exponent == b.as_tuple().exponent
    return bool(a == b)


def changed_columns(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Maxwell's `old`: the previous values of only the columns whose value changed."""
    return {name: value for name, value in before.items() if name not in after or not same_value(after[name], value)}
