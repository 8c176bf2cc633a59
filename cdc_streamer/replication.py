"""One replication session: connect as a replica, ask for the binlog from a start point, yield decoded events.

We speak the dump protocol ourselves (a few packets over pymysql) and use python-mysql-replication only to
decode each event. That keeps two things in our hands that the library's `BinLogStreamReader` gets wrong for us:
reconnecting (its retry restarts from its original start position) and MariaDB annotate events with a file/pos
start (it only asks for them when starting from a GTID). A session never reconnects by itself: it raises
`ConnectionLost` and the reader decides where to resume.
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
from .position import BinlogPosition
from .settings import MySQLUrl
from .source import connect

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


@dataclass(frozen=True, slots=True)
class StartPoint:
    """Where a session starts: a binlog position, or a GTID state (MariaDB `0-1-42,1-2-7`, MySQL `uuid:1-42`)."""

    position: BinlogPosition | None = None
    gtid: str | None = None

    def __str__(self) -> str:
        return f"gtid {self.gtid}" if self.position is None else str(self.position)


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
        self.table_map: dict[int, Any] = {}
        self._use_checksum = False
        self._mysql_version: tuple[int, int, int] = (0, 0, 0)
        self._post_header_lengths: Any = None
        self._stream = self._connect(read_timeout=options.read_timeout)
        self._ctl = self._connect(cursorclass=DictCursor)
        self._ctl._get_dbms = lambda: options.flavor  # type: ignore[attr-defined]
        self._request_dump()

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
            if wrapper.event_type == ROTATE_EVENT and wrapper.timestamp != 0:
                self.table_map = {}  # table ids are reused after a server restart, which always rotates
            elif wrapper.event_type == FORMAT_DESCRIPTION_EVENT and event is not None:
                self._mysql_version = event.mysql_version
                self._post_header_lengths = event.post_header_len
            elif wrapper.event_type == TABLE_MAP_EVENT and event is not None:
                self.table_map[event.table_id] = with_key_order(event)
            if event is not None:
                yield event


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
        return SourceUnusable(f"the server cannot send the binlog from {start}: {text}")
    if code == ER_ACCESS_DENIED_FOR_USER:
        return CredentialsRejected(f"replication refused: {text}: check the user and password")
    if code in ACCESS_DENIED:
        return SourceUnusable(f"replication refused: {text}: GRANT REPLICATION SLAVE ON *.* TO the streamer's user")
    return ConnectionLost(f"replication connection lost ({text or type(error).__name__})")
