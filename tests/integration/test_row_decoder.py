"""The C row decoder (cdc_streamer.row_decoder) against the library's path, on a real MariaDB binlog.

For every rows event of every table: the compiled decoder's rows (decoded first), then the library's
(`event.rows` + `RowConverter.convert` + `changed_columns`, read after, from the same packet: the C path did not
move it) must be the same values (`same_value`, so same types) and the same JSON text. The tables cover every
type the decoder handles natively, their edge values, NULLs everywhere, and seeded random rows; then updates
and deletes. Then the cases that must fall back to the library (None), and truncated row data (ValueError).
"""

from __future__ import annotations

import copy
import datetime
import random
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from pymysqlreplication.row_event import DeleteRowsEvent, RowsEvent, UpdateRowsEvent, WriteRowsEvent

from cdc_streamer.encoding import encode_value, encode_value_python
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition, StartPoint
from cdc_streamer.reader import column_specs
from cdc_streamer.replication import ReplicationSession, SessionOptions
from cdc_streamer.row_decoder import RowDecoder, compile_decoder
from cdc_streamer.settings import MySQLUrl
from cdc_streamer.source import open_source
from cdc_streamer.values import ColumnSpec, RowConverter, changed_columns, same_value

from .support import Database

try:
    from cdc_streamer import _fastpath  # noqa: F401
except ImportError:  # pragma: no cover - the extension is built by `make install`
    pytestmark = pytest.mark.skip(reason="cdc_streamer._fastpath is not built (no C compiler at install)")

SEED = 20240229
ROWS_PER_TABLE = 300


# ---------------------------------------------------------------------------------------------------------------
# Reading the binlog and comparing the two paths


def specs_for(event: RowsEvent, json_columns: frozenset[str]) -> tuple[ColumnSpec, ...]:
    """The ColumnSpecs the reader builds for a rows event."""
    return column_specs(event.columns, json_columns)


def rows_events(server: LocalMariaDB, start: BinlogPosition, end: BinlogPosition, database: str) -> Iterator[Any]:
    """The rows events of `database` in [start, end), each fresh from the stream (its rows not read yet)."""
    options = SessionOptions(server_id=4343, flavor="mariadb", blocking=False)
    session = ReplicationSession(MySQLUrl.parse(server.url()), StartPoint(start), options)
    try:
        for event in session.events():
            log_pos = event.packet.log_pos
            if isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent) and event.schema == database:
                yield event
            if log_pos >= end.offset:
                return
    finally:
        session.close()


def library_rows(event: RowsEvent, specs: Sequence[ColumnSpec]) -> list[Any]:
    """What the streamer makes of an event today: the library's rows, converted (cdc_streamer.reader._on_rows)."""
    converter = RowConverter.build(specs)
    if isinstance(event, UpdateRowsEvent):
        result: list[Any] = []
        for row in event.rows:
            before = converter.convert(row["before_values"], row.get("before_none_sources", {}))
            after = converter.convert(row["after_values"], row.get("after_none_sources", {}))
            result.append((after, changed_columns(before, after)))
        return result
    return [converter.convert(row["values"], row.get("none_sources", {})) for row in event.rows]


def fast_rows(decoder: RowDecoder, event: RowsEvent) -> list[Any] | None:
    if isinstance(event, UpdateRowsEvent):
        return decoder.updates(event)
    return decoder.inserts(event)


def assert_same_row(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    assert list(actual) == list(expected), where
    for name, value in expected.items():
        assert same_value(value, actual[name]), f"{where} column {name}: library {value!r}, C {actual[name]!r}"
    assert encode_value(actual) == encode_value(expected), where
    assert encode_value_python(actual) == encode_value_python(expected), where


@dataclass
class Compared:
    events: int = 0
    rows: int = 0
    kinds: set[str] = field(default_factory=set)


def compare_range(
    server: LocalMariaDB, db: Database, start: BinlogPosition, end: BinlogPosition, json_tables: Sequence[str] = ()
) -> Compared:
    """Both paths on every rows event of db in [start, end)."""
    json_columns: dict[str, frozenset[str]] = {}
    with open_source(MySQLUrl.parse(server.url())) as source:
        for table in json_tables:
            json_columns[table] = source.json_columns(db.name, table)
    compared = Compared()
    for event in rows_events(server, start, end, db.name):
        specs = specs_for(event, json_columns.get(event.table, frozenset()))
        decoder = compile_decoder(event.columns, specs)
        assert decoder is not None, f"{event.table}: not compiled"
        fast = fast_rows(decoder, event)  # first: the library must still read the event after it
        assert fast is not None, f"{event.table}: event not decoded"
        again = fast_rows(decoder, event)
        expected = library_rows(event, specs)
        assert fast_rows(decoder, event) is None  # the library has read the rows: its position moved past them
        assert len(fast) == len(expected) > 0
        assert again is not None and len(again) == len(fast)
        for index, (want, got, got_again) in enumerate(zip(expected, fast, again, strict=True)):
            where = f"{event.table} {type(event).__name__} row {index}"
            if isinstance(event, UpdateRowsEvent):
                assert_same_row(want[0], got[0], where + " (after)")
                assert_same_row(want[1], got[1], where + " (old)")
                assert_same_row(want[1], got_again[1], where + " (old, decoded again)")
            else:
                assert_same_row(want, got, where)
                assert_same_row(want, got_again, where + " (decoded again)")
        compared.events += 1
        compared.rows += len(fast)
        compared.kinds.add(type(event).__name__)
    return compared


# ---------------------------------------------------------------------------------------------------------------
# Tables and values


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]  # name -> SQL type
    values: dict[str, Callable[[random.Random], Any]]  # name -> a random value (None: NULL)
    edges: list[dict[str, Any]]  # rows of edge values (missing columns: NULL)
    options: str = ""


def maybe_null(generate: Callable[[random.Random], Any]) -> Callable[[random.Random], Any]:
    return lambda rng: None if rng.random() < 0.1 else generate(rng)


def random_text(rng: random.Random, alphabet: str, longest: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, longest)))


def random_decimal(precision: int, scale: int) -> Callable[[random.Random], Decimal]:
    def generate(rng: random.Random) -> Decimal:
        digits = rng.choice([1, precision // 2 or 1, precision])
        unscaled = rng.randint(-(10**digits) + 1, 10**digits - 1)
        return Decimal(unscaled).scaleb(-scale)

    return generate


def biggest_decimal(precision: int, scale: int) -> Decimal:
    return Decimal("9" * precision).scaleb(-scale)


def random_datetime(rng: random.Random) -> datetime.datetime:
    return datetime.datetime(1000, 1, 1) + datetime.timedelta(microseconds=rng.randint(0, 9000 * 365 * 86400 * 10**6))


def random_timestamp(rng: random.Random) -> datetime.datetime:
    start = datetime.datetime(1970, 1, 1, 0, 0, 1)
    return start + datetime.timedelta(microseconds=rng.randint(0, (2**31 - 3) * 10**6))


def random_time(rng: random.Random) -> str:
    micros = rng.randint(-838 * 3600 * 10**6 - 3599 * 10**6, 838 * 3600 * 10**6 + 3599 * 10**6)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 10**6)
    return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{fraction:06d}"


UNICODE = string.ascii_letters + string.digits + " \"'\\\n\t\x00\x01é€ßñ中文😀🎉\u2028"
LATIN1 = bytes(range(32, 256))
PRINTABLE_LATIN1 = string.ascii_letters + "éèàçüÿ"

NUMBERS = Table(
    "numbers",
    {
        "t": "TINYINT",
        "tu": "TINYINT UNSIGNED",
        "s": "SMALLINT",
        "su": "SMALLINT UNSIGNED",
        "m": "MEDIUMINT",
        "mu": "MEDIUMINT UNSIGNED",
        "i": "INT",
        "iu": "INT UNSIGNED",
        "b": "BIGINT",
        "bu": "BIGINT UNSIGNED",
        "f": "FLOAT",
        "d": "DOUBLE",
        "y": "YEAR",
        "bit1": "BIT(1)",
        "bit7": "BIT(7)",
        "bit8": "BIT(8)",
        "bit9": "BIT(9)",
        "bit17": "BIT(17)",
        "bit63": "BIT(63)",
        "bit64": "BIT(64)",
    },
    {
        "t": maybe_null(lambda rng: rng.randint(-128, 127)),
        "tu": maybe_null(lambda rng: rng.randint(0, 255)),
        "s": maybe_null(lambda rng: rng.randint(-(2**15), 2**15 - 1)),
        "su": maybe_null(lambda rng: rng.randint(0, 2**16 - 1)),
        "m": maybe_null(lambda rng: rng.randint(-(2**23), 2**23 - 1)),
        "mu": maybe_null(lambda rng: rng.randint(0, 2**24 - 1)),
        "i": maybe_null(lambda rng: rng.randint(-(2**31), 2**31 - 1)),
        "iu": maybe_null(lambda rng: rng.randint(0, 2**32 - 1)),
        "b": maybe_null(lambda rng: rng.randint(-(2**63), 2**63 - 1)),
        "bu": maybe_null(lambda rng: rng.randint(0, 2**64 - 1)),
        "f": maybe_null(lambda rng: rng.choice([rng.uniform(-1e6, 1e6), rng.uniform(-1, 1), rng.randint(-99, 99)])),
        "d": maybe_null(
            lambda rng: rng.choice([rng.uniform(-1e300, 1e300), rng.uniform(-1, 1), rng.random() * 1e-300])
        ),
        "y": maybe_null(lambda rng: rng.choice([0, 1901, 2155, rng.randint(1901, 2155)])),
        "bit1": maybe_null(lambda rng: rng.randint(0, 1)),
        "bit7": maybe_null(lambda rng: rng.randint(0, 2**7 - 1)),
        "bit8": maybe_null(lambda rng: rng.randint(0, 2**8 - 1)),
        "bit9": maybe_null(lambda rng: rng.randint(0, 2**9 - 1)),
        "bit17": maybe_null(lambda rng: rng.randint(0, 2**17 - 1)),
        "bit63": maybe_null(lambda rng: rng.randint(0, 2**63 - 1)),
        "bit64": maybe_null(lambda rng: rng.randint(0, 2**64 - 1)),
    },
    [
        {
            "t": -128,
            "tu": 255,
            "s": -32768,
            "su": 65535,
            "m": -8388608,
            "mu": 16777215,
            "i": -(2**31),
            "iu": 2**32 - 1,
            "b": -(2**63),
            "bu": 2**64 - 1,
            "f": -3.40282e38,
            "d": -1.7976931348623157e308,
            "y": 0,
            "bit1": 1,
            "bit7": 127,
            "bit8": 255,
            "bit9": 511,
            "bit17": 2**17 - 1,
            "bit63": 2**63 - 1,
            "bit64": 2**64 - 1,
        },
        {
            "t": 127,
            "tu": 0,
            "s": 32767,
            "su": 0,
            "m": 8388607,
            "mu": 0,
            "i": 2**31 - 1,
            "iu": 0,
            "b": 2**63 - 1,
            "bu": 0,
            "f": 3.40282e38,
            "d": 1.7976931348623157e308,
            "y": 1901,
            "bit1": 0,
            "bit7": 0,
            "bit8": 0,
            "bit9": 0,
            "bit17": 0,
            "bit63": 0,
            "bit64": 0,
        },
        {"t": -1, "tu": 1, "s": -1, "m": -1, "i": -1, "b": -1, "f": 1.17549e-38, "d": 2.2250738585072014e-308},
        {"f": -0.0, "d": -0.0, "y": 2155, "bit64": 2**63},
        {"f": 0.1, "d": 0.1, "bit17": 1},
        {"f": 16777217.0, "d": 1e16},
        {"f": 1e-45, "d": 5e-324},
        {"f": 123456789.0, "d": 1.5},
        {},  # NULL everywhere
    ],
)

DECIMAL_SHAPES = [
    (1, 0),
    (1, 1),
    (2, 1),
    (5, 2),
    (9, 0),
    (9, 9),
    (10, 0),
    (10, 1),
    (10, 9),
    (12, 2),
    (17, 8),
    (18, 9),
    (19, 0),
    (19, 10),
    (20, 10),
    (27, 9),
    (28, 9),
    (30, 30),
    (36, 18),
    (38, 10),
    (65, 0),
    (65, 30),
]

DECIMALS = Table(
    "decimals",
    {f"d{p}_{s}": f"DECIMAL({p},{s})" for p, s in DECIMAL_SHAPES},
    {f"d{p}_{s}": maybe_null(random_decimal(p, s)) for p, s in DECIMAL_SHAPES},
    [
        {f"d{p}_{s}": biggest_decimal(p, s) for p, s in DECIMAL_SHAPES},
        {f"d{p}_{s}": -biggest_decimal(p, s) for p, s in DECIMAL_SHAPES},
        {f"d{p}_{s}": Decimal(0) for p, s in DECIMAL_SHAPES},
        {f"d{p}_{s}": Decimal(1).scaleb(-s) for p, s in DECIMAL_SHAPES},  # the smallest step
        {f"d{p}_{s}": -Decimal(1).scaleb(-s) for p, s in DECIMAL_SHAPES},
        {f"d{p}_{s}": Decimal(10 ** (p - s - 1)) if p > s else Decimal("0.5") for p, s in DECIMAL_SHAPES},
        {f"d{p}_{s}": Decimal(-(10 ** min(9, p - s) - 1)) if p > s else Decimal("-0.5") for p, s in DECIMAL_SHAPES},
        {},
    ],
)

STRINGS = Table(
    "strings",
    {
        "v": "VARCHAR(20) CHARACTER SET utf8mb4",
        "v_long": "VARCHAR(300) CHARACTER SET utf8mb4",  # 1200 bytes: a 2-byte length
        "v_latin": "VARCHAR(300) CHARACTER SET latin1",  # 300 bytes: a 2-byte length
        "v_latin_short": "VARCHAR(20) CHARACTER SET latin1",
        "v_mb3": "VARCHAR(20) CHARACTER SET utf8mb3",
        "v_ascii": "VARCHAR(20) CHARACTER SET ascii",
        "v_cp1251": "VARCHAR(20) CHARACTER SET cp1251",
        "v_ucs2": "VARCHAR(20) CHARACTER SET ucs2",
        "v_utf16": "VARCHAR(20) CHARACTER SET utf16",
        "v_utf32": "VARCHAR(10) CHARACTER SET utf32",
        "c": "CHAR(10) CHARACTER SET utf8mb4",
        "c_latin": "CHAR(5) CHARACTER SET latin1",
        "c_big": "CHAR(100) CHARACTER SET utf8mb4",  # 400 bytes: a 2-byte length
        "vb": "VARBINARY(50)",
        "bn": "BINARY(8)",
        "bn1": "BINARY(1)",
        "tt": "TINYTEXT CHARACTER SET utf8mb4",
        "tx": "TEXT CHARACTER SET utf8mb4",
        "mt": "MEDIUMTEXT CHARACTER SET latin1",
        "lt": "LONGTEXT CHARACTER SET utf8mb4",
        "tb": "TINYBLOB",
        "bb": "BLOB",
        "mb": "MEDIUMBLOB",
        "lb": "LONGBLOB",
    },
    {
        "v": maybe_null(lambda rng: random_text(rng, UNICODE, 20)),
        "v_long": maybe_null(lambda rng: random_text(rng, UNICODE, 300)),
        "v_latin": maybe_null(lambda rng: bytes(rng.choice(LATIN1) for _ in range(rng.randint(0, 300)))),
        "v_latin_short": maybe_null(lambda rng: random_text(rng, PRINTABLE_LATIN1, 20)),
        "v_mb3": maybe_null(lambda rng: random_text(rng, "abcé€中", 20)),
        "v_ascii": maybe_null(lambda rng: random_text(rng, string.printable, 20)),
        "v_cp1251": maybe_null(lambda rng: random_text(rng, "abcЖЯё ", 20)),
        "v_ucs2": maybe_null(lambda rng: random_text(rng, "abcé€中", 20)),
        "v_utf16": maybe_null(lambda rng: random_text(rng, "abcé€中😀", 20)),
        "v_utf32": maybe_null(lambda rng: random_text(rng, "abcé€中😀", 10)),
        "c": maybe_null(lambda rng: random_text(rng, UNICODE, 10).rstrip(" ")),
        "c_latin": maybe_null(lambda rng: bytes(rng.choice(LATIN1) for _ in range(rng.randint(0, 5))).rstrip(b" ")),
        "c_big": maybe_null(lambda rng: random_text(rng, UNICODE, 100).rstrip(" ")),
        "vb": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 50))),
        "bn": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 8))),
        "bn1": maybe_null(lambda rng: rng.randbytes(1)),
        "tt": maybe_null(lambda rng: random_text(rng, UNICODE, 60)),
        "tx": maybe_null(lambda rng: random_text(rng, UNICODE, 500)),
        "mt": maybe_null(lambda rng: bytes(rng.choice(LATIN1) for _ in range(rng.randint(0, 600)))),
        "lt": maybe_null(lambda rng: random_text(rng, UNICODE, 2000)),
        "tb": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 255))),
        "bb": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 2000))),
        "mb": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 3000))),
        "lb": maybe_null(lambda rng: rng.randbytes(rng.randint(0, 3000))),
    },
    [
        {
            "v": "😀🎉 emoji",
            "v_long": "x" * 300,
            "v_latin": b"\x81\x8d\x8f\x90\x9d cp1252 undefined",
            "v_latin_short": "déjà vu",
            "v_mb3": "€uro",
            "v_ascii": "plain",
            "v_cp1251": "Привет",
            "v_ucs2": "é€中",
            "v_utf16": "😀 astral",
            "v_utf32": "😀é",
            "c": "中文",
            "c_latin": b"\x81ab",
            "c_big": "é" * 100,
            "vb": b"\x00\xff\x00",
            "bn": b"ab\x00\x00",
            "bn1": b"\x00",
            "tt": "",
            "tx": '"quoted" \\ back',
            "mt": b"\x80\x9f\xff",
            "lt": "😀" * 1000,
            "tb": b"",
            "bb": b"\x00" * 10,
            "mb": bytes(range(256)),
            "lb": b"\xff" * 5000,
        },
        {
            "v": "",
            "v_long": "",
            "v_latin": b"",
            "v_latin_short": "",
            "v_mb3": "",
            "v_ascii": "",
            "v_cp1251": "",
            "v_ucs2": "",
            "v_utf16": "",
            "v_utf32": "",
            "c": "",
            "c_latin": b"",
            "c_big": "",
            "vb": b"",
            "bn": b"",
            "bn1": b"",
            "tt": "",
            "tx": "",
            "mt": b"",
            "lt": "",
            "tb": b"",
            "bb": b"",
            "mb": b"",
            "lb": b"",
        },
        {"v": "a\x00b", "c": "tail  x", "bn": b"\x00" * 8, "c_latin": b"\xe9t\xe9", "v_latin": b"caf\xe9"},
        {"bn": b"12345678", "vb": b"trailing\x00\x00", "c_latin": b"abcde"},
        {},
    ],
    options="DEFAULT CHARSET=utf8mb4",
)

FSPS = range(7)
TEMPORALS = Table(
    "temporals",
    {
        "dt": "DATE",
        **{f"dt{f}": f"DATETIME({f})" for f in FSPS},
        **{f"ts{f}": f"TIMESTAMP({f}) NULL" for f in FSPS},
        **{f"tm{f}": f"TIME({f})" for f in FSPS},
    },
    {
        "dt": maybe_null(lambda rng: random_datetime(rng).date()),
        **{f"dt{f}": maybe_null(random_datetime) for f in FSPS},
        **{f"ts{f}": maybe_null(random_timestamp) for f in FSPS},
        **{f"tm{f}": maybe_null(random_time) for f in FSPS},
    },
    [
        {
            "dt": "0000-00-00",
            **{f"dt{f}": "0000-00-00 00:00:00" for f in FSPS},
            **{f"ts{f}": "0000-00-00 00:00:00" for f in FSPS},
            **{f"tm{f}": "-838:59:59" for f in FSPS},
        },
        {
            "dt": "2024-02-30",  # invalid dates the permissive sql_mode accepts
            **{f"dt{f}": "2024-02-30 12:34:56.123456" for f in FSPS},
            **{f"ts{f}": "1970-01-01 00:00:01" for f in FSPS},
            **{f"tm{f}": "838:59:59" for f in FSPS},
        },
        {
            "dt": "2024-00-15",
            **{f"dt{f}": "2024-00-00 00:00:00.5" for f in FSPS},
            **{f"ts{f}": "2038-01-19 03:14:07.999999" for f in FSPS},
            **{f"tm{f}": "-00:00:01.5" for f in FSPS},  # negative with a fraction
        },
        {
            "dt": "0000-01-01",
            **{f"dt{f}": "0000-01-01 00:00:00" for f in FSPS},
            **{f"ts{f}": "2000-02-29 23:59:59.000001" for f in FSPS},
            **{f"tm{f}": "-12:34:56.789012" for f in FSPS},
        },
        {
            "dt": "9999-12-31",
            **{f"dt{f}": "9999-12-31 23:59:59.999999" for f in FSPS},
            **{f"tm{f}": "00:00:00" for f in FSPS},
        },
        {
            "dt": "1000-01-01",
            **{f"dt{f}": "1000-01-01 00:00:00" for f in FSPS},
            **{f"tm{f}": "-00:00:00.000001" for f in FSPS},
        },
        {**{f"tm{f}": "-01:00:00.1" for f in FSPS}, **{f"dt{f}": "2024-13-01 00:00:00" for f in FSPS}},
        {**{f"dt{f}": "0000-00-00 00:00:00.5" for f in FSPS}, **{f"tm{f}": "-838:59:59.999999" for f in FSPS}},
        {},
    ],
)

SET_MEMBERS = [f"m{i}" for i in range(64)]
OTHERS = Table(
    "others",
    {
        "e": "ENUM('', 'a', 'b', 'c d', 'é')",
        "e_big": "ENUM(" + ",".join(f"'v{i}'" for i in range(300)) + ")",  # a 2-byte index
        "st": "SET('a', 'b', 'c', 'é')",
        "st64": "SET(" + ",".join(f"'{member}'" for member in SET_MEMBERS) + ")",
        "g": "GEOMETRY",
        "pt": "POINT",
        "js": "JSON",
        "js_short": "VARCHAR(200) CHECK (json_valid(`js_short`))",
    },
    {
        "e": maybe_null(lambda rng: rng.choice(["", "a", "b", "c d", "é"])),
        "e_big": maybe_null(lambda rng: f"v{rng.randint(0, 299)}"),
        "st": maybe_null(lambda rng: ",".join(m for m in ["a", "b", "c", "é"] if rng.random() < 0.5)),
        "st64": maybe_null(lambda rng: ",".join(m for m in SET_MEMBERS if rng.random() < 0.3)),
        "g": maybe_null(
            lambda rng: (
                f"POINT({rng.uniform(-180, 180)} {rng.uniform(-90, 90)})"
                if rng.random() < 0.5
                else f"LINESTRING(0 0, {rng.randint(1, 9)} {rng.randint(1, 9)}, 3.5 -4.25)"
            )
        ),
        "pt": maybe_null(lambda rng: f"POINT({rng.randint(-9, 9)} {rng.random()})"),
        "js": maybe_null(
            lambda rng: rng.choice(
                [
                    '{"a": 1.50, "b": [1, 2, {"c": null}], "d": "é😀"}',
                    "[]",
                    "12345678901234567890",
                    '"text"',
                    '{"n": 1e400}',
                    "true",
                    "null",
                    '{"x": 0.000}',
                    '{"k": "' + random_text(rng, "ab\\n", 8) + '"}',
                ]
            )
        ),
        "js_short": maybe_null(lambda rng: rng.choice(['{"a": 1}', "[1.0, 2]", "3.14"])),
    },
    [
        {"e": "", "e_big": "v299", "st": "", "st64": "", "g": "POINT(1 2)", "pt": "POINT(0 0)", "js": "{}"},
        {"e": "é", "e_big": "v0", "st": "a,b,c,é", "st64": ",".join(SET_MEMBERS), "js": '{"a": {"b": [1, 2]}}'},
        {"g": "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (1 1, 2 1, 2 2, 1 1))", "js": "[1, 2.50, -0.0]"},
        {"g": "GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))", "js_short": "{}"},
        {"g": "MULTIPOINT(1 1, 2 2)", "st": "b"},
        {},
    ],
)

TABLES = [NUMBERS, DECIMALS, STRINGS, TEMPORALS, OTHERS]
GEOMETRY_COLUMNS = {"g", "pt"}


def create(db: Database, table: Table) -> None:
    columns = ", ".join(f"`{name}` {sql_type}" for name, sql_type in table.columns.items())
    db.execute(f"CREATE TABLE `{table.name}` (id INT PRIMARY KEY, {columns}) {table.options}")


def placeholder(name: str) -> str:
    return "ST_GeomFromText(%s)" if name in GEOMETRY_COLUMNS else "%s"


def insert(db: Database, table: Table, rows: list[dict[str, Any]], first_id: int) -> None:
    names = list(table.columns)
    sql = (
        f"INSERT INTO `{table.name}` (id, {', '.join(f'`{n}`' for n in names)}) "
        f"VALUES (%s, {', '.join(placeholder(n) for n in names)})"
    )
    db.executemany(sql, [[first_id + i, *(row.get(name) for name in names)] for i, row in enumerate(rows)])


def random_rows(table: Table, rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{name: generate(rng) for name, generate in table.values.items()} for _ in range(count)]


def permissive(db: Database) -> None:
    """Zero and invalid dates accepted, values out of range clipped: what the edge rows need."""
    db.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
    db.execute("SET SESSION time_zone = '+00:00'")
    db.execute("SET SESSION check_constraint_checks = 0")  # invalid JSON in a JSON column


# ---------------------------------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_every_rows_event_decodes_as_the_library_does(mariadb: LocalMariaDB, db: Database, table: Table) -> None:
    permissive(db)
    create(db, table)
    rng = random.Random(f"{SEED}-{table.name}")
    start = db.position()
    insert(db, table, table.edges, 1)
    insert(db, table, random_rows(table, rng, ROWS_PER_TABLE), 1000)
    for identifier in range(1000, 1000 + ROWS_PER_TABLE, 7):  # single-row events too
        insert(db, table, random_rows(table, rng, 1), 10_000 + identifier)
    if table is OTHERS:
        db.execute("INSERT INTO others (id, js, js_short) VALUES (50, '{not json', '[1, 2')")  # invalid JSON
        db.execute("INSERT INTO others (id, e) VALUES (51, 'not a member')")  # ENUM index 0, the ''
    names = list(table.columns)
    for step in range(4):  # updates: some columns to new values, to NULL, from NULL, and rewritten as they were
        changed = names[step::3]
        for row_id in range(1000 + step, 1000 + ROWS_PER_TABLE, 5):
            values = random_rows(table, rng, 1)[0]
            assignments = ", ".join(f"`{n}` = {placeholder(n)}" for n in changed)
            db.execute(
                f"UPDATE `{table.name}` SET {assignments} WHERE id = %s", [values[n] for n in changed] + [row_id]
            )
    db.execute(f"UPDATE `{table.name}` SET `{names[0]}` = `{names[0]}`, `{names[-1]}` = NULL WHERE id < 1000")
    db.execute(f"UPDATE `{table.name}` SET `{names[-1]}` = `{names[0]}` WHERE id < 10")
    db.execute(f"UPDATE `{table.name}` SET id = id + 100000 WHERE id % 11 = 0")  # the key only
    db.execute(f"DELETE FROM `{table.name}` WHERE id % 3 = 0")
    end = db.position()

    compared = compare_range(mariadb, db, start, end, json_tables=[table.name])

    assert compared.kinds == {"WriteRowsEvent", "UpdateRowsEvent", "DeleteRowsEvent"}
    assert compared.rows > 2 * ROWS_PER_TABLE


def test_unchanged_and_changed_columns_in_old(mariadb: LocalMariaDB, db: Database) -> None:
    """`old` holds exactly the changed columns, with the before values; pinned, not only compared."""
    permissive(db)
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10), c DECIMAL(5,2), d DOUBLE, s SET('x','y'))")
    db.execute("INSERT INTO t VALUES (1, 1, 'one', 1.50, 0.5, 'x')")
    start = db.position()
    db.execute("UPDATE t SET a = NULL, b = b, c = 1.5, d = 0.25, s = '' WHERE id = 1")
    db.execute("UPDATE t SET a = 7, s = 'x,y' WHERE id = 1")
    end = db.position()
    updates = []
    for event in rows_events(mariadb, start, end, db.name):
        decoder = compile_decoder(event.columns, specs_for(event, frozenset()))
        assert decoder is not None
        updates.extend(decoder.updates(event) or [])
    assert updates == [
        ({"id": 1, "a": None, "b": "one", "c": Decimal("1.50"), "d": 0.25, "s": []}, {"a": 1, "d": 0.5, "s": ["x"]}),
        ({"id": 1, "a": 7, "b": "one", "c": Decimal("1.50"), "d": 0.25, "s": ["x", "y"]}, {"a": None, "s": []}),
    ]


def first_event(server: LocalMariaDB, db: Database, start: BinlogPosition) -> Any:
    return next(rows_events(server, start, db.position(), db.name))


def test_minimal_row_image_falls_back_to_the_library(mariadb: LocalMariaDB, db: Database) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(10))")
    db.execute("INSERT INTO t VALUES (1, 1, 'one'), (2, 2, 'two')")
    db.execute("SET SESSION binlog_row_image = MINIMAL")
    start = db.position()
    db.execute("UPDATE t SET a = 10 WHERE id = 1")
    db.execute("DELETE FROM t WHERE id = 2")
    events = list(rows_events(mariadb, start, db.position(), db.name))
    assert [type(event) for event in events] == [UpdateRowsEvent, DeleteRowsEvent]
    for event in events:
        decoder = compile_decoder(event.columns, specs_for(event, frozenset()))
        assert decoder is not None
        assert fast_rows(decoder, event) is None
        assert event.rows  # the library still reads it


def test_pure_python_environment_disables_the_decoder(
    mariadb: LocalMariaDB, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    start = db.position()
    db.execute("INSERT INTO t VALUES (1)")
    event = first_event(mariadb, db, start)
    specs = specs_for(event, frozenset())
    assert compile_decoder(event.columns, specs) is not None
    monkeypatch.setenv("CDC_PURE_PYTHON", "1")
    assert compile_decoder(event.columns, specs) is None
    monkeypatch.setenv("CDC_PURE_PYTHON", "0")
    assert compile_decoder(event.columns, specs) is not None


def test_unsupported_columns_are_not_compiled(mariadb: LocalMariaDB, db: Database) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, e ENUM('x'))")
    start = db.position()
    db.execute("INSERT INTO t VALUES (1, 2, 'x')")
    event = first_event(mariadb, db, start)
    specs = specs_for(event, frozenset())
    assert compile_decoder(event.columns, specs) is not None

    def changed(index: int, **attributes: Any) -> list[Any]:
        columns = list(event.columns)
        columns[index] = copy.copy(columns[index])
        vars(columns[index]).update(attributes)
        return columns

    json_spec = (*specs[:1], ColumnSpec("a", 245), *specs[2:])
    assert compile_decoder(changed(1, type=245, length_size=4), json_spec) is None  # MySQL's binary JSON
    datetime_spec = (*specs[:1], ColumnSpec("a", 12), *specs[2:])
    assert compile_decoder(changed(1, type=12), datetime_spec) is None  # the pre-5.6 DATETIME
    assert compile_decoder(changed(1, name=None), specs) is None  # no column name
    assert compile_decoder(changed(2, enum_values=None), specs) is None  # an ENUM without its values
    as_json = (*specs[:1], ColumnSpec("a", specs[1].type_code, is_json=True), *specs[2:])
    assert compile_decoder(event.columns, as_json) is None  # a JSON check on an INT column


def test_truncated_rows_data_raises_value_error(mariadb: LocalMariaDB, db: Database) -> None:
    db.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, a BIGINT, b VARCHAR(300), c DECIMAL(30,10), d DATETIME(6), "
        "e TIME(3), f TEXT, g BIT(12), h SET('a','b'), i FLOAT)"
    )
    start = db.position()
    db.executemany(
        "INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (i, i * 7, "x" * (i % 290), Decimal(i) / 7, "2024-01-02 03:04:05.6", "-1:02:03.4", "é" * i, i, "a", i / 3)
            for i in range(1, 40)
        ],
    )
    event = first_event(mariadb, db, start)
    specs = specs_for(event, frozenset())
    decoder = compile_decoder(event.columns, specs)
    assert decoder is not None
    full = decoder.inserts(event)
    assert full is not None and len(full) == 39
    packet = event.packet.packet
    data = packet._data
    size = event.event_size
    rows_bytes = event.event_size - event.packet.read_bytes
    errors = 0
    for cut in range(1, rows_bytes + 1):  # every shorter rows region: a prefix of the rows, or ValueError
        event.event_size = size - cut
        try:
            rows = decoder.inserts(event)
        except ValueError as error:
            assert "truncated rows event" in str(error)
            errors += 1
            continue
        assert rows is not None and rows == full[: len(rows)] and len(rows) < len(full)
    assert errors > rows_bytes * 0.9
    event.event_size = size
    packet._data = data[: len(data) - 5 - 4]  # the packet itself cut short: 5 bytes of the last row, the checksum
    with pytest.raises(ValueError, match="truncated rows event"):
        decoder.inserts(event)
    packet._data = data
    assert decoder.inserts(event) == full
    assert library_rows(event, specs) == full


def test_random_bytes_never_crash_the_decoder(mariadb: LocalMariaDB, db: Database) -> None:
    """Corrupted row data: a ValueError or some rows, never a crash (memory safety, run under the fuzzer's eye)."""
    db.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(300), b DECIMAL(65,30), c DATETIME(6), d TIMESTAMP(4) NULL, "
        "e TIME(5), f BLOB, g ENUM('a','b'), h SET('a','b'), i BIT(33), j DATE, k YEAR, l FLOAT, m BINARY(4))"
    )
    start = db.position()
    db.executemany(
        "INSERT INTO t VALUES (%s, 'abc', 1.5, '2024-01-01 00:00:00.5', '2001-01-01', '-1:00:00.5', x'00ff', 'a', "
        "'a,b', 5, '2024-02-02', 2024, 1.25, 'ab')",
        [(i,) for i in range(20)],
    )
    event = first_event(mariadb, db, start)
    decoder = compile_decoder(event.columns, specs_for(event, frozenset()))
    assert decoder is not None
    packet = event.packet.packet
    data, position = packet._data, packet._position
    rng = random.Random(SEED)
    outcomes = {"rows": 0, "error": 0}
    for _ in range(3000):
        corrupted = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            corrupted[rng.randrange(position, len(data) - 4)] = rng.randrange(256)
        packet._data = bytes(corrupted)
        try:
            decoder.inserts(event)
            outcomes["rows"] += 1
        except ValueError:
            outcomes["error"] += 1
    assert outcomes["rows"] > 0 and outcomes["error"] > 0
