"""Decode MySQL/MariaDB GEOMETRY values, as the binary log carries them, into WKT.

A GEOMETRY value in a row event is the server's internal format: a 4-byte
little-endian SRID followed by standard WKB (byte-order byte, uint32 geometry type,
then IEEE doubles). Every geometry nested in a collection has its own byte-order byte.

The text matches what MariaDB 10.11 prints with ``ST_AsText``:

* no space after a type name or after commas: ``LINESTRING(0 0,1 1)``;
* multipoint members are bare coordinates: ``MULTIPOINT(1 2,3 4)``;
* coordinates follow the server's ``my_gcvt``: the shortest round-trip digits, plain
  notation while the decimal exponent is -15..15 (``1``, ``0.1``, ``0.00001``,
  ``-3.5``), otherwise ``1e20``, ``1.2345678901234568e17``, ``1e-16``; ``-0`` prints
  as ``0`` and, as in the server, NaN and infinities print as ``0``.

Where the server has no answer or a wrong one, standard WKT is used instead: a
collection without members prints as ``MULTIPOINT EMPTY`` (MariaDB prints
``MULTIPOINT)``), a point whose coordinates are both NaN as ``POINT EMPTY`` (MariaDB
prints ``POINT(0 0)``), and an empty member of a multi geometry as ``EMPTY``.

Like the server, bytes after a complete geometry are ignored: MariaDB stores them in
the column (and so in the binary log) and ``ST_AsText`` skips them. Nesting is walked
with an explicit stack, so deep collections cannot hit Python's recursion limit.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

__all__ = ["GeometryDecodeError", "geometry_to_wkt", "wkb_to_wkt"]

POINT = 1
LINESTRING = 2
POLYGON = 3
MULTIPOINT = 4
MULTILINESTRING = 5
MULTIPOLYGON = 6
GEOMETRYCOLLECTION = 7

TYPE_NAMES = {
    POINT: "POINT",
    LINESTRING: "LINESTRING",
    POLYGON: "POLYGON",
    MULTIPOINT: "MULTIPOINT",
    MULTILINESTRING: "MULTILINESTRING",
    MULTIPOLYGON: "MULTIPOLYGON",
    GEOMETRYCOLLECTION: "GEOMETRYCOLLECTION",
}

# The member type a collection requires; None means any type (GEOMETRYCOLLECTION).
MEMBER_TYPES: dict[int, int | None] = {
    MULTIPOINT: POINT,
    MULTILINESTRING: LINESTRING,
    MULTIPOLYGON: POLYGON,
    GEOMETRYCOLLECTION: None,
}

SRID_SIZE = 4
HEADER_SIZE = 5  # byte order + geometry type
COUNT_SIZE = 4
COORD_PAIR_SIZE = 16
MIN_MEMBER_SIZE = HEADER_SIZE + COUNT_SIZE  # the smallest geometry: an empty collection

# my_gcvt prints plain notation while the decimal point position stays within these
# bounds (MAX_DECPT_FOR_F_FORMAT = DBL_DIG = 15 in the server's strings/dtoa.c).
MIN_PLAIN_DECPT = -14
MAX_PLAIN_DECPT = 15


class GeometryDecodeError(ValueError):
    """The bytes are not a geometry this module can decode (truncated, unknown type)."""


@dataclass
class _Collection:
    """A collection being decoded: how many members are still due, of what type."""

    remaining: int
    member_type: int | None


class _Reader:
    """A cursor over WKB bytes whose every read is bounds-checked."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self._data = data
        self._offset = offset

    def _require(self, size: int, what: str) -> None:
        available = len(self._data) - self._offset
        if size > available:
            raise GeometryDecodeError(
                f"truncated geometry: {what} needs {size} bytes at offset {self._offset}, only {available} left"
            )

    def header(self) -> tuple[str, int]:
        """Read a byte-order byte and a geometry type (struct prefix, type)."""
        self._require(HEADER_SIZE, "geometry header")
        order_byte = self._data[self._offset]
        if order_byte not in (0, 1):
            raise GeometryDecodeError(f"invalid WKB byte order {order_byte:#04x} at offset {self._offset}")
        order = "<" if order_byte == 1 else ">"
        (geometry_type,) = struct.unpack_from(order + "I", self._data, self._offset + 1)
        if geometry_type not in TYPE_NAMES:
            raise GeometryDecodeError(f"unsupported WKB geometry type {geometry_type} at offset {self._offset}")
        self._offset += HEADER_SIZE
        return order, geometry_type

    def count(self, order: str, item_size: int, what: str) -> int:
        """Read an element count and check that the items could fit in what is left."""
        self._require(COUNT_SIZE, f"{what} count")
        (count,) = struct.unpack_from(order + "I", self._data, self._offset)
        self._offset += COUNT_SIZE
        self._require(count * item_size, f"{count} {what}")
        return int(count)

    def coordinates(self, order: str, pairs: int) -> tuple[float, ...]:
        """Read ``pairs`` x/y pairs as a flat tuple of doubles."""
        self._require(pairs * COORD_PAIR_SIZE, f"{pairs} coordinate pairs")
        values = struct.unpack_from(f"{order}{2 * pairs}d", self._data, self._offset)
        self._offset += pairs * COORD_PAIR_SIZE
        return values


def geometry_to_wkt(value: bytes) -> str:
    """Convert a GEOMETRY column value (4-byte SRID, then WKB) into WKT.

    The SRID is not part of the text, as with ``ST_AsText``.
    """
    if len(value) < SRID_SIZE:
        raise GeometryDecodeError(f"truncated geometry: {len(value)} bytes, shorter than the {SRID_SIZE}-byte SRID")
    return _decode(_Reader(bytes(value), SRID_SIZE))


def wkb_to_wkt(wkb: bytes) -> str:
    """Convert plain WKB (no SRID prefix) into WKT."""
    return _decode(_Reader(bytes(wkb)))


def _decode(reader: _Reader) -> str:
    """Decode one geometry, walking nested collections with an explicit stack."""
    parts: list[str] = []
    open_collections: list[_Collection] = []
    while True:
        member_type = open_collections[-1].member_type if open_collections else None
        order, geometry_type = reader.header()
        if member_type is not None and geometry_type != member_type:
            raise GeometryDecodeError(f"{TYPE_NAMES[geometry_type]} inside a collection of {TYPE_NAMES[member_type]}")
        # Members of MULTI* geometries are written without their type name.
        tagged = member_type is None
        if geometry_type in MEMBER_TYPES:
            count = reader.count(order, MIN_MEMBER_SIZE, "members")
            if count:
                parts.append(TYPE_NAMES[geometry_type] + "(")
                open_collections.append(_Collection(count, MEMBER_TYPES[geometry_type]))
                continue
            parts.append(_empty(geometry_type, tagged))
        else:
            parts.append(_simple(reader, order, geometry_type, tagged))
        if _close_finished(open_collections, parts):
            return "".join(parts)


def _close_finished(open_collections: list[_Collection], parts: list[str]) -> bool:
    """Account for one finished geometry; True once the outermost one is complete."""
    while open_collections:
        current = open_collections[-1]
        current.remaining -= 1
        if current.remaining:
            parts.append(",")
            return False
        open_collections.pop()
        parts.append(")")
    return True


def _empty(geometry_type: int, tagged: bool) -> str:
    return f"{TYPE_NAMES[geometry_type]} EMPTY" if tagged else "EMPTY"


def _simple(reader: _Reader, order: str, geometry_type: int, tagged: bool) -> str:
    """Decode a POINT, LINESTRING or POLYGON whose header has been read."""
    if geometry_type == POINT:
        body = _point_body(reader.coordinates(order, 1))
        if body is None:
            return _empty(POINT, tagged)
        # Bare coordinates inside a MULTIPOINT, as MariaDB prints them.
        return f"POINT({body})" if tagged else body
    body = _linestring_body(reader, order) if geometry_type == LINESTRING else _polygon_body(reader, order)
    if body is None:
        return _empty(geometry_type, tagged)
    return f"{TYPE_NAMES[geometry_type]}({body})" if tagged else f"({body})"


def _point_body(coordinates: tuple[float, ...]) -> str | None:
    """Return ``"x y"``, or None for the NaN/NaN encoding of an empty point."""
    x, y = coordinates
    if math.isnan(x) and math.isnan(y):
        return None
    return f"{format_coordinate(x)} {format_coordinate(y)}"


def _linestring_body(reader: _Reader, order: str) -> str | None:
    """Return ``"x y,x y,..."`` for a point list, or None when it has no points."""
    count = reader.count(order, COORD_PAIR_SIZE, "points")
    if not count:
        return None
    values = reader.coordinates(order, count)
    return ",".join(
        f"{format_coordinate(values[i])} {format_coordinate(values[i + 1])}" for i in range(0, len(values), 2)
    )


def _polygon_body(reader: _Reader, order: str) -> str | None:
    """Return ``"(ring),(ring)"``, or None when the polygon has no rings."""
    count = reader.count(order, COUNT_SIZE, "rings")
    if not count:
        return None
    rings = []
    for _ in range(count):
        ring = _linestring_body(reader, order)
        rings.append("EMPTY" if ring is None else f"({ring})")
    return ",".join(rings)


def format_coordinate(value: float) -> str:
    """Format a double the way MariaDB's ``my_gcvt`` does for ``ST_AsText``."""
    if not math.isfinite(value) or value == 0:
        return "0"
    digits, decpt = _shortest_digits(abs(value))
    sign = "-" if value < 0 else ""
    if decpt >= MIN_PLAIN_DECPT and (decpt <= MAX_PLAIN_DECPT or len(digits) > decpt):
        return sign + _plain_notation(digits, decpt)
    return sign + _exponent_notation(digits, decpt)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Split a positive finite double into shortest round-trip digits and exponent.

    The value equals ``0.<digits> * 10**decpt``; ``digits`` has no leading or
    trailing zeros.
    """
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    significant = all_digits.lstrip("0")
    decpt = len(whole) + int(exponent or 0) - (len(all_digits) - len(significant))
    return significant.rstrip("0"), decpt


def _plain_notation(digits: str, decpt: int) -> str:
    if decpt <= 0:
        return "0." + "0" * -decpt + digits
    if decpt < len(digits):
        return digits[:decpt] + "." + digits[decpt:]
    return digits + "0" * (decpt - len(digits))


def _exponent_notation(digits: str, decpt: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e{decpt - 1}"
