"""Unit tests for cdc_lake.export_reader and cdc_lake.export_types: the pure parsing of an export's documents and
file listings, and the choice of conversion per exported column."""

from __future__ import annotations

import datetime
from typing import Any

import pyarrow as pa
import pytest

from cdc_lake.export_reader import (
    ExportTable,
    TypeMapping,
    check_columns,
    parse_export_info,
    parse_original_type,
    parse_position,
    parse_tables_info,
    partition_files,
    snapshot_order,
)
from cdc_lake.export_types import (
    BIT,
    CAST,
    DATE_TEXT,
    GEOMETRY,
    JSON,
    SET_TEXT,
    TIMESTAMP_TEXT,
    UTF8,
    conversion,
    hive_type,
)
from cdc_lake.master_types import SourceColumn, master_type
from cdc_streamer.errors import ConfigError
from cdc_streamer.position import BinlogPosition


@pytest.mark.parametrize(
    ("original", "fields", "expected"),
    [
        ("int", {}, SourceColumn("c", "int")),
        ("bigint unsigned", {}, SourceColumn("c", "bigint", unsigned=True)),
        ("int(11) unsigned", {}, SourceColumn("c", "int", unsigned=True)),
        ("TINYINT(3) UNSIGNED ZEROFILL", {}, SourceColumn("c", "tinyint", unsigned=True)),
        ("decimal", {"precision": 12, "scale": 3}, SourceColumn("c", "decimal", precision=12, scale=3)),
        ("decimal(10,2)", {"precision": 99, "scale": 9}, SourceColumn("c", "decimal", precision=10, scale=2)),
        ("decimal(40)", {}, SourceColumn("c", "decimal", precision=40, scale=0)),
        ("decimal(65,30) unsigned", {}, SourceColumn("c", "decimal", unsigned=True, precision=65, scale=30)),
        ("bit", {"precision": 5}, SourceColumn("c", "bit", bits=5)),
        ("bit(64)", {}, SourceColumn("c", "bit", bits=64)),
        ("bit", {}, SourceColumn("c", "bit")),
        ("datetime", {"datetime_precision": 6}, SourceColumn("c", "datetime", fsp=6)),
        ("timestamp(3)", {}, SourceColumn("c", "timestamp", fsp=3)),
        ("time", {}, SourceColumn("c", "time", fsp=0)),
        ("enum('a','B''c')", {}, SourceColumn("c", "enum", values=("a", "B'c"))),
        ("set('x,y','z')", {}, SourceColumn("c", "set", values=("x,y", "z"))),
        ("set", {}, SourceColumn("c", "set")),
        ("longtext", {}, SourceColumn("c", "text")),
        ("mediumblob", {}, SourceColumn("c", "blob")),
        ("point", {}, SourceColumn("c", "geometry")),
        ("double precision", {}, SourceColumn("c", "double")),
        ("varchar(255)", {}, SourceColumn("c", "varchar")),
        ("json", {}, SourceColumn("c", "json")),
        ("year(4)", {}, SourceColumn("c", "year")),
    ],
)
def test_original_types_in_both_spellings(original: str, fields: dict[str, int], expected: SourceColumn) -> None:
    mapping = TypeMapping(
        "c",
        original,
        precision=fields.get("precision", 0),
        scale=fields.get("scale", 0),
        datetime_precision=fields.get("datetime_precision", 0),
    )
    assert parse_original_type(mapping) == expected


def test_an_unknown_original_type_is_refused_by_the_master_types() -> None:
    column = parse_original_type(TypeMapping("c", "inet6"))
    with pytest.raises(ValueError, match="'inet6', which the lake does not know"):
        master_type(column)
    with pytest.raises(ConfigError, match="cannot read its originalType"):
        parse_original_type(TypeMapping("c", "(11)"))


def test_export_info() -> None:
    info = parse_export_info(
        {"exportTaskIdentifier": "x", "status": "COMPLETE", "snapshotTime": "2026-11-23T10:15:00.5+01:00"}, "f.json"
    )
    assert (info.export_id, info.snapshot_time) == ("x", datetime.datetime(2026, 11, 23, 9, 15, 0, 500000))
    with pytest.raises(ConfigError, match="status FAILED, not COMPLETE"):
        parse_export_info({"exportTaskIdentifier": "x", "status": "FAILED"}, "f.json")
    with pytest.raises(ConfigError, match="snapshotTime: expected an ISO-8601 time"):
        parse_export_info({"status": "COMPLETE", "snapshotTime": "yesterday"}, "f.json")


def entry(target: str, **extra: Any) -> dict[str, Any]:
    return {"target": target, "status": "COMPLETE", **extra}


def test_tables_info_chunks_targets_and_extras() -> None:
    tables = parse_tables_info(
        {
            "export_tables_info_x_from_3_to_3.json": {"perTableStatus": [entry("db.db.c")]},
            "export_tables_info_x_from_1_to_2.json": {
                "perTableStatus": [
                    entry(
                        "db.a",
                        TableStatistics={
                            "partitioningInfo": {"numberOfPartitions": 2, "numberOfCompletedPartitions": 2}
                        },
                        cdc={"rows": 5, "primaryKey": ["id"], "columns": [{"name": "id", "type": "INT"}]},
                    ),
                    entry(
                        "db.b", schemaMetadata={"originalTypeMappings": [{"columnName": "v", "originalType": "int"}]}
                    ),
                ]
            },
        }
    )
    assert [(t.database, t.table) for t in tables] == [("db", "a"), ("db", "b"), ("db", "c")]
    a, b, _ = tables
    assert (a.partitions, a.cdc_rows, a.cdc_primary_key, a.cdc_columns) == (2, 5, ("id",), (SourceColumn("id", "int"),))
    assert (b.partitions, b.cdc_primary_key, b.cdc_columns, b.mappings) == (
        None,
        None,
        None,
        (TypeMapping("v", "int"),),
    )
    with pytest.raises(ConfigError, match=r"db\.a is listed twice"):
        parse_tables_info({"t.json": {"perTableStatus": [entry("db.a"), entry("db.db.a")]}})
    with pytest.raises(ConfigError, match=r"target 'a' is not db\.table"):
        parse_tables_info({"t.json": {"perTableStatus": [entry("a")]}})


def test_position_and_order() -> None:
    position = parse_position({"file": "binlog.000003", "position": 1234, "gtid": None})
    assert position == BinlogPosition("binlog.000003", 1234)
    assert snapshot_order(position) == "0000000003:00000000000000001233:0000000000"
    with pytest.raises(ConfigError, match="expected file"):
        parse_position({"file": "binlog.000003"})
    with pytest.raises(ConfigError, match="POS >= 1"):
        snapshot_order(BinlogPosition("binlog.000003", 0))


TABLE = ExportTable("app", "t", "COMPLETE", (TypeMapping("id", "int"), TypeMapping("v", "int")), partitions=2)


def test_partition_files() -> None:
    listing = ["1/", "1/part-00001-b.gz.parquet", "1/part-00000-a.gz.parquet", "1/_SUCCESS", "2/", "2/p.parquet"]
    assert partition_files(TABLE, listing) == ["1/part-00000-a.gz.parquet", "1/part-00001-b.gz.parquet", "2/p.parquet"]
    with pytest.raises(ConfigError, match=r"partition directories \[2\] are missing"):
        partition_files(TABLE, listing[:4])
    with pytest.raises(ConfigError, match=r"partitions \[2\] under app/app.t/ have no Parquet files"):
        partition_files(TABLE, [*listing[:4], "2/", "2/.tmp.parquet"])
    unknown = ExportTable("app", "t", "COMPLETE", ())
    assert partition_files(unknown, ["1/", "1/a.parquet", "2/", "2/b.parquet"]) == ["1/a.parquet", "2/b.parquet"]
    with pytest.raises(ConfigError, match=r"partition directories \[1\] are missing"):
        partition_files(unknown, ["2/", "2/b.parquet"])
    with pytest.raises(ConfigError, match="no partition directories"):
        partition_files(unknown, [])
    empty = ExportTable("app", "t", "COMPLETE", (), cdc_rows=0)
    assert partition_files(empty, []) == []


def test_columns_must_match_the_type_mappings() -> None:
    check_columns(TABLE, "f", ["v", "id"])
    with pytest.raises(ConfigError, match=r"schema differs from the source: columns \['v'\] are not in the Parquet"):
        check_columns(TABLE, "f", ["id"])
    with pytest.raises(ConfigError, match=r"columns \['x'\] are in the Parquet file but not in its type mappings"):
        check_columns(TABLE, "f", ["id", "v", "x"])
    with pytest.raises(ConfigError, match="3 columns in the Parquet file, 2 in its type mappings"):
        check_columns(TABLE, "f", ["id", "v", "v"])


@pytest.mark.parametrize(
    ("column", "arrow", "expected"),
    [
        (SourceColumn("c", "char"), pa.binary(), UTF8),
        (SourceColumn("c", "varchar"), pa.string(), CAST),
        (SourceColumn("c", "json"), pa.string(), JSON),
        (SourceColumn("c", "date"), pa.string(), DATE_TEXT),
        (SourceColumn("c", "date"), pa.date32(), CAST),
        (SourceColumn("c", "datetime"), pa.timestamp("us"), CAST),
        (SourceColumn("c", "timestamp"), pa.timestamp("us", tz="UTC"), CAST),
        (SourceColumn("c", "datetime"), pa.string(), TIMESTAMP_TEXT),
        (SourceColumn("c", "set"), pa.string(), SET_TEXT),
        (SourceColumn("c", "bit", bits=3), pa.binary(), BIT),
        (SourceColumn("c", "bit", bits=64), pa.binary(), BIT),
        (SourceColumn("c", "geometry"), pa.binary(), GEOMETRY),
        (SourceColumn("c", "bigint", unsigned=True), pa.decimal128(20, 0), CAST),
        (SourceColumn("c", "float"), pa.float64(), CAST),  # Aurora's documented FLOAT -> DOUBLE
        (SourceColumn("c", "mediumint", unsigned=True), pa.int64(), CAST),
        (SourceColumn("c", "decimal", precision=50), pa.string(), CAST),
        (SourceColumn("c", "blob"), pa.binary(), CAST),
        (SourceColumn("c", "int"), pa.null(), CAST),
        (SourceColumn("c", "int"), pa.timestamp("us"), None),
        (SourceColumn("c", "blob"), pa.string(), None),
        (SourceColumn("c", "set"), pa.binary(), None),
        (SourceColumn("c", "date"), pa.int32(), None),
    ],
)
def test_conversions(column: SourceColumn, arrow: pa.DataType, expected: str | None) -> None:
    assert conversion(column, master_type(column), arrow) == expected


def test_hive_types() -> None:
    arrows = [pa.int32(), pa.int64(), pa.decimal128(20, 0), pa.float32(), pa.float64(), pa.string(), pa.binary()]
    arrows += [pa.timestamp("us"), pa.date32(), pa.bool_(), pa.null()]
    assert [hive_type(arrow) for arrow in arrows] == [
        *("int", "bigint", "decimal(20,0)", "float", "double", "string", "binary"),
        *("timestamp", "date", "boolean", "string"),
    ]
