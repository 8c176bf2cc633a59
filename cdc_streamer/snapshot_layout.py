"""The export layout a snapshot writes (Aurora's "Export to S3" layout plus `cdc` extras): names, paths and the three
JSON documents. Pure; `snapshot_output` writes them, `cdc-streamer run --from-snapshot` reads `cdc_position.json`.

    <root>/<export_id>/export_info_<export_id>.json
    <root>/<export_id>/export_tables_info_<export_id>_from_1_to_<N>.json
    <root>/<export_id>/<db>/<db>.<table>/1/part-<5-digit index>-<uuid>.gz.parquet
    <root>/<export_id>/cdc_position.json
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .encoding import column_fields
from .errors import ConfigError
from .event import ColumnDefinition
from .path_names import path_value
from .position import BinlogPosition
from .snapshot_types import ColumnInfo, schema_column, type_mapping

POSITION_FILE = "cdc_position.json"
PARTITION = "1"
EXPORT_ID_PREFIX = "cdc-snapshot-"
_EXPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def default_export_id(now: datetime.datetime) -> str:
    return f"{EXPORT_ID_PREFIX}{now.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}"


def check_export_id(export_id: str) -> str:
    if not _EXPORT_ID.match(export_id):
        raise ConfigError(f"--export-id (CDC_EXPORT_ID): letters, digits, '.', '_' and '-' only, got {export_id!r}")
    return export_id


def iso_time(moment: datetime.datetime) -> str:
    """`2026-11-23T10:15:00.123456Z` (UTC, microseconds)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def table_dir(database: str, table: str) -> str:
    """Aurora's `<db>/<db>.<table>/<partition>`, each name escaped into one path segment (`path_names`)."""
    database, table = path_value(database), path_value(table)
    return f"{database}/{database}.{table}/{PARTITION}"


def part_name(index: int) -> str:
    return f"part-{index:05d}-{uuid.uuid4()}.gz.parquet"


def export_info_name(export_id: str) -> str:
    return f"export_info_{export_id}.json"


def tables_info_name(export_id: str, tables: int) -> str:
    return f"export_tables_info_{export_id}_from_1_to_{tables}.json"


@dataclass(frozen=True, slots=True)
class SnapshotPoint:
    """Where the snapshot sits in the binlog: the position of the first change it does not contain."""

    position: BinlogPosition
    gtid: str | None
    snapshot_time: datetime.datetime


@dataclass(slots=True)
class TableExport:
    """One table's part of the export, filled in while it is read."""

    database: str
    table: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    estimated_rows: int = 0
    rows: int = 0
    bytes: int = 0
    files: list[str] = field(default_factory=list)
    started: datetime.datetime | None = None
    ended: datetime.datetime | None = None

    @property
    def target(self) -> str:
        return f"{self.database}.{self.table}"

    def schema_columns(self) -> tuple[ColumnDefinition, ...]:
        return tuple(schema_column(column) for column in self.columns)


def export_info(
    export_id: str,
    source_arn: str,
    tables: Sequence[TableExport],
    point: SnapshotPoint,
    task_start: datetime.datetime,
    task_end: datetime.datetime,
) -> dict[str, Any]:
    return {
        "exportTaskIdentifier": export_id,
        "sourceArn": source_arn,
        "exportOnly": [table.target for table in tables],
        "snapshotTime": iso_time(point.snapshot_time),
        "taskStartTime": iso_time(task_start),
        "taskEndTime": iso_time(task_end),
        "status": "COMPLETE",
        "percentProgress": 100,
        "totalExtractedDataInGB": round(sum(table.bytes for table in tables) / 1024**3, 6),
    }


def tables_info(tables: Sequence[TableExport]) -> dict[str, Any]:
    def entry(table: TableExport) -> dict[str, Any]:
        started = table.started or datetime.datetime.now(datetime.UTC)
        return {
            "target": table.target,
            "status": "COMPLETE",
            "TableStatistics": {
                "extractionStartTime": iso_time(started),
                "extractionEndTime": iso_time(table.ended or started),
                "partitioningInfo": {"numberOfPartitions": 1, "numberOfCompletedPartitions": 1},
            },
            "schemaMetadata": {"originalTypeMappings": [type_mapping(column) for column in table.columns]},
            "cdc": {
                "database": table.database,  # `target` is ambiguous when a name holds a dot
                "table": table.table,
                "rows": table.rows,
                "primaryKey": list(table.primary_key),
                "columns": [column_fields(column) for column in table.schema_columns()],
            },
        }

    return {"perTableStatus": [entry(table) for table in tables]}


def position_document(point: SnapshotPoint, export_id: str) -> dict[str, Any]:
    return {
        "file": point.position.file,
        "position": point.position.offset,
        "gtid": point.gtid,
        "snapshotTime": iso_time(point.snapshot_time),
        "exportId": export_id,
    }


def encode_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class RecordedPosition:
    """A snapshot's `cdc_position.json`, read back."""

    position: BinlogPosition
    gtid: str | None
    export_id: str | None


def parse_position_document(data: bytes, where: str, flag: str = "--from-snapshot") -> RecordedPosition:
    try:
        document = json.loads(data)
        file, offset = document["file"], document["position"]
        if not isinstance(file, str) or not isinstance(offset, int) or isinstance(offset, bool):
            raise TypeError
        gtid = document.get("gtid")
        export_id = document.get("exportId")
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f'{flag}: {where} is not a snapshot position (expected {{"file": ..., "position": ...}})'
        ) from None
    return RecordedPosition(
        BinlogPosition(file, offset),
        gtid if isinstance(gtid, str) and gtid else None,
        export_id if isinstance(export_id, str) else None,
    )
