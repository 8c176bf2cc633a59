"""`cdc-lake load-export --athena`: the initial load of an S3 lake, run by Athena (the statements of `load_sql`).

Two phases, as for the local load (`load_export`):

1. Check. Nothing is sent to Athena until every selected table passed. `load_export.check_export` reads the export
   on S3 (pyarrow's S3FileSystem): the export's and each table's status, the partitions, every Parquet file's
   columns and types, the master schema and primary key (ours: the `cdc` extras; a real Aurora export: the source
   through `--mysql-url`), the names and the position. Then what Athena needs on top: names Athena allows
   (`compact_athena.athena_name_problems`); one Parquet type per column across the table's files (the staging table
   reads them all with one Hive type) and none of the null type; no other file under the table's directory that
   Athena would read (it reads every file there except `_*` and `.*`); and, when the export says how many rows a
   table has (ours), that many rows in the files' footers. Any problem is a `ConfigError`: one line, no statement.
2. Load. The lake's own tables (`merge_sql.athena_meta_ddl`) and each source database (`CREATE ... IF NOT
   EXISTS`), then per table the statements of `load_sql.load_statements`, one at a time, in order. A table whose
   export has no Parquet file skips the staging table and the INSERT (its master table is created empty).

Athena has no multi-statement transaction. When a statement fails, the load stops: the failed table's staging table
is dropped, and a `RuntimeFailure` says in one line what state the table is left in (`_state`): as it was, EMPTY
(the DELETE ran, the INSERT did not), rows but the old watermark, ... The tables before it are loaded completely,
the tables after it were not touched. Every statement is idempotent, so the remedy is always to run the load again
(whole, or `--tables` for the rest); a table left part-way must not be compacted before that.

Not run on Athena here: moto's Athena records the statements without running them (tests/integration/
test_load_athena.py checks the conversation; tests/unit/test_load_sql.py the SQL).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from cdc_streamer.errors import CdcError, ConfigError, RuntimeFailure
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl, TableFilter

from .athena_sql import quote_ddl_identifier
from .compact_athena import Athena, athena_name_problems
from .export_files import ExportFiles
from .export_types import CAST, hive_type
from .load_export import ExportPlan, KeySource, TablePlan, check_export
from .load_sql import LoadColumn, clear_tombstones, load_statements, load_watermark, staging_table
from .merge_sql import META_SCHEMA, athena_meta_ddl

__all__ = ["AthenaLoadSettings", "AthenaLoaded", "TableLoad", "load_export_athena", "plan_athena_load", "s3_endpoint"]

log = logging.getLogger(__name__)

# what a statement can fail with: Athena's verdict or a timeout (RuntimeFailure), or the API call itself
ATHENA_ERRORS = (CdcError, BotoCoreError, ClientError)


@dataclass(frozen=True, slots=True)
class AthenaLoadSettings:
    export: str  # s3://bucket/prefix/<export_id>
    lake: str  # s3://bucket/prefix
    workgroup: str = "primary"
    output: str = ""  # s3://bucket/prefix/ for query results ("" = the workgroup's)
    tables: TableFilter = field(default_factory=TableFilter)
    position: BinlogPosition | None = None
    mysql_url: MySQLUrl | None = None  # masked in repr
    endpoint_url: str | None = None
    region: str | None = None
    poll_seconds: float = 1.0
    timeout_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class TableLoad:
    """One table's checked load: its plan and the statements that load it, in order."""

    plan: TablePlan
    order: str
    statements: tuple[str, ...]
    rows: int | None  # from the Parquet footers, when the export says how many rows to expect

    @property
    def name(self) -> str:
        return self.plan.export.name

    @property
    def staged(self) -> bool:
        return bool(self.plan.files)


@dataclass(frozen=True, slots=True)
class AthenaLoaded:
    database: str
    table: str
    files: int
    rows: int | None  # None: a real Aurora export does not say, and Athena's INSERT count is not read
    statements: int
    seconds: float

    def line(self) -> str:
        rows = f"{self.rows} rows" if self.rows is not None else "the rows"
        return (
            f"{self.database}.{self.table}: loaded {rows} from {self.files} files on Athena "
            f"({self.statements} statements) in {self.seconds:.1f} s"
        )


def s3_endpoint(explicit: str | None) -> str | None:
    """The endpoint for pyarrow's S3FileSystem. boto3 reads AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL by itself;
    pyarrow's S3FileSystem(...) does not, so they are passed on here (an explicit endpoint wins)."""
    return explicit or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


# -- the check: everything before the first statement ---------------------------------------------------------------


def _check_settings(settings: AthenaLoadSettings) -> None:
    if not settings.export.startswith("s3://"):
        raise ConfigError(
            "--export (CDC_EXPORT): with --athena the export is s3://bucket/prefix/<export_id> (Athena reads it "
            f"where it is), got {settings.export!r}"
        )
    if not settings.lake.startswith("s3://"):
        raise ConfigError(
            f"--lake-dir (CDC_LAKE_DIR): with --athena the lake is s3://bucket/prefix, got {settings.lake!r}"
        )
    if settings.output and not settings.output.startswith("s3://"):
        raise ConfigError("--output (CDC_OUTPUT): expected s3://bucket/prefix/ for Athena's query results")


def load_columns(plan: TablePlan) -> tuple[LoadColumn, ...]:
    """Each master column with its Parquet type and conversion, which every file of the table must share (as the
    Hive type Athena reads it with): the staging table declares one type per column."""
    columns = []
    for index, column in enumerate(plan.master.columns):
        first: tuple[str, pa.DataType, str] | None = None
        for file in plan.files:
            arrow, conversion = file.types[index], file.conversions[index]
            if pa.types.is_null(arrow):
                raise ConfigError(
                    f"{plan.export.name}: {file.path}: column {column.name!r} has the Parquet null type (written "
                    "without a type): Athena's staging table cannot read it; re-export the table, or load it locally"
                )
            if first is None:
                first = (file.path, arrow, conversion)
            elif (hive_type(arrow), conversion) != (hive_type(first[1]), first[2]):
                raise ConfigError(
                    f"{plan.export.name}: column {column.name!r} is {first[1]} in {first[0]} but {arrow} in "
                    f"{file.path}: Athena's staging table reads all files of a table with one type; re-export the table"
                )
        arrow, conversion = (first[1], first[2]) if first else (pa.null(), CAST)  # no file: no staging table
        columns.append(LoadColumn(column, arrow, conversion))
    return tuple(columns)


def check_listed_files(files: ExportFiles, plan: TablePlan) -> None:
    """Athena's staging table reads every file under the table's directory (but `_*` and `.*`): only the checked
    Parquet files may be there."""
    planned = {file.path for file in plan.files}
    directory = plan.export.directory
    for relative in files.files(directory):
        name = relative.rstrip("/").rsplit("/", 1)[-1]
        if relative.endswith("/") or name.startswith(("_", ".")) or f"{directory}/{relative}" in planned:
            continue
        raise ConfigError(
            f"{plan.export.name}: {directory}/{relative} is not a Parquet file of a partition directory, and Athena "
            "would read it with the table's rows: remove it from the export"
        )


def footer_rows(files: ExportFiles, relative: str) -> int:
    try:
        with files.filesystem.open_input_file(files.path(relative)) as handle:
            rows: int = pq.ParquetFile(handle).metadata.num_rows
            return rows
    except (OSError, pa.ArrowInvalid) as error:
        raise ConfigError(f"{relative}: not a readable Parquet file: {' '.join(str(error).split())}") from None


def check_rows(files: ExportFiles, plan: TablePlan) -> int | None:
    """The table's row count from its files' footers, checked against the export's own count (ours only; the
    local load checks the same after inserting)."""
    expected = plan.export.cdc_rows
    if expected is None:
        return None
    rows = sum(footer_rows(files, file.path) for file in plan.files)
    if rows != expected:
        raise ConfigError(
            f"{plan.export.name}: the export says {expected} rows, its files hold {rows}: the export is incomplete"
        )
    return rows


def table_load(files: ExportFiles, export: ExportPlan, plan: TablePlan, export_root: str, lake: str) -> TableLoad:
    problems = athena_name_problems(plan.master)
    if problems:
        raise ConfigError("; ".join(problems))
    columns = load_columns(plan)
    check_listed_files(files, plan)
    rows = check_rows(files, plan)
    master = plan.master
    statements = load_statements(
        master,
        columns,
        f"{export_root}/{plan.export.directory}/",
        f"{lake}master/{master.database}/{master.table}/",
        export.order,
        export.info.snapshot_time,
    )
    if not plan.files:  # nothing to read: no staging table, no INSERT (its SQL would not even analyze)
        staging = staging_table(master)
        statements = [statement for statement in statements if staging not in statement]
    return TableLoad(plan, export.order, tuple(statements), rows)


def plan_athena_load(settings: AthenaLoadSettings, keys: KeySource | None = None) -> tuple[ExportPlan, list[TableLoad]]:
    """Check the whole export for an Athena load; the statements per table. Raises `ConfigError` on any problem."""
    _check_settings(settings)
    files = ExportFiles.open(settings.export, endpoint_url=s3_endpoint(settings.endpoint_url), region=settings.region)
    export = check_export(files, settings.tables, settings.position, settings.mysql_url, keys)
    export_root = settings.export.rstrip("/")
    lake = settings.lake.rstrip("/") + "/"
    return export, [table_load(files, export, plan, export_root, lake) for plan in export.tables]


# -- the load -------------------------------------------------------------------------------------------------------


def open_athena(settings: AthenaLoadSettings) -> Athena:
    import boto3

    options: dict[str, Any] = {}
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    if settings.region:
        options["region_name"] = settings.region
    return Athena(
        boto3.client("athena", **options),
        settings.workgroup,
        settings.output,
        settings.poll_seconds,
        settings.timeout_seconds,
    )


def _reason(error: Exception) -> str:
    text = error.message if isinstance(error, CdcError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


UNTOUCHED = "its master table and watermark are as they were"


def _state(load: TableLoad, done: int) -> str:
    """What the first `done` statements of `load` left behind (each Athena statement commits on its own)."""
    ran = set(load.statements[:done])
    master = load.plan.master
    if clear_tombstones(master) in ran:
        return "its rows, watermark and tombstones are loaded"
    if load_watermark(master, load.order) in ran:
        return "its rows and watermark are loaded, its old tombstones remain"
    if any(statement.startswith(f"INSERT INTO {master.name} ") for statement in ran):
        return "its master table holds the export's rows but its watermark is the old one"
    if f"DELETE FROM {master.name}" in ran:
        return "its master table is EMPTY (the DELETE ran, the INSERT did not) and its watermark is the old one"
    return UNTOUCHED


def _drop_staging(athena: Athena, load: TableLoad) -> str:
    if not load.staged:
        return "it has no staging table"
    drop = load.statements[-1]  # load_statements ends with the staging table's DROP TABLE IF EXISTS
    staging = f"{META_SCHEMA}.{staging_table(load.plan.master)}"
    try:
        athena.run(drop)
    except ATHENA_ERRORS as error:
        return f"dropping its staging table {staging} failed too ({_reason(error)}): drop it by hand"
    return f"its staging table {staging} was dropped"


def _run_table(athena: Athena, load: TableLoad, before: Sequence[str], after: Sequence[str]) -> AthenaLoaded:
    started = time.monotonic()
    done = 0
    try:
        for statement in load.statements:
            athena.run(statement)
            done += 1
    except ATHENA_ERRORS as error:
        state = _state(load, done)
        if not isinstance(error, RuntimeFailure):  # not Athena's verdict: the statement may run on
            state += f" (statement {done + 1} may still be running on Athena)"
        cleanup = _drop_staging(athena, load)
        advice = "run the load again (every statement is idempotent)"
        if state != UNTOUCHED:
            advice += f" and do not compact {load.name} before it completed"
        raise RuntimeFailure(
            f"{load.name}: statement {done + 1} of {len(load.statements)} failed: {_reason(error)}; {state}; "
            f"{cleanup}; loaded before it: {', '.join(before) or 'none'}; not started: {', '.join(after) or 'none'}; "
            f"{advice}"
        ) from None
    master = load.plan.master
    return AthenaLoaded(
        master.database, master.table, len(load.plan.files), load.rows, len(load.statements), time.monotonic() - started
    )


def run_loads(athena: Athena, lake: str, loads: Sequence[TableLoad]) -> list[AthenaLoaded]:
    """The lake's own tables and the databases, then each table's statements; stops at the first failure."""
    try:
        for statement in athena_meta_ddl(lake):
            athena.run(statement)
        for database in sorted({load.plan.master.database for load in loads}):
            athena.run(f"CREATE DATABASE IF NOT EXISTS {quote_ddl_identifier(database)}")
    except ATHENA_ERRORS as error:
        raise RuntimeFailure(f"preparing the lake's databases failed, no table was loaded: {_reason(error)}") from None
    loaded: list[AthenaLoaded] = []
    for index, load in enumerate(loads):
        done = [f"{item.database}.{item.table}" for item in loaded]
        result = _run_table(athena, load, done, [later.name for later in loads[index + 1 :]])
        log.info("%s", result.line())
        loaded.append(result)
    return loaded


def load_export_athena(
    settings: AthenaLoadSettings, keys: KeySource | None = None, athena: Athena | None = None
) -> list[AthenaLoaded]:
    """Check the whole export, then load each selected table on Athena; one `AthenaLoaded` per table, in order.
    `keys` supplies primary keys a real Aurora export does not record (default: the source at
    `settings.mysql_url`, if given); `athena` is the runner (default: opened from the settings)."""
    export, loads = plan_athena_load(settings, keys)
    log.info(
        "export %s checked: %d tables, snapshot order %s; loading on Athena",
        export.info.export_id or settings.export,
        len(loads),
        export.order,
    )
    return run_loads(athena or open_athena(settings), settings.lake.rstrip("/") + "/", loads)
