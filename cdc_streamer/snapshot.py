"""`cdc-streamer snapshot`: a consistent snapshot of tables plus the exact binlog position it corresponds to, in the
export layout (`snapshot_layout`), so that `cdc-lake load-export` seeds the master tables and
`cdc-streamer run --from-snapshot` streams every change after it.

One connection, one transaction: the consistent point (`snapshot_source.consistent_point`), then each table in
primary-key order, in chunks of `--chunk-rows` by keyset pagination (`WHERE key > last key ORDER BY key LIMIT n`)
read with an unbuffered cursor, `FETCH_ROWS` rows at a time turned into an Arrow record batch, each chunk one
Parquet row group, `CHUNKS_PER_FILE` chunks per file. Memory stays bounded by a chunk, whatever the table's size.
A savepoint rolled back after each table releases its metadata lock, so a waiting ALTER TABLE blocks only while
its own table is read (as `mysqldump --single-transaction` does).

The JSON documents are written after every Parquet file, `export_info` last: an interrupted snapshot leaves no
`export_info` (the loader refuses it), and a failed one removes what it wrote.
"""

from __future__ import annotations

import datetime
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors

from .errors import CdcError, ConfigError, RuntimeFailure, SourceUnusable
from .masking import Masker
from .masking_setup import check_mask_columns
from .preflight import global_privileges
from .settings import SNAPSHOT_CHUNK_ROWS, MySQLUrl
from .snapshot_layout import (
    POSITION_FILE,
    SnapshotPoint,
    TableExport,
    check_export_id,
    default_export_id,
    encode_json,
    export_info,
    export_info_name,
    part_name,
    position_document,
    table_dir,
    tables_info,
    tables_info_name,
)
from .snapshot_output import ExportTarget, PartWriter
from .snapshot_progress import Progress
from .snapshot_source import (
    ER_TABLE_DEF_CHANGED,
    Connection,
    TableFacts,
    check_privileges,
    consistent_point,
    refuse_unusable,
    rows,
    select_tables,
    start_session,
    table_facts,
    visible_tables,
)
from .snapshot_types import (
    SNAPSHOT_DECODERS,
    ColumnInfo,
    arrow_schema,
    key_placeholder,
    key_value,
    masked_column,
    to_arrow,
)
from .source import Source, connect
from .source import quote_for_parameters as quote_param
from .source import quote_identifier as quote

FETCH_ROWS = 10_000  # rows turned into one Arrow batch: bounds the Python objects alive at once
CHUNKS_PER_FILE = 10
SAVEPOINT = "cdc_snapshot"


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    mysql: MySQLUrl
    out: str
    tables: tuple[tuple[str, str], ...] = ()
    chunk_rows: int = SNAPSHOT_CHUNK_ROWS
    export_id: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    masker: Masker | None = None


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    export_dir: str
    point: SnapshotPoint
    tables: int
    rows: int


class Interrupted(CdcError):
    exit_code = 130


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def take_snapshot(settings: SnapshotSettings, progress: Progress) -> SnapshotResult:
    task_start = now_utc()
    export_id = check_export_id(settings.export_id) if settings.export_id else default_export_id(task_start)
    target = ExportTarget.open(settings.out, endpoint_url=settings.endpoint_url, region=settings.region)
    if target.entries(export_id):
        raise ConfigError(
            f"--out (CDC_OUT): {target.display(export_id)} already exists and is not empty: "
            "choose another --out or --export-id"
        )
    with Source(settings.mysql) as source:
        conn = connect(settings.mysql, conv=SNAPSHOT_DECODERS)
        try:
            facts = plan(conn, source, settings)
            with _sigterm_interrupts():
                return _export(conn, source, settings, target, export_id, facts, task_start, progress)
        finally:
            with suppress(pymysql.err.Error):
                conn.close()


def plan(conn: Connection, source: Source, settings: SnapshotSettings) -> list[TableFacts]:
    """Everything that can refuse the snapshot, checked before it starts: binlog on, tables, keys, types, grants."""
    if (source.variables("log_bin")["log_bin"] or "").upper() not in ("ON", "1"):
        raise SourceUnusable("log_bin: binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")
    held = global_privileges(source.grants())
    chosen = select_tables(
        visible_tables(conn), settings.tables, settings.mysql.user, bool(held & {"ALL PRIVILEGES", "SELECT"})
    )
    facts = [table_facts(conn, source, database, table) for database, table in chosen]
    refuse_unusable(facts)
    check_privileges(conn, source, facts)
    if settings.masker is not None:
        check_mask_columns(settings.masker.patterns, source.column_types, source.json_columns)
    return facts


def _export(
    conn: Connection,
    source: Source,
    settings: SnapshotSettings,
    target: ExportTarget,
    export_id: str,
    facts: Sequence[TableFacts],
    task_start: datetime.datetime,
    progress: Progress,
) -> SnapshotResult:
    masks = [masked_positions(settings.masker, f) for f in facts]
    exports = [
        TableExport(f.database, f.table, exported_columns(f.columns, m), f.primary_key, f.estimated_rows)
        for f, m in zip(facts, masks, strict=True)
    ]
    try:
        start_session(conn)
        point = consistent_point(conn, source.is_mariadb)
        rows(conn, f"SAVEPOINT {SAVEPOINT}")
        for table, export, masked in zip(facts, exports, masks, strict=True):
            check_definition(conn, source, table)
            export.started = now_utc()
            progress.start(table.name, table.estimated_rows)
            read_table(
                conn,
                table,
                export,
                target,
                f"{export_id}/{table_dir(table.database, table.table)}",
                settings.chunk_rows,
                progress,
                Masking(settings.masker, masked) if settings.masker is not None and masked else None,
            )
            progress.finish()
            export.ended = now_utc()
            rows(conn, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")  # releases the table's metadata lock
        rows(conn, "ROLLBACK")  # nothing to keep; a COMMIT would log the savepoints as an empty transaction
        target.write_bytes(
            f"{export_id}/{tables_info_name(export_id, len(exports))}", encode_json(tables_info(exports))
        )
        target.write_bytes(f"{export_id}/{POSITION_FILE}", encode_json(position_document(point, export_id)))
        info = export_info(
            export_id, f"{source.flavor}://{settings.mysql.address}", exports, point, task_start, now_utc()
        )
        target.write_bytes(f"{export_id}/{export_info_name(export_id)}", encode_json(info))  # last: complete
    except BaseException as error:  # noqa: BLE001 - every failure removes the partial export, then is reported
        progress.abandon()
        target.remove(export_id)
        raise failure(error, f"removed the partial export {target.display(export_id)}") from None
    return SnapshotResult(target.display(export_id), point, len(exports), sum(export.rows for export in exports))


def failure(error: BaseException, cleanup: str) -> BaseException:
    """The error to report after a failed snapshot, with what was cleaned up."""
    if isinstance(error, CdcError):
        return type(error)(f"{error.message}; {cleanup}")
    if isinstance(error, KeyboardInterrupt):
        return Interrupted(f"interrupted; {cleanup}")
    if isinstance(error, pymysql.err.MySQLError):
        code = error.args[0] if error.args else None
        if code == ER_TABLE_DEF_CHANGED:
            return RuntimeFailure(
                f"a table's definition changed during the snapshot (ALTER TABLE?): {cleanup}; run the snapshot again"
            )
        return RuntimeFailure(f"snapshot failed: {error}; {cleanup}")
    if isinstance(error, OSError):
        return RuntimeFailure(f"cannot write the export: {error}; {cleanup}")
    return error


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the snapshot like Ctrl-C: the partial export is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_definition(conn: Connection, source: Source, table: TableFacts) -> None:
    """Take the table's metadata lock inside the snapshot, then make sure its definition is still the one planned
    for (an ALTER TABLE that committed in between would change the columns under the export)."""
    rows(conn, f"SELECT {select_list(table.columns)} FROM {table_sql(table)} LIMIT 0")
    source.forget_table(table.database, table.table)
    now = table_facts(conn, source, table.database, table.table)
    if (now.columns, now.primary_key) != (table.columns, table.primary_key):
        raise RuntimeFailure(f"the definition of {table.name} changed during the snapshot: run the snapshot again")


def select_list(columns: Sequence[ColumnInfo]) -> str:
    return ", ".join(quote(column.name) for column in columns)


def table_sql(table: TableFacts) -> str:
    return f"{quote(table.database)}.{quote(table.table)}"


def keyset_condition(keys: Sequence[ColumnInfo]) -> str:
    """`(k1, k2) > (v1, v2)` written out as `k1 > v1 OR (k1 = v1 AND k2 > v2)`: the same rows, but MariaDB reads
    the row-value comparison as a full index scan and this form as an index range. Pure."""
    terms = []
    for index, key in enumerate(keys):
        equal = [f"{quote_param(k.name)} = {key_placeholder(k)}" for k in keys[:index]]
        terms.append("(" + " AND ".join([*equal, f"{quote_param(key.name)} > {key_placeholder(key)}"]) + ")")
    return " OR ".join(terms)


def keyset_args(keys: Sequence[ColumnInfo], last: Sequence[Any]) -> list[Any]:
    values = [key_value(key, value) for key, value in zip(keys, last, strict=True)]
    return [value for index in range(len(values)) for value in values[: index + 1]]


def chunk_query(table: TableFacts, last_key: Sequence[Any] | None, limit: int) -> tuple[str, list[Any]]:
    """The next chunk's SELECT in key order, after `last_key` (the previous chunk's last key values). Pure."""
    by_name = {column.name: column for column in table.columns}
    keys = [by_name[name] for name in table.primary_key]
    order = ", ".join(quote_param(name) for name in table.primary_key)
    names = ", ".join(quote_param(column.name) for column in table.columns)
    sql = f"SELECT {names} FROM {quote_param(table.database)}.{quote_param(table.table)}"
    args: list[Any] = []
    if last_key is not None:
        sql += f" WHERE {keyset_condition(keys)}"
        args = keyset_args(keys, last_key)
    return f"{sql} ORDER BY {order} LIMIT %s", [*args, limit]


class TableParts:
    """A table's Parquet parts in its partition directory: a new part after `rows_per_file` rows."""

    def __init__(self, target: ExportTarget, directory: str, schema: pa.Schema, rows_per_file: int) -> None:
        self.target = target
        self.directory = directory
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.files: list[str] = []
        self.bytes = 0
        self._current: PartWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._current is None:
            self._current = self.target.part_writer(f"{self.directory}/{part_name(len(self.files))}", self.schema)
        self._current.write(table)
        if self._current.rows >= self.rows_per_file:
            self._commit()

    def close(self) -> None:
        if self._current is None and not self.files:  # an empty table still gets one file: its schema
            self._current = self.target.part_writer(f"{self.directory}/{part_name(0)}", self.schema)
        if self._current is not None:
            self._commit()

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None

    def _commit(self) -> None:
        assert self._current is not None
        self.bytes += self._current.commit()
        self.files.append(self._current.relative)
        self._current = None


@dataclass(frozen=True, slots=True)
class Masking:
    """The masker and the positions of a table's masked columns (`--mask-columns`)."""

    masker: Masker
    positions: frozenset[int]

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        return [self.masker.mask_positions(row, self.positions) for row in fetched]


def masked_positions(masker: Masker | None, table: TableFacts) -> frozenset[int]:
    if masker is None:
        return frozenset()
    names = masker.masked_columns(table.database, table.table, (column.name for column in table.columns))
    return frozenset(i for i, column in enumerate(table.columns) if column.name in names)


def exported_columns(columns: Sequence[ColumnInfo], masked: frozenset[int]) -> tuple[ColumnInfo, ...]:
    """The columns as exported: a masked column is a string holding the HMAC's 64 hex digits."""
    return tuple(masked_column(column) if i in masked else column for i, column in enumerate(columns))


def read_table(
    conn: Connection,
    table: TableFacts,
    export: TableExport,
    target: ExportTarget,
    directory: str,
    chunk_rows: int,
    progress: Progress,
    masking: Masking | None = None,
) -> None:
    schema = arrow_schema(export.columns)
    key_positions = [next(i for i, c in enumerate(table.columns) if c.name == name) for name in table.primary_key]
    parts = TableParts(target, directory, schema, chunk_rows * CHUNKS_PER_FILE)
    last_key: list[Any] | None = None
    try:
        while True:
            sql, args = chunk_query(table, last_key, chunk_rows)
            batches: list[pa.RecordBatch] = []
            with conn.cursor(pymysql.cursors.SSCursor) as cursor:
                cursor.execute(sql, args)
                while fetched := cursor.fetchmany(FETCH_ROWS):
                    last_key = [fetched[-1][i] for i in key_positions]  # the real key: the next chunk's start
                    rows_out = masking.rows(fetched) if masking is not None else fetched
                    batches.append(record_batch(export.columns, schema, rows_out))
                    progress.advance(len(fetched))
            count = sum(batch.num_rows for batch in batches)
            if count:
                parts.write(pa.Table.from_batches(batches, schema))
                export.rows += count
            if count < chunk_rows:
                break
        parts.close()
    except BaseException:
        parts.abort()
        raise
    export.files, export.bytes = parts.files, parts.bytes


def record_batch(columns: Sequence[ColumnInfo], schema: pa.Schema, fetched: Sequence[Sequence[Any]]) -> pa.RecordBatch:
    arrays = [to_arrow(column, values) for column, values in zip(columns, zip(*fetched, strict=True), strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
