"""The control connection to the source server: who it is, its binlog state, its grants and schema facts.

I/O only; decisions about what these facts mean live in `preflight`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pymysql

from .errors import ConfigError, ConnectionLost, CredentialsRejected, RuntimeFailure
from .position import BinlogPosition
from .settings import MySQLUrl, TlsSettings

ER_SPECIFIC_ACCESS_DENIED = 1227
ER_ACCESS_DENIED = 1045
ER_DBACCESS_DENIED = 1044
CR_CONNECTION_ERROR = 2002
CR_CONN_HOST_ERROR = 2003
CR_UNKNOWN_HOST = 2005
CR_SSL_CONNECTION_ERROR = 2026  # pymysql: TLS asked for, the server does not offer it
ER_SECURE_TRANSPORT_REQUIRED = 3159  # MySQL's require_secure_transport; MariaDB answers 1045 (access denied)
CR_SERVER_GONE = 2006
CR_SERVER_LOST = 2013
ER_CONNECTION_KILLED = 1927
X509_V_ERR_HOSTNAME_MISMATCH = 62  # OpenSSL's verify codes of a certificate that does not name the host
X509_V_ERR_IP_ADDRESS_MISMATCH = 64


def quote_identifier(name: str) -> str:
    """A MySQL identifier in backticks (a backtick inside doubled): safe for any table or column name."""
    return "`" + name.replace("`", "``") + "`"


def quote_for_parameters(name: str) -> str:
    """`quote_identifier` for a statement run with parameters: pymysql %-formats such a statement's text, so a `%`
    in the name is doubled (a table named `100%` would otherwise break the statement or shift its parameters)."""
    return quote_identifier(name).replace("%", "%%")


def connection_arguments(url: MySQLUrl, *, connect_timeout: float = 10.0) -> dict[str, Any]:
    """pymysql's arguments for every connection to the source (control, replication, snapshot, heartbeat)."""
    arguments: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.user,
        "password": url.password,
        "connect_timeout": connect_timeout,
        "charset": "utf8mb4",
        "autocommit": True,
    }
    if url.tls is not None:
        arguments["ssl"] = ssl_context(url.tls)
    return arguments


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """The client's TLS context: the server's chain verified against the CA file (or the system bundle), its name
    against the host unless skipped. Our own context rather than pymysql's `ssl_ca`/`ssl_verify_*` arguments:
    without a CA file pymysql would not check the host name. A CA file that cannot be loaded is a ConfigError."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            f"--mysql-ssl-ca (CDC_MYSQL_SSL_CA): cannot load {tls.describe_trust()} as PEM certificates ({reason})"
        ) from None
    # Like pymysql and the MySQL clients: no RFC 5280 strictness (Python 3.13 turns it on, and MySQL's own
    # certificates fail it). The chain and the name are still verified.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    context.check_hostname = tls.verify_identity
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def describe_connect_error(url: MySQLUrl, error: pymysql.err.MySQLError) -> Exception:
    """A pymysql connect failure -> one of our errors with a message that says what to change."""
    code = error.args[0] if error.args else None
    tls_failure = describe_tls_error(url, error)
    if tls_failure is not None:
        return tls_failure
    if code == ER_ACCESS_DENIED:
        return CredentialsRejected(
            f"access denied for user {url.user!r} at {url.address}: check the user and password in --mysql-url "
            "(or the secret of --mysql-secret-arn)"
        )
    if code == ER_DBACCESS_DENIED:
        return ConfigError(
            f"access denied for user {url.user!r} at {url.address}: check the user and password in --mysql-url"
        )
    if code == CR_UNKNOWN_HOST:
        return ConfigError(f"unknown host {url.host!r}: check the host in --mysql-url")
    if code in (CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR):
        detail = str(error.args[1]) if len(error.args) > 1 else ""
        reason = detail.rsplit("(", 1)[-1].rstrip(")") if "(" in detail else detail
        return RuntimeFailure(
            f"cannot connect to {url.address} ({reason}): check the host and port in --mysql-url "
            "and that the server is running"
        )
    return RuntimeFailure(f"cannot connect to {url.address}: {error}")


def describe_tls_error(url: MySQLUrl, error: pymysql.err.MySQLError) -> Exception | None:
    """A refused certificate or a missing TLS -> ConfigError (exit 2, never retried: only the configuration or the
    server's certificate can fix it); another failed handshake -> RuntimeFailure; not about TLS -> None."""
    code = error.args[0] if error.args else None
    cause = getattr(error, "original_exception", None)  # pymysql keeps the OSError it wrapped in 2003
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = getattr(cause, "verify_message", None) or "certificate verify failed"
        if getattr(cause, "verify_code", None) in (X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH):
            return ConfigError(
                f"TLS to {url.address}: the server's certificate does not name the host {url.host!r} ({detail}): "
                "connect by a name the certificate lists (the host of --mysql-url)"
            )
        trust = url.tls.describe_trust() if url.tls is not None else "the CA"
        return ConfigError(
            f"TLS to {url.address}: the server's certificate is not trusted by {trust} ({detail}): "
            "give the CA that signed it in --mysql-ssl-ca (CDC_MYSQL_SSL_CA)"
        )
    if code == CR_SSL_CONNECTION_ERROR:
        return ConfigError(no_tls_message(url))
    if code == ER_SECURE_TRANSPORT_REQUIRED:
        return ConfigError(
            f"{url.address} accepts only TLS connections (require_secure_transport): "
            "pass --mysql-ssl-ca (CDC_MYSQL_SSL_CA) with the CA of its certificate"
        )
    if isinstance(cause, ssl.SSLError):
        return RuntimeFailure(f"TLS handshake with {url.address} failed ({getattr(cause, 'reason', None) or cause})")
    return None


def no_tls_message(url: MySQLUrl) -> str:
    return (
        f"{url.address} does not offer TLS, and --mysql-ssl-ca/--mysql-ssl ask for it: enable TLS on the server "
        "(ssl_cert, ssl_key) or check the host and port in --mysql-url"
    )


def connect(url: MySQLUrl, **kwargs: Any) -> pymysql.connections.Connection[Any]:
    """A connection to the source, or one of our errors. With TLS settings, a connection that is not encrypted
    (older pymysql releases go on in clear text when the server offers no TLS) is closed and refused."""
    try:
        conn = pymysql.connect(**connection_arguments(url), **kwargs)
    except pymysql.err.MySQLError as error:
        raise describe_connect_error(url, error) from None
    if url.tls is not None and not isinstance(getattr(conn, "_sock", None), ssl.SSLSocket):
        with suppress(pymysql.err.Error, OSError):
            conn.close()
        raise ConfigError(no_tls_message(url))
    return conn


@dataclass(frozen=True, slots=True)
class BinaryLog:
    name: str
    size: int


class Source:
    """A short-lived control connection. Use as a context manager."""

    def __init__(self, url: MySQLUrl) -> None:
        self.url = url
        self._conn = connect(url)
        self.version: str = self._scalar("SELECT VERSION()")
        self.flavor = "mariadb" if "mariadb" in self.version.lower() else "mysql"
        self._json_columns: dict[tuple[str, str], frozenset[str]] = {}

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with suppress(pymysql.err.Error):
            self._conn.close()

    @property
    def is_mariadb(self) -> bool:
        return self.flavor == "mariadb"

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query; after a dropped control connection, reconnect once and retry it."""
        for attempt in (1, 2):
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute(sql, args or None)
                    return list(cursor.fetchall())
            except (pymysql.err.InterfaceError, pymysql.err.OperationalError) as error:
                if not _connection_broken(error):
                    raise
                self.close()
                if attempt == 2:
                    raise ConnectionLost(f"control connection to {self.url.address} lost ({error})") from None
                try:
                    self._conn = connect(self.url)
                except RuntimeFailure as failure:
                    raise ConnectionLost(failure.message) from None
        raise AssertionError("unreachable")

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, args)
        return rows[0][0] if rows else None

    def variables(self, *names: str) -> dict[str, str | None]:
        """Global variables by lower-case name; a variable the server does not have maps to None."""
        rows = self._rows("SHOW GLOBAL VARIABLES")
        known = {str(name).lower(): str(value) for name, value in rows}
        return {name: known.get(name.lower()) for name in names}

    def server_id(self) -> int:
        return int(self._scalar("SELECT @@server_id"))

    def current_position(self) -> BinlogPosition | None:
        """Where the server writes next (SHOW MASTER STATUS); None when binary logging is off."""
        for statement in ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"):
            try:
                rows = self._rows(statement)
            except pymysql.err.ProgrammingError:
                continue  # the statement's other name
            except pymysql.err.OperationalError as error:
                if error.args[0] == ER_SPECIFIC_ACCESS_DENIED:
                    return None  # no REPLICATION CLIENT: the grants check says so
                raise
            return BinlogPosition(str(rows[0][0]), int(rows[0][1])) if rows else None
        return None

    def binary_logs(self) -> list[BinaryLog]:
        """The server's binlog files, oldest first; empty when the user may not list them (see the grants check)."""
        try:
            rows = self._rows("SHOW BINARY LOGS")
        except pymysql.err.OperationalError as error:
            if error.args[0] == ER_SPECIFIC_ACCESS_DENIED:
                return []
            raise
        return [BinaryLog(str(row[0]), int(row[1])) for row in rows]

    def grants(self) -> list[str]:
        return [str(row[0]) for row in self._rows("SHOW GRANTS FOR CURRENT_USER()")]

    def gtid_at(self, position: BinlogPosition) -> str | None:
        """MariaDB: the GTID state that corresponds to a binlog position (BINLOG_GTID_POS); None elsewhere."""
        if not self.is_mariadb:
            return None
        value = self._scalar("SELECT BINLOG_GTID_POS(%s, %s)", (position.file, position.offset))
        return str(value) if value is not None else None

    def existing_tables(self, database: str) -> set[str] | None:
        """Tables of a database, or None when the database does not exist."""
        if not self._rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)):
            return None
        rows = self._rows("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
        return {str(row[0]) for row in rows}

    def column_types(self, database: str) -> list[tuple[str, str, str]]:
        """(table, column, DATA_TYPE lowercase) of every column of a database's tables, in table order."""
        rows = self._rows(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        return [(str(table), str(column), str(data_type).lower()) for table, column, data_type in rows]

    def json_columns(self, database: str, table: str) -> frozenset[str]:
        """MariaDB stores JSON as LONGTEXT guarded by CHECK (json_valid(col)); find those columns (cached)."""
        key = (database, table)
        if key not in self._json_columns:
            self._json_columns[key] = self._load_json_columns(database, table) if self.is_mariadb else frozenset()
        return self._json_columns[key]

    def forget_table(self, database: str, table: str | None) -> None:
        """Drop cached schema facts after a DDL statement changed them."""
        for key in [k for k in self._json_columns if k[0] == database and (table is None or k[1] == table)]:
            del self._json_columns[key]

    def _load_json_columns(self, database: str, table: str) -> frozenset[str]:
        rows = self._rows(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
            (database, table),
        )
        found = set()
        for (clause,) in rows:
            match = _JSON_VALID.fullmatch(str(clause).strip())
            if match:
                found.add(match["column"].replace("``", "`"))
        return frozenset(found)


def _connection_broken(error: pymysql.err.Error) -> bool:
    code = error.args[0] if error.args else None
    return isinstance(error, pymysql.err.InterfaceError) or code in (
        CR_SERVER_GONE,
        CR_SERVER_LOST,
        ER_CONNECTION_KILLED,
    )


_JSON_VALID = re.compile(r"json_valid\(`(?P<column>(?:[^`]|``)+)`\)", re.IGNORECASE)


@contextmanager
def open_source(url: MySQLUrl) -> Iterator[Source]:
    source = Source(url)
    try:
        yield source
    finally:
        source.close()
