"""Tests for cdc_streamer.values: library column values -> the JSON-ready values of the event format."""

from __future__ import annotations

import base64
import datetime
import math
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer import values
from cdc_streamer.values import (
    BIT,
    BLOB,
    DATE,
    DATETIME,
    DATETIME2,
    DOUBLE,
    ENUM,
    FLOAT,
    GEOMETRY,
    INT24,
    JSON,
    LONG,
    LONGLONG,
    NEWDATE,
    NEWDECIMAL,
    SET,
    SHORT,
    STRING,
    TIME,
    TIME2,
    TIMESTAMP,
    TIMESTAMP2,
    TINY,
    VAR_STRING,
    VARCHAR,
    YEAR,
    ColumnSpec,
    RowConverter,
    changed_columns,
    converter_for,
    float32,
    format_datetime,
    format_time,
    normalize_json,
    parse_json_text,
    zero_value_for,
)

FLT_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFF))[0]
FLT_MIN_DENORMAL = struct.unpack("<f", struct.pack("<I", 0x00000001))[0]
FLT_MAX_DENORMAL = struct.unpack("<f", struct.pack("<I", 0x007FFFFF))[0]
FLT_MIN_NORMAL = struct.unpack("<f", struct.pack("<I", 0x00800000))[0]


def widen(value: float) -> float:
    """What the library hands over for a FLOAT column: the 32-bit float widened to a double."""
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def significant_digits(value: float) -> int:
    mantissa = repr(value).split("e")[0].replace("-", "").replace(".", "")
    return len(mantissa.strip("0"))


def point_wkb(x: float, y: float, srid: int = 0) -> bytes:
    return struct.pack("<I", srid) + struct.pack("<BIdd", 1, 1, x, y)


def convert(spec: ColumnSpec, value: Any) -> Any:
    converter = converter_for(spec)
    assert converter is not None
    return converter(value)


# --- float32 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "printed"),
    [
        (1.1, 1.1),
        (0.1, 0.1),
        (-2.5, -2.5),
        (3.14159, 3.14159),
        (1e10, 1e10),
        (16777216.0, 16777216.0),
        (123456.789, 123456.79),
    ],
)
def test_float32_prints_the_shortest_decimal_of_the_widened_value(stored: float, printed: float) -> None:
    assert float32(widen(stored)) == printed


def test_float32_of_an_unwidened_double_reads_back_as_its_float32_neighbour() -> None:
    assert float32(1.1) == 1.1
    assert widen(float32(16777217.0)) == 16777216.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float32_mysql_range_boundary_prints_six_digits(sign: float) -> None:
    assert float32(widen(sign * 3.40282e38)) == sign * 3.40282e38


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float32_largest_float32_does_not_overflow(sign: float) -> None:
    result = float32(sign * FLT_MAX)
    assert result == sign * 3.4028235e38
    assert widen(result) == sign * FLT_MAX


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_float32_smallest_denormal_prints_as_1e_45(sign: float) -> None:
    assert float32(sign * FLT_MIN_DENORMAL) == sign * 1e-45
    assert float32(sign * 1e-45) == sign * 1e-45


def test_float32_denormal_and_normal_boundaries_round_trip() -> None:
    assert float32(FLT_MAX_DENORMAL) == 1.1754942e-38
    assert float32(FLT_MIN_NORMAL) == 1.1754944e-38


def test_float32_keeps_the_sign_of_zero() -> None:
    assert math.copysign(1.0, float32(0.0)) == 1.0
    assert math.copysign(1.0, float32(-0.0)) == -1.0


def test_float32_passes_infinities_and_nan_through() -> None:
    assert float32(math.inf) == math.inf
    assert float32(-math.inf) == -math.inf
    assert math.isnan(float32(math.nan))


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_reads_back_as_the_same_float32(value: float) -> None:
    result = float32(value)
    assert widen(result) == widen(value)
    assert significant_digits(result) <= 9


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_is_idempotent(value: float) -> None:
    assert float32(float32(value)) == float32(value)


@pytest.mark.parametrize(
    ("power", "shortest"),
    [(87, 1.5474251e26), (90, 1.2379401e27), (-96, 1.2621775e-29)],
)
def test_float32_is_shortest_at_power_of_two_boundaries(power: int, shortest: float) -> None:
    assert widen(shortest) == 2.0**power
    assert float32(2.0**power) == shortest


# --- format_datetime / format_time ---------------------------------------------------------------------------

FRACTIONS = ["", ".1", ".12", ".123", ".1234", ".12345", ".123456"]


@pytest.mark.parametrize("fsp", range(7))
def test_format_datetime_truncates_to_fsp_digits(fsp: int) -> None:
    value = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert format_datetime(value, fsp) == "2024-01-02 03:04:05" + FRACTIONS[fsp]


@pytest.mark.parametrize("fsp", range(7))
def test_format_datetime_zero_microseconds_still_print_fsp_zeros(fsp: int) -> None:
    value = datetime.datetime(2024, 12, 31, 23, 59, 59)
    assert format_datetime(value, fsp) == "2024-12-31 23:59:59" + ("." + "0" * fsp if fsp else "")


def test_format_datetime_pads_small_years() -> None:
    assert format_datetime(datetime.datetime(1, 1, 1), 0) == "0001-01-01 00:00:00"
    assert format_datetime(datetime.datetime(999, 2, 3, 4, 5, 6), 0) == "0999-02-03 04:05:06"


@pytest.mark.parametrize("fsp", range(7))
def test_format_time_truncates_to_fsp_digits(fsp: int) -> None:
    value = datetime.timedelta(hours=12, minutes=34, seconds=56, microseconds=123456)
    assert format_time(value, fsp) == "12:34:56" + FRACTIONS[fsp]


@pytest.mark.parametrize("fsp", range(7))
def test_format_time_negative_with_fraction(fsp: int) -> None:
    value = -datetime.timedelta(hours=12, minutes=34, seconds=56, microseconds=123456)
    assert format_time(value, fsp) == "-12:34:56" + FRACTIONS[fsp]


def test_format_time_hours_beyond_a_day() -> None:
    assert format_time(datetime.timedelta(days=1, hours=1), 0) == "25:00:00"
    assert format_time(datetime.timedelta(hours=838, minutes=59, seconds=59), 0) == "838:59:59"


def test_format_time_negative_extreme() -> None:
    assert format_time(-datetime.timedelta(hours=838, minutes=59, seconds=59), 0) == "-838:59:59"


def test_format_time_small_negative_values_keep_the_sign() -> None:
    assert format_time(-datetime.timedelta(seconds=1, microseconds=500000), 1) == "-00:00:01.5"
    assert format_time(-datetime.timedelta(microseconds=1), 6) == "-00:00:00.000001"


def test_format_time_zero() -> None:
    assert format_time(datetime.timedelta(0), 0) == "00:00:00"
    assert format_time(datetime.timedelta(0), 3) == "00:00:00.000"


# --- normalize_json / parse_json_text ------------------------------------------------------------------------


def test_normalize_json_decodes_bytes_keys_and_values() -> None:
    assert normalize_json({b"k": b"v"}) == {"k": "v"}


def test_normalize_json_decodes_nested_structures() -> None:
    value = {b"a": [b"x", {b"b": (b"y", 1)}], "c": {b"d": None}}
    assert normalize_json(value) == {"a": ["x", {"b": ["y", 1]}], "c": {"d": None}}


def test_normalize_json_keeps_scalars() -> None:
    for scalar in (None, True, False, 0, -5, 1.5, "text", Decimal("1.10")):
        assert normalize_json(scalar) == scalar
        assert type(normalize_json(scalar)) is type(scalar)


def test_normalize_json_replaces_invalid_utf8() -> None:
    assert normalize_json(b"a\xffb") == "a\ufffdb"


def test_parse_json_text_keeps_numbers_exact() -> None:
    parsed = parse_json_text('{"a": 1.10, "b": [1, 2.5e3, 12345678901234567890123]}')
    assert parsed == {"a": Decimal("1.10"), "b": [1, Decimal("2.5e3"), 12345678901234567890123]}
    assert str(parsed["a"]) == "1.10"
    assert type(parsed["b"][0]) is int


def test_parse_json_text_accepts_bytes() -> None:
    assert parse_json_text(b'{"k": "v\xc3\xa9"}') == {"k": "vé"}


def test_parse_json_text_scalars() -> None:
    assert parse_json_text('"x"') == "x"
    assert parse_json_text("null") is None
    assert parse_json_text("true") is True


@pytest.mark.parametrize("text", ["{not json", "", "[1,", "{'a': 1}", "01"])
def test_parse_json_text_returns_invalid_text_unchanged(text: str) -> None:
    assert parse_json_text(text) == text


@pytest.mark.parametrize("text", ["NaN", "[1, NaN]", "Infinity", '{"a": -Infinity}'])
def test_parse_json_text_rejects_nan_and_infinity(text: str) -> None:
    assert parse_json_text(text) == text


def test_parse_json_text_invalid_bytes_come_back_as_text() -> None:
    assert parse_json_text(b"{bad") == "{bad"


# --- converter_for / zero_value_for --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [TINY, SHORT, LONG, LONGLONG, INT24, DOUBLE, NEWDECIMAL, ENUM])
def test_converter_for_types_the_library_gets_right_is_none(code: int) -> None:
    assert converter_for(ColumnSpec("c", code)) is None


def test_converter_for_json_normalizes() -> None:
    assert converter_for(ColumnSpec("c", JSON)) is normalize_json


@pytest.mark.parametrize("code", [BLOB, JSON, VARCHAR, STRING])
def test_converter_for_json_text_column_parses_whatever_the_code(code: int) -> None:
    assert converter_for(ColumnSpec("c", code, is_json=True)) is parse_json_text


def test_converter_for_float_is_float32() -> None:
    assert converter_for(ColumnSpec("c", FLOAT)) is float32
    assert convert(ColumnSpec("c", FLOAT), widen(1.1)) == 1.1


@pytest.mark.parametrize("code", [DATETIME, DATETIME2])
def test_converter_for_datetime_formats_with_fsp(code: int) -> None:
    value = datetime.datetime(2024, 1, 2, 3, 4, 5, 678900)
    assert convert(ColumnSpec("c", code, fsp=2), value) == "2024-01-02 03:04:05.67"


@pytest.mark.parametrize("code", [TIMESTAMP, TIMESTAMP2])
def test_converter_for_timestamp_formats_with_fsp(code: int) -> None:
    value = datetime.datetime(2024, 1, 2, 3, 4, 5, 678900)
    assert convert(ColumnSpec("c", code, fsp=3), value) == "2024-01-02 03:04:05.678"


@pytest.mark.parametrize(("code", "fsp"), [(TIMESTAMP, 0), (TIMESTAMP2, 0), (TIMESTAMP2, 6)])
def test_converter_for_timestamp_epoch_is_the_zero_timestamp(code: int, fsp: int) -> None:
    expected = "0000-00-00 00:00:00" + ("." + "0" * fsp if fsp else "")
    assert convert(ColumnSpec("c", code, fsp=fsp), datetime.datetime(1970, 1, 1)) == expected


def test_converter_for_timestamp_one_second_after_epoch_is_a_real_time() -> None:
    assert convert(ColumnSpec("c", TIMESTAMP2), datetime.datetime(1970, 1, 1, 0, 0, 1)) == "1970-01-01 00:00:01"


@pytest.mark.parametrize("code", [TIME, TIME2])
def test_converter_for_time_formats_with_fsp(code: int) -> None:
    value = -datetime.timedelta(hours=100, microseconds=250000)
    assert convert(ColumnSpec("c", code, fsp=2), value) == "-100:00:00.25"


@pytest.mark.parametrize("code", [DATE, NEWDATE])
def test_converter_for_date_prints_iso(code: int) -> None:
    assert convert(ColumnSpec("c", code), datetime.date(7, 3, 9)) == "0007-03-09"


def test_converter_for_date_passes_non_dates_through() -> None:
    assert convert(ColumnSpec("c", DATE), "2024-01-01") == "2024-01-01"


def test_converter_for_set_lists_members_in_definition_order() -> None:
    spec = ColumnSpec("c", SET, set_values=("a", "b", "c", "d"))
    assert convert(spec, {"d", "a", "c"}) == ["a", "c", "d"]


def test_converter_for_set_empty_python_set_is_empty_list() -> None:
    assert convert(ColumnSpec("c", SET, set_values=("a",)), set()) == []


@pytest.mark.parametrize(("bits", "number"), [("0", 0), ("1", 1), ("101", 5), ("1" * 64, 2**64 - 1)])
def test_converter_for_bit_string_becomes_an_integer(bits: str, number: int) -> None:
    assert convert(ColumnSpec("c", BIT), bits) == number


def test_converter_for_bit_passes_integers_through() -> None:
    assert convert(ColumnSpec("c", BIT), 7) == 7


@pytest.mark.parametrize(("stored", "emitted"), [(1900, 0), (1901, 1901), (2024, 2024), (2155, 2155)])
def test_converter_for_year_maps_1900_to_zero(stored: int, emitted: int) -> None:
    assert convert(ColumnSpec("c", YEAR), stored) == emitted


def test_converter_for_geometry_prints_wkt() -> None:
    assert convert(ColumnSpec("c", GEOMETRY), point_wkb(1, 2, srid=4326)) == "POINT(1 2)"


@pytest.mark.parametrize("raw", [b"\x00\x00", b"\x00\x00\x00\x00\xff\xff\xff\xff\xff"])
def test_converter_for_undecodable_geometry_falls_back_to_base64(raw: bytes) -> None:
    assert convert(ColumnSpec("c", GEOMETRY), raw) == base64.b64encode(raw).decode("ascii")


def test_converter_for_geometry_passes_non_bytes_through() -> None:
    assert convert(ColumnSpec("c", GEOMETRY), "POINT(1 2)") == "POINT(1 2)"


@pytest.mark.parametrize("code", [VARCHAR, VAR_STRING, STRING, BLOB])
def test_converter_for_strings_base64_encodes_bytes(code: int) -> None:
    assert convert(ColumnSpec("c", code), b"\x00\xffab") == "AP9hYg=="


@pytest.mark.parametrize("code", [VARCHAR, VAR_STRING, STRING, BLOB])
def test_converter_for_strings_keeps_text(code: int) -> None:
    assert convert(ColumnSpec("c", code), "héllo") == "héllo"


def test_converter_for_empty_bytes_is_empty_base64() -> None:
    assert convert(ColumnSpec("c", BLOB), b"") == ""


def test_converter_for_binary_char_restores_trailing_zero_padding() -> None:
    spec = ColumnSpec("c", STRING, max_length=4)
    assert convert(spec, b"ab") == base64.b64encode(b"ab\0\0").decode()
    assert convert(spec, b"") == base64.b64encode(b"\0\0\0\0").decode()


def test_converter_for_binary_char_full_length_is_unchanged() -> None:
    assert convert(ColumnSpec("c", STRING, max_length=3), b"abc") == base64.b64encode(b"abc").decode()


def test_converter_for_char_with_length_keeps_text_unpadded() -> None:
    assert convert(ColumnSpec("c", STRING, max_length=10), "ab") == "ab"


def test_converter_for_unknown_code_is_none() -> None:
    assert converter_for(ColumnSpec("c", 200)) is None


@pytest.mark.parametrize("code", [DATE, NEWDATE])
def test_zero_value_for_dates(code: int) -> None:
    assert zero_value_for(ColumnSpec("c", code, fsp=3)) == "0000-00-00"


@pytest.mark.parametrize("code", [DATETIME, DATETIME2, TIMESTAMP, TIMESTAMP2])
@pytest.mark.parametrize("fsp", range(7))
def test_zero_value_for_datetimes_has_fsp_zeros(code: int, fsp: int) -> None:
    expected = "0000-00-00 00:00:00" + ("." + "0" * fsp if fsp else "")
    assert zero_value_for(ColumnSpec("c", code, fsp=fsp)) == expected


@pytest.mark.parametrize("code", [TIME, TIME2, YEAR, LONG, SET, VARCHAR, JSON, BLOB])
def test_zero_value_for_columns_without_zero_dates_is_none(code: int) -> None:
    assert zero_value_for(ColumnSpec("c", code)) is None


# --- RowConverter --------------------------------------------------------------------------------------------

SPECS = (
    ColumnSpec("id", LONG),
    ColumnSpec("tags", SET, set_values=("x", "y")),
    ColumnSpec("d", DATE),
    ColumnSpec("dt", DATETIME),
    ColumnSpec("dt2", DATETIME2, fsp=3),
    ColumnSpec("bin", STRING, max_length=4),
    ColumnSpec("name", VARCHAR),
)


def row_converter() -> RowConverter:
    return RowConverter.build(SPECS)


def test_row_converter_converts_each_column() -> None:
    row = row_converter().convert(
        {
            "id": 1,
            "tags": {"y", "x"},
            "d": datetime.date(2024, 2, 29),
            "dt": datetime.datetime(2024, 2, 29, 1, 2, 3),
            "dt2": datetime.datetime(2024, 2, 29, 1, 2, 3, 456789),
            "bin": b"a",
            "name": "n",
        },
        {},
    )
    assert row == {
        "id": 1,
        "tags": ["x", "y"],
        "d": "2024-02-29",
        "dt": "2024-02-29 01:02:03",
        "dt2": "2024-02-29 01:02:03.456",
        "bin": base64.b64encode(b"a\0\0\0").decode(),
        "name": "n",
    }


def test_row_converter_keeps_column_order() -> None:
    row = row_converter().convert({name: None for name in reversed([s.name for s in SPECS])}, {})
    assert list(row) == [spec.name for spec in SPECS]


def test_row_converter_null_label_gives_null_even_for_dates_and_sets() -> None:
    names = [spec.name for spec in SPECS]
    row = row_converter().convert(dict.fromkeys(names), dict.fromkeys(names, "null"))
    assert row == dict.fromkeys(names)


def test_row_converter_missing_label_gives_null() -> None:
    assert row_converter().convert({"tags": None, "d": None}, {})["tags"] is None
    assert row_converter().convert({"tags": None, "d": None}, {})["d"] is None


def test_row_converter_missing_value_gives_null() -> None:
    assert row_converter().convert({}, {})["id"] is None


def test_row_converter_empty_set_gives_empty_list() -> None:
    row = row_converter().convert({"tags": None}, {"tags": "empty set"})
    assert row["tags"] == []


@pytest.mark.parametrize(
    ("column", "label", "zero"),
    [
        ("d", "out of date range", "0000-00-00"),
        ("dt", "out of datetime range", "0000-00-00 00:00:00"),
        ("dt2", "out of datetime2 range", "0000-00-00 00:00:00.000"),
    ],
)
def test_row_converter_zero_dates_by_label(column: str, label: str, zero: str) -> None:
    assert row_converter().convert({column: None}, {column: label})[column] == zero


def test_row_converter_zero_label_on_a_column_without_zero_date_is_null() -> None:
    assert row_converter().convert({"id": None}, {"id": "out of date range"})["id"] is None


@pytest.mark.parametrize(("column", "value", "expected"), [("id", 0, 0), ("name", "", ""), ("bin", b"", "AAAAAA==")])
def test_row_converter_falsy_values_are_not_null(column: str, value: Any, expected: Any) -> None:
    assert row_converter().convert({column: value}, {})[column] == expected


def test_row_converter_build_uses_converter_for_and_zero_value_for() -> None:
    converter = RowConverter.build([ColumnSpec("f", FLOAT), ColumnSpec("i", LONG), ColumnSpec("d", DATE)])
    assert converter.columns[0] == ("f", values.float32, None)
    assert converter.columns[1] == ("i", None, None)
    assert converter.columns[2][2] == "0000-00-00"


# --- changed_columns -----------------------------------------------------------------------------------------


def test_changed_columns_only_the_changed_ones_with_old_values() -> None:
    before = {"id": 1, "a": "x", "b": 2, "c": None}
    after = {"id": 1, "a": "y", "b": 2, "c": 5}
    assert changed_columns(before, after) == {"a": "x", "c": None}


def test_changed_columns_identical_rows_give_nothing() -> None:
    assert changed_columns({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}) == {}


def test_changed_columns_value_to_null_is_a_change() -> None:
    assert changed_columns({"a": 0}, {"a": None}) == {"a": 0}


def test_changed_columns_missing_after_column_counts_as_changed() -> None:
    assert changed_columns({"a": 1, "b": 2}, {"a": 1}) == {"b": 2}


def test_changed_columns_ignores_columns_only_in_after() -> None:
    assert changed_columns({"a": 1}, {"a": 1, "b": 2}) == {}


def test_changed_columns_preserves_before_order() -> None:
    assert list(changed_columns({"z": 1, "a": 1, "m": 1}, {"z": 2, "a": 2, "m": 2})) == ["z", "a", "m"]


def test_changed_columns_reports_json_true_changed_to_one() -> None:
    assert changed_columns({"j": {"a": True}}, {"j": {"a": 1}}) == {"j": {"a": True}}


def test_changed_columns_reports_json_number_changed_from_1_to_1_0() -> None:
    before = {"j": parse_json_text("[1]")}
    after = {"j": parse_json_text("[1.0]")}
    assert changed_columns(before, after) == {"j": [1]}
