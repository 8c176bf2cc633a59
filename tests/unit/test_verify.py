"""Tests for cdc_lake.verify's pure parts: canonical values of both sides, digests, the diff and the report."""

from __future__ import annotations

import argparse
import datetime
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdc_lake import master_types
from cdc_lake.verify import NO_PRIMARY_KEY, VerifySettings, expand_tables, key_parameter
from cdc_lake.verify_report import (
    DIFFERS,
    EXTRA,
    MISSING,
    Digests,
    KeyDiff,
    TableReport,
    align_columns,
    compare,
    differing_columns,
    format_key,
    format_report,
    format_table,
)
from cdc_lake.verify_values import (
    ColumnInfo,
    canonical_number,
    json_columns_from_checks,
    normalize,
    parse_time,
    row_digest,
)
from cdc_streamer.errors import ConfigError

DEC65 = "12345678901234567890123456789012345.123456789012345678901234567890"
# POINT(1 2.5) as MariaDB stores it: SRID 0, then WKB.
POINT_WKB = struct.pack("<I", 0) + b"\x01" + struct.pack("<I", 1) + struct.pack("<dd", 1.0, 2.5)


def col(data_type: str, **kwargs: Any) -> ColumnInfo:
    return ColumnInfo(name="c", data_type=data_type, **kwargs)


def same(source: Any, master: Any, column: ColumnInfo) -> bool:
    """Equal as verify sees it: same canonical value and same row digest."""
    a, b = normalize(source, column), normalize(master, column)
    return a == b and row_digest((a,)) == row_digest((b,))


# ---------------------------------------------------------------------------------------------- normalize


def test_decimal_compares_exactly_by_value() -> None:
    dec = col("decimal", column_type="decimal(10,2)", precision=10, scale=2)
    assert same(Decimal("1.5"), Decimal("1.50"), dec)
    assert same(Decimal("0.00"), Decimal("-0.00"), dec)
    assert same(Decimal("12345678.90"), Decimal("12345678.9"), dec)
    assert not same(Decimal("1.5"), Decimal("1.51"), dec)


def test_decimal_65_30_kept_whole_against_the_master_text() -> None:
    wide = col("decimal", column_type="decimal(65,30)", precision=65, scale=30)
    assert same(Decimal(DEC65), DEC65, wide)  # the master column is VARCHAR holding the event's text
    assert normalize(Decimal(DEC65), wide) == Decimal(DEC65.rstrip("0"))
    last_digit_changed = DEC65[:-2] + "10"
    assert not same(Decimal(DEC65), last_digit_changed, wide)
    assert same(Decimal("-0.500000000000000000000000000000"), "-0.5", wide)


def test_bigint_unsigned_maximum_against_decimal_20_0() -> None:
    unsigned = col("bigint", column_type="bigint(20) unsigned", precision=20, scale=0)
    assert normalize(2**64 - 1, unsigned) == 2**64 - 1
    assert same(2**64 - 1, Decimal("18446744073709551615"), unsigned)
    assert not same(2**64 - 1, Decimal("18446744073709551614"), unsigned)


def test_float_compares_as_float32() -> None:
    real = col("float")
    # The source is selected as CAST(f AS DOUBLE): the float32 exactly; the master's REAL arrives widened too.
    assert same(1.2345677614212036, 1.2345677614212036, real)
    assert same(1.1, 1.100000023841858, real)  # 1.1 as a float32
    assert same(16777217.0, 16777216.0, real)  # 2^24 + 1 has no float32
    assert not same(1.1, 1.2, real)
    assert not same(16777218.0, 16777216.0, real)
    assert normalize(-0.0, real) == 0.0


def test_double_by_value() -> None:
    double = col("double")
    assert same(0.1 + 0.2, 0.30000000000000004, double)
    assert not same(0.3, 0.30000000000000004, double)
    assert repr(normalize(-0.0, double)) == "0.0"


def test_zero_and_invalid_dates_are_null() -> None:
    assert same("0000-00-00", None, col("date"))
    assert same("2024-00-15", None, col("date"))
    assert same("0000-00-00 00:00:00.000000", None, col("datetime", fsp=6))
    assert same("0000-00-00 00:00:00", None, col("timestamp"))
    assert same(datetime.date(9999, 12, 31), datetime.date(9999, 12, 31), col("date"))
    assert not same(datetime.date(2024, 1, 1), None, col("date"))


def test_timestamps_compare_as_utc_wall_time() -> None:
    stamp = col("timestamp", fsp=3)
    utc = datetime.datetime(2023, 12, 31, 23, 30, 0, 1000)
    aware = datetime.datetime(2024, 1, 1, 5, 0, 0, 1000, tzinfo=datetime.timezone(datetime.timedelta(hours=5.5)))
    assert same(utc, aware, stamp)
    assert not same(utc, utc + datetime.timedelta(microseconds=1), stamp)


def test_time_against_the_master_text() -> None:
    time6 = col("time", fsp=6)
    lowest = datetime.timedelta(hours=-838, minutes=-59, seconds=-59)
    assert lowest == datetime.timedelta(days=-35, seconds=3601)  # as pymysql returns it
    assert same(lowest, "-838:59:59.000000", time6)
    assert same(datetime.timedelta(hours=838, minutes=59, seconds=59), "838:59:59", col("time"))
    assert same(datetime.timedelta(seconds=-1.5), "-00:00:01.50", col("time", fsp=2))
    assert same(datetime.timedelta(hours=100), "100:00:00", col("time"))
    assert not same(lowest, "-838:59:58.000000", time6)
    assert parse_time("not a time") == "not a time"


def test_set_as_members() -> None:
    colours = col("set", column_type="set('red','green','blue')")
    assert same("blue,red", ["red", "blue"], colours)
    assert same({"red", "blue"}, ["red", "blue"], colours)
    assert same("", [], colours)
    assert not same("", None, colours)  # the empty set is not NULL
    assert not same("red", ["red", "blue"], colours)


def test_json_by_parsed_value() -> None:
    doc = col("longtext", is_json=True)
    assert same('{"a": 1.50, "b": -3e2}', '{"b":-300,"a":1.5}', doc)
    assert same('{"list": [1, 2.50, -3e2, null, true]}', '{"list":[1,2.50,-300,null,true]}', doc)
    assert same("[]", "[]", doc)
    assert same('"text"', '"text"', doc)
    assert same("not json", '"not json"', doc)  # the streamer passes unparsable text on as a JSON string
    assert not same("[true]", "[1]", doc)
    assert not same('{"a": 1.5}', '{"a": 1.51}', doc)
    assert not same("[1, 2]", "[2, 1]", doc)
    assert col("json").kind == "json"


def test_bit_as_integer() -> None:
    assert same(b"\xff" * 8, Decimal("18446744073709551615"), col("bit", precision=64))
    assert same(b"\x16", 22, col("bit", precision=5))
    assert not same(b"\x16", 23, col("bit", precision=5))


def test_geometry_as_the_streamers_wkt() -> None:
    shape = col("geometry")
    assert normalize(POINT_WKB, shape) == "POINT(1 2.5)"
    assert same(POINT_WKB, "POINT(1 2.5)", shape)
    assert same(POINT_WKB, "POINT(1 2.5)", col("point"))
    assert not same(POINT_WKB, "POINT(1 2)", shape)
    assert same(b"\x00\x00", "AAA=", shape)  # undecodable: the streamer's base64 fallback


def test_strings_binaries_and_integers_by_value() -> None:
    assert same("héllo 😀", "héllo 😀", col("varchar"))
    assert not same("a", "a ", col("varchar"))
    assert same(b"\x01\x00\x00\x00", b"\x01\x00\x00\x00", col("binary"))
    assert not same(b"\x01", b"\x01\x00", col("varbinary"))
    assert same(2155, 2155, col("year"))
    assert same(-128, -128, col("tinyint"))
    assert same("medium", "medium", col("enum"))
    assert same(None, None, col("int"))
    assert not same(0, None, col("int"))


def test_canonical_number_never_rounds() -> None:
    assert canonical_number(Decimal("1.50")) == Decimal("1.5")
    assert repr(canonical_number(Decimal("1.50"))) == "Decimal('1.5')"
    assert canonical_number(Decimal("-3E+2")) == -300
    assert isinstance(canonical_number(Decimal("100.000")), int)
    assert str(canonical_number(Decimal(DEC65))) == DEC65.rstrip("0")


def test_column_info_maps_to_the_master_types() -> None:
    def master(info: ColumnInfo) -> master_types.MasterType:
        return master_types.master_type(info.source_column())

    assert master(col("longtext", is_json=True)) == master_types.JSON_TEXT
    assert master(col("bit", precision=64)) == master_types.UNSIGNED_BIGINT
    assert master(col("bit", precision=5)) == master_types.BIGINT
    assert master(col("bigint", column_type="bigint(20) unsigned")) == master_types.UNSIGNED_BIGINT
    assert master(col("decimal", precision=65, scale=30)) == master_types.STRING
    assert master(col("decimal", precision=10, scale=2)).duckdb == "DECIMAL(10, 2)"
    assert master(col("mediumblob")) == master_types.BINARY
    assert master(col("multipolygon")) == master_types.STRING
    assert master(col("float")) == master_types.REAL


def test_json_columns_from_check_clauses() -> None:
    clauses = ["json_valid(`doc`)", "json_valid(`we``ird`)", "`n` > 0", "json_valid(`a`) and `b` > 1"]
    assert json_columns_from_checks(clauses) == frozenset({"doc", "we`ird"})


def test_key_parameters_for_the_source() -> None:
    assert key_parameter(datetime.timedelta(days=-35, seconds=3601)) == "-838:59:59.000000"
    assert key_parameter(("blue", "red")) == "blue,red"
    assert key_parameter(Decimal("1.5")) == Decimal("1.5")


# ---------------------------------------------------------------------------------------------- digests and diff


def test_digest_depends_on_every_value() -> None:
    assert row_digest((1, "a", None)) == row_digest((1, "a", None))
    assert row_digest((1, "a", None)) != row_digest((1, "a", ""))
    assert row_digest((1, 2)) != row_digest((1, Decimal("2.5")))
    assert len(row_digest((1,))) == 16


def test_compare_sorts_keys_into_kinds() -> None:
    source = {(1,): b"a", (2,): b"b", (3,): b"c", (5,): b"e"}
    master = {(1,): b"a", (2,): b"x", (4,): b"d", (5,): b"y"}
    diff = compare(source, master, duplicated=[(5,)])
    assert diff == KeyDiff(missing=((3,),), extra=((4,),), differs=((2,),), duplicated=((5,),))
    assert diff.total == 4
    assert diff.first(3) == [((2,), DIFFERS), ((3,), MISSING), ((4,), EXTRA)]
    assert diff.first(0) == []
    assert compare(source, dict(source)) == KeyDiff()


def test_digests_keep_the_smallest_differing_rows_only() -> None:
    source = Digests((0,))
    for i in range(100):
        source.add((i, f"row {i}"))
    master = Digests((0,), reference=source.digests, keep=3)
    for i in reversed(range(100)):
        master.add((i, f"row {i}" if i % 10 else "changed"))
    master.add((500, "extra"))
    master.add((7, "row 7"))
    master.finish()
    assert master.rows == 102
    assert master.duplicated == {(7,)}
    assert sorted(master.kept) == [(0,), (10,), (20,)]
    assert master.kept[(10,)] == (10, "changed")
    diff = compare(source.digests, master.digests, master.duplicated)
    assert len(diff.differs) == 10 and diff.extra == ((500,),) and diff.duplicated == ((7,),)


def test_differing_columns_and_alignment() -> None:
    names = ("id", "price", "name", "gone")
    assert differing_columns(names, (1, Decimal("1.5"), "a", None), (1, Decimal("1.5"), "b", 3)) == ("name", "gone")
    assert align_columns(("id", "Name", "new"), ("ID", "name", "old", "_cdc_order")) == ("ID", "name", None)


# ---------------------------------------------------------------------------------------------- report


ORDERS_HEAD = (
    "app.orders: source 120 rows, master 120 rows: 3 keys differ (1 missing in master, 1 extra in master, 1 differ)"
)


def test_report_lines() -> None:
    differing = TableReport(
        "app",
        "orders",
        source_rows=120,
        master_rows=120,
        key_columns=("id",),
        diff=KeyDiff(missing=((5,),), extra=((900,),), differs=((7,),)),
        column_diffs={(7,): ("name", "price")},
    )
    assert format_table(differing, 10) == [
        ORDERS_HEAD,
        "  id=5: missing in master",
        "  id=7: differs in columns name, price",
        "  id=900: extra in master",
    ]
    assert format_table(differing, 1) == [
        format_table(differing, 10)[0],
        "  id=5: missing in master",
        "  ... and 2 more",
    ]
    equal = TableReport("app", "items", source_rows=1, master_rows=1, key_columns=("id",))
    skipped = TableReport("app", "log", skipped=NO_PRIMARY_KEY)
    gone = TableReport("app", "gone", source_rows=4, problem="table missing in master")
    assert format_report([differing, equal, skipped, gone], 0) == [
        ORDERS_HEAD,
        "  ... and 3 more",
        "app.items: source 1 row, master 1 row: equal",
        "app.log: skipped: no primary key (history only; no master table)",
        "app.gone: source 4 rows, master -: table missing in master",
        "verify: 4 tables: 1 equal, 2 differ, 1 skipped",
    ]
    assert equal.equal and not skipped.equal and not gone.equal and not differing.equal


def test_missing_master_columns_make_a_table_differ() -> None:
    report = TableReport("app", "t", source_rows=2, master_rows=2, key_columns=("id",), missing_columns=("added",))
    assert not report.equal
    assert format_table(report, 10) == [
        "app.t: source 2 rows, master 2 rows: no key differs",
        "  columns missing in master: added",
    ]


def test_keys_print_readably() -> None:
    names = ("a", "b", "c", "d", "e", "f")
    key = (1, "x'y", Decimal("1.5"), datetime.datetime(2024, 1, 2, 3, 4, 5), b"\x00\xff", datetime.timedelta(hours=-1))
    assert format_key(names, key) == ("a=1, b=\"x'y\", c=1.5, d='2024-01-02 03:04:05', e=0x00ff, f='-01:00:00'")


# ---------------------------------------------------------------------------------------------- selection, flags


def test_expand_tables() -> None:
    sources = {"app": {"orders", "log"}, "other": set()}
    masters = [("app", "orders"), ("app", "old"), ("shop", "items")]

    def source_tables(database: str) -> set[str]:
        return sources.get(database, set())

    assert expand_tables((), masters, source_tables) == [("app", "old"), ("app", "orders"), ("shop", "items")]
    assert expand_tables((("app", "*"),), masters, source_tables) == [("app", "log"), ("app", "old"), ("app", "orders")]
    assert expand_tables((("app", "log"), ("shop", "items")), masters, source_tables) == [
        ("app", "log"),
        ("shop", "items"),
    ]
    with pytest.raises(ConfigError, match=r"matches other\.\*, app\.nothing"):
        expand_tables((("other", "*"), ("app", "nothing")), masters, source_tables)
    with pytest.raises(ConfigError, match="cdc_lake holds the lake's own tables"):
        expand_tables((("cdc_lake", "*"),), masters, source_tables)


def args(lake: Path, **overrides: Any) -> argparse.Namespace:
    values = {"mysql_url": "mysql://cdc:pw@127.0.0.1:3306", "lake_dir": str(lake), "tables": None, "show": "10"}
    return argparse.Namespace(**{**values, **overrides})


def test_settings_from_flags(tmp_path: Path) -> None:
    (tmp_path / "lake.duckdb").write_bytes(b"")
    settings = VerifySettings.from_args(args(tmp_path, tables="app.orders,shop.*", show="3"))
    assert settings.tables == (("app", "orders"), ("shop", "*"))
    assert settings.show == 3
    assert settings.lake_file == tmp_path / "lake.duckdb"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"show": "-1"}, r"--show \(CDC_SHOW\): expected a whole number >= 0"),
        ({"show": "ten"}, r"--show \(CDC_SHOW\)"),
        ({"tables": "orders"}, r"--tables \(CDC_TABLES\): expected db.table"),
        ({"lake_dir": "s3://bucket/lake"}, "verify reads the local lake"),
        ({"lake_dir": None}, r"--lake-dir \(CDC_LAKE_DIR\) is required"),
        ({"mysql_url": None}, r"--mysql-url \(CDC_MYSQL_URL\) is required"),
    ],
)
def test_bad_flags_are_config_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    (tmp_path / "lake.duckdb").write_bytes(b"")
    with pytest.raises(ConfigError, match=message):
        VerifySettings.from_args(args(tmp_path, **overrides))


def test_a_lake_without_its_database_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no lake\.duckdb in .* \(run cdc-lake compact first\)"):
        VerifySettings.from_args(args(tmp_path))
