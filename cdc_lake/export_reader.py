"""An export in Aurora's "Export to S3" layout, parsed. Pure: JSON documents and file listings in, facts out.

The layout (docs/lake.md, "Initial load: load-export"; the contract both the snapshot writer and the loader follow):

    <export>/export_info_<id>.json                                   the task: status, snapshotTime
    <export>/export_tables_info_<id>_from_1_to_<N>.json              per table: status, partitions, column types
    <export>/<db>/<db>.<table>/<n>/part-<index>-<uuid>.gz.parquet    the rows (n = partition, from 1)
    <export>/cdc_position.json                                       ours only: the binlog position of the snapshot

A table's master schema comes from its `cdc` extras when our snapshot wrote them (`columns` in the schema-event
vocabulary, `primaryKey`); a real Aurora export has only `originalTypeMappings`, parsed here into the same
`SourceColumn`s, and no primary key (the loader reads it from the source). Everything wrong with an export is a
`ConfigError` with one line that names the table and what to do.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdc_streamer.errors import ConfigError
from cdc_streamer.path_names import path_value
from cdc_streamer.position import BinlogPosition, file_number

from .event_schema import binlog_order
from .master_types import SourceColumn

__all__ = [
    "COMPLETE",
    "ExportInfo",
    "ExportTable",
    "TypeMapping",
    "check_columns",
    "parse_export_info",
    "parse_original_type",
    "parse_position",
    "parse_tables_info",
    "partition_files",
    "snapshot_order",
    "source_columns",
]

COMPLETE = "COMPLETE"
POSITION_FILE = "cdc_position.json"
SCHEMA_DIFFERS = "an export whose schema differs from the source"


@dataclass(frozen=True, slots=True)
class ExportInfo:
    export_id: str
    status: str
    snapshot_time: datetime.datetime  # UTC, naive


@dataclass(frozen=True, slots=True)
class TypeMapping:
    """One entry of `schemaMetadata.originalTypeMappings`."""

    name: str
    original_type: str
    exported_type: str = ""
    char_max_length: int = 0
    precision: int = 0
    scale: int = 0
    datetime_precision: int = 0


@dataclass(frozen=True, slots=True)
class ExportTable:
    database: str
    table: str
    status: str
    mappings: tuple[TypeMapping, ...]
    partitions: int | None = None  # partitioningInfo.numberOfPartitions, when given
    completed_partitions: int | None = None
    cdc_columns: tuple[SourceColumn, ...] | None = None  # ours only
    cdc_primary_key: tuple[str, ...] | None = None  # ours only
    cdc_rows: int | None = None  # ours only

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def directory(self) -> str:
        """Where its partitions are, relative to the export directory (names escaped as the snapshot writes them)."""
        database, table = path_value(self.database), path_value(self.table)
        return f"{database}/{database}.{table}"


# -- documents ----------------------------------------------------------------------------------------------------


def _object(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ConfigError(f"{what}: expected a JSON object")
    return document


def parse_time(text: Any, what: str) -> datetime.datetime:
    """An ISO-8601 instant (`2026-11-23T10:15:00.123456Z`) as a naive UTC datetime."""
    if isinstance(text, str):
        try:
            moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is not None:
                moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
            return moment
    raise ConfigError(f"{what}: expected an ISO-8601 time such as 2026-11-23T10:15:00.123456Z, got {text!r}")


def parse_export_info(document: Any, name: str) -> ExportInfo:
    info = _object(document, name)
    status = str(info.get("status") or "")
    export_id = str(info.get("exportTaskIdentifier") or "")
    if status != COMPLETE:
        raise ConfigError(
            f"{name}: the export {export_id or '?'} has status {status or 'none'}, not {COMPLETE}: "
            "load an export that finished"
        )
    return ExportInfo(export_id, status, parse_time(info.get("snapshotTime"), f"{name}: snapshotTime"))


def split_target(target: str, what: str) -> tuple[str, str]:
    """`db.table`, or Aurora's 3-part `db.db.table`: the first and the last part."""
    parts = target.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"{what}: target {target!r} is not db.table")
    return parts[0], parts[-1]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(item: Any, what: str) -> TypeMapping:
    entry = _object(item, what)
    name, original = entry.get("columnName"), entry.get("originalType")
    if not isinstance(name, str) or not isinstance(original, str):
        raise ConfigError(f"{what}: a type mapping without columnName/originalType")
    return TypeMapping(
        name=name,
        original_type=original,
        exported_type=str(entry.get("expectedExportedType") or ""),
        char_max_length=_int(entry.get("originalCharMaxLength")),
        precision=_int(entry.get("originalNumPrecision")),
        scale=_int(entry.get("originalNumScale")),
        datetime_precision=_int(entry.get("originalDateTimePrecision")),
    )


def parse_table(item: Any, name: str) -> ExportTable:
    entry = _object(item, f"{name}: perTableStatus entry")
    target = entry.get("target")
    if not isinstance(target, str):
        raise ConfigError(f"{name}: a perTableStatus entry without a target")
    ours = entry.get("cdc")
    if isinstance(ours, dict) and isinstance(ours.get("database"), str) and isinstance(ours.get("table"), str):
        database, table = ours["database"], ours["table"]  # exact even when a name holds a dot
    else:
        database, table = split_target(target, name)
    what = f"{database}.{table}"
    schema = entry.get("schemaMetadata") or {}
    mappings = tuple(_mapping(m, what) for m in _object(schema, what).get("originalTypeMappings") or ())
    statistics = _object(entry.get("TableStatistics") or {}, what)
    partitioning = _object(statistics.get("partitioningInfo") or {}, what)
    partitions = partitioning.get("numberOfPartitions")
    completed = partitioning.get("numberOfCompletedPartitions")
    cdc = _object(entry.get("cdc") or {}, what)
    columns = None
    if isinstance(cdc.get("columns"), list):
        try:
            columns = tuple(SourceColumn.from_json(column) for column in cdc["columns"])
        except (KeyError, TypeError, AttributeError):
            raise ConfigError(f"{what}: cdc.columns is not a list of {{name, type}} objects") from None
    key = cdc.get("primaryKey")
    rows = cdc.get("rows")
    return ExportTable(
        database=database,
        table=table,
        status=str(entry.get("status") or ""),
        mappings=mappings,
        partitions=partitions if isinstance(partitions, int) else None,
        completed_partitions=completed if isinstance(completed, int) else None,
        cdc_columns=columns,
        cdc_primary_key=tuple(str(k) for k in key) if isinstance(key, list) else None,
        cdc_rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
    )


def parse_tables_info(documents: Mapping[str, Any]) -> list[ExportTable]:
    """Every table of the export_tables_info documents (file name -> parsed JSON), in file then entry order."""
    tables: dict[tuple[str, str], ExportTable] = {}
    for name in sorted(documents, key=_chunk_order):
        entries = _object(documents[name], name).get("perTableStatus")
        if not isinstance(entries, list):
            raise ConfigError(f"{name}: no perTableStatus list")
        for item in entries:
            table = parse_table(item, name)
            if (table.database, table.table) in tables:
                raise ConfigError(f"{name}: {table.name} is listed twice")
            tables[(table.database, table.table)] = table
    return list(tables.values())


def _chunk_order(name: str) -> tuple[int, str]:
    match = re.search(r"_from_(\d+)_to_\d+\.json$", name)
    return (int(match.group(1)) if match else 0, name)


def check_status(table: ExportTable) -> None:
    if table.status != COMPLETE:
        raise ConfigError(
            f"{table.name}: its export status is {table.status or 'none'}, not {COMPLETE}: load an export that finished"
        )
    if table.partitions is not None and table.completed_partitions not in (None, table.partitions):
        raise ConfigError(
            f"{table.name}: {table.completed_partitions} of {table.partitions} partitions were exported: load an "
            "export that finished"
        )


# -- the position -------------------------------------------------------------------------------------------------


def parse_position(document: Any) -> BinlogPosition:
    """`cdc_position.json` -> the binlog position of the snapshot."""
    entry = _object(document, POSITION_FILE)
    file, offset = entry.get("file"), entry.get("position")
    if not isinstance(file, str) or not isinstance(offset, int) or isinstance(offset, bool):
        raise ConfigError(f"{POSITION_FILE}: expected file (string) and position (number), got {dict(entry)!r}")
    return BinlogPosition.parse(f"{file}:{offset}", flag=POSITION_FILE)


def snapshot_order(position: BinlogPosition) -> str:
    """The binlog order just before `position`: every change at or after it is newer than the loaded rows."""
    number = file_number(position.file)
    if number < 0 or position.offset < 1:
        raise ConfigError(f"position {position}: expected FILE.NUMBER:POS with POS >= 1")
    return binlog_order(number, position.offset - 1, 0)


# -- columns ------------------------------------------------------------------------------------------------------

_FLAGS = frozenset({"unsigned", "signed", "zerofill"})
_ALIASES = {
    "integer": "int",
    "int4": "int",
    "int8": "bigint",
    "middleint": "mediumint",
    "bool": "tinyint",
    "boolean": "tinyint",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "real": "double",
    "double precision": "double",
    "tinytext": "text",
    "mediumtext": "text",
    "longtext": "text",
    "tinyblob": "blob",
    "mediumblob": "blob",
    "longblob": "blob",
    "character": "char",
    "character varying": "varchar",
    "geomcollection": "geometry",
    "geometrycollection": "geometry",
    "point": "geometry",
    "linestring": "geometry",
    "polygon": "geometry",
    "multipoint": "geometry",
    "multilinestring": "geometry",
    "multipolygon": "geometry",
}
_TEMPORAL = frozenset({"time", "datetime", "timestamp"})


def _quoted_values(args: str) -> tuple[str, ...]:
    """`'a','it''s'` -> ('a', "it's")."""
    return tuple(value.replace("''", "'") for value in re.findall(r"'((?:[^']|'')*)'", args))


def parse_original_type(mapping: TypeMapping) -> SourceColumn:
    """An `originalType` (`int`, `bigint unsigned`, or the COLUMN_TYPE form `decimal(10,2)`, `int(11) unsigned`,
    `enum('a','b')`) with the mapping's precision fields -> a schema-event column."""
    head, parenthesis, rest = mapping.original_type.strip().partition("(")
    args, _, tail = rest.rpartition(")") if parenthesis else ("", "", "")
    words = head.lower().split()
    flags = {word for word in words + tail.lower().split() if word in _FLAGS}
    kind = " ".join(word for word in words if word not in _FLAGS)
    if not kind or (parenthesis and ")" not in rest):
        raise ConfigError(f"column {mapping.name!r}: cannot read its originalType {mapping.original_type!r}")
    kind = _ALIASES.get(kind, kind)
    numbers = [int(part) for part in re.findall(r"\d+", args)] if kind not in ("enum", "set") else []
    unsigned = "unsigned" in flags or "zerofill" in flags
    if kind == "decimal":
        precision = numbers[0] if numbers else mapping.precision or 10
        scale = numbers[1] if len(numbers) > 1 else (mapping.scale if not numbers else 0)
        return SourceColumn(mapping.name, kind, unsigned=unsigned, precision=precision, scale=scale)
    if kind == "bit":
        bits = numbers[0] if numbers else mapping.precision or None
        return SourceColumn(mapping.name, kind, bits=bits)
    if kind in _TEMPORAL:
        fsp = numbers[0] if numbers else mapping.datetime_precision
        return SourceColumn(mapping.name, kind, fsp=fsp)
    if kind in ("enum", "set"):
        return SourceColumn(mapping.name, kind, values=_quoted_values(args))
    return SourceColumn(mapping.name, kind, unsigned=unsigned)


def source_columns(table: ExportTable) -> tuple[SourceColumn, ...]:
    """The table's columns: `cdc.columns` when our snapshot wrote them, else parsed from originalTypeMappings."""
    if table.cdc_columns is not None:
        return table.cdc_columns
    try:
        return tuple(parse_original_type(mapping) for mapping in table.mappings)
    except ConfigError as error:
        raise ConfigError(f"{table.name}: {error.message}") from None


def check_columns(table: ExportTable, file: str, parquet_names: Sequence[str]) -> None:
    """The Parquet file has exactly the columns of originalTypeMappings (and of cdc.columns, when given)."""
    expected = [mapping.name for mapping in table.mappings]
    if table.cdc_columns is not None and not expected:
        expected = [column.name for column in table.cdc_columns]
    problems = _differences(expected, parquet_names)
    if table.cdc_columns is not None and not problems:
        problems = _differences([column.name for column in table.cdc_columns], parquet_names)
    if problems:
        raise ConfigError(f"{table.name}: {file}: {SCHEMA_DIFFERS}: {problems}")


def _differences(expected: Sequence[str], found: Sequence[str]) -> str:
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    parts = []
    if missing:
        parts.append(f"columns {missing} are not in the Parquet file")
    if extra:
        parts.append(f"columns {extra} are in the Parquet file but not in its type mappings")
    if not parts and len(expected) != len(found):
        parts.append(f"{len(found)} columns in the Parquet file, {len(expected)} in its type mappings")
    return "; ".join(parts)


# -- files --------------------------------------------------------------------------------------------------------


def partition_files(table: ExportTable, paths: Iterable[str]) -> list[str]:
    """The table's Parquet files (paths relative to its directory: `<n>/part-....parquet`), in partition then
    name order. Refuses missing partition directories and partitions without a Parquet file."""
    by_partition: dict[int, list[str]] = {}
    for path in paths:
        partition, _, name = path.partition("/")
        if not partition.isdigit():
            continue
        files = by_partition.setdefault(int(partition), [])
        if name and "/" not in name and name.endswith(".parquet") and not name.startswith((".", "_")):
            files.append(path)
    expected = table.partitions
    if expected is None:
        expected = max(by_partition, default=0)
        if not by_partition and table.cdc_rows != 0:
            raise ConfigError(
                f"{table.name}: no partition directories under {table.directory}/: the export is incomplete"
            )
    missing = [n for n in range(1, expected + 1) if n not in by_partition]
    if missing:
        raise ConfigError(
            f"{table.name}: partition directories {missing} are missing under {table.directory}/: the export is "
            "incomplete"
        )
    empty = [n for n in range(1, expected + 1) if not by_partition[n]]
    if empty and table.cdc_rows != 0:
        raise ConfigError(
            f"{table.name}: partitions {empty} under {table.directory}/ have no Parquet files: the export is incomplete"
        )
    return [path for n in range(1, expected + 1) for path in sorted(by_partition[n])]
