"""Tests for cdc_streamer.encoding: values and events -> Maxwell-format JSON text."""

from __future__ import annotations

import collections
import enum
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer.encoding import encode_event, encode_value, event_fields
from cdc_streamer.event import ChangeEvent, ColumnDefinition, DdlEvent, Operation, SchemaEvent
from cdc_streamer.position import BinlogPosition

POSITION = BinlogPosition("binlog.000042", 1234)


def change_event(**overrides: Any) -> ChangeEvent:
    fields: dict[str, Any] = {
        "database": "shop",
        "table": "orders",
        "type": Operation.INSERT,
        "ts": 1700000000,
        "xid": 77,
        "xoffset": 0,
        "commit": False,
        "position": POSITION,
        "gtid": "0-1-5",
        "server_id": 1,
        "thread_id": 9,
        "primary_key": (3,),
        "primary_key_columns": ("id",),
        "data": {"id": 3, "total": Decimal("12.30")},
    }
    fields.update(overrides)
    return ChangeEvent(**fields)


def ddl_event(**overrides: Any) -> DdlEvent:
    fields: dict[str, Any] = {
        "database": "shop",
        "table": "orders",
        "type": "table-alter",
        "ts": 1700000001,
        "position": POSITION,
        "gtid": None,
        "server_id": 1,
        "thread_id": 9,
        "sql": "ALTER TABLE orders ADD note TEXT",
    }
    fields.update(overrides)
    return DdlEvent(**fields)


def keys_in_order(text: str) -> list[str]:
    pairs: list[tuple[str, Any]] = json.loads(text, object_pairs_hook=list)
    return [key for key, _ in pairs]


# --- scalars -------------------------------------------------------------------------------------------------


def test_none_is_null() -> None:
    assert encode_value(None) == "null"


def test_bools_are_json_booleans_not_integers() -> None:
    assert encode_value(True) == "true"
    assert encode_value(False) == "false"
    assert encode_value([True, 1, False, 0]) == "[true,1,false,0]"


@pytest.mark.parametrize("number", [0, -1, 42, 2**64, -(2**100)])
def test_ints_are_exact(number: int) -> None:
    assert encode_value(number) == str(number)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1.50"), "1.50"),
        (Decimal("12.30"), "12.30"),
        (Decimal("-0.001"), "-0.001"),
        (Decimal("0.00"), "0.00"),
        (Decimal("-5"), "-5"),
        (Decimal("1E+2"), "100"),
        (Decimal("-1E+2"), "-100"),
        (Decimal("1.5E+3"), "1500"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("1.20E-3"), "0.00120"),
    ],
)
def test_decimals_are_exact_plain_notation(value: Decimal, text: str) -> None:
    assert encode_value(value) == text


def test_decimal_with_65_digits_is_exact() -> None:
    digits = "12345678901234567890123456789012345" + "." + "123456789012345678901234567890"
    assert len(digits.replace(".", "")) == 65
    assert encode_value(Decimal(digits)) == digits
    assert encode_value(Decimal("-" + digits)) == "-" + digits


def test_decimal_65_nines_is_exact() -> None:
    assert encode_value(Decimal("9" * 65)) == "9" * 65


@pytest.mark.parametrize("text", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_are_null(text: str) -> None:
    assert encode_value(Decimal(text)) == "null"


@pytest.mark.parametrize("value", [0.0, 1.5, -2.25, 0.1, 1e16, 1e-7, 1.7976931348623157e308, 5e-324, 3.4028235e38])
def test_floats_round_trip_through_json(value: float) -> None:
    text = encode_value(value)
    assert json.loads(text) == value
    assert text == repr(value)


def test_negative_zero_float_keeps_its_sign() -> None:
    assert encode_value(-0.0) == "-0.0"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_null(value: float) -> None:
    assert encode_value(value) == "null"


# --- strings -------------------------------------------------------------------------------------------------


def test_unicode_is_kept_literal() -> None:
    text = "é中😀\u2028"
    encoded = encode_value(text)
    assert encoded == '"' + text + '"'
    assert json.loads(encoded) == text


def test_control_characters_are_escaped() -> None:
    text = "".join(chr(code) for code in range(32)) + "\x7f"
    encoded = encode_value(text)
    assert not any(ord(char) < 32 for char in encoded)
    assert json.loads(encoded) == text


def test_quotes_and_backslashes_are_escaped() -> None:
    assert encode_value('a"b\\c') == '"a\\"b\\\\c"'


def test_newlines_never_break_the_line() -> None:
    assert "\n" not in encode_value({"a\nb": "c\r\nd"})


# --- containers ----------------------------------------------------------------------------------------------


def test_nested_dicts_and_lists() -> None:
    value = {"a": [1, {"b": None, "c": [Decimal("1.10"), "x"]}], "d": {}}
    assert encode_value(value) == '{"a":[1,{"b":null,"c":[1.10,"x"]}],"d":{}}'


def test_tuples_are_arrays() -> None:
    assert encode_value((1, "a", (2,))) == '[1,"a",[2]]'


def test_empty_containers() -> None:
    assert encode_value([]) == "[]"
    assert encode_value({}) == "{}"


def test_dict_keeps_insertion_order() -> None:
    assert encode_value({"z": 1, "a": 2}) == '{"z":1,"a":2}'


def test_dict_keys_are_escaped() -> None:
    assert json.loads(encode_value({'k"\n': 1})) == {'k"\n': 1}


def test_non_string_dict_keys_become_strings() -> None:
    assert encode_value({1: "a"}) == '{"1":"a"}'


# --- subclasses ----------------------------------------------------------------------------------------------


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


class Exact(Decimal):
    pass


class Level(enum.IntEnum):
    HIGH = 3


class Items(list[Any]):
    pass


class Mapping_(dict[str, Any]):
    pass


def test_str_subclass_encodes_as_string() -> None:
    assert encode_value(Text('he"llo')) == '"he\\"llo"'


def test_int_subclass_encodes_as_int() -> None:
    assert encode_value(Number(7)) == "7"
    assert encode_value(Level.HIGH) == "3"


def test_float_subclass_encodes_as_float() -> None:
    assert encode_value(Real(1.5)) == "1.5"
    assert encode_value(Real(math.nan)) == "null"


def test_decimal_subclass_encodes_exactly() -> None:
    assert encode_value(Exact("1.50")) == "1.50"


def test_container_subclasses_encode_as_base_types() -> None:
    assert encode_value(Items([1, Text("a")])) == '[1,"a"]'
    assert encode_value(Mapping_(k=Number(1))) == '{"k":1}'
    assert encode_value(collections.OrderedDict([("b", 1), ("a", 2)])) == '{"b":1,"a":2}'


def test_sets_encode_as_arrays() -> None:
    assert encode_value(frozenset({"only"})) == '["only"]'
    assert json.loads(encode_value({1, 2, 3})) == [1, 2, 3]


# --- property ------------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@given(JSON_VALUES)
def test_encode_value_round_trips_through_json_loads(value: Any) -> None:
    assert json.loads(encode_value(value)) == value


@given(JSON_VALUES)
def test_encode_value_matches_the_standard_encoder_for_json_values(value: Any) -> None:
    assert encode_value(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimals_round_trip_exactly(value: Decimal) -> None:
    parsed = json.loads(encode_value(value), parse_float=Decimal, parse_int=Decimal)
    assert parsed == value


# --- change events -------------------------------------------------------------------------------------------


def test_change_event_field_order_minimal() -> None:
    assert keys_in_order(encode_event(change_event())) == [
        "database",
        "table",
        "type",
        "ts",
        "xid",
        "xoffset",
        "position",
        "gtid",
        "server_id",
        "thread_id",
        "primary_key",
        "primary_key_columns",
        "data",
    ]


def test_change_event_field_order_with_commit_query_and_old() -> None:
    event = change_event(type=Operation.UPDATE, commit=True, query="UPDATE orders SET x=1", old={"total": 1})
    assert keys_in_order(encode_event(event)) == [
        "database",
        "table",
        "type",
        "ts",
        "xid",
        "xoffset",
        "commit",
        "position",
        "gtid",
        "server_id",
        "thread_id",
        "primary_key",
        "primary_key_columns",
        "query",
        "data",
        "old",
    ]


def test_change_event_commit_false_is_omitted_and_true_is_true() -> None:
    assert "commit" not in json.loads(encode_event(change_event(commit=False)))
    assert json.loads(encode_event(change_event(commit=True)))["commit"] is True


def test_change_event_values() -> None:
    decoded = json.loads(encode_event(change_event(type=Operation.DELETE)), parse_float=Decimal)
    assert decoded == {
        "database": "shop",
        "table": "orders",
        "type": "delete",
        "ts": 1700000000,
        "xid": 77,
        "xoffset": 0,
        "position": "binlog.000042:1234",
        "gtid": "0-1-5",
        "server_id": 1,
        "thread_id": 9,
        "primary_key": [3],
        "primary_key_columns": ["id"],
        "data": {"id": 3, "total": Decimal("12.30")},
    }


def test_change_event_decimal_keeps_its_scale_in_the_text() -> None:
    assert '"total":12.30' in encode_event(change_event())


@pytest.mark.parametrize("operation", list(Operation))
def test_change_event_type_is_the_operation_value(operation: Operation) -> None:
    assert json.loads(encode_event(change_event(type=operation)))["type"] == operation.value


def test_change_event_nullable_fields_encode_as_null() -> None:
    decoded = json.loads(encode_event(change_event(xid=None, gtid=None, thread_id=None)))
    assert decoded["xid"] is None
    assert decoded["gtid"] is None
    assert decoded["thread_id"] is None


def test_change_event_composite_primary_key() -> None:
    event = change_event(primary_key=(3, "a"), primary_key_columns=("id", "k"))
    decoded = json.loads(encode_event(event))
    assert decoded["primary_key"] == [3, "a"]
    assert decoded["primary_key_columns"] == ["id", "k"]


def test_change_event_is_one_line_without_trailing_newline() -> None:
    text = encode_event(change_event(data={"note": "a\nb"}, query="INSERT\nINTO t"))
    assert "\n" not in text


def test_event_fields_dispatches_on_type() -> None:
    assert "data" in event_fields(change_event())
    assert "sql" in event_fields(ddl_event())
    assert "columns" in event_fields(schema_event())


# --- DDL events ----------------------------------------------------------------------------------------------


def test_ddl_event_field_order() -> None:
    assert keys_in_order(encode_event(ddl_event())) == [
        "database",
        "table",
        "type",
        "ts",
        "xoffset",
        "position",
        "gtid",
        "server_id",
        "thread_id",
        "sql",
    ]


def test_ddl_event_values() -> None:
    decoded = json.loads(encode_event(ddl_event(table=None, type="database-create", sql="CREATE DATABASE x")))
    assert decoded == {
        "database": "shop",
        "table": None,
        "type": "database-create",
        "ts": 1700000001,
        "xoffset": 0,
        "position": "binlog.000042:1234",
        "gtid": None,
        "server_id": 1,
        "thread_id": 9,
        "sql": "CREATE DATABASE x",
    }


# --- schema events -------------------------------------------------------------------------------------------


def schema_event(**overrides: Any) -> SchemaEvent:
    fields: dict[str, Any] = {
        "database": "app",
        "table": "orders",
        "ts": 1700000000,
        "xoffset": 3,
        "position": POSITION,
        "gtid": "0-1-42",
        "server_id": 1,
        "thread_id": 7,
        "columns": (
            ColumnDefinition("id", "int", unsigned=False),
            ColumnDefinition("price", "decimal", precision=10, scale=2),
            ColumnDefinition("at", "datetime", fsp=6),
            ColumnDefinition("flags", "set", values=("a", "b")),
            ColumnDefinition("note", "text"),
        ),
        "primary_key_columns": ("id",),
    }
    fields.update(overrides)
    return SchemaEvent(**fields)


def test_schema_event_is_the_documented_wire_format() -> None:
    assert encode_event(schema_event()) == (
        '{"database":"app","table":"orders","type":"table-schema","ts":1700000000,"xoffset":3,"commit":false,'
        '"position":"binlog.000042:1234","gtid":"0-1-42","server_id":1,"thread_id":7,'
        '"columns":[{"name":"id","type":"int","unsigned":false},{"name":"price","type":"decimal","precision":10,'
        '"scale":2},{"name":"at","type":"datetime","fsp":6},{"name":"flags","type":"set","values":["a","b"]},'
        '{"name":"note","type":"text"}],"primary_key_columns":["id"]}'
    )


def test_schema_event_columns_print_only_the_facts_of_their_type() -> None:
    columns = (
        ColumnDefinition("u", "bigint", unsigned=True),
        ColumnDefinition("b", "bit", bits=64),
        ColumnDefinition("t", "time", fsp=0),
        ColumnDefinition("e", "enum", values=()),
        ColumnDefinition("g", "geometry"),
    )
    decoded = json.loads(encode_event(schema_event(columns=columns, primary_key_columns=())))
    assert decoded["columns"] == [
        {"name": "u", "type": "bigint", "unsigned": True},
        {"name": "b", "type": "bit", "bits": 64},
        {"name": "t", "type": "time", "fsp": 0},
        {"name": "e", "type": "enum", "values": []},
        {"name": "g", "type": "geometry"},
    ]
    assert decoded["primary_key_columns"] == []
    assert not {"xid", "data", "old", "primary_key", "sql"} & decoded.keys()
