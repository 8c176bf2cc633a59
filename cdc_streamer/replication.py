"""One replication session: connect as a replica, ask for the binlog from a start point, yield decoded events.

We speak the dump protocol ourselves (a few packets over pymysql) and use python-mysql-replication only to
decode each event. That keeps two things in our hands that the library's `BinLogStreamReader` gets wrong for us:
reconnecting (its retry restarts from its original start position) and MariaDB annotate events with a file/pos
start (it only asks for them when starting from a GTID). A session never reconnects by itself: it raises
`ConnectionLost` and the reader decides where to resume.

Before asking for the binlog, a session reads which server it reached (`@@server_id`): a start position recorded
on another server (a failover, an endpoint that now points at a promoted replica) is replaced by the GTID state
recorded with it, or refused (`StartPoint.on_server`). `start` is then what the session really asked for.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
from pymysql.constants.COMMAND import COM_BINLOG_DUMP
from pymysql.cursors import DictCursor
from pymysqlreplication.constants import BINLOG
from pymysqlreplication.constants.BINLOG import FORMAT_DESCRIPTION_EVENT, ROTATE_EVENT, TABLE_MAP_EVENT
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
from pymysqlreplication.gtid import GtidSet
from pymysqlreplication.packet import BinLogPacketWrapper
from pymysqlreplication.row_event import DeleteRowsEvent, TableMapEvent, UpdateRowsEvent, WriteRowsEvent

from . import library_fixes  # noqa: F401 - repairs the library's column decoders on import
from .errors import ConnectionLost, CredentialsRejected, RuntimeFailure, SourceUnusable
from .position import StartPoint
from .settings import MySQLUrl
from .source import connect

__all__ = ["EVENTS", "OtherEvent", "ReplicationSession", "SessionOptions", "StartPoint", "with_key_order"]

log = logging.getLogger(__name__)

COM_BINLOG_DUMP_GTID = 0x1E
BINLOG_DUMP_NON_BLOCK = 0x01
BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02
BINLOG_THROUGH_GTID = 0x04

ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236
ER_ACCESS_DENIED_FOR_USER = 1045
ACCESS_DENIED = (1227, 1044)

EVENTS = frozenset(
    {
        RotateEvent,
        FormatDescriptionEvent,
        TableMapEvent,
        MariadbGtidEvent,
        GtidEvent,
        QueryEvent,
        XidEvent,
        WriteRowsEvent,
        UpdateRowsEvent,
        DeleteRowsEvent,
        MariadbAnnotateRowsEvent,
        RowsQueryLogEvent,
        HeartbeatLogEvent,
        XAPrepareEvent,
    }
)
ROWS_EVENTS = frozenset(
    {
        BINLOG.WRITE_ROWS_EVENT_V1,
        BINLOG.UPDATE_ROWS_EVENT_V1,
        BINLOG.DELETE_ROWS_EVENT_V1,
        BINLOG.WRITE_ROWS_EVENT_V2,
        BINLOG.UPDATE_ROWS_EVENT_V2,
        BINLOG.DELETE_ROWS_EVENT_V2,
        BINLOG.PARTIAL_UPDATE_ROWS_EVENT,
    }
)


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """An event not decoded (GTID list, binlog checkpoint, stop, previous GTIDs, ...): only its header, so that the
    reader knows how far it has read. A rotation ends with a few of these, and MariaDB writes a binlog checkpoint
    event later, from a background thread: skipped silently, the server's end of binlog would stay ahead of what
    the streamer read on an idle source (a stall and a growing lag), and an --end-position there never reached."""

    packet: Any  # the event header: log_pos, event_size, event_type
    timestamp: int


@dataclass(frozen=True, slots=True)
class EventHeader:
    """The common header of a binlog event, read from the packet without the library (see `OtherEvent`)."""

    timestamp: int
    event_type: int
    server_id: int
    event_size: int
    log_pos: int

    @classmethod
    def of(cls, data: bytes) -> EventHeader:
        # After the OK byte: timestamp, type, server id, event size, end position (`log_pos`), flags.
        timestamp, event_type, server_id, event_size, log_pos = struct.unpack_from("<IBIII", data, 1)
        return cls(timestamp, event_type, server_id, event_size, log_pos)


TABLE_MAP_CACHE = 4096  # distinct TABLE_MAP bodies remembered per session


@dataclass(frozen=True, slots=True)
class SessionOptions:
    server_id: int
    flavor: str
    blocking: bool = True
    annotate: bool = False
    heartbeat_seconds: float = 1.0
    read_timeout: float = 30.0


class ReplicationSession:
    """A COM_BINLOG_DUMP session. Iterate `events()`; it ends at the end of the binlog when not blocking."""

    def __init__(self, url: MySQLUrl, start: StartPoint, options: SessionOptions) -> None:
        self.url = url
        self.start = start
        self.options = options
        self.server_id: int | None = None  # the server this session reached (@@server_id)
        self.table_map: dict[int, Any] = {}
        self._table_maps: dict[bytes, tuple[int, Any]] = {}  # a TABLE_MAP body -> its table id and table
        self._use_checksum = False
        self._mysql_version: tuple[int, int, int] = (0, 0, 0)
        self._post_header_lengths: Any = None
        self._stream = self._connect(read_timeout=options.read_timeout)
        try:
            self._ctl = self._connect(cursorclass=DictCursor)
        except BaseException:
            self._stream.close()
            raise
        self._ctl._get_dbms = lambda: options.flavor  # type: ignore[attr-defined]
        try:
            self._request_dump()
        except BaseException:
            self.close()
            raise

    def _connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        """`source.connect` (TLS and its checks included); a failure to reach the server is retried by the reader,
        a configuration error (credentials, a refused TLS certificate) is not."""
        try:
            return connect(self.url, **kwargs)
        except RuntimeFailure as failure:
            raise ConnectionLost(failure.message) from None

    def close(self) -> None:
        for conn in (self._stream, self._ctl):
            with contextlib.suppress(pymysql.err.Error, OSError):
                conn.close()

    def _execute(self, sql: str, args: tuple[Any, ...] | None = None) -> list[Any]:
        with self._stream.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def _request_dump(self) -> None:
        try:
            self.server_id = int(self._execute("SELECT @@server_id")[0][0])
            self.start = self.start.on_server(self.server_id)
            rows = self._execute("SHOW GLOBAL VARIABLES LIKE 'binlog_checksum'")
            self._use_checksum = bool(rows) and str(rows[0][1]).upper() != "NONE"
            if self._use_checksum:
                self._execute("SET @master_binlog_checksum = @@global.binlog_checksum")
            period_ns = int(min(self.options.heartbeat_seconds, self.options.read_timeout / 2) * 1e9)
            self._execute("SET @master_heartbeat_period = %s", (period_ns,))
            self._execute("SET @mariadb_slave_capability = 4")  # we understand GTID events: send them
            packet = self._dump_packet()
            self._stream._write_bytes(struct.pack("<i", len(packet)) + packet)  # type: ignore[attr-defined]
            self._stream._next_seq_id = 1  # type: ignore[attr-defined]
        except (pymysql.err.Error, OSError) as error:
            raise _classify(error, self.start) from None

    def _dump_packet(self) -> bytes:
        flags = 0 if self.options.blocking else BINLOG_DUMP_NON_BLOCK
        if self.options.annotate and self.options.flavor == "mariadb":
            flags |= BINLOG_SEND_ANNOTATE_ROWS_EVENT
        server_id = self.options.server_id
        if self.start.position is not None:
            file = self.start.position.file.encode()
            return struct.pack("<BIHI", COM_BINLOG_DUMP, self.start.position.offset, flags, server_id) + file
        if self.options.flavor == "mariadb":
            self._execute("SET @slave_connect_state = %s", (self.start.gtid or "",))
            self._execute("SET @slave_gtid_strict_mode = 0")
            self._execute("SET @slave_gtid_ignore_duplicates = 0")
            return struct.pack("<BIHI", COM_BINLOG_DUMP, 4, flags, server_id)
        gtid_set = GtidSet(self.start.gtid or "")
        encoded: bytes = gtid_set.encoded()
        header = struct.pack("<BHII", COM_BINLOG_DUMP_GTID, flags | BINLOG_THROUGH_GTID, server_id, 0)
        return header + struct.pack("<QI", 4, len(encoded)) + encoded

    def events(self) -> Iterator[Any]:
        """Decoded events, in binlog order. Raises ConnectionLost when the stream breaks."""
        while True:
            try:
                packet = self._stream._read_packet()  # type: ignore[no-untyped-call]
            except (TimeoutError, pymysql.err.Error, OSError) as error:
                raise _classify(error, self.start) from None
            if packet.is_eof_packet():
                return
            if not packet.is_ok_packet():
                continue
            table_map_body = self._body(packet._data) if packet._data[5] == TABLE_MAP_EVENT else None
            if table_map_body is not None and (known := self._known_table_map(packet._data, table_map_body)):
                yield known
                continue
            wrapper = BinLogPacketWrapper(
                packet,
                self.table_map,
                self._ctl,
                self._mysql_version,
                self._use_checksum,
                EVENTS,
                None,
                None,
                None,
                None,
                False,
                False,
                False,
                True,
                False,
                False,
                self._post_header_lengths,
            )
            event = wrapper.event
            if wrapper.event_type in (ROTATE_EVENT, FORMAT_DESCRIPTION_EVENT):
                # A table id names a table only within one server process: ids are handed out again from the
                # start after a restart, and a session reading an old file goes on into the files written after
                # the restart. Every file starts with a format description (after a real or an artificial rotate)
                # and a transaction never spans files: forget every mapping there.
                self.table_map = {}
            if wrapper.event_type == FORMAT_DESCRIPTION_EVENT and event is not None:
                self._mysql_version = event.mysql_version
                self._post_header_lengths = event.post_header_len
            elif table_map_body is not None and event is not None:  # a TABLE_MAP not seen before
                self.table_map[event.table_id] = table = with_key_order(event)
                self._remember_table_map(table_map_body, event, table)
            if event is not None:
                yield event
            elif wrapper.event_type in ROWS_EVENTS:
                # Never the case in a binlog: each rows event follows its TABLE_MAP in the same file. Dropped, it
                # would be a silent loss: stop instead.
                raise RuntimeFailure(
                    f"a rows event ending at offset {wrapper.log_pos} refers to a table id without a TABLE_MAP "
                    "event before it in this session; report this with the binlog file"
                )
            else:
                yield OtherEvent(wrapper, wrapper.timestamp)

    def _body(self, data: bytes) -> bytes:
        """A TABLE_MAP event's body: after the OK byte and the 19-byte header, before the checksum."""
        return data[20 : len(data) - 4] if self._use_checksum else data[20:]

    def _known_table_map(self, data: bytes, body: bytes) -> OtherEvent | None:
        """A TABLE_MAP seen before, byte for byte (each transaction repeats its tables' maps): the table decoded
        then, without decoding it again (the library's TABLE_MAP decoding was most of the cost of small
        transactions). It maps its table id again and reaches the reader as an `OtherEvent`."""
        known = self._table_maps.get(body)
        if known is None:
            return None
        table_id, table = known
        self.table_map[table_id] = table
        header = EventHeader.of(data)
        return OtherEvent(header, header.timestamp)

    def _remember_table_map(self, body: bytes, event: TableMapEvent, table: Any) -> None:
        """Only a map that names its columns itself (binlog_row_metadata=FULL) is remembered: without the names, the
        library reads them from information_schema, which a later ALTER may change under the same bytes."""
        metadata = getattr(event, "optional_metadata", None)
        if not getattr(metadata, "column_name_list", None):
            return
        if len(self._table_maps) >= TABLE_MAP_CACHE:
            self._table_maps.clear()
        self._table_maps[body] = (event.table_id, table)


def with_key_order(event: TableMapEvent) -> Any:
    """The table, with its primary key columns in key order (the library lists them in column order)."""
    table = event.get_table()
    metadata = getattr(event, "optional_metadata", None)
    indexes = list(getattr(metadata, "simple_primary_key_list", None) or ())
    indexes += list((getattr(metadata, "primary_keys_with_prefix", None) or {}).keys())
    if indexes and all(0 <= index < len(table.columns) for index in indexes):
        table.primary_key = tuple(table.columns[index].name for index in indexes)
    return table


def _classify(error: BaseException, start: StartPoint) -> Exception:
    code = error.args[0] if isinstance(error, pymysql.err.MySQLError) and error.args else None
    text = str(error.args[1]) if isinstance(error, pymysql.err.MySQLError) and len(error.args) > 1 else str(error)
    if code == ER_MASTER_FATAL_ERROR_READING_BINLOG:
        if start.position is None:
            # MariaDB: "Could not find GTID state requested by slave in any binlog files", "... which is not in the
            # master's binlog"; MySQL: "... purged binary logs containing GTIDs that the slave requires".
            return SourceUnusable(
                f"server_id {start.server_id} cannot send the binlog from {start}: {text.rstrip('.')}; its binlog "
                "does not hold the transactions after that GTID state (purged, or not replicated to it before it was "
                "promoted): take a new snapshot and start from it (--from-snapshot)"
            )
        return SourceUnusable(f"the server cannot send the binlog from {start}: {text}")
    if code == ER_ACCESS_DENIED_FOR_USER:
        return CredentialsRejected(f"replication refused: {text}: check the user and password")
    if code in ACCESS_DENIED:
        return SourceUnusable(f"replication refused: {text}: GRANT REPLICATION SLAVE ON *.* TO the streamer's user")
    return ConnectionLost(f"replication connection lost ({text or type(error).__name__})")
