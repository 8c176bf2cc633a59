"""The snapshot's pure parts: column types (Parquet, schema event, originalTypeMappings), value conversion, keyset
queries, table selection, the export layout's names and documents, and the progress text."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cdc_streamer.errors import ConfigError, SourceUnusable
from cdc_streamer.event import ColumnDefinition
from cdc_streamer.position import BinlogPosition
from cdc_streamer.snapshot import chunk_query, keyset_args, keyset_condition
from cdc_streamer.snapshot_layout import (
    SnapshotPoint,
    TableExport,
    check_export_id,
    default_export_id,
    export_info,
    iso_time,
    parse_position_document,
    part_name,
    position_document,
    table_dir,
    tables_info,
    tables_info_name,
)
from cdc_streamer.snapshot_progress import Progress, bar, describe
from cdc_streamer.snapshot_source import TableFacts, select_tables
from cdc_streamer.snapshot_types import (
    ColumnInfo,
    UnsupportedColumn,
    arrow_type,
    key_placeholder,
    key_value,
    original_type,
    parse_members,
    schema_column,
    timestamps,
    to_arrow,
    type_mapping,
)


def col(name: str, data_type: str, column_type: str | None = None, **facts: Any) -> ColumnInfo:
    return ColumnInfo(name, data_type, column_type or data_type, **facts)


# (column, Parquet type, schema-event definition, originalType)
TYPES = [
    (col("a", "tinyint", "tinyint(4)"), pa.int32(), ColumnDefinition("a", "tinyint", unsigned=False), "tinyint"),
    (
        col("a", "tinyint", "tinyint(3) unsigned"),
        pa.int32(),
        ColumnDefinition("a", "tinyint", unsigned=True),
        "tinyint unsigned",
    ),
    (col("a", "smallint", "smallint(5) unsigned"), pa.int32(), ColumnDefinition("a", "smallint", unsigned=True), None),
    (
        col("a", "mediumint", "mediumint(8) unsigned"),
        pa.int32(),
        ColumnDefinition("a", "mediumint", unsigned=True),
        None,
    ),
    (col("a", "int", "int(11)"), pa.int32(), ColumnDefinition("a", "int", unsigned=False), "int"),
    (col("a", "int", "int(10) unsigned"), pa.int64(), ColumnDefinition("a", "int", unsigned=True), "int unsigned"),
    (col("a", "bigint", "bigint(20)"), pa.int64(), ColumnDefinition("a", "bigint", unsigned=False), "bigint"),
    (
        col("a", "bigint", "bigint(20) unsigned"),
        pa.decimal128(20, 0),
        ColumnDefinition("a", "bigint", unsigned=True),
        "bigint unsigned",
    ),
    (
        col("a", "decimal", "decimal(10,2)", precision=10, scale=2),
        pa.decimal128(10, 2),
        ColumnDefinition("a", "decimal", precision=10, scale=2),
        "decimal",
    ),
    (
        col("a", "decimal", "decimal(38,0)", precision=38, scale=0),
        pa.decimal128(38, 0),
        ColumnDefinition("a", "decimal", precision=38, scale=0),
        None,
    ),
    (
        col("a", "decimal", "decimal(65,30)", precision=65, scale=30),
        pa.string(),
        ColumnDefinition("a", "decimal", precision=65, scale=30),
        None,
    ),
    (col("a", "float"), pa.float32(), ColumnDefinition("a", "float"), "float"),
    (col("a", "double"), pa.float64(), ColumnDefinition("a", "double"), "double"),
    (col("a", "bit", "bit(64)", precision=64), pa.binary(), ColumnDefinition("a", "bit", bits=64), "bit"),
    (col("a", "year", "year(4)"), pa.int32(), ColumnDefinition("a", "year"), "year"),
    (col("a", "date"), pa.string(), ColumnDefinition("a", "date"), "date"),
    (col("a", "time", "time(3)", datetime_precision=3), pa.string(), ColumnDefinition("a", "time", fsp=3), "time"),
    (col("a", "datetime"), pa.timestamp("us"), ColumnDefinition("a", "datetime", fsp=0), "datetime"),
    (
        col("a", "timestamp", "timestamp(6)", datetime_precision=6),
        pa.timestamp("us"),
        ColumnDefinition("a", "timestamp", fsp=6),
        "timestamp",
    ),
    (col("a", "char", "char(3)"), pa.binary(), ColumnDefinition("a", "char"), "char"),
    (col("a", "varchar", "varchar(3)"), pa.string(), ColumnDefinition("a", "varchar"), "varchar"),
    (col("a", "tinytext"), pa.string(), ColumnDefinition("a", "text"), "tinytext"),
    (col("a", "mediumtext"), pa.string(), ColumnDefinition("a", "text"), "mediumtext"),
    (col("a", "longtext", is_json=True), pa.string(), ColumnDefinition("a", "json"), "longtext"),
    (col("a", "json"), pa.string(), ColumnDefinition("a", "json"), "json"),
    (col("a", "binary", "binary(4)"), pa.binary(), ColumnDefinition("a", "binary"), "binary"),
    (col("a", "varbinary", "varbinary(4)"), pa.binary(), ColumnDefinition("a", "varbinary"), "varbinary"),
    (col("a", "tinyblob"), pa.binary(), ColumnDefinition("a", "blob"), "tinyblob"),
    (col("a", "longblob"), pa.binary(), ColumnDefinition("a", "blob"), "longblob"),
    (
        col("a", "enum", "enum('x','y')"),
        pa.string(),
        ColumnDefinition("a", "enum", values=("x", "y")),
        "enum",
    ),
    (col("a", "set", "set('x','y')"), pa.string(), ColumnDefinition("a", "set", values=("x", "y")), "set"),
    (col("a", "geometry"), pa.binary(), ColumnDefinition("a", "geometry"), "geometry"),
    (col("a", "multipolygon"), pa.binary(), ColumnDefinition("a", "geometry"), "multipolygon"),
]


@pytest.mark.parametrize(("column", "parquet", "definition", "original"), TYPES)
def test_each_type_maps_to_the_spec_parquet_type_and_the_schema_event_vocabulary(
    column: ColumnInfo, parquet: pa.DataType, definition: ColumnDefinition, original: str | None
) -> None:
    assert arrow_type(column) == parquet
    assert schema_column(column) == definition
    if original is not None:
        assert original_type(column) == original


@pytest.mark.parametrize("data_type", ["uuid", "inet6", "inet4", "vector"])
def test_a_type_without_a_mapping_is_refused(data_type: str) -> None:
    with pytest.raises(UnsupportedColumn, match=rf"a \({data_type}\)"):
        arrow_type(col("a", data_type))
    with pytest.raises(UnsupportedColumn):
        schema_column(col("a", data_type))


def test_type_mapping_uses_auroras_field_names_and_zero_for_missing_facts() -> None:
    column = col("price", "decimal", "decimal(12,2) unsigned", precision=12, scale=2)
    assert type_mapping(column) == {
        "columnName": "price",
        "originalType": "decimal unsigned",
        "expectedExportedType": "decimal128(12, 2)",
        "originalCharMaxLength": 0,
        "originalNumPrecision": 12,
        "originalNumScale": 2,
        "originalDateTimePrecision": 0,
    }


@pytest.mark.parametrize(
    ("column_type", "members"),
    [
        ("enum('a','b')", ("a", "b")),
        ("enum('it''s','a,b','x)y')", ("it's", "a,b", "x)y")),
        (r"set('back\\slash','')", ("back\\slash", "")),
        (r"enum('new\nline')", ("new\nline",)),
        ("set('ü','😀')", ("ü", "😀")),
    ],
)
def test_enum_and_set_members_are_parsed_from_column_type(column_type: str, members: tuple[str, ...]) -> None:
    assert parse_members(column_type) == members


def test_values_become_arrow_arrays_exactly() -> None:
    assert to_arrow(col("a", "bigint", "bigint unsigned"), [18446744073709551615, None]).to_pylist() == [
        Decimal(18446744073709551615),
        None,
    ]
    decimal = col("a", "decimal", precision=10, scale=2)
    assert to_arrow(decimal, ["-0.01", "12.30", None]).to_pylist() == [Decimal("-0.01"), Decimal("12.30"), None]
    wide = col("a", "decimal", precision=65, scale=30)
    assert to_arrow(wide, ["1.500000000000000000000000000000"]).to_pylist() == ["1.500000000000000000000000000000"]
    assert to_arrow(col("a", "char"), ["ab", "😀", None]).to_pylist() == [b"ab", "😀".encode(), None]
    assert to_arrow(col("a", "float"), [1.1]).type == pa.float32()
    assert to_arrow(col("a", "date"), ["0000-00-00", "2024-02-29"]).to_pylist() == ["0000-00-00", "2024-02-29"]
    assert to_arrow(col("a", "bit"), [b"\x01\x00"]).to_pylist() == [b"\x01\x00"]


def test_timestamps_turn_zero_and_impossible_dates_into_null() -> None:
    assert timestamps(["2024-01-02 03:04:05.123", "0000-00-00 00:00:00.000", None]).to_pylist() == [
        datetime.datetime(2024, 1, 2, 3, 4, 5, 123000),
        None,
        None,
    ]
    # one impossible date falls back to the row-by-row parse, which keeps the good values
    assert timestamps(["2024-02-30 10:00:00", "2024-00-10 00:00:00", "1000-01-01 00:00:00"]).to_pylist() == [
        None,
        None,
        datetime.datetime(1000, 1, 1),
    ]


def test_key_values_compare_the_way_order_by_sorts() -> None:
    enum = col("e", "enum", "enum('zeta','alpha')")
    assert [key_value(enum, value) for value in ("zeta", "alpha", "")] == [1, 2, 0]
    members = col("s", "set", "set('x','y','z')")
    assert [key_value(members, value) for value in ("", "x", "y,z")] == [0, 1, 6]
    assert key_value(col("b", "bit"), b"\x01\x00") == 256
    assert key_value(col("d", "decimal"), "1.50") == Decimal("1.50")
    assert key_value(col("v", "varchar"), "abc") == "abc"
    assert key_placeholder(col("f", "float")) == "CAST(%s AS FLOAT)"
    assert key_placeholder(col("f", "double")) == "%s"


def test_keyset_pagination_is_an_index_range() -> None:
    keys = [col("a", "varchar"), col("b", "int"), col("f", "float")]
    assert keyset_condition(keys) == (
        "(`a` > %s) OR (`a` = %s AND `b` > %s) OR (`a` = %s AND `b` = %s AND `f` > CAST(%s AS FLOAT))"
    )
    assert keyset_args(keys, ["x", 7, 1.5]) == ["x", "x", 7, "x", 7, 1.5]
    table = TableFacts("app", "o`dd", (col("id", "int"), col("v", "varchar")), ("id",), 0)
    assert chunk_query(table, None, 50) == ("SELECT `id`, `v` FROM `app`.`o``dd` ORDER BY `id` LIMIT %s", [50])
    assert chunk_query(table, [9], 50) == (
        "SELECT `id`, `v` FROM `app`.`o``dd` WHERE (`id` > %s) ORDER BY `id` LIMIT %s",
        [9, 50],
    )


AVAILABLE = {
    ("app", "orders"): "BASE TABLE",
    ("app", "lines"): "BASE TABLE",
    ("app", "recent"): "VIEW",
    ("crm", "people"): "BASE TABLE",
    ("mysql", "db"): "BASE TABLE",
}


def test_tables_default_to_every_base_table_outside_the_system_databases() -> None:
    assert select_tables(AVAILABLE, (), "cdc", True) == [("app", "lines"), ("app", "orders"), ("crm", "people")]
    assert select_tables(AVAILABLE, (("app", "*"), ("app", "orders")), "cdc", True) == [
        ("app", "lines"),
        ("app", "orders"),
    ]
    assert select_tables(AVAILABLE, (("mysql", "db"),), "cdc", True) == [("mysql", "db")]


@pytest.mark.parametrize(
    ("patterns", "can_see_all", "error", "message"),
    [
        ((("app", "nope"),), True, ConfigError, "table app.nope does not exist"),
        ((("nope", "*"),), True, ConfigError, "database 'nope' does not exist"),
        ((("app", "recent"),), True, ConfigError, "app.recent is a view"),
        ((("app", "nope"),), False, SourceUnusable, "may not read it"),
    ],
)
def test_unknown_tables_are_named(
    patterns: tuple[tuple[str, str], ...], can_see_all: bool, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        select_tables(AVAILABLE, patterns, "cdc", can_see_all)
    with pytest.raises(ConfigError, match="no tables to snapshot"):
        select_tables({("mysql", "db"): "BASE TABLE"}, (), "cdc", True)


MOMENT = datetime.datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=datetime.UTC)


def test_layout_names() -> None:
    assert default_export_id(MOMENT) == "cdc-snapshot-20261123T101500Z"
    assert iso_time(MOMENT) == "2026-11-23T10:15:00.123456Z"
    assert table_dir("app", "orders") == "app/app.orders/1"
    assert tables_info_name("x", 3) == "export_tables_info_x_from_1_to_3.json"
    name = part_name(7)
    assert name.startswith("part-00007-") and name.endswith(".gz.parquet")
    assert check_export_id("cdc-snapshot-1") == "cdc-snapshot-1"
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(ConfigError, match="--export-id"):
            check_export_id(bad)


def test_documents() -> None:
    point = SnapshotPoint(BinlogPosition("binlog.000003", 1234), "0-1-42", MOMENT)
    table = TableExport("app", "orders", (col("id", "int"),), ("id",), rows=5, bytes=2 * 1024**2)
    table.started = table.ended = MOMENT
    info = export_info("x", "mariadb://h:3306", [table], point, MOMENT, MOMENT)
    assert info["exportOnly"] == ["app.orders"] and info["status"] == "COMPLETE"
    assert info["totalExtractedDataInGB"] == 0.001953
    (entry,) = tables_info([table])["perTableStatus"]
    assert entry["cdc"] == {
        "database": "app",
        "table": "orders",
        "rows": 5,
        "primaryKey": ["id"],
        "columns": [{"name": "id", "type": "int", "unsigned": False}],
    }
    assert position_document(point, "x") == {
        "file": "binlog.000003",
        "position": 1234,
        "gtid": "0-1-42",
        "snapshotTime": "2026-11-23T10:15:00.123456Z",
        "exportId": "x",
    }


def test_a_recorded_position_is_read_back() -> None:
    recorded = parse_position_document(b'{"file": "binlog.000003", "position": 4, "gtid": "", "exportId": "x"}', "p")
    assert (recorded.position, recorded.gtid, recorded.export_id) == (BinlogPosition("binlog.000003", 4), None, "x")
    for bad in (b"not json", b'{"file": "b.1"}', b'{"file": 1, "position": 4}', b'{"file": "b.1", "position": true}'):
        with pytest.raises(ConfigError, match="is not a snapshot position"):
            parse_position_document(bad, "p")


def test_progress_text() -> None:
    assert describe("app.t", 250000, 1000000, 6.0) == "app.t: 250000/1000000 rows (25%), 41667 rows/s"
    assert describe("app.t", 120, 100, 1.0) == "app.t: 120/120 rows (99%), 120 rows/s"  # the estimate was low
    assert describe("app.t", 0, 0, 0.0) == "app.t: 0/0 rows (0%), 0 rows/s"
    assert bar(1, 2) == "[" + "#" * 12 + "-" * 12 + "]"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_prints_at_most_every_two_seconds() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=False, clock=clock)
    progress.start("app.t", 100)
    for _ in range(10):
        clock.now += 0.5
        progress.advance(10)
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "snapshot app.t: 40/100 rows (40%), 20 rows/s",
        "snapshot app.t: 80/100 rows (80%), 20 rows/s",
        "snapshot app.t: 100 rows in 5.0s, 20 rows/s",
    ]


def test_terminal_progress_redraws_one_line() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, tty=True, clock=clock)
    progress.start("app.t", 10)
    clock.now = 1.0
    progress.advance(5)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\rsnapshot [############------------] app.t: 5/10 rows (50%), 5 rows/s" in text


def test_names_become_one_escaped_directory_each() -> None:
    assert table_dir("app", "orders") == "app/app.orders/1"
    assert table_dir("a/b", "../x=1") == "a%2Fb/a%2Fb...%2Fx%3D1/1"
