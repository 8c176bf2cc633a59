"""`cdc-lake compact --athena`: the same merge as the local one, run by Athena on Iceberg master tables.

The lake is an S3 prefix (`--lake-dir s3://bucket/prefix`): raw events under `events/` (the Glue table
`cdc_lake.raw_events`, partition projection), master tables under `master/<db>/<table>/`, the lake's own tables
(`cdc_lake.tombstones`, `cdc_lake.watermarks`) under `meta/`. Schema events are read from the lake's `_schema`
partitions directly (pyarrow over S3); existing master columns come from Glue.

Athena runs one statement at a time and has no multi-statement transaction, so the steps run in the order that
keeps a half-done merge harmless: schema changes (idempotent), MERGE master, MERGE tombstones, then the watermark.
A merge stopped anywhere is re-run whole from the old watermark; every step is idempotent.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
from pyarrow import fs

from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.settings import TableFilter

from .athena_sql import quote_ddl_identifier, raw_events_table_ddl, sql_string
from .compact import RAW_EVENTS, SCHEMA_TABLE, Outcome, blocked_tables, floor_select, name_problems
from .event_schema import DDL_TABLE
from .master_types import BIGINT, DOUBLE, INTEGER, REAL, MasterType, widens
from .merge_sql import (
    META_SCHEMA,
    MasterTable,
    athena_add_columns,
    athena_maintenance,
    athena_meta_ddl,
    athena_table_ddl,
    athena_widen_column,
    changes_select,
    live_view,
    merge_master,
    merge_tombstones,
    merge_watermark,
    meta_table,
    watermark_select,
)
from .storage import LakeStore
from .table_schemas import SchemaError, SchemaRow, latest_schemas, master_table

log = logging.getLogger(__name__)

_ATHENA_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass(frozen=True, slots=True)
class AthenaSettings:
    lake: str  # s3://bucket/prefix
    workgroup: str = "primary"
    output: str = ""  # s3://bucket/prefix/ for query results
    tables: TableFilter = field(default_factory=TableFilter)
    lookback_seconds: float = 900.0
    rebuild: bool = False
    maintenance: bool = False
    endpoint_url: str | None = None
    region: str | None = None
    poll_seconds: float = 1.0
    timeout_seconds: float = 3600.0


class Athena:
    """Runs one statement at a time through the Athena API and waits for it."""

    def __init__(self, client: Any, workgroup: str, output: str, poll: float = 1.0, timeout: float = 3600.0) -> None:
        self.client = client
        self.workgroup = workgroup
        self.output = output
        self.poll = poll
        self.timeout = timeout

    def run(self, sql: str) -> list[list[str | None]]:
        """Run `sql`; the rows of its result (all values as text; the header row left out)."""
        request: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup}
        if self.output:
            request["ResultConfiguration"] = {"OutputLocation": self.output}
        query_id = self.client.start_query_execution(**request)["QueryExecutionId"]
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            if status["State"] in _FINAL:
                break
            if time.monotonic() > deadline:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise RuntimeFailure(f"Athena query {query_id} did not finish in {self.timeout:.0f} s: {_head(sql)}")
            time.sleep(self.poll)
        if status["State"] != "SUCCEEDED":
            reason = " ".join(str(status.get("StateChangeReason", status["State"])).split())
            raise RuntimeFailure(f"Athena query {query_id} {status['State'].lower()}: {reason}: {_head(sql)}")
        return self._rows(query_id)

    def _rows(self, query_id: str) -> list[list[str | None]]:
        rows: list[list[str | None]] = []
        header: list[str] | None = None
        token: str | None = None
        while True:
            page = self.client.get_query_results(QueryExecutionId=query_id, **({"NextToken": token} if token else {}))
            result = page.get("ResultSet", {})
            if header is None:
                header = [c.get("Name", "") for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
            for row in result.get("Rows", []):
                values = [datum.get("VarCharValue") for datum in row.get("Data", [])]
                if not rows and header and values == header:
                    continue
                rows.append(values)
            token = page.get("NextToken")
            if not token:
                return rows


def _head(sql: str) -> str:
    line = " ".join(sql.split())
    return line if len(line) <= 100 else line[:97] + "..."


def athena_name_problems(master: MasterTable) -> list[str]:
    """Athena names hold only letters, digits and underscores."""
    names = [("database", master.database), ("table", master.table)] + [("column", c.name) for c in master.columns]
    return [
        f"{master.database}.{master.table}: {kind} name {name!r} has characters Athena does not allow in names "
        "(letters, digits and _ only); exclude it from the lake or rename it at the source"
        for kind, name in names
        if not name or not set(name) <= _ATHENA_NAME
    ]


_ATHENA_TYPES = {kind.athena: kind for kind in (INTEGER, BIGINT, REAL, DOUBLE)}


def _athena_master_type(glue_type: str) -> MasterType | None:
    glue_type = glue_type.replace(" ", "").lower()
    if glue_type.startswith("decimal("):
        precision, scale = glue_type.removeprefix("decimal(").removesuffix(")").split(",")
        return MasterType(glue_type, f"DECIMAL({precision}, {scale})", f"DECIMAL({precision}, {scale})", "cast")
    return _ATHENA_TYPES.get(glue_type)


class AthenaCompaction:
    def __init__(self, settings: AthenaSettings, athena: Athena, glue: Any, store: LakeStore) -> None:
        self.settings = settings
        self.athena = athena
        self.glue = glue
        self.store = store
        self.lake = settings.lake.rstrip("/") + "/"
        self.raw = meta_table(RAW_EVENTS)

    def run(self) -> list[Outcome]:
        tables = self._source_tables()
        rows = [row for database, table in tables if table == SCHEMA_TABLE for row in self._schema_rows(database)]
        schemas = latest_schemas(rows)
        selected = sorted(
            key
            for key in set(tables) | set(schemas)
            if key[1] not in (DDL_TABLE, SCHEMA_TABLE) and self.settings.tables.wants(*key)
        )
        blocked = blocked_tables(selected)
        for statement in athena_meta_ddl(self.lake):
            self.athena.run(statement)
        self.athena.run(raw_events_table_ddl(META_SCHEMA, RAW_EVENTS, self.lake))
        outcomes = []
        for database, table in selected:
            started = time.monotonic()
            try:
                if (database, table) in blocked:
                    raise SchemaError(blocked[(database, table)])
                outcome = self._compact(database, table, schemas.get((database, table)), started)
            except SchemaError as error:
                outcome = Outcome(database, table, "failed", str(error))
            outcomes.append(outcome)
        return outcomes

    def _compact(self, database: str, table: str, schemas: Any, started: float) -> Outcome:
        if not schemas:
            raise SchemaError("no schema event in the lake (events/database=D/table=_schema)")
        master = master_table(schemas)
        if not master.primary_key:
            return Outcome(database, table, "skipped", "no primary key: history only, no master table")
        problems = name_problems([], master) + athena_name_problems(master)
        if problems:
            raise SchemaError("; ".join(problems))
        merge_start = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        target = f"{quote_ddl_identifier(database)}.{quote_ddl_identifier(table)}"
        floor = (self.athena.run(floor_select(master)) or [[None]])[0][0]
        if floor is not None and self.settings.rebuild:
            raise SchemaError(
                "it was loaded from an export (load-export): rebuilding it from change events alone would lose the "
                "rows that never changed since; load the export again, then compact"
            )
        if self.settings.rebuild:
            self.athena.run(f"DROP TABLE IF EXISTS {target}")
            for name in ("tombstones", "watermarks"):
                self.athena.run(
                    f'DELETE FROM {meta_table(name)} WHERE "database" = {sql_string(database)}'
                    f' AND "table" = {sql_string(table)}'
                )
        self.athena.run(f"CREATE DATABASE IF NOT EXISTS {quote_ddl_identifier(database)}")
        self.athena.run(athena_table_ddl(master, f"{self.lake}master/{database}/{table}/"))
        self._evolve(master)
        watermark = [] if self.settings.rebuild else self.athena.run(watermark_select(master))
        # The upper bound makes the three MERGE statements (each reads the raw events again) see the same files,
        # except a file whose upload began before merge_start and finished during the merge: the next batch
        # re-reads it (lookback), and its changes are idempotent.
        where = f'e."$file_modified_time" < from_iso8601_timestamp({sql_string(merge_start)})'
        if watermark and watermark[0][0]:
            stored_key = json.loads(watermark[0][2] or "[]")
            if list(master.primary_key) != stored_key:
                raise SchemaError(
                    f"the primary key changed from {stored_key} to {list(master.primary_key)}: rebuild with "
                    f"`cdc-lake compact --athena --rebuild --tables {database}.{table}`"
                )
            since = datetime.datetime.fromisoformat(watermark[0][0].replace(" UTC", "")).replace(tzinfo=datetime.UTC)
            moment = since - datetime.timedelta(seconds=self.settings.lookback_seconds)
            where += (
                ' AND e."$file_modified_time" >= '
                f"from_iso8601_timestamp({sql_string(moment.isoformat().replace('+00:00', 'Z'))})"
            )
        if floor is not None:
            where += f" AND e.binlog_order > {sql_string(floor)}"
        changes = changes_select(self.raw, master, where)
        self.athena.run(merge_master(master, changes))
        self.athena.run(merge_tombstones(master, changes))
        self.athena.run(merge_watermark(master, merge_start, changes))
        self.athena.run(live_view(master, self.raw))
        if self.settings.maintenance:
            for statement in athena_maintenance(master):
                self.athena.run(statement)
        return Outcome(database, table, "merged", seconds=time.monotonic() - started)

    def _evolve(self, master: MasterTable) -> None:
        try:
            described = self.glue.get_table(DatabaseName=master.database.lower(), Name=master.table.lower())
        except self.glue.exceptions.EntityNotFoundException:
            return
        existing = {c["Name"].lower(): c["Type"] for c in described["Table"]["StorageDescriptor"].get("Columns", [])}
        missing = [column for column in master.columns if column.name.lower() not in existing]
        if missing:
            self.athena.run(athena_add_columns(master, missing))
        for column in master.columns:
            current_text = existing.get(column.name.lower())
            if current_text is None or current_text.replace(" ", "").lower() == column.type.athena:
                continue
            current = _athena_master_type(current_text)
            if current is None or not widens(current, column.type):
                raise SchemaError(
                    f"column {column.name!r} changed type from {current_text} to {column.type.athena}, which cannot"
                    f" be changed in place: rebuild with `cdc-lake compact --athena --rebuild --tables "
                    f"{master.database}.{master.table}`"
                )
            self.athena.run(athena_widen_column(master, column))

    def _source_tables(self) -> list[tuple[str, str]]:
        tables = []
        for database in self._partition_values("events", "database"):
            for table in self._partition_values(f"events/database={database}", "table"):
                tables.append((database, table))
        return tables

    def _partition_values(self, relative: str, key: str) -> list[str]:
        try:
            infos = self.store.filesystem.get_file_info(fs.FileSelector(self.store.path(relative)))
        except FileNotFoundError:
            return []
        prefix = key + "="
        return sorted(
            info.base_name[len(prefix) :]
            for info in infos
            if info.type == fs.FileType.Directory and info.base_name.startswith(prefix)
        )

    def _schema_rows(self, database: str) -> list[SchemaRow]:
        selector = fs.FileSelector(self.store.path(f"events/database={database}/table={SCHEMA_TABLE}"), recursive=True)
        rows = []
        for info in self.store.filesystem.get_file_info(selector):
            if info.type != fs.FileType.File or not info.base_name.endswith(".parquet"):
                continue
            table = pq.read_table(
                info.path, filesystem=self.store.filesystem, columns=["binlog_order", "data", "primary_key_columns"]
            )
            columns = [table.column(i).to_pylist() for i in range(3)]
            rows += [SchemaRow(database, o, d, k) for o, d, k in zip(*columns, strict=True)]
        return rows


def compact_athena(settings: AthenaSettings) -> list[Outcome]:
    if not settings.lake.startswith("s3://"):
        raise ConfigError("--lake-dir (CDC_LAKE_DIR): with --athena the lake is s3://bucket/prefix")
    if settings.output and not settings.output.startswith("s3://"):
        raise ConfigError("--output (CDC_OUTPUT): expected s3://bucket/prefix/ for Athena's query results")
    import boto3

    options: dict[str, Any] = {}
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    if settings.region:
        options["region_name"] = settings.region
    athena = Athena(
        boto3.client("athena", **options),
        settings.workgroup,
        settings.output,
        settings.poll_seconds,
        settings.timeout_seconds,
    )
    store = LakeStore.open(settings.lake, endpoint_url=settings.endpoint_url, region=settings.region)
    return AthenaCompaction(settings, athena, boto3.client("glue", **options), store).run()
