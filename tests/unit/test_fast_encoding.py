"""The C encoder (`cdc_streamer._fastpath.encode_value`) against the Python reference (`encode_value_python`): the same
text, or the same exception, for every value. Also the C `float32` (FLOAT columns) against `values.float32`."""

from __future__ import annotations

import datetime
import enum
import math
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cdc_streamer import encoding, row_decoder  # noqa: F401 - row_decoder sets up the C float32
from cdc_streamer.encoding import RawJson, _encode_subclass, encode_value_python
from cdc_streamer.values import float32

from .test_encoding import Exact, Items, Number, Real, Text  # the same subclasses as the Python encoder's tests

_fastpath = pytest.importorskip("cdc_streamer._fastpath", reason="cdc_streamer._fastpath is not built (no C compiler)")
_fastpath.setup_encoder(RawJson, Decimal, _encode_subclass)  # as encoding.py does, even under CDC_PURE_PYTHON
fast_encode = _fastpath.encode_value


class Key(str):
    def __str__(self) -> str:
        return "key:" + str.__str__(self)


class Mapping(dict[Any, Any]):
    pass


class Color(enum.IntEnum):
    RED = 1


def outcome(encode: Callable[[Any], str], value: Any) -> tuple[str, Any]:
    try:
        return "text", encode(value)
    except Exception as error:  # noqa: BLE001 - the same exception type is part of the contract
        return "error", type(error)


def assert_same(value: Any) -> None:
    fast, reference = outcome(fast_encode, value), outcome(encode_value_python, value)
    assert fast == reference, f"{value!r}: C {fast!r}, Python {reference!r}"
    if fast[0] == "text":
        assert type(fast[1]) is str


characters = st.one_of(
    st.characters(),  # any code point but surrogates
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.sampled_from(
        [
            '"',
            "\\",
            "\n",
            "\r",
            "\t",
            "\b",
            "\f",
            "\x00",
            "\x1f",
            "\x7f",
            "\u2028",
            "é",
            "😀",
            "\ud800",
            "\udfff",
            "\udbff",
            "\udc00",
            "\U0010ffff",
        ]
    ),
)
texts = st.text(characters, max_size=40)
huge_ints = st.builds(
    lambda sign, power, offset: sign * 10**power + offset,
    st.sampled_from([1, -1]),
    st.integers(15, 5000),
    st.integers(-5, 5),
)
floats = st.one_of(
    st.floats(),
    st.floats(width=32),
    st.sampled_from([-0.0, 0.0, math.inf, -math.inf, math.nan, 1e16, 1e15, 5e-324, 1e-7, 1e22, 1.7976931348623157e308]),
)
decimals = st.one_of(
    st.decimals(),
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=70),
        st.integers(-120, 120),
    ),
    st.sampled_from(
        [
            Decimal(text)
            for text in (
                "NaN",
                "-NaN",
                "sNaN",
                "-sNaN",
                "NaN12",
                "Infinity",
                "-Infinity",
                "1E+3",
                "1.50",
                "0E+2",
                "-0",
                "-0.00",
                "0E-7",
                "1E-7",
                "0.000001",
                "-1.2345E-16",
                "9" * 65,
                "1E+100",
            )
        ]
    ),
)
others = st.sampled_from(
    [
        b"bytes",
        bytearray(b"ba"),
        datetime.date(2024, 2, 29),
        Color.RED,
        frozenset({3}),
        {1, 2},
        object,
        1j,
        ...,
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    floats,
    decimals,
    texts,
    st.builds(RawJson, texts),
    st.builds(Text, texts),
    st.builds(Number, st.integers()),
    st.builds(Real, floats),
    st.builds(Exact, st.decimals()),
    others,
)
keys = st.one_of(
    texts,
    st.builds(Key, texts),
    st.integers(),
    floats,
    st.none(),
    st.booleans(),
    st.decimals(allow_nan=False),
    st.tuples(st.integers(), texts),
    st.builds(RawJson, texts),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=5),
        st.builds(Mapping, st.dictionaries(keys, children, max_size=3)),
        st.builds(Items, st.lists(children, max_size=3)),
    ),
    max_leaves=25,
)


@settings(max_examples=600)
@given(values)
@example({"a": [1, (2, "x\u0000")], 3: None, None: {"b": Decimal("1.50")}})
@example([RawJson("[1.50]"), Text("t"), Number(7), Real(1.5), Exact("2.50"), Mapping({1: Items([True])})])
def test_c_encoder_writes_what_the_python_encoder_writes(value: Any) -> None:
    assert_same(value)


@given(texts)
def test_strings_match_encode_basestring(text: str) -> None:
    assert_same(text)
    assert_same({text: text})


@given(st.integers(0, 2**32 - 1))
def test_c_float32_is_values_float32(bits: int) -> None:
    value = struct.unpack("<f", struct.pack("<I", bits))[0]
    fast, reference = _fastpath.float32(value), float32(value)
    assert repr(fast) == repr(reference)
    assert type(fast) is float


def test_c_float32_at_powers_of_two_and_short_mantissas() -> None:
    """Where the float32 rounding interval is lopsided (powers of two) and where decimals tie (few mantissa bits)."""
    patterns = set()
    for exponent in range(0, 255):
        for mantissa in (0, 1, 2, 0x7FFFFF, 0x400000, 0x200000, 0x600000):
            patterns.add(exponent << 23 | mantissa)
    for bits in sorted(patterns):
        for sign in (0, 1 << 31):
            value = struct.unpack("<f", struct.pack("<I", bits | sign))[0]
            assert repr(_fastpath.float32(value)) == repr(float32(value)), hex(bits | sign)


PINNED = [
    (None, "null"),
    (True, "true"),
    (False, "false"),
    (-(2**63), "-9223372036854775808"),
    (2**64, "18446744073709551616"),
    (-0.0, "-0.0"),
    (1e16, "1e+16"),
    (5e-324, "5e-324"),
    (math.nan, "null"),
    (-math.inf, "null"),
    (Decimal("1E+3"), "1000"),
    (Decimal("0E+2"), "0"),
    (Decimal("1.50"), "1.50"),
    (Decimal("-0.00"), "-0.00"),
    (Decimal("1E-7"), "0.0000001"),
    (Decimal("sNaN"), "null"),
    ('a"b\\c\n\r\t\b\f\x01\x1f\x7f', '"a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f"'),
    ("é😀\u2028", '"é😀\u2028"'),
    ("\ud800", '"\ud800"'),
    (RawJson('{"a": 1.50}'), '{"a": 1.50}'),
    ({1: 2, None: [3, (4,)], 1.5: {}}, '{"1":2,"None":[3,[4]],"1.5":{}}'),
    ({Key("k"): RawJson("1")}, '{"key:k":1}'),
    (Color.RED, "1"),
    (b"x", "\"b'x'\""),
    (frozenset({1}), "[1]"),
]


@pytest.mark.parametrize(("value", "text"), PINNED)
def test_pinned_examples(value: Any, text: str) -> None:
    assert fast_encode(value) == text
    assert encode_value_python(value) == text


def test_errors_are_the_python_errors() -> None:
    assert outcome(fast_encode, 10**5000) == ("error", ValueError)  # past sys.get_int_max_str_digits()
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert outcome(fast_encode, deep) == ("error", RecursionError)

    class Broken:
        def __str__(self) -> str:
            raise KeyError("no text")

    assert outcome(fast_encode, {Broken(): 1}) == outcome(encode_value_python, {Broken(): 1}) == ("error", KeyError)
    assert outcome(fast_encode, [Broken()]) == ("error", KeyError)

    class Growing:
        """A key whose text adds a key to the dict being encoded."""

        def __init__(self, target: dict[Any, Any]) -> None:
            self.target = target

        def __str__(self) -> str:
            self.target[len(self.target)] = None
            return "grows"

    def growing() -> dict[Any, Any]:
        target: dict[Any, Any] = {}
        target[Growing(target)] = 1
        target["next"] = 2
        return target

    assert outcome(fast_encode, growing()) == outcome(encode_value_python, growing()) == ("error", RuntimeError)


def test_module_encoder_is_the_c_one_unless_pure_python_is_asked_for() -> None:
    expected = "python" if os.environ.get("CDC_PURE_PYTHON", "") not in ("", "0") else "c"
    assert ("c" if encoding.encode_value is fast_encode else "python") == expected
    code = "from cdc_streamer import encoding as e; print(e.encode_value is e.encode_value_python)"
    for setting, pure in (("1", "True"), ("0", "False"), ("", "False")):
        env = {**os.environ, "CDC_PURE_PYTHON": setting}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == pure


# -- whole events: _fastpath.encode_event / encode_lines against encode_event_python --------------------------------


def change_events() -> st.SearchStrategy[Any]:
    from cdc_streamer.event import ChangeEvent, Operation
    from cdc_streamer.position import BinlogPosition

    texts = st.text(max_size=12)
    values = st.one_of(st.none(), st.integers(), texts, st.decimals(allow_nan=False, places=2), st.floats())
    rows = st.dictionaries(texts, values, max_size=4)
    return st.builds(
        ChangeEvent,
        database=texts,
        table=texts,
        type=st.sampled_from(list(Operation)),
        ts=st.integers(0, 2**32),
        xid=st.none() | st.integers(0, 2**64),
        xoffset=st.integers(0, 10**6),
        commit=st.booleans(),
        position=st.builds(BinlogPosition, st.sampled_from(["binlog.000001", 'odd "name"\n']), st.integers(4, 2**40)),
        gtid=st.none() | st.just("0-1-42"),
        server_id=st.integers(0, 2**32),
        thread_id=st.none() | st.integers(0, 2**32),
        primary_key=st.tuples(values),
        primary_key_columns=st.tuples(texts),
        data=rows,
        old=st.none() | rows,
        query=st.none() | texts,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(change_events(), max_size=5))
def test_change_events_encode_as_the_python_reference_does(events: list[Any]) -> None:
    from cdc_streamer.encoding import encode_event_python, encode_lines_python
    from cdc_streamer.event import ChangeEvent

    _fastpath.setup_events(ChangeEvent, encode_event_python)
    for event in events:
        assert _fastpath.encode_event(event) == encode_event_python(event)
    assert _fastpath.encode_lines(events) == encode_lines_python(events)


def test_schema_and_ddl_events_go_through_the_python_encoder_in_a_batch() -> None:
    from cdc_streamer.encoding import encode_event_python, encode_lines_python
    from cdc_streamer.event import ChangeEvent, ColumnDefinition, DdlEvent, Event, Operation, SchemaEvent
    from cdc_streamer.position import BinlogPosition

    _fastpath.setup_events(ChangeEvent, encode_event_python)
    at = BinlogPosition("binlog.000002", 379)
    events: list[Event] = [
        SchemaEvent("db", "t", 1, 0, at, "0-1-1", 1, None, (ColumnDefinition("id", "int", unsigned=False),), ("id",)),
        ChangeEvent("db", "t", Operation.INSERT, 1, 7, 0, False, at, "0-1-1", 1, 5, (1,), ("id",), {"id": 1}),
        DdlEvent("db", "t", "table-alter", 1, at, "0-1-2", 1, None, "ALTER TABLE t ADD c INT"),
        ChangeEvent(
            "db",
            "t",
            Operation.UPDATE,
            1,
            7,
            1,
            True,
            at,
            None,
            1,
            None,
            (1,),
            ("id",),
            {"id": 1},
            old={"id": 0},
            query="UPDATE t SET id = 1",
        ),
    ]
    assert _fastpath.encode_lines(events) == encode_lines_python(events)
    assert _fastpath.encode_lines([]) == ""
    assert '"commit":true' in _fastpath.encode_event(events[3]) and '"commit"' not in _fastpath.encode_event(events[1])
