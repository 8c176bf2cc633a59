"""`cdc-lake verify`: does each master table hold what its source table holds?

For each table: the source (one consistent-snapshot transaction, `time_zone = '+00:00'` so TIMESTAMP reads as UTC)
and the master table in `<lake-dir>/lake.duckdb` are streamed, every row is turned into canonical values, and each
side keeps a map primary key -> row digest. The maps give the row counts and the differing keys: `missing in
master`, `extra in master`, `differs in columns ...`. To name the columns of the first N differing keys, the
master scan keeps the canonical rows of the N smallest differing keys and the source re-reads those N rows by
primary key in the same snapshot; nothing else is held but the two maps.

Canonical values (`normalize`) take the source's column type (information_schema) and accept either side's Python
value, so one function serves both: the master's representation is the one `master_types` gives and the pipeline
writes (docs/events.md), the source's is what pymysql returns.

    kind       source (pymysql)                    master (duckdb)              canonical
    integer    int                                 int, Decimal (BIGINT UNS.)   int
    bit        bytes, big-endian                   int, Decimal (BIT(64))       int
    decimal    Decimal                             Decimal, str (> 38 digits)   int if whole, else normalized Decimal
    float      float (selected as DOUBLE: exact)   float (REAL)                 float rounded to float32
    double     float                               float                        float (-0.0 is 0.0)
    date       date, str for zero/invalid dates    date, NULL                   date, None
    datetime   datetime (UTC for TIMESTAMP), str   datetime, NULL               naive UTC datetime, None
    time       timedelta                           str `[-]HH:MM:SS[.f]`        timedelta
    string     str                                 str                          str
    binary     bytes                               bytes                        bytes
    set        str `a,b` (or a set)                list[str]                    sorted tuple of members
    json       str                                 str (JSON text)              parsed: numbers by value, sorted keys
    geometry   bytes: SRID + WKB                   str: WKT                     WKT as cdc_streamer.wkb prints it

Pure functions first (kinds, `normalize`, digests, the diff, the report), then the two readers (I/O), then the
command. Errors are `cdc_streamer.errors` exceptions: ConfigError (2) for flags and a missing lake file,
SourceUnusable (3) when the source cannot be reached or read, RuntimeFailure (1) when the lake stays locked.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import re
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pymysql
import pymysql.cursors

from cdc_streamer.cli import option
from cdc_streamer.errors import ConfigError, RuntimeFailure, SourceUnusable
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.source import connect
from cdc_streamer.values import format_time
from cdc_streamer.wkb import GeometryDecodeError, geometry_to_wkt

from .master_types import SourceColumn

__all__ = [
    "LAKE_DATABASE",
    "ColumnInfo",
    "KeyDiff",
    "TableReport",
    "add_arguments",
    "command_verify",
    "compare",
    "format_report",
    "normalize",
    "open_lake",
    "row_digest",
]

LAKE_DATABASE = "lake.duckdb"
META_SCHEMA = "cdc_lake"  # the lake's own tables: never a source database
METADATA_PREFIX = "_cdc_"
SYSTEM_SCHEMAS = frozenset({META_SCHEMA, "information_schema", "pg_catalog"})
LOCK_WAIT_SECONDS = 30.0
DEFAULT_SHOW = 10
FETCH_ROWS = 2000
NO_PRIMARY_KEY = "skipped: no primary key (history only; no master table)"
MISSING, EXTRA, DIFFERS, DUPLICATED = "missing in master", "extra in master", "differs", "duplicated in master"

Key = tuple[Any, ...]
Row = tuple[Any, ...]
T = TypeVar("T")

# ---------------------------------------------------------------------------------------------- column kinds

_KINDS: dict[str, str] = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), "integer"),
    "bit": "bit",
    **dict.fromkeys(("decimal", "numeric"), "decimal"),
    "float": "float",
    **dict.fromkeys(("double", "real", "double precision"), "double"),
    "date": "date",
    **dict.fromkeys(("datetime", "timestamp"), "datetime"),
    "time": "time",
    **dict.fromkeys(("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum"), "string"),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "binary"),
    "set": "set",
    "json": "json",
    **dict.fromkeys(
        (
            "geometry",
            "point",
            "linestring",
            "polygon",
            "multipoint",
            "multilinestring",
            "multipolygon",
            "geometrycollection",
        ),
        "geometry",
    ),
}
# information_schema DATA_TYPE -> the schema-event vocabulary of master_types, where the two differ.
_EVENT_TYPES = {
    **dict.fromkeys(("tinytext", "mediumtext", "longtext"), "text"),
    **dict.fromkeys(("tinyblob", "mediumblob", "longblob"), "blob"),
    **dict.fromkeys(
        ("point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"),
        "geometry",
    ),
}


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """A source column as information_schema.COLUMNS describes it (`is_json`: MariaDB's LONGTEXT with a
    json_valid CHECK, or MySQL's JSON)."""

    name: str
    data_type: str
    column_type: str = ""
    precision: int | None = None
    scale: int | None = None
    fsp: int | None = None
    is_json: bool = False

    @property
    def kind(self) -> str:
        """How values compare: integer | bit | decimal | float | double | date | datetime | time | string |
        binary | set | json | geometry | other (a type the lake does not know: compared as is)."""
        if self.is_json:
            return "json"
        return _KINDS.get(self.data_type.lower(), "other")

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type.lower()

    def source_column(self) -> SourceColumn:
        """The column in master_types' vocabulary (so `master_type(info.source_column())` is its master type)."""
        data_type = self.data_type.lower()
        return SourceColumn(
            name=self.name,
            type="json" if self.is_json else _EVENT_TYPES.get(data_type, data_type),
            unsigned=self.unsigned,
            precision=self.precision if data_type in ("decimal", "numeric") else None,
            scale=self.scale if data_type in ("decimal", "numeric") else None,
            fsp=self.fsp,
            bits=self.precision if data_type == "bit" else None,
        )


_JSON_VALID = re.compile(r"json_valid\(`(?P<column>(?:[^`]|``)+)`\)", re.IGNORECASE)


def json_columns_from_checks(clauses: Iterable[str]) -> frozenset[str]:
    """MariaDB's JSON columns: those whose CHECK clause is exactly `json_valid(`col`)`."""
    found = set()
    for clause in clauses:
        match = _JSON_VALID.fullmatch(clause.strip())
        if match:
            found.add(match["column"].replace("``", "`"))
    return frozenset(found)


# ---------------------------------------------------------------------------------------------- canonical values


INT_DIGITS = 4300  # sys.get_int_max_str_digits() by default
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # normalize() without rounding


def canonical_number(value: int | Decimal) -> int | Decimal:
    """A number by value: an int when whole, else a Decimal without trailing zeros (never rounded)."""
    if isinstance(value, int) or not value.is_finite():
        return value
    normalized = value.normalize(_EXACT)
    exponent = normalized.as_tuple().exponent
    # Past Python's int text limit json.loads makes no int, so a huge whole number can stay a Decimal.
    whole = isinstance(exponent, int) and 0 <= exponent <= INT_DIGITS
    return int(normalized) if whole else normalized


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return canonical_number(value)
    if isinstance(value, str):
        try:
            return canonical_number(Decimal(value.strip()))
        except InvalidOperation:
            return value
    if isinstance(value, float):
        return canonical_number(Decimal(value))
    return value


def to_float32(value: float) -> float:
    """The float32 nearest to `value`, widened back to a float (what a REAL/FLOAT column holds)."""
    try:
        result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return value
    return result + 0.0


def _float(value: Any) -> Any:
    return to_float32(float(value)) if isinstance(value, float | int | Decimal) else value


def _double(value: Any) -> Any:
    return float(value) + 0.0 if isinstance(value, float | int | Decimal) else value


def _bit(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    return _number(value)


def _date(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):  # zero or invalid dates: the master's TRY_CAST makes them NULL
        return None
    return value


def _datetime(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            return value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return None
    return value


_TIME = re.compile(r"(?P<sign>-)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<f>\d{1,6}))?")


def parse_time(text: str) -> datetime.timedelta | str:
    """`[-]HH:MM:SS[.ffffff]` (hours may exceed 24) -> a timedelta; text of another shape is returned as is."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        return text
    delta = datetime.timedelta(
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=int(match["s"]),
        microseconds=int((match["f"] or "").ljust(6, "0")),
    )
    return -delta if match["sign"] else delta


def _time(value: Any) -> Any:
    return parse_time(value) if isinstance(value, str) else value


def _string(value: Any) -> Any:
    # The streamer emits text it cannot decode as base64; do the same with bytes.
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes | bytearray) else value


def _binary(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value


def _set(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return tuple(sorted({member for member in value.split(",") if member}))
    if isinstance(value, set | frozenset | list | tuple):
        return tuple(sorted({str(member) for member in value}))
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def canonical_json(value: Any) -> Any:
    """A parsed JSON value with numbers by value (`1.50` is `1.5`, `-3e2` is `-300`) and keys sorted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal | float):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(key): canonical_json(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical_json(item) for item in value]
    return value


def _json(value: Any) -> Any:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes | bytearray) else value
    if not isinstance(text, str):
        return canonical_json(value)
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError:
        return text  # not JSON: the streamer passes such text on as a string, compare it as one
    return canonical_json(parsed)


def _geometry(value: Any) -> Any:
    if not isinstance(value, bytes | bytearray):
        return value
    try:
        return geometry_to_wkt(bytes(value))
    except GeometryDecodeError:
        return base64.b64encode(value).decode("ascii")  # the streamer's fallback


def _other(value: Any) -> Any:
    return bytes(value) if isinstance(value, bytearray | memoryview) else value


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "integer": _number,
    "bit": _bit,
    "decimal": _number,
    "float": _float,
    "double": _double,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "string": _string,
    "binary": _binary,
    "set": _set,
    "json": _json,
    "geometry": _geometry,
    "other": _other,
}


def normalize(value: Any, column: ColumnInfo) -> Any:
    """A source value (pymysql) or a master value (duckdb) of `column` -> its canonical form (table above)."""
    if value is None:
        return None
    return _NORMALIZERS[column.kind](value)


def row_normalizer(columns: Sequence[ColumnInfo]) -> Callable[[Sequence[Any]], Row]:
    """`normalize` for whole rows of `columns`, with each column's function looked up once."""
    functions = tuple(_NORMALIZERS[column.kind] for column in columns)

    def convert(values: Sequence[Any]) -> Row:
        return tuple(None if value is None else f(value) for f, value in zip(functions, values, strict=True))

    return convert


def normalize_row(values: Sequence[Any], columns: Sequence[ColumnInfo]) -> Row:
    return row_normalizer(columns)(values)


def row_digest(row: Row) -> bytes:
    """A row's content hash over its canonical values (their repr is deterministic: sorted sets and keys)."""
    return hashlib.sha256(repr(row).encode("utf-8", errors="surrogatepass")).digest()[:16]


# ---------------------------------------------------------------------------------------------- the diff


def _sort_value(value: Any) -> tuple[int, str, Any]:
    if value is None:
        return (0, "", 0)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (1, "number", value)
    return (2, type(value).__name__, value)


def key_order(key: Key) -> tuple[tuple[int, str, Any], ...]:
    """Sort order of canonical keys (values of one column share a type, so this always compares)."""
    return tuple(_sort_value(value) for value in key)


def _sorted_keys(keys: Iterable[Key]) -> list[Key]:
    try:
        return sorted(keys, key=key_order)
    except TypeError:  # mixed types in one key column: still deterministic
        return sorted(keys, key=repr)


@dataclass
class Digests:
    """One side of a table: row count, key -> digest, keys seen more than once, and (when given the other
    side's digests) the canonical rows of up to `keep` smallest keys whose digest differs from it."""

    key_indexes: tuple[int, ...]
    reference: Mapping[Key, bytes] | None = None
    keep: int = 0
    rows: int = 0
    digests: dict[Key, bytes] = field(default_factory=dict)
    duplicated: set[Key] = field(default_factory=set)
    kept: dict[Key, Row] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        key = tuple(row[index] for index in self.key_indexes)
        digest = row_digest(row)
        self.rows += 1
        if key in self.digests:
            self.duplicated.add(key)
        self.digests[key] = digest
        if self.keep and self.reference is not None and self.reference.get(key, digest) != digest:
            self.kept[key] = row
            if len(self.kept) > 2 * self.keep:
                self._prune()

    def _prune(self) -> None:
        self.kept = {key: self.kept[key] for key in _sorted_keys(self.kept)[: self.keep]}

    def finish(self) -> Digests:
        self._prune()
        return self


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """Differing keys, each list sorted."""

    missing: tuple[Key, ...] = ()  # at the source, not in master
    extra: tuple[Key, ...] = ()  # in master, not at the source
    differs: tuple[Key, ...] = ()  # both sides, other content
    duplicated: tuple[Key, ...] = ()  # more than one master row

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.differs) + len(self.duplicated)

    def first(self, count: int) -> list[tuple[Key, str]]:
        """The `count` smallest differing keys, each with what is wrong with it."""
        tagged = [
            *((key, MISSING) for key in self.missing),
            *((key, EXTRA) for key in self.extra),
            *((key, DIFFERS) for key in self.differs),
            *((key, DUPLICATED) for key in self.duplicated),
        ]
        try:
            tagged.sort(key=lambda item: key_order(item[0]))
        except TypeError:
            tagged.sort(key=lambda item: repr(item[0]))
        return tagged[: max(count, 0)]


def compare(source: Mapping[Key, bytes], master: Mapping[Key, bytes], duplicated: Iterable[Key] = ()) -> KeyDiff:
    """Source digests vs master digests. A key with several master rows is `duplicated`, whatever its content."""
    dups = set(duplicated)
    return KeyDiff(
        missing=tuple(_sorted_keys(key for key in source if key not in master)),
        extra=tuple(_sorted_keys(key for key in master if key not in source and key not in dups)),
        differs=tuple(
            _sorted_keys(
                key for key, digest in master.items() if key in source and source[key] != digest and key not in dups
            )
        ),
        duplicated=tuple(_sorted_keys(dups)),
    )


def differing_columns(names: Sequence[str], source: Row, master: Row) -> tuple[str, ...]:
    return tuple(name for name, a, b in zip(names, source, master, strict=True) if repr(a) != repr(b))


def align_columns(source: Sequence[str], master: Sequence[str]) -> tuple[str | None, ...]:
    """For each source column, the master column of that name (case-insensitive, as both engines compare
    names), or None when the master table does not have it. Master-only columns are not compared."""
    by_name = {name.lower(): name for name in master if not name.startswith(METADATA_PREFIX)}
    return tuple(by_name.get(name.lower()) for name in source)


# ---------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class TableReport:
    """One table's outcome. `source_rows`/`master_rows` are None when that side has no such table."""

    database: str
    table: str
    source_rows: int | None = None
    master_rows: int | None = None
    key_columns: tuple[str, ...] = ()
    skipped: str = ""
    problem: str = ""  # a whole-table difference (a side without the table, a key column missing in master)
    diff: KeyDiff = field(default_factory=KeyDiff)
    column_diffs: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    missing_columns: tuple[str, ...] = ()  # source columns the master table does not have

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def equal(self) -> bool:
        return not self.skipped and not self.problem and not self.diff.total and not self.missing_columns


def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, datetime.datetime):
        return repr(value.isoformat(sep=" "))
    if isinstance(value, datetime.date):
        return repr(value.isoformat())
    if isinstance(value, datetime.timedelta):
        return repr(format_time(value, 6 if value.microseconds else 0))
    if isinstance(value, tuple):
        return repr(",".join(str(member) for member in value))
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def format_key(names: Sequence[str], key: Key) -> str:
    return ", ".join(f"{name}={format_value(value)}" for name, value in zip(names, key, strict=True))


def _rows(count: int | None) -> str:
    if count is None:
        return "-"
    return f"{count} row" if count == 1 else f"{count} rows"


def format_table(report: TableReport, show: int) -> list[str]:
    """One line with counts and the outcome, then the first `show` differing keys."""
    if report.skipped:
        return [f"{report.name}: {report.skipped}"]
    head = f"{report.name}: source {_rows(report.source_rows)}, master {_rows(report.master_rows)}"
    if report.problem:
        return [f"{head}: {report.problem}"]
    if report.equal:
        return [f"{head}: equal"]
    diff = report.diff
    parts = [
        f"{len(keys)} {label}"
        for keys, label in (
            (diff.missing, MISSING),
            (diff.extra, EXTRA),
            (diff.differs, "differ"),
            (diff.duplicated, DUPLICATED),
        )
        if keys
    ]
    noun = "key differs" if diff.total == 1 else "keys differ"
    summary = f"{diff.total} {noun} ({', '.join(parts)})" if diff.total else "no key differs"
    lines = [f"{head}: {summary}"]
    if report.missing_columns:
        lines.append(f"  columns missing in master: {', '.join(report.missing_columns)}")
    for key, what in diff.first(show):
        text = what
        if what == DIFFERS:
            columns = report.column_diffs.get(key)
            text = f"differs in columns {', '.join(columns)}" if columns else "differs (source row not found again)"
        lines.append(f"  {format_key(report.key_columns, key)}: {text}")
    hidden = diff.total - min(max(show, 0), diff.total)
    if hidden:
        lines.append(f"  ... and {hidden} more")
    return lines


def format_report(reports: Sequence[TableReport], show: int) -> list[str]:
    lines = [line for report in reports for line in format_table(report, show)]
    skipped = sum(1 for report in reports if report.skipped)
    equal = sum(1 for report in reports if report.equal)
    differ = len(reports) - skipped - equal
    noun = "table" if len(reports) == 1 else "tables"
    lines.append(f"verify: {len(reports)} {noun}: {equal} equal, {differ} differ, {skipped} skipped")
    return lines


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

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> VerifySettings:
        mysql = MySQLUrl.parse(args.mysql_url)
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
        return cls(mysql=mysql, lake_file=lake_file, tables=tables, show=show)


# ---------------------------------------------------------------------------------------------- the source (I/O)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def mysql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def duckdb_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        where = " AND ".join(f"{mysql_name(name)} = %s" for name in table.primary_key)
        sql = f"SELECT {table.select_list()} FROM {table.qualified} WHERE {where}"
        found = self._guard(lambda: self._all(sql, [key_parameter(value) for value in key]), table.qualified)
        return found[0] if found else None


# ---------------------------------------------------------------------------------------------- the lake (I/O)


def open_lake(
    path: Path,
    *,
    wait: float = LOCK_WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> duckdb.DuckDBPyConnection:
    """`lake.duckdb` read-only. While a writer (a compaction) holds the file's lock, retry for up to `wait`
    seconds, then fail with one line."""
    deadline = clock() + wait
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as error:
            message = " ".join(str(error).split())
            if "lock" not in message.lower():
                raise RuntimeFailure(f"cannot open {path}: {message}") from None
            if clock() >= deadline:
                raise RuntimeFailure(
                    f"cannot open {path}: another process holds its lock (a compaction?) for more than {wait:g} s;"
                    " run verify again when it is done"
                ) from None
            sleep(0.25)
        else:
            connection.execute("SET TimeZone = 'UTC'")
            return connection


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
        row = self._conn.execute(f"SELECT count(*) FROM {duckdb_name(database)}.{duckdb_name(table)}").fetchone()
        return int(row[0]) if row else 0

    def rows(self, database: str, table: str, columns: Sequence[str | None]) -> Iterator[tuple[Any, ...]]:
        """Every row, the given columns in order (None: a column the table lacks, read as NULL), streamed."""
        select = ", ".join(duckdb_name(name) if name is not None else "NULL" for name in columns)
        cursor = self._conn.cursor()
        try:
            cursor.execute(f"SELECT {select} FROM {duckdb_name(database)}.{duckdb_name(table)}")
            while batch := cursor.fetchmany(FETCH_ROWS):
                yield from batch
        finally:
            cursor.close()


# ---------------------------------------------------------------------------------------------- one table


def verify_table(source: SourceSnapshot, lake: Lake, database: str, table: str, show: int) -> TableReport:
    definition = source.describe(database, table)
    master_columns = lake.columns(database, table)
    if definition is None:
        return TableReport(
            database, table, master_rows=lake.count(database, table), problem="table missing at the source"
        )
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
    for values in source.rows(definition):
        ours.add(canonical(values))
    theirs = Digests(definition.key_indexes, reference=ours.digests, keep=show)
    for values in lake.rows(database, table, aligned):
        theirs.add(canonical(values))
    theirs.finish()
    diff = compare(ours.digests, theirs.digests, theirs.duplicated)
    column_diffs: dict[Key, tuple[str, ...]] = {}
    for key, what in diff.first(show):
        if what != DIFFERS or key not in theirs.kept:
            continue
        found = source.row(definition, key)
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
    option(parser, "--mysql-url", "source server: mysql://user:password@host:port")
    option(parser, "--lake-dir", f"the local lake directory (holds {LAKE_DATABASE})")
    option(parser, "--tables", "only these tables: db.table,db.* (default: every master table in the lake)")
    option(parser, "--show", "differing keys to print per table", default=str(DEFAULT_SHOW))


def run_verify(settings: VerifySettings) -> list[TableReport]:
    lake = Lake(open_lake(settings.lake_file, wait=LOCK_WAIT_SECONDS))
    try:
        with SourceSnapshot(settings.mysql) as source:
            tables = expand_tables(settings.tables, lake.tables(), source.tables)
            return [verify_table(source, lake, database, table, settings.show) for database, table in tables]
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
