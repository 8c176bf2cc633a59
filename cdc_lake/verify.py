"""`cdc-lake verify`: does each master table hold what its source table holds?

For each table: the source (one consistent-snapshot transaction, `time_zone = '+00:00'` so TIMESTAMP reads as UTC)
and the master table in `<lake-dir>/lake.duckdb` are streamed, every row is turned into canonical values
(`verify_values`), and each side keeps a map primary key -> row digest. The maps give the row counts and the
differing keys (`verify_report`): `missing in master`, `extra in master`, `differs in columns ...`. To name the
columns of the first N differing keys, the master scan keeps the canonical rows of the N smallest differing keys
and the source re-reads those N rows by primary key in the same snapshot; nothing else is held but the two maps.

This module is the shell: table selection, settings, the two readers (I/O), one table, the command. Errors are
`cdc_streamer.errors` exceptions: ConfigError (2) for flags and a missing lake file, SourceUnusable (3) when the
source cannot be reached or read, RuntimeFailure (1) when the lake stays locked.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pymysql
import pymysql.cursors

from cdc_streamer.cli import connection_options, masker_from, masking_options, mysql_source, option
from cdc_streamer.errors import ConfigError, RuntimeFailure, SourceUnusable
from cdc_streamer.masking import Masker
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.source import connect, quote_for_parameters
from cdc_streamer.source import quote_identifier as mysql_name
from cdc_streamer.values import format_time

from .duckdb_engine import LAKE_DATABASE, LOCK_WAIT_SECONDS, DuckDB
from .merge_sql import META_SCHEMA, duckdb_identifier
from .verify_report import DIFFERS, Digests, Key, TableReport, align_columns, compare, differing_columns, format_report
from .verify_values import ColumnInfo, json_columns_from_checks, row_normalizer

__all__ = [
    "VerifySettings",
    "add_arguments",
    "command_verify",
    "expand_tables",
    "open_lake",
    "run_verify",
    "verify_table",
]

SYSTEM_SCHEMAS = frozenset({META_SCHEMA, "information_schema", "pg_catalog"})
DEFAULT_SHOW = 10
FETCH_ROWS = 2000
NO_PRIMARY_KEY = "skipped: no primary key (history only; no master table)"
GONE_AT_SOURCE = "skipped: no such table at the source, and its master table is empty (dropped or renamed there)"

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------- table selection


def expand_tables(
    patterns: Sequence[tuple[str, str]],
    master_tables: Iterable[tuple[str, str]],
    source_tables: Callable[[str], Iterable[str]],
) -> list[tuple[str, str]]:
    """`--tables` patterns (db.table, db.*) -> tables, sorted; no patterns: every master table. `db.*` matches
    the tables of either side. A pattern that matches nothing on either side is a ConfigError."""
    masters = set(master_tables)
    if not patterns:
        return sorted(masters)
    chosen: set[tuple[str, str]] = set()
    unmatched = []
    for database, table in patterns:
        if database == META_SCHEMA:
            raise ConfigError(
                f"--tables (CDC_TABLES): {META_SCHEMA} holds the lake's own tables, not a source database"
            )
        if table == "*":
            found = {(database, name) for name in source_tables(database)} | {m for m in masters if m[0] == database}
        else:
            on_source = table in set(source_tables(database))
            found = {(database, table)} if on_source or (database, table) in masters else set()
        if not found:
            unmatched.append(f"{database}.{table}")
        chosen |= found
    if unmatched:
        raise ConfigError(
            f"--tables (CDC_TABLES): no table at the source or in the lake matches {', '.join(unmatched)}"
        )
    return sorted(chosen)


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class VerifySettings:
    mysql: MySQLUrl
    lake_file: Path
    tables: tuple[tuple[str, str], ...] = ()
    show: int = DEFAULT_SHOW
    masker: Masker | None = None  # the streamer's --mask-columns: the source's values are masked the same way

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> VerifySettings:
        mysql = mysql_source(args)[0]
        if not args.lake_dir:
            raise ConfigError("--lake-dir (CDC_LAKE_DIR) is required")
        if "://" in str(args.lake_dir):
            raise ConfigError(
                f"--lake-dir (CDC_LAKE_DIR): verify reads the local lake ({LAKE_DATABASE}); give a directory,"
                f" got {args.lake_dir!r}"
            )
        lake_file = Path(args.lake_dir) / LAKE_DATABASE
        if not lake_file.is_file():
            raise ConfigError(
                f"--lake-dir (CDC_LAKE_DIR): no {LAKE_DATABASE} in {args.lake_dir} (run cdc-lake compact first)"
            )
        try:
            show = int(str(args.show))
        except ValueError:
            show = -1
        if show < 0:
            raise ConfigError(f"--show (CDC_SHOW): expected a whole number >= 0, got {args.show!r}")
        tables = TableFilter.parse_patterns(args.tables, "--tables (CDC_TABLES)")
        return cls(mysql=mysql, lake_file=lake_file, tables=tables, show=show, masker=masker_from(args))


# ---------------------------------------------------------------------------------------------- the source (I/O)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def key_parameter(value: Any) -> Any:
    """A canonical key value as a query parameter for the source (pymysql prints negative timedeltas wrong)."""
    if isinstance(value, datetime.timedelta):
        return format_time(value, 6)
    if isinstance(value, tuple):
        return ",".join(value)
    return value


@dataclass(frozen=True, slots=True)
class SourceTable:
    database: str
    table: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def key_indexes(self) -> tuple[int, ...]:
        return tuple(self.names.index(name) for name in self.primary_key)

    @property
    def qualified(self) -> str:
        return f"{mysql_name(self.database)}.{mysql_name(self.table)}"

    def select_list(self) -> str:
        # FLOAT prints with 6 significant digits over the text protocol; as a DOUBLE it is exact.
        return ", ".join(
            f"CAST({mysql_name(c.name)} AS DOUBLE)" if c.kind == "float" else mysql_name(c.name) for c in self.columns
        )


class SourceSnapshot:
    """One connection, one consistent-snapshot read-only transaction for the whole run."""

    def __init__(self, url: MySQLUrl) -> None:
        self.url = url
        try:
            self._conn = connect(url)
        except RuntimeFailure as error:
            raise SourceUnusable(error.message) from None
        self._guard(self._start)
        self._tables: dict[str, frozenset[str]] = {}

    def _start(self) -> None:
        self._execute("SET time_zone = '+00:00'")
        self._execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self._execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        version = self._all("SELECT VERSION()")[0][0]
        self.is_mariadb = "mariadb" in _text(version).lower()

    def __enter__(self) -> SourceSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._execute("ROLLBACK")
        except pymysql.err.MySQLError:
            pass
        finally:
            self._conn.close()

    def _guard(self, read: Callable[[], T], what: str = "") -> T:
        try:
            return read()
        except pymysql.err.MySQLError as error:
            detail = " ".join(str(error.args[-1] if error.args else error).split())
            place = f" reading {what}" if what else ""
            raise SourceUnusable(f"source {self.url.address}{place}: {detail}") from None

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, tuple(args) or None)

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, tuple(args) or None)
            return list(cursor.fetchall())

    def tables(self, database: str) -> frozenset[str]:
        """The database's base tables (not views)."""
        if database not in self._tables:
            rows = self._guard(
                lambda: self._all(
                    "SELECT TABLE_NAME FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
                    (database,),
                ),
                database,
            )
            self._tables[database] = frozenset(_text(row[0]) for row in rows)
        return self._tables[database]

    def describe(self, database: str, table: str) -> SourceTable | None:
        if table not in self.tables(database):
            return None
        return self._guard(lambda: self._describe(database, table), f"{database}.{table}")

    def _describe(self, database: str, table: str) -> SourceTable:
        where = (database, table)
        json_names: frozenset[str] = frozenset()
        if self.is_mariadb:
            checks = self._all(
                "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
                " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                where,
            )
            json_names = json_columns_from_checks(_text(row[0]) for row in checks)
        rows = self._all(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            where,
        )
        columns = tuple(
            ColumnInfo(
                name=_text(name),
                data_type=_text(data_type).lower(),
                column_type=_text(column_type),
                precision=_int(precision),
                scale=_int(scale),
                fsp=_int(fsp),
                is_json=_text(name) in json_names or _text(data_type).lower() == "json",
            )
            for name, data_type, column_type, precision, scale, fsp in rows
        )
        key = self._all(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            where,
        )
        return SourceTable(database, table, columns, tuple(_text(row[0]) for row in key))

    def count(self, database: str, table: str) -> int:
        sql = f"SELECT COUNT(*) FROM {mysql_name(database)}.{mysql_name(table)}"
        return int(self._guard(lambda: self._all(sql), f"{database}.{table}")[0][0])

    def rows(self, table: SourceTable) -> Iterator[tuple[Any, ...]]:
        """Every row, streamed (an unbuffered cursor, FETCH_ROWS at a time)."""
        cursor = self._conn.cursor(pymysql.cursors.SSCursor)
        try:
            self._guard(lambda: cursor.execute(f"SELECT {table.select_list()} FROM {table.qualified}"), table.qualified)
            while batch := self._guard(lambda: cursor.fetchmany(FETCH_ROWS), table.qualified):
                yield from batch
        finally:
            self._guard(cursor.close)

    def row(self, table: SourceTable, key: Key) -> tuple[Any, ...] | None:
        # pymysql %-formats the text of a statement with parameters: a `%` in a name is doubled
        where = " AND ".join(f"{quote_for_parameters(name)} = %s" for name in table.primary_key)
        names, qualified = table.select_list().replace("%", "%%"), table.qualified.replace("%", "%%")
        sql = f"SELECT {names} FROM {qualified} WHERE {where}"
        found = self._guard(lambda: self._all(sql, [key_parameter(value) for value in key]), table.qualified)
        return found[0] if found else None


# ---------------------------------------------------------------------------------------------- the lake (I/O)


def lake_table(database: str, table: str) -> str:
    return f"{duckdb_identifier(database)}.{duckdb_identifier(table)}"


def open_lake(path: Path, *, wait: float = LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """`lake.duckdb` read-only (DuckDB, TimeZone UTC). While a writer (a compaction) holds the file's lock, retry
    for up to `wait` seconds, then fail with one line that says what to do."""
    try:
        return DuckDB(path, read_only=True, wait=wait).connection
    except RuntimeFailure as error:
        detail = error.message.removeprefix(f"cannot open {path}: ")
        if "lock" not in detail.lower():
            raise
        raise RuntimeFailure(
            f"cannot open {path}: another process holds its lock (a compaction?) for more than {wait:g} s;"
            " run verify again when it is done"
        ) from None


class Lake:
    """The master tables in `lake.duckdb` (read-only)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._conn = connection
        rows = self._conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
            " WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall()
        bases = self._conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database() AND table_type = 'BASE TABLE'"
        ).fetchall()
        tables = {(str(schema), str(name)) for schema, name in bases if str(schema) not in SYSTEM_SCHEMAS}
        self._columns: dict[tuple[str, str], list[str]] = {table: [] for table in tables}
        for schema, name, column in rows:
            if (str(schema), str(name)) in self._columns:
                self._columns[(str(schema), str(name))].append(str(column))

    def close(self) -> None:
        self._conn.close()

    def tables(self) -> list[tuple[str, str]]:
        return sorted(self._columns)

    def columns(self, database: str, table: str) -> list[str] | None:
        return self._columns.get((database, table))

    def count(self, database: str, table: str) -> int:
        row = self._conn.execute(f"SELECT count(*) FROM {lake_table(database, table)}").fetchone()
        return int(row[0]) if row else 0

    def rows(self, database: str, table: str, columns: Sequence[str | None]) -> Iterator[tuple[Any, ...]]:
        """Every row, the given columns in order (None: a column the table lacks, read as NULL), streamed."""
        select = ", ".join(duckdb_identifier(name) if name is not None else "NULL" for name in columns)
        cursor = self._conn.cursor()
        try:
            cursor.execute(f"SELECT {select} FROM {lake_table(database, table)}")
            while batch := cursor.fetchmany(FETCH_ROWS):
                yield from batch
        finally:
            cursor.close()


# ---------------------------------------------------------------------------------------------- one table


def masked_definition(definition: SourceTable, masker: Masker | None) -> tuple[SourceTable, frozenset[int]]:
    """With `--mask-columns`: the masked columns become strings (the HMAC's hex digits), and their positions."""
    if masker is None:
        return definition, frozenset()
    names = masker.masked_columns(definition.database, definition.table, definition.names)
    if not names:
        return definition, frozenset()
    columns = tuple(ColumnInfo(c.name, "varchar") if c.name in names else c for c in definition.columns)
    positions = frozenset(i for i, c in enumerate(definition.columns) if c.name in names)
    return SourceTable(definition.database, definition.table, columns, definition.primary_key), positions


def masked_rows(
    rows: Iterable[tuple[Any, ...]], masker: Masker, positions: frozenset[int]
) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield masker.mask_positions(row, positions)


def verify_table(
    source: SourceSnapshot, lake: Lake, database: str, table: str, show: int, masker: Masker | None = None
) -> TableReport:
    described = source.describe(database, table)
    definition, masked = masked_definition(described, masker) if described is not None else (None, frozenset())
    master_columns = lake.columns(database, table)
    if definition is None:
        rows = lake.count(database, table)
        if rows == 0:  # a table dropped or renamed at the source: compact leaves its master table empty
            return TableReport(database, table, skipped=GONE_AT_SOURCE)
        return TableReport(database, table, master_rows=rows, problem="table missing at the source")
    if not definition.primary_key:
        return TableReport(database, table, skipped=NO_PRIMARY_KEY)
    if master_columns is None:
        return TableReport(
            database, table, source_rows=source.count(database, table), problem="table missing in master"
        )
    aligned = align_columns(definition.names, master_columns)
    missing = tuple(name for name, found in zip(definition.names, aligned, strict=True) if found is None)
    missing_key = [name for name in definition.primary_key if name in missing]
    if missing_key:
        return TableReport(
            database,
            table,
            source_rows=source.count(database, table),
            master_rows=lake.count(database, table),
            problem=f"master has no primary-key column {', '.join(missing_key)}",
        )
    canonical = row_normalizer(definition.columns)
    ours = Digests(definition.key_indexes)
    source_rows = source.rows(definition)
    if masker is not None and masked:
        source_rows = masked_rows(source_rows, masker, masked)
    for values in source_rows:
        ours.add(canonical(values))
    theirs = Digests(definition.key_indexes, reference=ours.digests, keep=show)
    for values in lake.rows(database, table, aligned):
        theirs.add(canonical(values))
    theirs.finish()
    diff = compare(ours.digests, theirs.digests, theirs.duplicated)
    column_diffs: dict[Key, tuple[str, ...]] = {}
    key_masked = any(definition.names.index(name) in masked for name in definition.primary_key)
    for key, what in diff.first(show):
        if what != DIFFERS or key not in theirs.kept or key_masked:  # a masked key cannot be looked up
            continue
        found = source.row(definition, key)
        if found is not None and masker is not None and masked:
            found = masker.mask_positions(found, masked)
        if found is not None:
            column_diffs[key] = differing_columns(definition.names, canonical(found), theirs.kept[key])
    return TableReport(
        database,
        table,
        source_rows=ours.rows,
        master_rows=theirs.rows,
        key_columns=definition.primary_key,
        diff=diff,
        column_diffs=column_diffs,
        missing_columns=missing,
    )


# ---------------------------------------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    connection_options(parser)
    option(parser, "--lake-dir", f"the local lake directory (holds {LAKE_DATABASE})")
    option(parser, "--tables", "only these tables: db.table,db.* (default: every master table in the lake)")
    option(parser, "--show", "differing keys to print per table", default=str(DEFAULT_SHOW))
    masking_options(parser)


def run_verify(settings: VerifySettings) -> list[TableReport]:
    lake = Lake(open_lake(settings.lake_file, wait=LOCK_WAIT_SECONDS))
    try:
        with SourceSnapshot(settings.mysql) as source:
            tables = expand_tables(settings.tables, lake.tables(), source.tables)
            return [
                verify_table(source, lake, database, table, settings.show, settings.masker)
                for database, table in tables
            ]
    finally:
        lake.close()


def command_verify(args: argparse.Namespace) -> int:
    """Print the report on stdout; 0 when every table is equal (or skipped), 1 when one differs."""
    settings = VerifySettings.from_args(args)
    reports = run_verify(settings)
    if not reports:
        print(f"verify: no master tables in {settings.lake_file}")
        return 0
    for line in format_report(reports, settings.show):
        print(line)
    return 0 if all(report.equal or report.skipped for report in reports) else 1
