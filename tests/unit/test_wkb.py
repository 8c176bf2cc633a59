"""Tests for cdc_streamer.wkb: binlog GEOMETRY values to MariaDB-style WKT.

Expected strings were checked against MariaDB 10.11 ``ST_AsText`` wherever the
server has an answer.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdc_streamer.wkb import (
    GeometryDecodeError,
    format_coordinate,
    geometry_to_wkt,
    wkb_to_wkt,
)

LE = "<"
BE = ">"
BOTH_ORDERS = pytest.mark.parametrize("order", [LE, BE], ids=["little-endian", "big-endian"])
NAN = float("nan")
INF = float("inf")

Coord = tuple[float, float]


def header(order: str, geometry_type: int) -> bytes:
    return struct.pack(order + "BI", 1 if order == LE else 0, geometry_type)


def coords(order: str, points: Sequence[Coord]) -> bytes:
    return b"".join(struct.pack(order + "dd", x, y) for x, y in points)


def counted(order: str, points: Sequence[Coord]) -> bytes:
    return struct.pack(order + "I", len(points)) + coords(order, points)


def point(order: str, x: float, y: float) -> bytes:
    return header(order, 1) + coords(order, [(x, y)])


def linestring(order: str, points: Sequence[Coord]) -> bytes:
    return header(order, 2) + counted(order, points)


def polygon(order: str, rings: Sequence[Sequence[Coord]]) -> bytes:
    body = b"".join(counted(order, ring) for ring in rings)
    return header(order, 3) + struct.pack(order + "I", len(rings)) + body


def collection(order: str, geometry_type: int, members: Sequence[bytes]) -> bytes:
    return header(order, geometry_type) + struct.pack(order + "I", len(members)) + b"".join(members)


def with_srid(srid: int, wkb: bytes) -> bytes:
    return struct.pack("<I", srid) + wkb


SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]
HOLE = [(0.25, 0.25), (0.5, 0.25), (0.5, 0.5), (0.25, 0.25)]
FAR = [(5.0, 5.0), (6.0, 5.0), (6.0, 6.0), (5.0, 5.0)]

Builder = Callable[[str], bytes]

GEOMETRIES: list[tuple[str, Builder, str]] = [
    ("point", lambda o: point(o, 1, 2), "POINT(1 2)"),
    ("point-fractional", lambda o: point(o, 0.1, -3.5), "POINT(0.1 -3.5)"),
    ("linestring", lambda o: linestring(o, [(0, 0), (1, 1)]), "LINESTRING(0 0,1 1)"),
    ("polygon", lambda o: polygon(o, [SQUARE]), "POLYGON((0 0,1 0,1 1,0 0))"),
    (
        "polygon-with-hole",
        lambda o: polygon(o, [SQUARE, HOLE]),
        "POLYGON((0 0,1 0,1 1,0 0),(0.25 0.25,0.5 0.25,0.5 0.5,0.25 0.25))",
    ),
    (
        "multipoint",
        lambda o: collection(o, 4, [point(o, 1, 2), point(o, 3, 4)]),
        "MULTIPOINT(1 2,3 4)",
    ),
    (
        "multilinestring",
        lambda o: collection(o, 5, [linestring(o, [(0, 0), (1, 1)]), linestring(o, [(2, 2), (3, 3)])]),
        "MULTILINESTRING((0 0,1 1),(2 2,3 3))",
    ),
    (
        "multipolygon",
        lambda o: collection(o, 6, [polygon(o, [SQUARE]), polygon(o, [FAR])]),
        "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))",
    ),
    (
        "geometrycollection",
        lambda o: collection(o, 7, [point(o, 1, 2), linestring(o, [(0, 0), (1, 1)])]),
        "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))",
    ),
    (
        "geometrycollection-of-everything",
        lambda o: collection(
            o,
            7,
            [
                collection(o, 4, [point(o, 1, 2)]),
                collection(o, 5, [linestring(o, [(0, 0), (1, 1)])]),
                collection(o, 6, [polygon(o, [SQUARE])]),
                polygon(o, [FAR]),
            ],
        ),
        (
            "GEOMETRYCOLLECTION(MULTIPOINT(1 2),MULTILINESTRING((0 0,1 1)),"
            "MULTIPOLYGON(((0 0,1 0,1 1,0 0))),POLYGON((5 5,6 5,6 6,5 5)))"
        ),
    ),
    (
        "nested-geometrycollection",
        lambda o: collection(o, 7, [collection(o, 7, [point(o, 1, 2)]), point(o, 3, 4)]),
        "GEOMETRYCOLLECTION(GEOMETRYCOLLECTION(POINT(1 2)),POINT(3 4))",
    ),
]


@BOTH_ORDERS
@pytest.mark.parametrize(("build", "expected"), [g[1:] for g in GEOMETRIES], ids=[g[0] for g in GEOMETRIES])
def test_every_geometry_type_in_both_byte_orders(order: str, build: Builder, expected: str) -> None:
    wkb = build(order)
    assert wkb_to_wkt(wkb) == expected
    assert geometry_to_wkt(with_srid(0, wkb)) == expected


def test_each_nested_geometry_has_its_own_byte_order() -> None:
    wkb = collection(BE, 7, [point(LE, 1, 2), collection(LE, 4, [point(BE, 3, 4), point(LE, 5, 6)])])
    assert wkb_to_wkt(wkb) == "GEOMETRYCOLLECTION(POINT(1 2),MULTIPOINT(3 4,5 6))"


def test_srid_prefix_is_skipped() -> None:
    # SELECT ST_GeomFromText('POINT(1 2)', 4326) on MariaDB 10.11.
    value = bytes.fromhex("E61000000101000000000000000000F03F0000000000000040")
    assert geometry_to_wkt(value) == "POINT(1 2)"
    assert geometry_to_wkt(with_srid(0xFFFFFFFF, point(BE, 1, 2))) == "POINT(1 2)"


def test_accepts_any_bytes_like_value() -> None:
    value = with_srid(3857, point(LE, 1, 2))
    assert geometry_to_wkt(bytearray(value)) == "POINT(1 2)"  # type: ignore[arg-type]
    assert geometry_to_wkt(memoryview(value)) == "POINT(1 2)"  # type: ignore[arg-type]


@BOTH_ORDERS
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda o: collection(o, 7, []), "GEOMETRYCOLLECTION EMPTY"),
        (lambda o: point(o, NAN, NAN), "POINT EMPTY"),
        (lambda o: linestring(o, []), "LINESTRING EMPTY"),
        (lambda o: polygon(o, []), "POLYGON EMPTY"),
        (lambda o: collection(o, 4, []), "MULTIPOINT EMPTY"),
        (lambda o: collection(o, 5, []), "MULTILINESTRING EMPTY"),
        (lambda o: collection(o, 6, []), "MULTIPOLYGON EMPTY"),
        (
            lambda o: collection(o, 7, [collection(o, 7, []), point(o, 1, 2)]),
            "GEOMETRYCOLLECTION(GEOMETRYCOLLECTION EMPTY,POINT(1 2))",
        ),
        (
            lambda o: collection(o, 7, [point(o, NAN, NAN)]),
            "GEOMETRYCOLLECTION(POINT EMPTY)",
        ),
        (
            lambda o: collection(o, 4, [point(o, NAN, NAN), point(o, 1, 2)]),
            "MULTIPOINT(EMPTY,1 2)",
        ),
        (
            lambda o: collection(o, 5, [linestring(o, []), linestring(o, [(0, 0), (1, 1)])]),
            "MULTILINESTRING(EMPTY,(0 0,1 1))",
        ),
        (lambda o: collection(o, 6, [polygon(o, [])]), "MULTIPOLYGON(EMPTY)"),
        (lambda o: polygon(o, [SQUARE, []]), "POLYGON((0 0,1 0,1 1,0 0),EMPTY)"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_empty_geometries(order: str, build: Builder, expected: str) -> None:
    assert wkb_to_wkt(build(order)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-3.5, "-3.5"),
        (0.1, "0.1"),
        (0.30000000000000004, "0.30000000000000004"),
        (1e20, "1e20"),
        (1e15, "1e15"),
        (1e-5, "0.00001"),
        (2.5e-7, "0.00000025"),
        (1e-15, "0.000000000000001"),
        (1e-16, "1e-16"),
        (-1.5e-300, "-1.5e-300"),
        (1.5e300, "1.5e300"),
        (5e-324, "5e-324"),
        (123456.789, "123456.789"),
        (99999999999999.9, "99999999999999.9"),
        (999999999999999.0, "999999999999999"),
        (1234567890123456.7, "1234567890123456.8"),
        (123456789012345680.0, "1.2345678901234568e17"),
        (3.141592653589793, "3.141592653589793"),
        (0.0, "0"),
        (-0.0, "0"),
        (NAN, "0"),
        (INF, "0"),
        (-INF, "0"),
    ],
)
def test_coordinates_print_like_mariadb(value: float, expected: str) -> None:
    assert format_coordinate(value) == expected


def test_non_finite_coordinates_print_as_zero_like_mariadb() -> None:
    assert wkb_to_wkt(point(LE, NAN, 1)) == "POINT(0 1)"
    assert wkb_to_wkt(point(LE, INF, -INF)) == "POINT(0 0)"
    assert wkb_to_wkt(linestring(LE, [(NAN, NAN), (1, 1)])) == "LINESTRING(0 0,1 1)"


def test_bytes_after_the_geometry_are_ignored_like_mariadb() -> None:
    # MariaDB stores such a value unchanged and ST_AsText prints POINT(1 2).
    assert geometry_to_wkt(with_srid(0, point(LE, 1, 2)) + b"\xff\xff") == "POINT(1 2)"


def test_deep_nesting_does_not_recurse() -> None:
    depth = 20_000
    wkb = point(LE, 1, 2)
    for _ in range(depth):
        wkb = collection(LE, 7, [wkb])
    expected = "GEOMETRYCOLLECTION(" * depth + "POINT(1 2)" + ")" * depth
    assert wkb_to_wkt(wkb) == expected


VALID_FOR_TRUNCATION = with_srid(
    4326,
    collection(
        LE,
        7,
        [
            point(BE, 1, 2),
            collection(LE, 6, [polygon(BE, [SQUARE, HOLE])]),
            collection(BE, 4, [point(LE, 3, 4)]),
            linestring(LE, [(0, 0), (1, 1)]),
        ],
    ),
)


def test_valid_value_used_for_truncation_decodes() -> None:
    assert geometry_to_wkt(VALID_FOR_TRUNCATION).startswith("GEOMETRYCOLLECTION(POINT(1 2),")


@pytest.mark.parametrize("length", range(len(VALID_FOR_TRUNCATION)))
def test_every_truncation_raises(length: int) -> None:
    with pytest.raises(GeometryDecodeError, match="truncated"):
        geometry_to_wkt(VALID_FOR_TRUNCATION[:length])


@pytest.mark.parametrize(
    ("wkb", "message"),
    [
        (b"", "truncated"),
        (b"\x01\x01\x00", "truncated"),
        (b"\x02" + struct.pack("<I2d", 1, 1, 2), "byte order 0x02"),
        (b"\xff" + struct.pack("<I2d", 1, 1, 2), "byte order 0xff"),
        (header(LE, 0) + coords(LE, [(1, 2)]), "unsupported WKB geometry type 0"),
        (header(LE, 8) + coords(LE, [(1, 2)]), "unsupported WKB geometry type 8"),
        (header(LE, 1001) + coords(LE, [(1, 2)]), "unsupported WKB geometry type 1001"),
        (
            header(BE, 0x80000001) + coords(BE, [(1, 2)]),
            "unsupported WKB geometry type 2147483649",
        ),
        (header(LE, 2) + struct.pack("<I", 0xFFFFFFFF), "truncated"),
        (header(LE, 3) + struct.pack("<II", 1, 0xFFFFFFFF), "truncated"),
        (header(LE, 7) + struct.pack("<I", 0xFFFFFFFF), "truncated"),
        (
            collection(LE, 4, [linestring(LE, [(0, 0), (1, 1)])]),
            "LINESTRING inside a collection of POINT",
        ),
        (
            collection(LE, 5, [point(LE, 1, 2)]),
            "POINT inside a collection of LINESTRING",
        ),
        (
            collection(LE, 6, [collection(LE, 6, [])]),
            "MULTIPOLYGON inside a collection of POLYGON",
        ),
        (
            collection(LE, 7, [point(LE, 1, 2), b"\x07" + point(LE, 3, 4)[1:]]),
            "byte order 0x07",
        ),
    ],
)
def test_invalid_input_raises_clear_error(wkb: bytes, message: str) -> None:
    with pytest.raises(GeometryDecodeError, match=message):
        wkb_to_wkt(wkb)


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x00\x00\x00", b"\x00\x00\x00\x00"])
def test_value_without_room_for_srid_and_header_raises(value: bytes) -> None:
    with pytest.raises(GeometryDecodeError, match="truncated"):
        geometry_to_wkt(value)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(GeometryDecodeError, ValueError)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_geometry_decode_error(data: bytes) -> None:
    for decode in (wkb_to_wkt, geometry_to_wkt):
        try:
            result = decode(data)
        except GeometryDecodeError:
            continue
        assert isinstance(result, str)


GEOMETRY_PREFIXES = st.sampled_from(
    [
        b"\x01\x01\x00\x00\x00",
        b"\x00\x00\x00\x00\x07",
        b"\x01\x07\x00\x00\x00",
        b"\x00\x00\x00\x00\x03",
    ]
)


@settings(max_examples=500)
@given(GEOMETRY_PREFIXES, st.binary(max_size=200))
def test_plausible_headers_with_arbitrary_bodies_only_raise_geometry_decode_error(prefix: bytes, body: bytes) -> None:
    try:
        result = wkb_to_wkt(prefix + body)
    except GeometryDecodeError:
        return
    assert isinstance(result, str)


# A geometry tree for the byte-order property: (type, payload) where the payload is a
# point, a point list, a ring list or a member list.
Tree = tuple[int, object]

FINITE = st.floats(allow_nan=False, allow_infinity=False)
POINTS = st.tuples(FINITE, FINITE)
POINT_LISTS = st.lists(POINTS, max_size=4)
LEAVES: st.SearchStrategy[Tree] = st.one_of(
    st.tuples(st.just(1), POINTS),
    st.tuples(st.just(2), POINT_LISTS),
    st.tuples(st.just(3), st.lists(POINT_LISTS, max_size=3)),
)


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.one_of(
        st.tuples(st.just(4), st.lists(st.tuples(st.just(1), POINTS), max_size=3)),
        st.tuples(st.just(5), st.lists(st.tuples(st.just(2), POINT_LISTS), max_size=3)),
        st.tuples(st.just(7), st.lists(children, max_size=3)),
    )


TREES: st.SearchStrategy[Tree] = st.recursive(LEAVES, _extend, max_leaves=12)


def encode(tree: Tree, orders: st.DataObject) -> bytes:
    """Encode a tree, drawing a fresh byte order for every geometry."""
    order = orders.draw(st.sampled_from([LE, BE]))
    geometry_type, payload = tree
    if geometry_type == 1:
        x, y = cast(Coord, payload)
        return point(order, x, y)
    if geometry_type == 2:
        return linestring(order, cast(list[Coord], payload))
    if geometry_type == 3:
        return polygon(order, cast(list[list[Coord]], payload))
    members = [encode(member, orders) for member in cast(list[Tree], payload)]
    return collection(order, geometry_type, members)


@settings(max_examples=200)
@given(TREES, st.data())
def test_byte_order_never_changes_the_text(tree: Tree, orders: st.DataObject) -> None:
    assert wkb_to_wkt(encode(tree, orders)) == wkb_to_wkt(encode(tree, orders))
