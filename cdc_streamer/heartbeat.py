"""`--heartbeat-table db.table`: write the time into a one-row-per-streamer table every second, read it back from
the binlog, and lag is measured even when the source is idle (like pt-heartbeat).

Off by default: it needs a write grant the streamer otherwise does not (INSERT, UPDATE on the table; CREATE to
make it). The rows are read like any other, used for the lag and never emitted as events.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import pymysql

from .errors import ConfigError
from .settings import MySQLUrl
from .source import connect
from .source import quote_identifier as quote

log = logging.getLogger(__name__)


def parse_heartbeat_table(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    database, dot, table = text.strip().partition(".")
    if not dot or not database or not table or "." in table or "*" in text:
        raise ConfigError(f"--heartbeat-table (CDC_HEARTBEAT_TABLE): expected db.table, got {text!r}")
    return database, table


def qualified(table: tuple[str, str]) -> str:
    return f"{quote(table[0])}.{quote(table[1])}"


def create_statement(table: tuple[str, str]) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(table)} "
        "(server_id INT UNSIGNED NOT NULL PRIMARY KEY, heartbeat_at DATETIME(6) NOT NULL)"
    )


def write_statement(table: tuple[str, str]) -> str:
    return (
        f"INSERT INTO {qualified(table).replace('%', '%%')} (server_id, heartbeat_at) VALUES (%s, UTC_TIMESTAMP(6)) "
        "ON DUPLICATE KEY UPDATE heartbeat_at = VALUES(heartbeat_at)"
    )


class HeartbeatWriter:
    """A daemon thread that writes one heartbeat per interval; a failed write is logged and retried on a new
    connection, never fatal (lag then grows, and the alarm on it says so)."""

    def __init__(self, url: MySQLUrl, table: tuple[str, str], server_id: int, interval: float) -> None:
        self.url = url
        self.table = table
        self.server_id = server_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cdc-heartbeat", daemon=True)
        self._conn: pymysql.connections.Connection[Any] | None = None
        self.writes = 0

    def start(self) -> HeartbeatWriter:
        """Create the table if needed and write the first heartbeat now: a missing grant is a ConfigError here."""
        try:
            self._write(create=True)
        except pymysql.err.MySQLError as error:
            self._close()
            raise ConfigError(
                f"--heartbeat-table {'.'.join(self.table)}: cannot write heartbeats ({error.args[-1]}); create it "
                f"with `{create_statement(self.table)}` and GRANT INSERT, UPDATE ON "
                f"{qualified(self.table)} TO the streamer's user, or drop the flag"
            ) from None
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._write()
            except (pymysql.err.MySQLError, OSError) as error:
                log.warning("heartbeat write failed (%s); retrying in %.1f s", error, self.interval)
                self._close()
            except Exception as error:  # noqa: BLE001 - a heartbeat never stops the streamer
                log.warning("heartbeat write failed (%s); retrying", error)
                self._close()

    def _write(self, *, create: bool = False) -> None:
        if self._conn is None:
            self._conn = connect(self.url)
        with self._conn.cursor() as cursor:
            if create and not cursor.execute(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", self.table
            ):
                cursor.execute(create_statement(self.table))
            cursor.execute(write_statement(self.table), (self.server_id,))
        self.writes += 1

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.err.Error):
                self._conn.close()
            self._conn = None
