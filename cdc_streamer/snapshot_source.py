"""The snapshot's side of the source server: which tables, their columns and keys, the grants it needs, and the
consistent point (an MVCC snapshot plus the exact binlog position and GTID state it corresponds to).

MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` records, atomically with the snapshot, the binlog position
of the last transaction it contains (status `binlog_snapshot_file` / `binlog_snapshot_position`): no lock at all.
`@@gtid_binlog_pos` read afterwards may already be newer, so the GTID state is derived from that position with
`BINLOG_GTID_POS(file, pos)`.

MySQL / Aurora MySQL have no such status: `FLUSH TABLES WITH READ LOCK` stops commits for the instant of
`START TRANSACTION WITH CONSISTENT SNAPSHOT` + `SHOW BINARY LOG STATUS` (`SHOW MASTER STATUS` before 8.4) +
`UNLOCK TABLES` (what `mysqldump --single-transaction --source-data` does). Not testable here (no MySQL server).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pymysql

from .errors import ConfigError, RuntimeFailure, SourceUnusable
from .position import BinlogPosition
from .preflight import global_privileges
from .snapshot_layout import SnapshotPoint
from .snapshot_types import ColumnInfo, UnsupportedColumn, column_kind
from .source import ER_SPECIFIC_ACCESS_DENIED, Source
from .source import quote_identifier as quote

SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_TABLEACCESS_DENIED = 1142
ER_COLUMNACCESS_DENIED = 1143
ER_LOCK_WAIT_TIMEOUT = 1205
ER_TABLE_DEF_CHANGED = 1412
READ_LOCK_WAIT_SECONDS = 10

Connection: TypeAlias = "pymysql.connections.Connection[Any]"


def rows(conn: Connection, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, tuple(args) or None)
        return list(cursor.fetchall())


@dataclass(frozen=True, slots=True)
class TableFacts:
    database: str
    table: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    estimated_rows: int

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"


def select_tables(
    available: dict[tuple[str, str], str], patterns: Sequence[tuple[str, str]], user: str, can_see_all: bool
) -> list[tuple[str, str]]:
    """The (database, table) pairs `--tables` names (default: every base table outside the system databases),
    sorted. `available` maps every table the user can see to its TABLE_TYPE. Pure."""
    if not patterns:
        chosen = {key for key, kind in available.items() if kind == "BASE TABLE" and key[0] not in SYSTEM_DATABASES}
        if not chosen:
            raise ConfigError("no tables to snapshot: the server has no base tables outside the system databases")
        return sorted(chosen)
    databases = {database for database, _ in available}
    chosen = set()
    for database, table in patterns:
        if database not in databases or (table != "*" and (database, table) not in available):
            what = f"database {database!r}" if database not in databases else f"table {database}.{table}"
            if not can_see_all:
                raise SourceUnusable(
                    f"--tables: {what} does not exist or user {user!r} may not read it: "
                    f"GRANT SELECT ON {quote(database)}.* TO the snapshot's user"
                )
            raise ConfigError(f"--tables: {what} does not exist on the source")
        if table == "*":
            chosen.update(key for key, kind in available.items() if key[0] == database and kind == "BASE TABLE")
        elif available[(database, table)] != "BASE TABLE":
            raise ConfigError(f"--tables: {database}.{table} is a {available[(database, table)].lower()}, not a table")
        else:
            chosen.add((database, table))
    if not chosen:
        raise ConfigError("--tables: the patterns match no base table")
    return sorted(chosen)


def visible_tables(conn: Connection) -> dict[tuple[str, str], str]:
    return {
        (str(database), str(table)): str(kind)
        for database, table, kind in rows(
            conn, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES"
        )
    }


def table_facts(conn: Connection, source: Source, database: str, table: str) -> TableFacts:
    """Columns (with MariaDB's JSON columns), primary key in key order, and TABLE_ROWS (InnoDB's estimate)."""
    json_columns = source.json_columns(database, table)
    columns = tuple(
        ColumnInfo(
            name=str(name),
            data_type=str(data_type).lower(),
            column_type=str(column_type),
            char_max_length=_int(char_max),
            precision=_int(precision),
            scale=_int(scale),
            datetime_precision=_int(fsp),
            is_json=str(name) in json_columns,
        )
        for name, data_type, column_type, char_max, precision, scale, fsp in rows(
            conn,
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
            "DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "ORDER BY ORDINAL_POSITION",
            (database, table),
        )
    )
    key = tuple(
        str(name)
        for (name,) in rows(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (database, table),
        )
    )
    estimate = rows(
        conn,
        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (database, table),
    )
    estimated = _int(estimate[0][0]) if estimate else None
    return TableFacts(database, table, columns, key, estimated or 0)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def refuse_unusable(tables: Sequence[TableFacts]) -> None:
    """Tables the export cannot hold, all named in one line, before anything is written."""
    keyless = [facts.name for facts in tables if not facts.primary_key]
    if keyless:
        raise ConfigError(
            f"tables without a primary key cannot be snapshotted (the lake merges by key, docs/lake.md): "
            f"{', '.join(keyless)}; add a primary key or leave them out of --tables"
        )
    unsupported = []
    for facts in tables:
        for column in facts.columns:
            try:
                column_kind(column)
            except UnsupportedColumn as error:
                unsupported.append(f"{facts.name}.{error}")
    if unsupported:
        raise ConfigError(
            f"column types the export layout has no Parquet type for: {', '.join(unsupported)}; "
            "leave those tables out of --tables"
        )


def check_privileges(conn: Connection, source: Source, tables: Sequence[TableFacts]) -> None:
    """SELECT on every column of every table (tried, so table- and column-level grants count); RELOAD for the
    MySQL read lock."""
    if not source.is_mariadb:
        held = global_privileges(source.grants())
        if not held & {"ALL PRIVILEGES", "RELOAD"}:
            raise SourceUnusable(
                "grants: missing RELOAD (the MySQL snapshot holds FLUSH TABLES WITH READ LOCK for an instant): "
                "GRANT RELOAD ON *.* TO the snapshot's user"
            )
    denied = []
    for facts in tables:
        try:  # `*` needs SELECT on every column: information_schema hides the columns a user may not read
            rows(conn, f"SELECT * FROM {quote(facts.database)}.{quote(facts.table)} LIMIT 0")
        except pymysql.err.OperationalError as error:
            if error.args[0] not in (ER_TABLEACCESS_DENIED, ER_COLUMNACCESS_DENIED):
                raise
            denied.append(facts.name)
    if denied:
        raise SourceUnusable(
            f"grants: missing SELECT on {', '.join(denied)}: GRANT SELECT ON those tables (or *.*) "
            "TO the snapshot's user"
        )


def start_session(conn: Connection) -> None:
    """Session settings that make selected values mean what the binlog means: TIMESTAMP in UTC, CHAR unpadded,
    backslash escapes on (pymysql quotes with them), and the isolation the snapshot needs."""
    for statement in (
        "SET SESSION sql_mode = ''",
        "SET SESSION time_zone = '+00:00'",
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    ):
        rows(conn, statement)


def consistent_point(conn: Connection, is_mariadb: bool) -> SnapshotPoint:
    """Start the snapshot transaction and return the binlog position it corresponds to."""
    return _mariadb_point(conn) if is_mariadb else _mysql_point(conn)


def _mariadb_point(conn: Connection) -> SnapshotPoint:
    rows(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
    status = {str(name).lower(): str(value) for name, value in rows(conn, "SHOW STATUS LIKE 'binlog_snapshot_%'")}
    file, offset = status.get("binlog_snapshot_file", ""), status.get("binlog_snapshot_position", "")
    if not file or not offset.isdigit():
        raise SourceUnusable("log_bin: binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")
    position = BinlogPosition(file, int(offset))
    gtid = rows(conn, "SELECT BINLOG_GTID_POS(%s, %s)", (position.file, position.offset))[0][0]
    return SnapshotPoint(position, str(gtid) if gtid else None, _server_utc_now(conn))


def _mysql_point(conn: Connection) -> SnapshotPoint:
    rows(conn, "SET SESSION lock_wait_timeout = %s", (READ_LOCK_WAIT_SECONDS,))
    try:
        rows(conn, "FLUSH TABLES WITH READ LOCK")
    except pymysql.err.OperationalError as error:
        code = error.args[0]
        if code in (ER_SPECIFIC_ACCESS_DENIED, ER_ACCESS_DENIED, ER_DBACCESS_DENIED):
            raise SourceUnusable(
                f"FLUSH TABLES WITH READ LOCK was refused ({error.args[1]}): GRANT RELOAD ON *.* TO the "
                "snapshot's user; Amazon RDS and Aurora refuse it to every user: see docs/operations.md, Snapshot"
            ) from None
        if code == ER_LOCK_WAIT_TIMEOUT:
            raise RuntimeFailure(
                f"could not take the read lock within {READ_LOCK_WAIT_SECONDS}s (a long query or LOCK TABLES "
                "holds a table): run the snapshot again when it has finished"
            ) from None
        raise
    try:
        rows(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
        status = _binary_log_status(conn)
        moment = _server_utc_now(conn)
    finally:
        rows(conn, "UNLOCK TABLES")
    if not status:
        raise SourceUnusable("log_bin: binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")
    gtid = str(status[4]).replace("\n", "") if len(status) > 4 and status[4] else None
    return SnapshotPoint(BinlogPosition(str(status[0]), int(status[1])), gtid, moment)


def _binary_log_status(conn: Connection) -> tuple[Any, ...] | None:
    for statement in ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"):  # 8.4 renamed it
        try:
            found = rows(conn, statement)
        except pymysql.err.ProgrammingError:
            continue
        except pymysql.err.OperationalError as error:
            if error.args[0] == ER_SPECIFIC_ACCESS_DENIED:
                raise SourceUnusable(
                    "grants: missing REPLICATION CLIENT (to read the binlog position): "
                    "GRANT REPLICATION CLIENT ON *.* TO the snapshot's user"
                ) from None
            raise
        return found[0] if found else None
    return None


def _server_utc_now(conn: Connection) -> datetime.datetime:
    text = str(rows(conn, "SELECT UTC_TIMESTAMP(6)")[0][0])  # the snapshot connection leaves DATETIME as text
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
