"""Repairs to python-mysql-replication's column decoders, applied once when the streamer imports its binlog session.

The library is pinned (<1.1) because these replace three of its private methods. Each one either lost data or
stopped the stream for good (the same binlog event fails again after every restart):

- DATE and DATETIME values the server accepted under a permissive sql_mode but Python cannot represent
  ('2024-02-30', '2024-00-15 10:00:00'): the library raised ValueError (DATE) or returned None (DATETIME).
  Now they pass through as the text the server would print; the all-zero date still reads as None (zero date).
- Text in charsets whose Python codec name differs from MySQL's (utf16, utf16le, utf32, ucs2) was garbled or
  raised; any text that does not decode now arrives as bytes, which the event carries as base64.

`tests/golden/invalid_values.sql` pins the behaviour.
"""

from __future__ import annotations

import datetime
from typing import Any

from pymysqlreplication.row_event import RowsEvent

_PYTHON_CODECS = {
    "utf16": "utf-16-be",
    "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
    "ucs2": "utf-16-be",
    "utf8mb3": "utf-8",
    "utf8": "utf-8",
    "utf8mb4": "utf-8",
    "latin1": "cp1252",
    "binary": None,
}


def python_codec(mysql_charset: str | None) -> str | None:
    if mysql_charset is None:
        return "utf-8"
    return _PYTHON_CODECS.get(mysql_charset.lower(), mysql_charset)


def decode_text(raw: bytes, mysql_charset: str | None) -> str | bytes:
    codec = python_codec(mysql_charset)
    if codec is None:
        return raw
    try:
        return raw.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return raw


def _read_string(self: Any, size: int, column: Any) -> str | bytes:
    return decode_text(self.packet.read_length_coded_pascal_string(size), column.character_set_name)


def _read_date(self: Any) -> datetime.date | str | None:
    packed = self.packet.read_uint24()
    if packed == 0:
        return None  # the zero date
    year, month, day = packed >> 9, (packed >> 5) & 0x0F, packed & 0x1F
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return f"{year:04d}-{month:02d}-{day:02d}"


def _read_datetime2(self: Any, column: Any) -> datetime.datetime | str | None:
    packed = self.packet.read_int_be_by_size(5)
    year_month = (packed >> 22) & 0x1FFFF
    year, month = divmod(year_month, 13)
    day, hour = (packed >> 17) & 0x1F, (packed >> 12) & 0x1F
    minute, second = (packed >> 6) & 0x3F, packed & 0x3F
    microsecond = self._RowsEvent__read_fsp(column)
    try:
        return datetime.datetime(year, month, day, hour, minute, second, microsecond)
    except ValueError:
        if packed == 0x8000000000 and microsecond == 0:
            return None  # the zero datetime
        fsp = column.fsp
        fraction = "." + f"{microsecond:06d}"[:fsp] if fsp else ""
        return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction}"


def apply() -> None:
    RowsEvent._RowsEvent__read_string = _read_string
    RowsEvent._RowsEvent__read_date = _read_date
    RowsEvent._RowsEvent__read_datetime2 = _read_datetime2


apply()
