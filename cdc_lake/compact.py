"""`cdc-lake compact`: merge each table's new change events into its master table, then refresh its `_live` view.

Locally the master tables live in `<lake>/lake.duckdb`; each table's merge (schema changes, the MERGE, the
tombstones, the watermark and the view) is ONE DuckDB transaction, so a merge killed half-way leaves nothing and
a re-run does the whole batch again. The batch is every events file of the table modified at or after the
watermark minus `lookback` (files can become visible out of order; re-merging a change is a no-op, so the overlap
costs time, never correctness).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from cdc_streamer.settings import TableFilter

from .athena_sql import quote_identifier, sql_string
from .duckdb_engine import LAKE_DATABASE, DuckDB, to_duckdb
from .event_schema import DDL_TABLE
from .layout import partition_name
from .master_types import BIGINT, DOUBLE, INTEGER, REAL, MasterType, TableSchema, widens
from .merge_sql import (
    LIVE_SUFFIX,
    META_SCHEMA,
    MasterTable,
    changes_select,
    duckdb_add_column,
    duckdb_meta_ddl,
    duckdb_table_ddl,
    duckdb_widen_column,
    live_view,
    merge_master,
    merge_tombstones,
    merge_watermark,
    meta_table,
    watermark_select,
)
from .merge_sql import (
    duckdb_identifier as _duck,
)
from .table_schemas import SchemaError, SchemaRow, latest_schemas, master_table

log = logging.getLogger(__name__)

SCHEMA_TABLE = "_schema"
RAW_EVENTS = "raw_events"
BATCH_VIEW = "cdc_lake_raw_batch"
CHANGES = "cdc_lake_changes"
DEFAULT_LOOKBACK_SECONDS = 900.0
_INTERNAL_TABLES = frozenset({DDL_TABLE, SCHEMA_TABLE})


@dataclass(frozen=True, slots=True)
class CompactSettings:
    lake_dir: Path
    tables: TableFilter = field(default_factory=TableFilter)
    lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS
    rebuild: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    database: str
    table: str
    status: str  # merged | skipped | failed
    message: str = ""
    files: int = 0
    events: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        name = f"{self.database}.{self.table}"
        if self.status == "merged":
            return f"{name}: merged {self.events} events from {self.files} files in {self.seconds:.2f} s"
        return f"{name}: {self.status}: {self.message}"


@dataclass(frozen=True, slots=True)
class EventFile:
    path: str
    modified: float  # seconds since the epoch


# -- the lake's files ---------------------------------------------------------------------------------------------


def _partition_dirs(path: str, key: str) -> Iterator[tuple[str, str]]:
    """(value, path) of the `key=value` directories under `path`."""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.is_dir() and entry.name.startswith(key + "="):
            yield entry.name[len(key) + 1 :], entry.path


def source_tables(lake: Path) -> dict[tuple[str, str], str]:
    """(database, table) -> its events directory, for every source table with events in the lake: at least one
    events file. A directory alone is not events: a delivery killed while writing a table's first file leaves
    the partition directories with only its hidden temp file."""
    tables = {}
    for database, database_dir in _partition_dirs(str(lake / "events"), "database"):
        for table, table_dir in _partition_dirs(database_dir, "table"):
            if next(_event_entries(table_dir), None) is not None:
                tables[(partition_name(database), partition_name(table))] = table_dir
    return tables


def _event_entries(table_dir: str) -> Iterator[os.DirEntry[str]]:
    """The events files of a table: `*.parquet` files in its `dt=/hour=` partitions, without the hidden temp files
    of writes in progress (LakeStore writes `.<uuid>.tmp`, then renames it)."""
    for _, dt_dir in _partition_dirs(table_dir, "dt"):
        for _, hour_dir in _partition_dirs(dt_dir, "hour"):
            with os.scandir(hour_dir) as entries:
                for entry in entries:
                    if entry.name.endswith(".parquet") and not entry.name.startswith(".") and entry.is_file():
                        yield entry


def event_files(table_dir: str) -> list[EventFile]:
    files = [EventFile(entry.path, entry.stat().st_mtime) for entry in _event_entries(table_dir)]
    return sorted(files, key=lambda f: f.path)


def schema_rows(database: str, schema_dir: str) -> Iterator[SchemaRow]:
    for file in event_files(schema_dir):
        table = pq.read_table(file.path, columns=["binlog_order", "data", "primary_key_columns"])
        for order, data, key in zip(*(table.column(i).to_pylist() for i in range(3)), strict=True):
            yield SchemaRow(database, order, data, key)


# -- names --------------------------------------------------------------------------------------------------------


def blocked_tables(tables: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The tables whose names the lake cannot hold -> why, in one line. DuckDB and Athena fold names to
    lowercase, so names that differ only by case would be one table; `T_live` is the view of `T`; `cdc_lake` is
    the lake's own schema."""
    blocked: dict[tuple[str, str], str] = {}
    folded: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for database, table in sorted(set(tables)):
        folded.setdefault((database.lower(), table.lower()), []).append((database, table))
        if database.lower() == META_SCHEMA:
            blocked[(database, table)] = f"{database}.{table}: the database name {database!r} is the lake's own schema"
    for (database, table), spelled in folded.items():
        names = " and ".join(f"{d}.{t}" for d, t in spelled)
        base = (database, table.removesuffix(LIVE_SUFFIX))
        for key in spelled:
            if len(spelled) > 1:
                blocked[key] = f"{names} differ only by case, which DuckDB and Athena fold"
            elif table.endswith(LIVE_SUFFIX) and base in folded:
                blocked[key] = f"{key[0]}.{key[1]}: its name is the _live view of {key[0]}.{base[1]}"
    return blocked


def name_problems(tables: Iterable[tuple[str, str]], master: MasterTable | None = None) -> list[str]:
    """Every name the lake cannot hold, one line each: `blocked_tables`, and columns of `master` that clash
    with the lake's `_cdc_` metadata columns."""
    problems = list(blocked_tables(tables).values())
    if master is not None:
        problems += [
            f"{master.database}.{master.table}: column {column.name!r} clashes with the lake's _cdc_ metadata columns"
            for column in master.columns
            if column.name.lower().startswith("_cdc_")
        ]
    return problems


# -- local compaction ---------------------------------------------------------------------------------------------


def compact_lake(settings: CompactSettings) -> list[Outcome]:
    """Merge every selected table of a local lake; one Outcome per table."""
    lake = settings.lake_dir
    tables = source_tables(lake)
    rows = [
        row
        for (database, table), path in tables.items()
        if table == SCHEMA_TABLE
        for row in schema_rows(database, path)
    ]
    by_table = latest_schemas(rows)
    selected = sorted(
        key for key in set(tables) | set(by_table) if key[1] not in _INTERNAL_TABLES and settings.tables.wants(*key)
    )
    outcomes: list[Outcome] = []
    blocked = blocked_tables(selected)
    with DuckDB(lake / LAKE_DATABASE) as engine:
        for statement in duckdb_meta_ddl():
            engine.native(statement)
        engine.native(f'ALTER TABLE "{META_SCHEMA}".watermarks ADD COLUMN IF NOT EXISTS floor_order VARCHAR')
        _create_raw_view(engine, lake, tables)
        for database, table in selected:
            if (database, table) in blocked:
                outcomes.append(Outcome(database, table, "failed", blocked[(database, table)]))
                continue
            outcomes.append(
                _compact_table(
                    engine, settings, database, table, by_table.get((database, table)), tables.get((database, table))
                )
            )
    return outcomes


def _create_raw_view(engine: DuckDB, lake: Path, tables: dict[tuple[str, str], str]) -> None:
    """`cdc_lake.raw_events`: every events file, read when queried (the `_live` views read it)."""
    if not tables:
        return
    pattern = str(lake / "events" / "*" / "*" / "*" / "*" / "*.parquet")
    engine.native(
        f'CREATE OR REPLACE VIEW "{META_SCHEMA}"."{RAW_EVENTS}" AS SELECT * FROM read_parquet({sql_string(pattern)},'
        " hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
    )


def _compact_table(
    engine: DuckDB,
    settings: CompactSettings,
    database: str,
    table: str,
    schemas: list[TableSchema] | None,
    table_dir: str | None,
) -> Outcome:
    started = time.monotonic()
    if not schemas:
        return Outcome(
            database,
            table,
            "failed",
            "no schema event for it in the lake (events/database=D/table=_schema): the streamer ran with "
            "--no-output-schema; with schema events on (the default) its next change carries the definition",
        )
    try:
        master = master_table(schemas)
    except SchemaError as error:
        return Outcome(database, table, "failed", str(error))
    if not master.primary_key:
        return Outcome(
            database,
            table,
            "skipped",
            f"no primary key: history only, no master table (its changes are in {META_SCHEMA}.{RAW_EVENTS})",
        )
    problems = name_problems([], master)
    if problems:
        return Outcome(database, table, "failed", "; ".join(problems))
    merge_start = datetime.datetime.now(datetime.UTC)
    engine.native("BEGIN TRANSACTION")
    try:
        batch = _prepare(engine, master, settings)
        since = batch.since
        files = [f for f in event_files(table_dir) if since is None or f.modified >= since] if table_dir else []
        events = 0
        if files:
            events = _merge_files(engine, master, files, batch)
        engine.run(merge_watermark(master, merge_start.isoformat().replace("+00:00", "Z"), CHANGES if files else None))
        if files:
            engine.native(f"DROP TABLE {CHANGES}")
        if table_dir:
            engine.run(live_view(master, meta_table(RAW_EVENTS)))
        engine.native("COMMIT")
    except SchemaError as error:
        engine.native("ROLLBACK")
        return Outcome(database, table, "failed", str(error))
    except BaseException:
        engine.native("ROLLBACK")
        raise
    return Outcome(database, table, "merged", files=len(files), events=events, seconds=time.monotonic() - started)


@dataclass(frozen=True, slots=True)
class Batch:
    """Which change events a merge reads: files modified at or after `since` (epoch seconds; None = every file),
    and only events after `floor` (the position an export was loaded at; None = no floor)."""

    since: float | None
    floor: str | None

    def where(self) -> str:
        """The batch as a condition on the raw events (alias `e`)."""
        conditions = []
        if self.since is not None:
            moment = datetime.datetime.fromtimestamp(self.since, datetime.UTC).isoformat().replace("+00:00", "Z")
            conditions.append(f'e."$file_modified_time" >= from_iso8601_timestamp({sql_string(moment)})')
        if self.floor is not None:
            conditions.append(f"e.binlog_order > {sql_string(self.floor)}")
        return " AND ".join(conditions) or "true"


def floor_select(master: MasterTable) -> str:
    return (
        f"SELECT floor_order FROM {meta_table('watermarks')} WHERE {quote_identifier('database')} = "
        f"{sql_string(master.database)} AND {quote_identifier('table')} = {sql_string(master.table)}"
    )


def _prepare(engine: DuckDB, master: MasterTable, settings: CompactSettings) -> Batch:
    """Bring the master table's definition up to `master` (create, add columns, widen types) and return the
    batch to merge."""
    watermark = engine.run(watermark_select(master))
    floor = (engine.run(floor_select(master)) or [(None,)])[0][0]
    if settings.rebuild and floor is not None:
        raise SchemaError(
            "it was loaded from an export (load-export): rebuilding it from change events alone would lose the rows "
            "that never changed since; run load-export again, then compact"
        )
    if settings.rebuild:
        engine.native(f"DROP TABLE IF EXISTS {quote_identifier(master.database)}.{quote_identifier(master.table)}")
        for name in ("tombstones", "watermarks"):
            engine.native(
                f'DELETE FROM "{META_SCHEMA}"."{name}" WHERE "database" = ? AND "table" = ?',
                [master.database, master.table],
            )
        watermark = []
    if watermark:
        stored_key = json.loads(watermark[0][2] or "[]")
        if list(master.primary_key) != stored_key:
            raise SchemaError(
                f"the primary key changed from {stored_key} to {list(master.primary_key)}: rebuild the master "
                "table with `cdc-lake compact --rebuild --tables DB.TABLE`"
            )
    for statement in duckdb_table_ddl(master):
        engine.native(statement)
    existing = {
        name: kind
        for name, kind in engine.native(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [master.database, master.table],
        )
    }
    for column in master.columns:
        if column.name not in existing:
            engine.native(duckdb_add_column(master, column))
            continue
        if _normal(existing[column.name]) == _normal(column.type.duckdb):
            continue
        current = _duckdb_master_type(existing[column.name])
        if current is None or not widens(current, column.type):
            raise SchemaError(
                f"column {column.name!r} changed type from {existing[column.name]} to {column.type.duckdb}, which "
                "cannot be changed in place: rebuild the master table with `cdc-lake compact --rebuild --tables "
                f"{master.database}.{master.table}`"
            )
        engine.native(duckdb_widen_column(master, column))
    if not watermark or watermark[0][0] is None:
        return Batch(None, floor)
    since = datetime.datetime.fromisoformat(watermark[0][0]).replace(tzinfo=datetime.UTC)
    return Batch(since.timestamp() - settings.lookback_seconds, floor)


_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")
_DUCKDB_TYPES = {kind.duckdb: kind for kind in (INTEGER, BIGINT, REAL, DOUBLE)}


_ALIASES = {"FLOAT": "REAL", "INT": "INTEGER", "TEXT": "VARCHAR", "TEXT[]": "VARCHAR[]"}


def _normal(duckdb_type: str) -> str:
    compact = duckdb_type.replace(" ", "").upper()
    return _ALIASES.get(compact, compact)


def _duckdb_master_type(reported: str) -> MasterType | None:
    """The MasterType of a number column as DuckDB's information_schema reports it; None for other types."""
    compact = _normal(reported)
    match = _DECIMAL.fullmatch(compact)
    if match:
        precision, scale = match.groups()
        return MasterType(
            f"decimal({precision},{scale})", f"DECIMAL({precision}, {scale})", f"DECIMAL({precision}, {scale})", "cast"
        )
    return _DUCKDB_TYPES.get(compact)


def _merge_files(engine: DuckDB, master: MasterTable, files: list[EventFile], batch: Batch) -> int:
    engine.native("CREATE OR REPLACE TEMP TABLE cdc_lake_files (path VARCHAR, modified DOUBLE)")
    engine.connection.executemany("INSERT INTO cdc_lake_files VALUES (?, ?)", [(f.path, f.modified) for f in files])
    paths = ", ".join(sql_string(f.path) for f in files)
    engine.native(
        f"CREATE OR REPLACE TEMP VIEW {BATCH_VIEW} AS SELECT r.* EXCLUDE (filename),"
        ' to_timestamp(f.modified) AS "$file_modified_time", r.filename AS "$path"'
        f" FROM read_parquet([{paths}], hive_partitioning = true, hive_types_autocast = false, union_by_name = true,"
        " filename = true) AS r JOIN cdc_lake_files AS f ON f.path = r.filename"
    )
    where = batch.where()
    events = engine.native(f"SELECT count(*) FROM {BATCH_VIEW}")[0][0]
    # The batch in the master table's storage order (its rowid; new keys last): DuckDB's MERGE updates rows in
    # the order the batch probes them, and updates that jump between storage blocks are ~40x slower (bench/merge.py).
    on = " AND ".join(f"m.{_duck(name)} = c.{_duck(name)}" for name in master.primary_key)
    engine.native(
        f"CREATE TEMP TABLE {CHANGES} AS SELECT c.* FROM ({to_duckdb(changes_select(BATCH_VIEW, master, where))}) AS c"
        f" LEFT JOIN {_duck(master.database)}.{_duck(master.table)} AS m ON {on} ORDER BY m.rowid NULLS LAST"
    )
    engine.run(merge_master(master, CHANGES))
    engine.run(merge_tombstones(master, CHANGES))
    return int(events)
