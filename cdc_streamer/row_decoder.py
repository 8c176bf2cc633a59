"""Binlog row images decoded in C, straight into the values of our events: the streamer's hot path.

Without this module, a rows event's rows go through python-mysql-replication, which decodes each column in
Python into its own values (`event.rows`), and then through `values.RowConverter`, which turns those into ours.
`compile_decoder` compiles one table layout (one TABLE_MAP's columns and our ColumnSpecs) into a plan for the C
extension `cdc_streamer._fastpath`, which does both steps at once and gives exactly the same result: the same keys
in the same order, values of the same Python types and equal (Decimals with the same exponent). The header of
`_fastpath.c` describes the binlog row format.

Everything here falls back to the library rather than guess:

- `compile_decoder` returns None when the extension is not built, when CDC_PURE_PYTHON is set (to anything but
  "" or "0"), when a column has no name (the library would look names up in information_schema), or when a column
  type is not decoded in C (MySQL's binary JSON, the pre-5.6 DATETIME/TIME/TIMESTAMP, an ENUM without its
  values, ...).
- `RowDecoder.inserts` / `updates` return None for an event they cannot decode: a columns-present bitmap that is
  not all ones (binlog_row_image MINIMAL or NOBLOB), MySQL's PARTIAL_UPDATE_ROWS_EVENT, a packet the library has
  already read into. The caller then reads `event.rows`: decoding reads the packet's bytes without moving the
  library's position in them.

Decoders are cached by a structural key (every column attribute and spec field the plan depends on), so calling
`compile_decoder` for every TABLE_MAP (one per transaction) costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from pymysqlreplication.constants import BINLOG

from .encoding import pure_python
from .library_fixes import decode_text, python_codec
from .values import (
    BIT,
    BLOB,
    DATE,
    DATETIME2,
    DOUBLE,
    ENUM,
    FLOAT,
    GEOMETRY,
    INT24,
    LONG,
    LONGLONG,
    NEWDECIMAL,
    SET,
    SHORT,
    STRING,
    TIME2,
    TIMESTAMP2,
    TINY,
    VARCHAR,
    YEAR,
    ColumnSpec,
    _geometry,
    float32,
    parse_json_text,
    same_value,
    zero_value_for,
)

try:
    from . import _fastpath
except ImportError:  # not built (no compiler at install): the library's path
    _fastpath = None  # type: ignore[assignment]

# _fastpath is exported for tests that check `row_decoder._fastpath is None` (compiled() says the same)
__all__ = ["RowDecoder", "_fastpath", "compile_decoder", "compiled", "pure_python"]

CACHE_SIZE = 1024  # table layouts kept; when full, the oldest is dropped
_cache: dict[tuple[Any, ...], RowDecoder | None] = {}

Description = dict[str, Any]  # one column, as _fastpath.Plan reads it
Attributes = dict[str, Any]  # a library Column's instance attributes


def compiled() -> bool:
    """The C extension is built (it may still be turned off by CDC_PURE_PYTHON)."""
    return _fastpath is not None


class RowDecoder:
    """Decodes the rows events of one table layout; see the module docstring."""

    __slots__ = ("_count", "_plan", "_present")

    def __init__(self, plan: _fastpath.Plan, count: int) -> None:
        self._plan = plan
        self._count = count
        # the columns-present bitmap of a full image: `count` one bits, least significant first, padded with zeros
        self._present = b"\xff" * (count // 8) + (bytes([(1 << (count % 8)) - 1]) if count % 8 else b"")

    def inserts(self, event: Any) -> list[dict[str, Any]] | None:
        """The rows of a write or delete event: one dict per row, the columns in table order."""
        region = self._rows_data(event, update=False)
        if region is None:
            return None
        return self._plan.rows(*region)

    def updates(self, event: Any) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
        """The rows of an update event: (after, old) per row, `old` holding the changed columns' before values."""
        region = self._rows_data(event, update=True)
        if region is None:
            return None
        return self._plan.updates(*region)

    def _rows_data(self, event: Any, update: bool) -> tuple[bytes, int, int] | None:
        """The packet bytes and the range of them that holds the row images; None when the C path does not apply.

        The library's event constructor has read everything up to the first row image; `_fetch_rows` then reads
        rows while `packet.read_bytes < event.event_size` (event_size excludes the header and the checksum).
        Unread bytes pushed back into the wrapper's own buffer would come first: then we leave the event alone.
        """
        if update != (event.event_type in _UPDATE_EVENTS):
            raise TypeError(f"{type(event).__name__}: use {'updates' if not update else 'inserts'}()")
        if event.event_type == BINLOG.PARTIAL_UPDATE_ROWS_EVENT or not event.complete:
            return None
        if getattr(event, "_RowsEvent__rows", None) is not None:
            return None  # the library has decoded the rows already: its position is past them
        if event.number_of_columns != self._count or event.columns_present_bitmap != self._present:
            return None
        if update and event.columns_present_bitmap2 != self._present:
            return None
        wrapper = event.packet
        if wrapper._BinLogPacketWrapper__data_buffer:
            return None
        packet = wrapper.packet
        start: int = packet._position
        return packet._data, start, start + event.event_size - wrapper.read_bytes


_UPDATE_EVENTS = frozenset({BINLOG.UPDATE_ROWS_EVENT_V1, BINLOG.UPDATE_ROWS_EVENT_V2, BINLOG.PARTIAL_UPDATE_ROWS_EVENT})


def compile_decoder(columns: Sequence[Any], specs: Sequence[ColumnSpec]) -> RowDecoder | None:
    """The decoder of a table layout: `columns` are a TABLE_MAP's library Columns, `specs` our ColumnSpecs for
    them (reader.column_specs). None where the library's path must be used (see the module docstring)."""
    if _fastpath is None or pure_python():
        return None
    try:
        key = _fastpath.table_key(
            columns if type(columns) is list else list(columns), specs if type(specs) is tuple else tuple(specs)
        )
        return _cache[key]
    except KeyError:
        pass
    except (TypeError, ValueError):  # columns without instance attributes, an unhashable attribute, ...
        return None
    decoder = _compile(columns, specs)
    while len(_cache) >= CACHE_SIZE:
        del _cache[next(iter(_cache))]
    _cache[key] = decoder
    return decoder


def _compile(columns: Sequence[Any], specs: Sequence[ColumnSpec]) -> RowDecoder | None:
    if not columns or len(columns) != len(specs):
        return None
    descriptions = []
    for column, spec in zip(columns, specs, strict=True):
        description = _describe(vars(column), spec)
        if description is None:
            return None
        descriptions.append(description)
    if len({description["name"] for description in descriptions}) != len(descriptions):
        return None  # the library's dict of values would hold one of two same-named columns
    return RowDecoder(_fastpath.Plan(tuple(descriptions)), len(descriptions))


def _describe(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    """One column for _fastpath.Plan, from what the library reads (the TABLE_MAP's Column) and what values.py
    converts with (our ColumnSpec). None: not decoded in C."""
    code, name = attributes.get("type"), attributes.get("name")
    if not isinstance(name, str) or not name or spec.name != name or spec.type_code != code:
        return None
    if spec.is_json and code not in _TEXT_TYPES:
        return None  # parse_json_text of a number or a date: not something the C path repeats
    describe = _DESCRIBERS.get(code) if isinstance(code, int) else None
    description = describe(attributes, spec) if describe is not None else None
    if description is not None:
        description["name"] = name
    return description


def _small_int(value: Any, low: int, high: int) -> int | None:
    return value if type(value) is int and low <= value <= high else None


def _integer(attributes: Attributes, spec: ColumnSpec) -> Description:
    width = {TINY: 1, SHORT: 2, INT24: 3, LONG: 4, LONGLONG: 8}[attributes["type"]]
    return {"kind": "int", "width": width, "unsigned": int(bool(attributes.get("unsigned")))}


def _decimal(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    precision = _small_int(attributes.get("precision"), 1, 65)
    scale = _small_int(attributes.get("decimals"), 0, 65)
    if precision is None or scale is None or scale > precision:
        return None
    return {"kind": "decimal", "precision": precision, "scale": scale}


def _text(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    """VARCHAR, CHAR and BLOB/TEXT: library_fixes._read_string, then values._text, _binary_char or
    parse_json_text."""
    if attributes["type"] == BLOB:
        width = _small_int(attributes.get("length_size"), 1, 4)
    else:
        max_length = attributes.get("max_length")
        width = (2 if max_length > 255 else 1) if type(max_length) is int else None
    charset = attributes.get("character_set_name")
    if width is None or not (charset is None or isinstance(charset, str)):
        return None
    description: Description = {"kind": "text", "width": width}
    codec = python_codec(charset)
    if codec == "utf-8":
        description["charset"] = "utf8"
    elif codec == "cp1252":
        description["charset"] = "cp1252"
    elif codec is None:
        description["charset"] = "binary"
    else:  # decoded by library_fixes.decode_text itself
        description.update(charset="python", charset_name=charset)
    if spec.is_json:
        description["output"] = "json"
    elif attributes["type"] == STRING and spec.max_length:
        pad_length = _small_int(spec.max_length, 1, 1 << 20)
        if pad_length is None:
            return None
        description.update(output="padded", pad_length=pad_length)
    else:
        description["output"] = "text"
    return description


def _temporal(kind: str) -> Callable[[Attributes, ColumnSpec], Description | None]:
    """DATETIME2, TIMESTAMP2 and TIME2: the library reads the fraction by the TABLE_MAP's fsp, values.py prints
    it by our spec's fsp (the same number, unless something built the spec differently)."""

    def describe(attributes: Attributes, spec: ColumnSpec) -> Description | None:
        read_fsp = _small_int(attributes.get("fsp"), 0, 6)
        format_fsp = _small_int(spec.fsp, 0, 6)
        if read_fsp is None or format_fsp is None:
            return None
        description: Description = {"kind": kind, "read_fsp": read_fsp, "format_fsp": format_fsp}
        if kind != "time2":
            description["zero"] = zero_value_for(spec)
        return description

    return describe


def _date(attributes: Attributes, spec: ColumnSpec) -> Description:
    return {"kind": "date", "zero": zero_value_for(spec)}


def _enum(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    values, width = attributes.get("enum_values"), _small_int(attributes.get("size"), 1, 8)
    if not values or width is None:
        return None  # without its values the library returns None, whose none source is left over from before
    return {"kind": "enum", "width": width, "members": tuple(values)}


def _set(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    """The library gives the set of values whose bit is set (bits 0-63), values._set lists the spec's members in
    it: member i is listed when any bit of a value equal to it is set."""
    width = _small_int(attributes.get("size"), 1, 8)
    if width is None:
        return None
    values = list(attributes.get("set_values") or ())[:64]
    masks = tuple(sum(1 << bit for bit, value in enumerate(values) if value == member) for member in spec.set_values)
    return {"kind": "set", "width": width, "members": tuple(spec.set_values), "masks": masks}


def _bit(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    """The library's string of bits: the low bits of the first byte (all of them for BIT(8n)), then 8 a byte."""
    bits, size = _small_int(attributes.get("bits"), 1, 64), _small_int(attributes.get("bytes"), 1, 8)
    if bits is None or size is None:
        return None
    first_byte_bits = bits if size == 1 else (bits % 8 or 8)
    if not 1 <= first_byte_bits <= 8:
        return None
    return {"kind": "bit", "width": size, "first_byte_bits": first_byte_bits}


def _geometry_column(attributes: Attributes, spec: ColumnSpec) -> Description | None:
    width = _small_int(attributes.get("length_size"), 1, 4)
    return None if width is None else {"kind": "geometry", "width": width}


def _plain(kind: str) -> Callable[[Attributes, ColumnSpec], Description]:
    return lambda attributes, spec: {"kind": kind}


_TEXT_TYPES = frozenset({VARCHAR, STRING, BLOB})
_DESCRIBERS: dict[int, Callable[[Attributes, ColumnSpec], Description | None]] = {
    TINY: _integer,
    SHORT: _integer,
    INT24: _integer,
    LONG: _integer,
    LONGLONG: _integer,
    FLOAT: _plain("float"),
    DOUBLE: _plain("double"),
    NEWDECIMAL: _decimal,
    VARCHAR: _text,
    STRING: _text,
    BLOB: _text,
    DATE: _date,
    DATETIME2: _temporal("datetime2"),
    TIMESTAMP2: _temporal("timestamp2"),
    TIME2: _temporal("time2"),
    YEAR: _plain("year"),
    ENUM: _enum,
    SET: _set,
    BIT: _bit,
    GEOMETRY: _geometry_column,
}


def _codec_table(codec: str) -> tuple[int, ...]:
    """A single-byte codec as byte -> code point, -1 where Python's codec fails on that byte."""
    table = []
    for byte in range(256):
        try:
            table.append(ord(bytes([byte]).decode(codec)))
        except UnicodeDecodeError:
            table.append(-1)
    return tuple(table)


if _fastpath is not None:
    _fastpath.setup_decoder(
        Decimal, float32, _geometry, parse_json_text, decode_text, same_value, _codec_table("cp1252")
    )
