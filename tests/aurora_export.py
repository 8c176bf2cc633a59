"""A hand-made export in Aurora's "Export to S3" layout, with Aurora's quirks: NOT written by our snapshot writer.

`write_export(root)` writes, under `root/<EXPORT_ID>/`:

    export_info_<id>.json, export_tables_info_<id>_from_1_to_2.json   written by hand in Aurora's form (no cdc extras)
    app/app.orders/1/part-00000-<uuid>.gz.parquet                     gzip, two row groups
    app/app.orders/1/_SUCCESS
    app/app.orders/2/part-00000-<uuid>.gz.parquet                     a second partition
    app/app.lines/1/part-00000-<uuid>.gz.parquet                      a composite primary key

`ORDERS` lists every column of app.orders: its originalType (both spellings of the spec), the Parquet type Aurora
writes, the exported values of each row, and the value the master table must hold. `ours=True` adds what our
snapshot writes on top (`cdc` extras, `cdc_position.json`), so the same files load without a source connection.
"""

from __future__ import annotations

import datetime
import json
import struct
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

EXPORT_ID = "aurora-export-20261123"
SNAPSHOT_TIME = "2026-11-23T10:15:00.123456Z"
SNAPSHOT_AT = datetime.datetime(2026, 11, 23, 10, 15, 0, 123456)
POSITION = ("mysql-bin-changelog.000042", 1876)
ORDER = "0000000042:00000000000000001875:0000000000"


def geometry(x: float, y: float, srid: int = 0) -> bytes:
    """MySQL's internal GEOMETRY value: a 4-byte little-endian SRID, then WKB of a point."""
    return struct.pack("<I", srid) + struct.pack("<BIdd", 1, 1, x, y)


def float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


@dataclass(frozen=True)
class Column:
    name: str
    original_type: str
    arrow: pa.DataType
    exported: list[Any]  # one value per row, in ROWS order
    expected: list[Any]  # the master table's value per row
    mapping: dict[str, int] = field(default_factory=dict)  # originalNumPrecision & co.
    cdc: dict[str, Any] = field(default_factory=dict)  # ours: the schema-event column


WIDE = "12345678901234567890123456789012345.123456789012345678901234567890"
UTC_NOON = datetime.datetime(2026, 11, 23, 12, 0, 0)
# rows: id 1 (partition 1, row group 1), id 2 (partition 1, row group 2), id 3 all NULL (partition 2)
ORDERS: list[Column] = [
    Column("id", "int", pa.int32(), [1, 2, 3], [1, 2, 3], {"originalNumPrecision": 10}, {"type": "int"}),
    Column("tiny", "tinyint(4)", pa.int32(), [-128, 127, None], [-128, 127, None], cdc={"type": "tinyint"}),
    Column(
        "small_u",
        "smallint unsigned",
        pa.int32(),
        [65535, 0, None],
        [65535, 0, None],
        cdc={"type": "smallint", "unsigned": True},
    ),
    Column(
        "int_u",
        "int(10) unsigned",
        pa.int64(),
        [4294967295, 0, None],
        [4294967295, 0, None],
        cdc={"type": "int", "unsigned": True},
    ),
    Column(
        "big", "bigint", pa.int64(), [-(2**63), 2**63 - 1, None], [-(2**63), 2**63 - 1, None], cdc={"type": "bigint"}
    ),
    Column(
        "big_u",
        "bigint unsigned",
        pa.decimal128(20, 0),
        [Decimal(2**64 - 1), Decimal(0), None],
        [Decimal(2**64 - 1), Decimal(0), None],
        {"originalNumPrecision": 20},
        {"type": "bigint", "unsigned": True},
    ),
    Column(
        "price",
        "decimal",
        pa.decimal128(10, 2),
        [Decimal("1.50"), Decimal("-99999999.99"), None],
        [Decimal("1.50"), Decimal("-99999999.99"), None],
        {"originalNumPrecision": 10, "originalNumScale": 2},
        {"type": "decimal", "precision": 10, "scale": 2},
    ),
    Column(
        "wide",
        "decimal(65,30)",
        pa.string(),
        [WIDE, "-0.000000000000000000000000000001", None],
        [WIDE, "-0.000000000000000000000000000001", None],
        cdc={"type": "decimal", "precision": 65, "scale": 30},
    ),
    Column("ratio", "float", pa.float32(), [1.1, -0.5, None], [float32(1.1), -0.5, None], cdc={"type": "float"}),
    Column("score", "double", pa.float64(), [1e300, 0.1, None], [1e300, 0.1, None], cdc={"type": "double"}),
    Column("flags", "bit(5)", pa.binary(), [b"\x15", b"\x00", None], [21, 0, None], cdc={"type": "bit", "bits": 5}),
    Column(
        "mask",
        "bit",
        pa.binary(),
        [b"\xff" * 8, b"\x00" * 7 + b"\x01", None],
        [Decimal(2**64 - 1), Decimal(1), None],
        {"originalNumPrecision": 64},
        {"type": "bit", "bits": 64},
    ),
    Column(
        "day",
        "date",
        pa.string(),
        ["2026-11-23", "0000-00-00", None],
        [datetime.date(2026, 11, 23), None, None],
        cdc={"type": "date"},
    ),
    Column(
        "moment",
        "time",
        pa.string(),
        ["-838:59:59.000000", "12:34:56.789000", None],
        ["-838:59:59.000000", "12:34:56.789000", None],
        {"originalDateTimePrecision": 6},
        {"type": "time", "fsp": 6},
    ),
    Column(
        "created",
        "datetime(6)",
        pa.timestamp("us"),
        [datetime.datetime(2026, 11, 23, 10, 0, 0, 654321), datetime.datetime(1000, 1, 1), None],
        [datetime.datetime(2026, 11, 23, 10, 0, 0, 654321), datetime.datetime(1000, 1, 1), None],
        cdc={"type": "datetime", "fsp": 6},
    ),
    Column(
        "updated",
        "timestamp",
        pa.timestamp("us"),
        [UTC_NOON, datetime.datetime(2038, 1, 19, 3, 14, 7), None],
        [UTC_NOON, datetime.datetime(2038, 1, 19, 3, 14, 7), None],
        cdc={"type": "timestamp", "fsp": 0},
    ),
    Column("code", "char(3)", pa.binary(), ["aé".encode(), b"", None], ["aé", "", None], cdc={"type": "char"}),
    Column("name", "varchar", pa.string(), ["Zoë 😀", "it's", None], ["Zoë 😀", "it's", None], cdc={"type": "varchar"}),
    Column("body", "longtext", pa.string(), ["x" * 1000, "", None], ["x" * 1000, "", None], cdc={"type": "text"}),
    Column(
        "kind",
        "enum('small','large')",
        pa.string(),
        ["large", "small", None],
        ["large", "small", None],
        cdc={"type": "enum", "values": ["small", "large"]},
    ),
    Column(
        "tags",
        "set",
        pa.string(),
        ["gift,rush", "", None],
        [["gift", "rush"], [], None],
        cdc={"type": "set", "values": ["gift", "rush"]},
    ),
    Column(
        "doc",
        "json",
        pa.string(),
        ['{"a": 1.50, "b": [1, "x"]}', "null", None],
        ['{"a": 1.50, "b": [1, "x"]}', None, None],  # the JSON document null is NULL, as the merge stores it
        cdc={"type": "json"},
    ),
    Column(
        "raw",
        "varbinary(8)",
        pa.binary(),
        [b"\x00\xff\x10", b"", None],
        [b"\x00\xff\x10", b"", None],
        cdc={"type": "varbinary"},
    ),
    Column("yr", "year", pa.int32(), [2026, 0, None], [2026, 0, None], cdc={"type": "year"}),
    Column(
        "geom",
        "point",
        pa.binary(),
        [geometry(1, 2), geometry(-0.5, 1e20, srid=4326), None],
        ["POINT(1 2)", "POINT(-0.5 1e20)", None],
        cdc={"type": "geometry"},
    ),
]
LINES: list[Column] = [
    Column("order_id", "int", pa.int32(), [1, 1, 2], [1, 1, 2], cdc={"type": "int"}),
    Column("sku", "varchar(12)", pa.string(), ["a", "b", "a"], ["a", "b", "a"], cdc={"type": "varchar"}),
    Column("qty", "int unsigned", pa.int64(), [1, 2, 3], [1, 2, 3], cdc={"type": "int", "unsigned": True}),
]
KEYS = {("app", "orders"): ("id",), ("app", "lines"): ("order_id", "sku")}
TABLES = {"orders": ORDERS, "lines": LINES}


def mapping(column: Column) -> dict[str, Any]:
    """One originalTypeMappings entry as Aurora writes it."""
    expected = {
        pa.int32(): "int32",
        pa.int64(): "int64",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.string(): "string",
        pa.binary(): "binary",
        pa.timestamp("us"): "timestamp",
    }.get(column.arrow, "decimal")
    entry: dict[str, Any] = {
        "columnName": column.name,
        "originalType": column.original_type,
        "expectedExportedType": expected,
        "originalCharMaxLength": 0,
        "originalNumPrecision": 0,
        "originalNumScale": 0,
        "originalDateTimePrecision": 0,
    }
    entry.update(column.mapping)
    return entry


def arrow_table(columns: list[Column], rows: slice) -> pa.Table:
    return pa.table({c.name: pa.array(c.exported[rows], type=c.arrow) for c in columns})


def write_part(directory: Path, table: pa.Table, *, row_group_size: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"part-00000-{uuid.uuid4()}.gz.parquet"
    pq.write_table(table, path, compression="gzip", row_group_size=row_group_size)
    return path


def table_status(name: str, columns: list[Column], partitions: int, *, ours: bool, database: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "target": f"{database}.{name}",
        "status": "COMPLETE",
        "TableStatistics": {
            "extractionStartTime": "2026-11-23T10:20:01.000Z",
            "extractionEndTime": "2026-11-23T10:21:07.000Z",
            "partitioningInfo": {"numberOfPartitions": partitions, "numberOfCompletedPartitions": partitions},
        },
        "schemaMetadata": {"originalTypeMappings": [mapping(c) for c in columns]},
    }
    if ours:
        status["cdc"] = {
            "rows": len(columns[0].exported),
            "primaryKey": list(KEYS[("app", name)]),  # the same key whatever the database
            "columns": [{"name": c.name, **c.cdc} for c in columns],
        }
    return status


def write_export(root: Path, *, ours: bool = False, database: str = "app") -> Path:
    """The export directory (`root/<EXPORT_ID>`); its tables are `database`.orders and `database`.lines."""
    export = root / EXPORT_ID
    orders = export / database / f"{database}.orders"
    write_part(orders / "1", arrow_table(ORDERS, slice(0, 2)), row_group_size=1)
    (orders / "1" / "_SUCCESS").write_bytes(b"")
    write_part(orders / "2", arrow_table(ORDERS, slice(2, 3)))
    write_part(export / database / f"{database}.lines" / "1", arrow_table(LINES, slice(0, 3)))
    info = {
        "exportTaskIdentifier": EXPORT_ID,
        "sourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:app-cluster",
        "exportOnly": [database],
        "snapshotTime": SNAPSHOT_TIME,
        "taskStartTime": "2026-11-23T10:20:00.000Z",
        "taskEndTime": "2026-11-23T10:25:00.000Z",
        "s3Bucket": "exports",
        "s3Prefix": "",
        "exportedFilesPath": EXPORT_ID,
        "iamRoleArn": "arn:aws:iam::123456789012:role/export",
        "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abc",
        "status": "COMPLETE",
        "percentProgress": 100,
        "totalExtractedDataInGB": 0,
    }
    (export / f"export_info_{EXPORT_ID}.json").write_text(json.dumps(info, indent=2))
    tables = {
        "perTableStatus": [
            table_status("orders", ORDERS, 2, ours=ours, database=database),
            table_status("lines", LINES, 1, ours=ours, database=database),
        ]
    }
    (export / f"export_tables_info_{EXPORT_ID}_from_1_to_2.json").write_text(json.dumps(tables, indent=2))
    if ours:
        position = {
            "file": POSITION[0],
            "position": POSITION[1],
            "gtid": None,
            "snapshotTime": SNAPSHOT_TIME,
            "exportId": EXPORT_ID,
        }
        (export / "cdc_position.json").write_text(json.dumps(position))
    return export


def tables_info_path(export: Path) -> Path:
    return export / f"export_tables_info_{EXPORT_ID}_from_1_to_2.json"


def edit_tables_info(export: Path, edit: Any) -> None:
    """Rewrite the tables info: `edit(document)` changes it in place."""
    path = tables_info_path(export)
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def expected_rows(columns: list[Column]) -> list[tuple[Any, ...]]:
    return [tuple(c.expected[i] for c in columns) for i in range(len(columns[0].expected))]
