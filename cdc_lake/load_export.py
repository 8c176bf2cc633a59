"""`cdc-lake load-export`: create or replace local master tables from an export in Aurora's layout.

Two phases. `plan_export` reads and checks everything first: the export's status, every selected table's status,
partition directories and files, each Parquet file's columns and types against the table's type mappings, the
master schema and primary key (ours: the `cdc` extras; a real Aurora export: `originalTypeMappings` and the key from
the source through `--mysql-url`), the names, and the snapshot's binlog position (`check_export`, which the Athena
load in `load_athena` runs too). Any problem stops the command with one line before a single table is touched.
Then `load_table` replaces each master table in ONE DuckDB transaction: drop and create it
(`merge_sql.duckdb_table_ddl`), insert every row, write its watermark (`floor_order` = the snapshot's order) and
clear its tombstones, and refresh its `_live` view when the lake has events. A failure or a kill inside leaves the
previous master table as it was.

Rows go from Parquet to DuckDB a record batch at a time (`BATCH_ROWS`): each batch is handed to DuckDB as Arrow and
converted there by SQL (`export_types`); only GEOMETRY is converted in Python (WKB -> WKT), per batch.
"""

from __future__ import annotations

import base64
import datetime
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pymysql

from cdc_streamer.errors import ConfigError, RuntimeFailure, SourceUnusable
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.wkb import GeometryDecodeError, geometry_to_wkt

from .compact import RAW_EVENTS, _create_raw_view, blocked_tables, name_problems, source_tables
from .duckdb_engine import LAKE_DATABASE, DuckDB
from .export_files import ExportFiles
from .export_reader import (
    POSITION_FILE,
    ExportInfo,
    ExportTable,
    check_columns,
    check_status,
    parse_export_info,
    parse_position,
    parse_tables_info,
    partition_files,
    snapshot_order,
    source_columns,
)
from .export_types import BIT, DATE_TEXT, GEOMETRY, JSON, SET_TEXT, TIMESTAMP_TEXT, UTF8, check_conversion
from .load_sql import clear_tombstones, load_watermark
from .master_types import UnknownType
from .merge_sql import (
    CHANGED_AT,
    META_SCHEMA,
    ORDER,
    WATERMARKS,
    MasterTable,
    duckdb_identifier,
    duckdb_meta_ddl,
    duckdb_table_ddl,
    live_view,
    meta_table,
)

log = logging.getLogger(__name__)

BATCH_ROWS = 65_536
BATCH_VIEW = "cdc_lake_export_batch"
_duck = duckdb_identifier


@dataclass(frozen=True, slots=True)
class LoadSettings:
    export: str
    lake_dir: Path
    tables: TableFilter = field(default_factory=TableFilter)
    position: BinlogPosition | None = None
    mysql_url: MySQLUrl | None = None
    endpoint_url: str | None = None
    region: str | None = None


class KeySource(Protocol):
    def primary_key(self, database: str, table: str) -> tuple[str, ...] | None:
        """The table's primary key in key order (() when it has none); None when the table does not exist."""


@dataclass(frozen=True, slots=True)
class FilePlan:
    path: str  # relative to the export directory
    columns: tuple[str, ...]  # Parquet column names, in master column order
    conversions: tuple[str, ...]
    types: tuple[pa.DataType, ...] = ()  # the Parquet types, in master column order (the Athena staging table's)


@dataclass(frozen=True, slots=True)
class TablePlan:
    export: ExportTable
    master: MasterTable
    files: tuple[FilePlan, ...]


@dataclass(frozen=True, slots=True)
class ExportPlan:
    info: ExportInfo
    position: BinlogPosition
    order: str
    tables: tuple[TablePlan, ...]


@dataclass(frozen=True, slots=True)
class Loaded:
    database: str
    table: str
    rows: int
    files: int
    seconds: float

    def line(self) -> str:
        return f"{self.database}.{self.table}: loaded {self.rows} rows from {self.files} files in {self.seconds:.1f} s"


# -- the plan: everything checked before anything is replaced ------------------------------------------------------


def read_export(files: ExportFiles) -> tuple[ExportInfo, list[ExportTable], BinlogPosition | None]:
    names = files.names()
    infos = [name for name in names if name.startswith("export_info_") and name.endswith(".json")]
    if not infos:
        raise ConfigError(
            f"{files.display}: no export_info_*.json: the export is unfinished or was interrupted (or this is not "
            "an export directory)"
        )
    if len(infos) > 1:
        raise ConfigError(f"{files.display}: several export_info files ({', '.join(infos)}): give one export")
    info = parse_export_info(files.read_json(infos[0]), infos[0])
    prefix = f"export_tables_info_{info.export_id}_" if info.export_id else "export_tables_info_"
    table_docs = {name: files.read_json(name) for name in names if name.startswith(prefix) and name.endswith(".json")}
    if not table_docs:
        raise ConfigError(f"{files.display}: no {prefix}*.json: the export is unfinished or was interrupted")
    position = parse_position(files.read_json(POSITION_FILE)) if POSITION_FILE in names else None
    return info, parse_tables_info(table_docs), position


def choose_position(recorded: BinlogPosition | None, given: BinlogPosition | None) -> BinlogPosition:
    if given is not None:
        if recorded is not None and recorded.sort_key != given.sort_key:
            raise ConfigError(
                f"--position (CDC_POSITION) {given} disagrees with the export's {POSITION_FILE} ({recorded}): leave "
                "--position out"
            )
        return given
    if recorded is not None:
        return recorded
    raise ConfigError(
        f"the export has no {POSITION_FILE} (a real Aurora export): pass --position FILE:POS (CDC_POSITION), "
        "the binlog position recorded before the export started"
    )


def select_tables(tables: list[ExportTable], wanted: TableFilter) -> list[ExportTable]:
    chosen = [table for table in tables if wanted.wants(table.database, table.table)]
    names = {(table.database, table.table) for table in tables}
    absent = [f"{d}.{t}" for d, t in wanted.include if t != "*" and (d, t) not in names]
    if absent:
        raise ConfigError(f"--tables (CDC_TABLES): {', '.join(absent)} not in the export")
    if not chosen:
        raise ConfigError("the export has no table that --tables (CDC_TABLES) selects")
    return chosen


def master_of(table: ExportTable, keys: KeySource | None) -> MasterTable:
    columns = source_columns(table)
    key = table.cdc_primary_key
    if key is None:
        if keys is None:
            raise ConfigError(
                f"{table.name}: a real Aurora export records no primary key: pass --mysql-url so load-export "
                "can read it"
            )
        found = keys.primary_key(table.database, table.table)
        if found is None:
            raise ConfigError(f"{table.name}: not found at the source (--mysql-url): cannot read its primary key")
        key = found
    if not key:
        raise ConfigError(
            f"{table.name}: has no primary key, so the lake keeps no master table for it (docs/lake.md, Master "
            "tables): leave it out with --tables"
        )
    names = [column.name for column in columns]
    unknown = [name for name in key if name not in names]
    if unknown:
        raise ConfigError(f"{table.name}: primary key columns {unknown} are not in the export")
    try:
        master = MasterTable.of(table.database, table.table, columns, key)
    except UnknownType as error:
        raise ConfigError(f"{table.name}: {error}") from None
    problems = name_problems([], master)
    if problems:
        raise ConfigError("; ".join(problems))
    return master


def plan_table(files: ExportFiles, table: ExportTable, keys: KeySource | None) -> TablePlan:
    check_status(table)
    master = master_of(table, keys)
    sources = {column.name: column for column in source_columns(table)}
    plans = []
    for relative in partition_files(table, files.files(table.directory)):
        path = f"{table.directory}/{relative}"
        schema = files.parquet_schema(path)
        check_columns(table, path, schema.names)
        types = tuple(schema.field(column.name).type for column in master.columns)
        conversions = tuple(
            check_conversion(table.name, sources[column.name], column.type, kind, path)
            for column, kind in zip(master.columns, types, strict=True)
        )
        plans.append(FilePlan(path, tuple(column.name for column in master.columns), conversions, types))
    return TablePlan(table, master, tuple(plans))


def plan_export(
    files: ExportFiles, wanted: TableFilter, given: BinlogPosition | None, keys: KeySource | None
) -> ExportPlan:
    info, tables, recorded = read_export(files)
    position = choose_position(recorded, given)
    order = snapshot_order(position)
    chosen = select_tables(tables, wanted)
    blocked = blocked_tables((table.database, table.table) for table in chosen)
    if blocked:
        raise ConfigError(next(iter(blocked.values())))
    plans = tuple(plan_table(files, table, keys) for table in chosen)
    return ExportPlan(info, position, order, plans)


def check_export(
    files: ExportFiles,
    wanted: TableFilter,
    given: BinlogPosition | None,
    mysql_url: MySQLUrl | None,
    keys: KeySource | None = None,
) -> ExportPlan:
    """`plan_export` with the primary keys from `keys`, else (when given) from the source at `mysql_url`, connected
    for the check only. Shared by the local load and the Athena load (`load_athena`)."""
    source = SourceKeys(mysql_url) if keys is None and mysql_url is not None else None
    try:
        return plan_export(files, wanted, given, keys or source)
    finally:
        if source is not None:
            source.close()


# -- the primary key from the source --------------------------------------------------------------------------------


class SourceKeys:
    """Primary keys read from the source's information_schema (read-only), on first use."""

    def __init__(self, url: MySQLUrl) -> None:
        self.url = url
        self._conn: pymysql.connections.Connection[Any] | None = None

    def primary_key(self, database: str, table: str) -> tuple[str, ...] | None:
        from cdc_streamer.source import connect

        try:
            if self._conn is None:
                self._conn = connect(self.url)
            with self._conn.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (database, table),
                )
                if not cursor.fetchall():
                    return None
                cursor.execute(
                    "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s"
                    " AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                    (database, table),
                )
                return tuple(_text(row[0]) for row in cursor.fetchall())
        except pymysql.err.MySQLError as error:
            detail = " ".join(str(error.args[-1] if error.args else error).split())
            raise SourceUnusable(
                f"source {self.url.address}: reading the primary key of {database}.{table}: {detail}"
            ) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# -- loading ----------------------------------------------------------------------------------------------------------


def duckdb_value(name: str, kind_duckdb: str, conversion: str) -> str:
    """The DuckDB expression of a master value from the exported column `name` of a batch (`export_types`)."""
    value = _duck(name)
    if conversion == UTF8:
        return f"decode({value})"
    if conversion == JSON:
        return f"NULLIF(CAST({value} AS VARCHAR), 'null')"
    if conversion in (DATE_TEXT, TIMESTAMP_TEXT):
        return f"TRY_CAST({value} AS {kind_duckdb})"
    if conversion == SET_TEXT:
        return f"CASE WHEN {value} = '' THEN CAST([] AS VARCHAR[]) ELSE string_split({value}, ',') END"
    if conversion == BIT:
        number = f"CAST('0x' || hex({value}) AS UBIGINT)"
        return f"CAST(CASE WHEN octet_length({value}) = 0 THEN 0 ELSE {number} END AS {kind_duckdb})"
    return f"CAST({value} AS {kind_duckdb})"  # cast, and geometry (already WKT)


def _wkt(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return geometry_to_wkt(value)
    except GeometryDecodeError:  # as the streamer does: the bytes, base64
        return base64.b64encode(value).decode("ascii")


def _prepare_batch(batch: pa.RecordBatch, plan: FilePlan) -> pa.RecordBatch:
    """Geometry columns as WKT (Python, one batch at a time); every other column as it is."""
    if GEOMETRY not in plan.conversions:
        return batch
    arrays = []
    for name, conversion in zip(plan.columns, plan.conversions, strict=True):
        array = batch.column(name)
        if conversion == GEOMETRY:
            array = pa.array([_wkt(value) for value in array.to_pylist()], type=pa.string())
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=list(plan.columns))


def insert_sql(master: MasterTable, plan: FilePlan) -> str:
    types = {column.name: column.type.duckdb for column in master.columns}
    names = ", ".join([_duck(name) for name in plan.columns] + [_duck(ORDER), _duck(CHANGED_AT)])
    values = ", ".join(
        duckdb_value(name, types[name], conversion)
        for name, conversion in zip(plan.columns, plan.conversions, strict=True)
    )
    return (
        f"INSERT INTO {_duck(master.database)}.{_duck(master.table)} ({names}) SELECT {values}, ?, ? FROM {BATCH_VIEW}"
    )


def insert_batch(engine: DuckDB, sql: str, batch: pa.RecordBatch, order: str, moment: datetime.datetime) -> None:
    engine.connection.register(BATCH_VIEW, batch)
    try:
        engine.native(sql, [order, moment])
    finally:
        engine.connection.unregister(BATCH_VIEW)


def load_table(engine: DuckDB, files: ExportFiles, plan: TablePlan, export: ExportPlan) -> Loaded:
    """Replace one master table with the exported rows, in one transaction."""
    started = time.monotonic()
    master, rows = plan.master, 0
    engine.native("BEGIN TRANSACTION")
    try:
        engine.native(f"DROP TABLE IF EXISTS {_duck(master.database)}.{_duck(master.table)}")
        for statement in duckdb_table_ddl(master):
            engine.native(statement)
        for file in plan.files:
            sql = insert_sql(master, file)
            try:
                for batch in files.batches(file.path, file.columns, BATCH_ROWS):
                    insert_batch(engine, sql, _prepare_batch(batch, file), export.order, export.info.snapshot_time)
                    rows += batch.num_rows
            except (duckdb.Error, pa.ArrowException, OSError) as error:
                raise RuntimeFailure(f"{plan.export.name}: {file.path}: {' '.join(str(error).split())}") from None
        expected = plan.export.cdc_rows
        if expected is not None and expected != rows:
            raise RuntimeFailure(
                f"{plan.export.name}: the export says {expected} rows, its files hold {rows}: the export is incomplete"
            )
        engine.run(load_watermark(master, export.order))
        engine.run(clear_tombstones(master))
        if _has_raw_events(engine):
            engine.run(live_view(master, meta_table(RAW_EVENTS)))
        engine.native("COMMIT")
    except BaseException:
        engine.native("ROLLBACK")
        raise
    return Loaded(master.database, master.table, rows, len(plan.files), time.monotonic() - started)


def _has_raw_events(engine: DuckDB) -> bool:
    return bool(
        engine.native(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [META_SCHEMA, RAW_EVENTS],
        )
    )


def prepare_lake(engine: DuckDB, lake: Path) -> None:
    """The lake's own tables, and `cdc_lake.raw_events` when the lake has events (the `_live` views read it)."""
    for statement in duckdb_meta_ddl():
        engine.native(statement)
    _create_raw_view(engine, lake, source_tables(lake))
    # a lake made before watermarks had floor_order
    engine.native(f"ALTER TABLE {_duck(META_SCHEMA)}.{_duck(WATERMARKS)} ADD COLUMN IF NOT EXISTS floor_order VARCHAR")


def load_export(settings: LoadSettings, keys: KeySource | None = None) -> list[Loaded]:
    """Check the whole export, then replace each selected table's master table; one `Loaded` per table.
    `keys` (default: the source at `settings.mysql_url`, if given) supplies the primary keys a real Aurora
    export does not record."""
    files = ExportFiles.open(settings.export, endpoint_url=settings.endpoint_url, region=settings.region)
    plan = check_export(files, settings.tables, settings.position, settings.mysql_url, keys)
    settings.lake_dir.mkdir(parents=True, exist_ok=True)
    loaded = []
    with DuckDB(settings.lake_dir / LAKE_DATABASE) as engine:
        prepare_lake(engine, settings.lake_dir)
        for table in plan.tables:
            loaded.append(load_table(engine, files, table, plan))
            log.debug("loaded %s", loaded[-1].line())
    return loaded
