"""Binlog events -> whole transactions of change events, across reconnects.

The reader assembles each transaction (GTID/BEGIN ... XID/COMMIT, or one DDL statement) and yields it only when it
is complete, with the position just after it: the point a restart or a reconnect resumes from. It owns
reconnects: when a session breaks, it opens a new one at the end of the last transaction it yielded, so nothing
is skipped and nothing already delivered is read twice. A resume point is a position on one server: when a new
session reaches another server (a failover behind the same endpoint), it resumes by the GTID state instead, or
stops (`StartPoint.on_server`); each transaction records the server it was read from.

With `output_schema`, a table's schema event goes just before its first row event whose table definition (from
the TABLE_MAP) differs from the last one this reader emitted for it; a transaction's schema events count as
emitted only once the transaction is complete, so a reconnect that drops a half-read transaction re-emits them.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from pymysqlreplication.event import (
    FormatDescriptionEvent,
    GtidEvent,
    HeartbeatLogEvent,
    MariadbAnnotateRowsEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    RowsQueryLogEvent,
    XAPrepareEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, RowsEvent, UpdateRowsEvent, WriteRowsEvent

from .ddl import classify_ddl
from .errors import ConnectionLost, RuntimeFailure, SourceUnusable
from .event import ChangeEvent, ColumnDefinition, DdlEvent, Event, Operation, SchemaEvent
from .gtid_state import GtidState
from .position import BinlogPosition, StartPoint
from .replication import OtherEvent, ReplicationSession, SessionOptions
from .row_decoder import RowDecoder, compile_decoder
from .schema import UnknownColumnType, table_definition
from .settings import MySQLUrl, TableFilter
from .spill import SpillList
from .values import STRING, ColumnSpec, RowConverter, changed_columns

log = logging.getLogger(__name__)

MARIADB_FL_STANDALONE = 0x01
_OPENS = ("BEGIN", "XA START", "XA BEGIN")
_CLOSES = ("COMMIT", "ROLLBACK", "XA COMMIT", "XA ROLLBACK")
_INSIDE = ("ROLLBACK TO", "SAVEPOINT", "RELEASE SAVEPOINT", "XA END", "XA PREPARE", "XA RECOVER")

TableKey = tuple[str, str]
Definition = tuple[tuple[ColumnDefinition, ...], tuple[str, ...]]  # columns, primary-key columns


SPILL_AFTER_ROWS = 20_000  # a transaction's rows past this many wait on disk until its commit (`spill.SpillList`)
EVENT_BATCH = 10_000  # ... and are spilled, then built into events and sent, this many at a time


class SpilledEvents:
    """The events of a transaction too large to hold in memory (its rows spilled to disk while it was read): built
    from the spilled rows a batch at a time, as the streamer sends them. Read them once, with `batches()`."""

    def __init__(self, pending: SpillList[tuple[Any, ...]], build: Callable[[Iterable[Any]], Iterator[Event]]):
        self._pending = pending
        self._build = build
        self._count = len(pending)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Event]:
        for batch in self.batches():
            yield from batch

    def batches(self, size: int | None = None) -> Iterator[list[Event]]:
        try:
            events, size = self._build(self._pending), size or EVENT_BATCH
            while batch := list(islice(events, size)):
                yield batch
        finally:
            self._pending.close()


@dataclass(slots=True)
class Transaction:
    """A complete transaction: its events, where it starts, and where the binlog continues after it."""

    events: list[Event] | SpilledEvents
    start: BinlogPosition
    end: BinlogPosition
    gtid: str | None
    gtid_state: str | None
    server_id: int | None = None  # the server whose binlog `start` and `end` are positions in

    @property
    def resume_point(self) -> StartPoint:
        return StartPoint(self.end, self.gtid_state, self.server_id)


@dataclass(slots=True)
class _OpenTransaction:
    start: BinlogPosition
    gtid: str | None
    transactional: bool
    thread_id: int | None = None
    query: str | None = None
    pending: SpillList[tuple[Any, ...]] = field(default_factory=lambda: SpillList(SPILL_AFTER_ROWS, EVENT_BATCH))
    schemas: dict[TableKey, Definition] = field(default_factory=dict)  # emitted in this transaction
    checked: dict[TableKey, Any] = field(default_factory=dict)  # the TABLE_MAP columns already compared


@dataclass(frozen=True, slots=True)
class _Layout:
    """One table's rows as the reader decodes them: for `columns` (a TABLE_MAP's, compared by identity)."""

    columns: Any
    json_columns: frozenset[str]
    specs: tuple[ColumnSpec, ...]
    decoder: RowDecoder | None
    key_columns: tuple[str, ...]
    excluded: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    session: SessionOptions
    filter: TableFilter = field(default_factory=TableFilter)
    output_ddl: bool = False
    output_query: bool = False
    output_schema: bool = True
    end_position: BinlogPosition | None = None
    max_reconnects: int = 10
    heartbeat_table: tuple[str, str] | None = None  # `--heartbeat-table`: rows read for lag, never emitted


class BinlogReader:
    """Iterate `transactions()`: complete transactions, and None as an idle tick (heartbeat) between them."""

    def __init__(
        self,
        url: MySQLUrl,
        start: StartPoint,
        options: ReaderOptions,
        json_columns: Callable[[str, str], frozenset[str]] = lambda db, table: frozenset(),
        forget_table: Callable[[str, str | None], None] = lambda db, table: None,
        session_factory: Callable[[MySQLUrl, StartPoint, SessionOptions], ReplicationSession] = ReplicationSession,
        stop_requested: Callable[[], bool] = lambda: False,
        on_heartbeat: Callable[[dict[str, Any]], None] = lambda row: None,
    ) -> None:
        self.url = url
        self.resume = start
        self.options = options
        self._json_columns = json_columns
        self._forget_table = forget_table
        self._session_factory = session_factory
        self._stop_requested = stop_requested
        self._layouts: dict[TableKey, _Layout] = {}
        self._schemas: dict[TableKey, Definition] = {}  # the last definition emitted per table
        self.gtid_state = GtidState.parse(start.gtid, options.session.flavor)
        self.server_id = start.server_id  # of the current session's server, once connected
        self.reconnects = 0
        self._on_heartbeat = on_heartbeat
        # Read by the metrics/health thread: plain attributes, each written by this thread only.
        self.connected = False
        self.last_event_timestamp: int | None = None  # the header timestamp (seconds) of the last event read
        self.read_at: tuple[str, int] | None = None  # (file, end offset) of the last binlog event read

    def transactions(self) -> Iterator[Transaction | None]:
        failures = 0
        while not self._reached_end(self.resume.position) and not self._stop_requested():
            try:
                session = self._session_factory(self.url, self.resume, self.options.session)
            except ConnectionLost as error:
                failures = self._back_off(failures, error)
                continue
            self.connected = True
            try:
                self._follow(session)
                for item in self._read(session):
                    if item is not None:
                        failures = 0
                        self.resume = item.resume_point
                    yield item
                    if item is not None and self._reached_end(item.end):
                        return
                return  # the server said end of binlog (non-blocking mode)
            except ConnectionLost as error:
                self.connected = False  # before the back-off: /healthcheck says so while it waits
                failures = self._back_off(failures, error)
            finally:
                self.connected = False
                session.close()

    def _follow(self, session: ReplicationSession) -> None:
        """Take the session's start point (on another server: the GTID state, see `StartPoint.on_server`)."""
        before, after = self.resume, session.start
        if before.server_id is not None and after.server_id != before.server_id:
            if self.options.end_position is not None:
                raise SourceUnusable(
                    f"--end-position {self.options.end_position} is a position of server_id {before.server_id}, and "
                    f"the source is now server_id {after.server_id}: give an end position of the new server"
                )
            log.warning(
                "the source is now server_id %s, not %s (a failover, or the endpoint points at another server): "
                "resuming from %s instead of %s, a position of the old server",
                after.server_id,
                before.server_id,
                after,
                before,
            )
        self.resume = after
        self.server_id = session.server_id

    def _reached_end(self, position: BinlogPosition | None) -> bool:
        end = self.options.end_position
        return end is not None and position is not None and end <= position

    def _back_off(self, failures: int, error: ConnectionLost) -> int:
        failures += 1
        if failures > self.options.max_reconnects:
            raise RuntimeFailure(
                f"{error.message}; gave up after {self.options.max_reconnects} reconnects without progress "
                f"(resume point {self.resume})"
            ) from None
        delay = min(10.0, 0.2 * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
        log.warning("%s; reconnecting from %s in %.1fs (attempt %d)", error.message, self.resume, delay, failures)
        self.reconnects += 1
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self._stop_requested():
            time.sleep(min(0.1, delay))
        return failures

    def _read(self, session: ReplicationSession) -> Iterator[Transaction | None]:
        file = session.start.position.file if session.start.position else ""
        txn: _OpenTransaction | None = None
        try:
            for event in session.events():
                end = event.packet.log_pos
                if isinstance(event, RotateEvent):
                    file = event.next_binlog
                    continue
                if isinstance(event, HeartbeatLogEvent):
                    yield None
                    continue
                if end == 0:
                    continue  # an artificial event the server made up for this session
                self.last_event_timestamp = event.timestamp
                self.read_at = (file, end)
                start = BinlogPosition(file, end - event.packet.event_size)
                if isinstance(event, OtherEvent | FormatDescriptionEvent):
                    if txn is None and self._reached_end(BinlogPosition(file, end)):
                        return  # --end-position lies between transactions, e.g. among a rotation's own events
                    continue
                if isinstance(event, MariadbGtidEvent | GtidEvent):
                    gtid = event.gtid
                    mariadb = isinstance(event, MariadbGtidEvent)
                    standalone = bool(event.flags & MARIADB_FL_STANDALONE) if mariadb else True
                    txn = _OpenTransaction(start, gtid, transactional=not standalone)
                    continue
                if isinstance(event, QueryEvent):
                    sql = event.query.strip()
                    upper = " ".join(sql[:24].upper().split())
                    if upper.startswith(_OPENS):
                        if txn is None:
                            txn = _OpenTransaction(start, None, transactional=True)
                        txn.transactional = True
                        txn.thread_id = event.slave_proxy_id
                        continue
                    if txn is None:
                        txn = _OpenTransaction(start, None, transactional=False)
                    txn.thread_id = txn.thread_id or event.slave_proxy_id
                    if upper.startswith(_INSIDE):
                        continue
                    if upper.startswith(_CLOSES):
                        yield self._finish(txn, BinlogPosition(file, end), None)
                        txn = None
                        continue
                    self._on_ddl(txn, event, sql)
                    if not txn.transactional:
                        yield self._finish(txn, BinlogPosition(file, end), None)
                        txn = None
                    continue
                if isinstance(event, XidEvent | XAPrepareEvent):
                    # XA PREPARE ends its binlog group: its rows are emitted now (see docs/events.md).
                    if txn is None:
                        txn = _OpenTransaction(start, None, transactional=True)
                    xid = event.xid if isinstance(event, XidEvent) else None
                    yield self._finish(txn, BinlogPosition(file, end), xid)
                    txn = None
                    continue
                if isinstance(event, MariadbAnnotateRowsEvent | RowsQueryLogEvent):
                    if txn is not None and self.options.output_query:
                        raw = getattr(event, "sql_statement", None) or getattr(event, "query", "")
                        txn.query = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    continue
                if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                    if txn is None:
                        txn = _OpenTransaction(start, None, transactional=True)
                    self._on_rows(txn, event)
        finally:
            if txn is not None:  # cut short (a lost connection, a stop): its spilled rows go
                txn.pending.close()

    def _on_ddl(self, txn: _OpenTransaction, event: QueryEvent, sql: str) -> None:
        schema = event.schema.decode("utf-8", "replace") if isinstance(event.schema, bytes) else str(event.schema)
        for change in classify_ddl(sql, schema):
            self._forget_table(change.database, change.table)
            if not self.options.output_ddl:
                continue
            if change.table is not None and not self.options.filter.wants(change.database, change.table):
                continue
            txn.pending.append(("ddl", change, event.timestamp, event.packet.server_id, sql))

    def _on_rows(self, txn: _OpenTransaction, event: RowsEvent) -> None:
        database, table = event.schema, event.table
        if (database, table) == self.options.heartbeat_table:
            for row in event.rows:
                self._on_heartbeat(row.get("after_values") or row.get("values") or {})
            return  # the streamer's own heartbeat writes: measured, never emitted
        if not self.options.filter.wants(database, table):
            return  # never decoded: the library decodes rows lazily
        layout = self._layout(event)
        decoded = self._decode_natively(txn, event, layout.decoder)
        rows = decoded if decoded is not None else self._decode_by_library(txn, event)
        key_columns, excluded = layout.key_columns, layout.excluded
        if self.options.output_schema and rows:
            self._check_schema(txn, event, key_columns, excluded)
        common = (database, table, key_columns, excluded, event.timestamp, event.packet.server_id, txn.query)
        append = txn.pending.append
        if decoded is not None:
            if isinstance(event, UpdateRowsEvent):
                for after, old in decoded:
                    append(("row", Operation.UPDATE, after, old, *common))
            else:
                operation = Operation.INSERT if isinstance(event, WriteRowsEvent) else Operation.DELETE
                for data in decoded:
                    append(("row", operation, data, None, *common))
            return
        converter = row_converter(layout.specs)
        if isinstance(event, UpdateRowsEvent):
            for row in rows:
                before = converter.convert(row["before_values"], row.get("before_none_sources", {}))
                after = converter.convert(row["after_values"], row.get("after_none_sources", {}))
                append(("row", Operation.UPDATE, after, changed_columns(before, after), *common))
        else:
            operation = Operation.INSERT if isinstance(event, WriteRowsEvent) else Operation.DELETE
            for row in rows:
                data = converter.convert(row["values"], row.get("none_sources", {}))
                append(("row", operation, data, None, *common))

    def _layout(self, event: RowsEvent) -> _Layout:
        """What the rows of this table need, kept while the table's columns (its TABLE_MAP's table, which the
        session shares between transactions), JSON columns and filter stay the same."""
        key = (event.schema, event.table)
        json_columns = self._json_columns(event.schema, event.table)
        layout = self._layouts.get(key)
        if layout is not None and layout.columns is event.columns and layout.json_columns is json_columns:
            return layout
        primary_key = event.primary_key
        key_columns = (primary_key,) if isinstance(primary_key, str) and primary_key else tuple(primary_key or ())
        specs = column_specs(event.columns, json_columns)
        layout = _Layout(
            columns=event.columns,
            json_columns=json_columns,
            specs=specs,
            decoder=compile_decoder(event.columns, specs),
            key_columns=key_columns,
            excluded=self.options.filter.columns_excluded(event.schema, event.table),
        )
        self._layouts[key] = layout
        return layout

    def _decode_natively(self, txn: _OpenTransaction, event: RowsEvent, decoder: RowDecoder | None) -> Any:
        """The rows decoded in C straight into event values (`row_decoder`): a list of data dicts, or of (data, old)
        pairs for an update; None where the table or the event needs the library (see `row_decoder`)."""
        if decoder is None:
            return None
        try:
            return decoder.updates(event) if isinstance(event, UpdateRowsEvent) else decoder.inserts(event)
        except ValueError as error:
            raise RuntimeFailure(
                f"cannot decode a row event of {event.schema}.{event.table} at {txn.start} ({error}); "
                "exclude the table with --exclude-tables to skip it"
            ) from None

    @staticmethod
    def _decode_by_library(txn: _OpenTransaction, event: RowsEvent) -> list[dict[str, Any]]:
        try:
            rows: list[dict[str, Any]] = event.rows
        except Exception as error:  # noqa: BLE001 - a decoder failure must name the event, not be a traceback
            raise RuntimeFailure(
                f"cannot decode a row event of {event.schema}.{event.table} at {txn.start} "
                f"({type(error).__name__}: {error}); exclude the table with --exclude-tables to skip it"
            ) from None
        return rows

    def _check_schema(
        self, txn: _OpenTransaction, event: RowsEvent, key_columns: tuple[str, ...], excluded: frozenset[str]
    ) -> None:
        """Queue a schema event if the table's definition differs from the last one emitted for it."""
        key = (event.schema, event.table)
        if txn.checked.get(key) is event.columns:
            return  # this TABLE_MAP was compared already (a transaction's rows come in many rows events)
        txn.checked[key] = event.columns
        json_columns = self._json_columns(event.schema, event.table)
        try:
            columns = table_definition(event.columns, json_columns.__contains__, excluded)
        except UnknownColumnType as error:
            raise RuntimeFailure(
                f"cannot describe {event.schema}.{event.table} at {txn.start}: {error}; "
                "turn schema events off with --no-output-schema or exclude the table with --exclude-tables"
            ) from None
        definition = (columns, key_columns)
        if definition != txn.schemas.get(key, self._schemas.get(key)):
            txn.schemas[key] = definition
            txn.pending.append(("schema", key, definition, event.timestamp, event.packet.server_id))

    def _finish(self, txn: _OpenTransaction, end: BinlogPosition, xid: int | None) -> Transaction:
        if txn.gtid is not None:
            self.gtid_state = self.gtid_state.add(txn.gtid)
        self._schemas.update(txn.schemas)
        last = len(txn.pending) - 1

        def build(pending: Iterable[Any]) -> Iterator[Event]:
            return _events(pending, txn, xid, last)

        events = SpilledEvents(txn.pending, build) if txn.pending.spilled else list(build(txn.pending))
        return Transaction(events, txn.start, end, txn.gtid, str(self.gtid_state) or None, self.server_id)


@functools.lru_cache(maxsize=1024)
def row_converter(specs: tuple[ColumnSpec, ...]) -> RowConverter:
    """The library path's value conversion for a table layout (the same specs, the same converter)."""
    return RowConverter.build(specs)


def column_specs(columns: Iterable[Any], json_columns: frozenset[str]) -> tuple[ColumnSpec, ...]:
    """What converting a table's values needs to know of its columns (the library's TABLE_MAP columns)."""
    return tuple(
        ColumnSpec(
            name=column.name,
            type_code=column.type,
            fsp=getattr(column, "fsp", 0) or 0,
            set_values=tuple(getattr(column, "set_values", None) or ()),
            is_json=column.name in json_columns,
            max_length=getattr(column, "max_length", 0) if column.type == STRING else 0,
        )
        for column in columns
    )


def _events(pending: Iterable[Any], txn: _OpenTransaction, xid: int | None, last: int) -> Iterator[Event]:
    """The transaction's pending items as events, in order; `last` is the index of the last one (`commit`)."""
    schemas = 0  # a schema event takes no index: it has the xoffset of the row event after it
    for index, item in enumerate(pending):
        xoffset = index - schemas
        if item[0] == "schema":
            _, (database, table), (columns, key_columns), ts, server_id = item
            yield SchemaEvent(
                database=database,
                table=table,
                ts=ts,
                xoffset=xoffset,
                position=txn.start,
                gtid=txn.gtid,
                server_id=server_id,
                thread_id=txn.thread_id,
                columns=columns,
                primary_key_columns=key_columns,
            )
            schemas += 1
            continue
        if item[0] == "ddl":
            _, change, ts, server_id, sql = item
            yield DdlEvent(
                database=change.database,
                table=change.table,
                type=change.kind,
                ts=ts,
                position=txn.start,
                gtid=txn.gtid,
                server_id=server_id,
                thread_id=txn.thread_id,
                sql=sql,
                xoffset=xoffset,
                commit=index == last,
            )
            continue
        _, operation, data, old, database, table, key_columns, excluded, ts, server_id, query = item
        yield ChangeEvent(
            database=database,
            table=table,
            type=operation,
            ts=ts,
            xid=xid,
            xoffset=xoffset,
            commit=index == last,
            position=txn.start,
            gtid=txn.gtid,
            server_id=server_id,
            thread_id=txn.thread_id,
            primary_key=tuple(map(data.get, key_columns)),
            primary_key_columns=key_columns,
            data=_without(data, excluded),
            old=_without(old, excluded) if old is not None else None,
            query=query,
        )


def _without(row: dict[str, Any], excluded: frozenset[str]) -> dict[str, Any]:
    if not excluded:
        return row
    return {name: value for name, value in row.items() if name not in excluded}
