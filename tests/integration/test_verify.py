"""`cdc-lake verify` against the real MariaDB: a table of many types next to a master table built by hand in a
`lake.duckdb` (typed per master_types, values as the pipeline stores them), then master rows changed, deleted and
added; tables without a primary key, missing on one side, grown at the source; an unreachable source; a locked
lake."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cdc_lake import verify
from cdc_lake.cli import main
from cdc_lake.duckdb_engine import LAKE_DATABASE
from cdc_lake.master_types import SourceColumn, master_type
from cdc_lake.verify import open_lake
from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.local_mariadb import LocalMariaDB, free_port
from cdc_streamer.values import format_time

from .support import Database

DEC65 = "12345678901234567890123456789012345.123456789012345678901234567890"
GENERATED = range(3, 253)  # ids of the generated rows; 1 and 2 are hand-written edge cases


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # the source column definition
    event: SourceColumn  # as the streamer's schema event describes it: master_types gives the master type


COLUMNS = (
    Column("id", "INT PRIMARY KEY", SourceColumn("id", "int")),
    Column("ti", "TINYINT", SourceColumn("ti", "tinyint")),
    Column("ub", "BIGINT UNSIGNED", SourceColumn("ub", "bigint", unsigned=True)),
    Column("dec2", "DECIMAL(10,2)", SourceColumn("dec2", "decimal", precision=10, scale=2)),
    Column("dec65", "DECIMAL(65,30)", SourceColumn("dec65", "decimal", precision=65, scale=30)),
    Column("f", "FLOAT", SourceColumn("f", "float")),
    Column("d", "DOUBLE", SourceColumn("d", "double")),
    Column("b5", "BIT(5)", SourceColumn("b5", "bit", bits=5)),
    Column("b64", "BIT(64)", SourceColumn("b64", "bit", bits=64)),
    Column("y", "YEAR", SourceColumn("y", "year")),
    Column("dt", "DATETIME(6)", SourceColumn("dt", "datetime", fsp=6)),
    Column("ts", "TIMESTAMP(3) NULL", SourceColumn("ts", "timestamp", fsp=3)),
    Column("dd", "DATE", SourceColumn("dd", "date")),
    Column("tm", "TIME(6)", SourceColumn("tm", "time", fsp=6)),
    Column("name", "VARCHAR(40)", SourceColumn("name", "varchar")),
    Column("e", "ENUM('small','large')", SourceColumn("e", "enum", values=("small", "large"))),
    Column("s", "SET('red','green','blue')", SourceColumn("s", "set", values=("red", "green", "blue"))),
    Column("bin", "BINARY(4)", SourceColumn("bin", "binary")),
    Column("blb", "BLOB", SourceColumn("blb", "blob")),
    Column("j", "JSON", SourceColumn("j", "json")),
    Column("g", "GEOMETRY", SourceColumn("g", "geometry")),
    Column("note", "TEXT", SourceColumn("note", "text")),
)
NAMES = tuple(column.name for column in COLUMNS)
# What the pipeline adds, and a column dropped at the source that the master table keeps.
MASTER_ONLY = (("_cdc_order", "VARCHAR"), ("_cdc_ts", "TIMESTAMP"), ("retired", "INTEGER"))


@dataclass(frozen=True)
class Pair:
    """One row: the source's values (SQL parameters) and the master's (as the pipeline stores them)."""

    source: dict[str, Any]
    master: dict[str, Any]


def edge_rows() -> list[Pair]:
    lowest_time = "-838:59:59.000000"
    first = Pair(
        source={
            "id": 1,
            "ti": -128,
            "ub": 2**64 - 1,
            "dec2": Decimal("12345678.90"),
            "dec65": Decimal(DEC65),
            "f": 1.2345678,
            "d": 0.1 + 0.2,
            "b5": b"\x16",
            "b64": b"\xff" * 8,
            "y": 2155,
            "dt": "2024-02-29 23:59:59.123456",
            "ts": "2024-01-01 05:00:00.001",  # written with time_zone = '+05:30'
            "dd": "9999-12-31",
            "tm": lowest_time,
            "name": "héllo 😀",
            "e": "large",
            "s": "blue,red",
            "bin": b"\x01",
            "blb": b"\x00\xff\x80\xc3",
            "j": '{"list": [1, 2.50, -3e2, null, true], "b": {"x": 1}}',
            "g": "POINT(1 2.5)",
            "note": None,
        },
        master={
            "id": 1,
            "ti": -128,
            "ub": Decimal("18446744073709551615"),
            "dec2": Decimal("12345678.90"),
            "dec65": DEC65,
            "f": 1.2345678,
            "d": 0.30000000000000004,
            "b5": 22,
            "b64": Decimal("18446744073709551615"),
            "y": 2155,
            "dt": datetime.datetime(2024, 2, 29, 23, 59, 59, 123456),
            "ts": datetime.datetime(2023, 12, 31, 23, 30, 0, 1000),
            "dd": datetime.date(9999, 12, 31),
            "tm": lowest_time,
            "name": "héllo 😀",
            "e": "large",
            "s": ["red", "blue"],
            "bin": b"\x01\x00\x00\x00",
            "blb": b"\x00\xff\x80\xc3",
            "j": '{"list":[1,2.50,-300,null,true],"b":{"x":1}}',
            "g": "POINT(1 2.5)",
            "note": None,
        },
    )
    zeros = Pair(
        source={
            "id": 2,
            "ti": 0,
            "ub": 0,
            "dec2": Decimal("0"),
            "dec65": Decimal("-0.5"),
            "f": 16777217.0,
            "d": 1e20,
            "b5": b"\x00",
            "b64": b"\x00",
            "y": 0,
            "dt": "0000-00-00 00:00:00",
            "ts": "0000-00-00 00:00:00",
            "dd": "0000-00-00",
            "tm": "00:00:00",
            "name": "",
            "e": "small",
            "s": "",
            "bin": b"ab",
            "blb": b"",
            "j": "[]",
            "g": "LINESTRING(0 0,1 1)",
            "note": "",
        },
        master={
            "id": 2,
            "ti": 0,
            "ub": Decimal(0),
            "dec2": Decimal("0.00"),
            "dec65": "-0.500000000000000000000000000000",
            "f": 16777216.0,
            "d": 1e20,
            "b5": 0,
            "b64": Decimal(0),
            "y": 0,
            "dt": None,
            "ts": None,
            "dd": None,
            "tm": "00:00:00.000000",
            "name": "",
            "e": "small",
            "s": [],
            "bin": b"ab\x00\x00",
            "blb": b"",
            "j": "[]",
            "g": "LINESTRING(0 0,1 1)",
            "note": "",
        },
    )
    return [first, zeros]


def generated(i: int) -> Pair:
    members = [member for bit, member in enumerate(("red", "green", "blue")) if i >> bit & 1]
    moment = datetime.timedelta(seconds=i * 997 - 100_000, microseconds=i)
    doc = {"i": i, "price": f"{i}.50", "tags": members}
    source_json = json.dumps(doc).replace(f'"{i}.50"', f"{i}.50")
    master_json = json.dumps(doc, separators=(",", ":")).replace(f'"{i}.50"', f"{i}.5" if i % 2 else f"{i}.50")
    bits = 2**64 - 1 - i
    source: dict[str, Any] = {
        "id": i,
        "ti": i % 100 - 50,
        "ub": 2**64 - i,
        "dec2": Decimal(i).scaleb(-2),
        "dec65": Decimal(f"-{i}.{i:030d}"),
        "f": i * 0.1,
        "d": i / 3,
        "b5": bytes([i % 32]),
        "b64": bits.to_bytes(8, "big"),
        "y": 1901 + i % 255,
        "dt": datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=i, microseconds=i),
        "ts": datetime.datetime(2024, 6, 1) + datetime.timedelta(seconds=i, milliseconds=i),
        "dd": datetime.date(2000, 1, 1) + datetime.timedelta(days=i),
        "tm": format_time(moment, 6),
        "name": f"row {i} ü",
        "e": "small" if i % 2 else "large",
        "s": ",".join(reversed(members)),
        "bin": bytes([i % 256]),
        "blb": bytes(range(i % 7)),
        "j": source_json,
        "g": f"POINT({i} 0.5)",
        "note": None if i % 3 else f"note {i}",
    }
    master = {
        **source,
        "ub": Decimal(2**64 - i),
        "dec65": f"-{i}.{i:030d}",
        "b5": i % 32,
        "b64": Decimal(bits),
        "tm": format_time(moment, 6),
        "s": members,
        "bin": bytes([i % 256]) + b"\x00\x00\x00",
        "j": master_json,
    }
    return Pair(source, master)


def all_rows() -> list[Pair]:
    return [*edge_rows(), *(generated(i) for i in GENERATED)]


def insert_source(db: Database, table: str, rows: list[Pair]) -> None:
    values = ", ".join("ST_GeomFromText(%s)" if name == "g" else "%s" for name in NAMES)
    sql = f"INSERT INTO `{table}` ({', '.join(NAMES)}) VALUES ({values})"
    for row in rows:
        db.execute(sql, [row.source[name] for name in NAMES])


def master_ddl(schema: str, table: str) -> str:
    columns = [f'"{c.name}" {master_type(c.event).duckdb}' for c in COLUMNS]
    columns += [f'"{name}" {kind}' for name, kind in MASTER_ONLY]
    return f'CREATE TABLE "{schema}"."{table}" ({", ".join(columns)})'


def insert_master(lake: duckdb.DuckDBPyConnection, schema: str, table: str, rows: list[Pair]) -> None:
    names = [*NAMES, *(name for name, _ in MASTER_ONLY)]
    sql = f'INSERT INTO "{schema}"."{table}" ({", ".join(names)}) VALUES ({", ".join("?" for _ in names)})'
    lake.executemany(
        sql,
        [
            [*(row.master[name] for name in NAMES), f"order-{i:05d}", datetime.datetime(2024, 7, 1), 7]
            for i, row in enumerate(rows)
        ],
    )


def run_verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    """`cdc-lake verify ...` through the real CLI (parser, command, error handling)."""
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def kinds(db: Database, lake_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`kinds` at the source and its master table in the lake, equal; yields the database name."""
    monkeypatch.setattr(verify, "FETCH_ROWS", 16)  # many batches on both sides
    db.execute(f"CREATE TABLE kinds ({', '.join(f'`{c.name}` {c.sql}' for c in COLUMNS)}) CHARSET utf8mb4")
    rows = all_rows()
    db.execute("SET time_zone = '+05:30'")
    insert_source(db, "kinds", rows[:1])
    db.execute("SET time_zone = '+00:00'")
    insert_source(db, "kinds", rows[1:])
    lake_dir.mkdir()
    with duckdb.connect(str(lake_dir / LAKE_DATABASE)) as lake:
        lake.execute(f'CREATE SCHEMA "{db.name}"')
        lake.execute(master_ddl(db.name, "kinds"))
        insert_master(lake, db.name, "kinds", rows)
        lake.execute(f'CREATE VIEW "{db.name}"."kinds_live" AS SELECT * FROM "{db.name}"."kinds"')
        lake.execute("CREATE SCHEMA cdc_lake")
        lake.execute('CREATE TABLE cdc_lake.watermarks (database VARCHAR, "table" VARCHAR)')
    yield db.name


def test_equal_tables_then_changed_deleted_and_extra_master_rows(
    kinds: str, mariadb: LocalMariaDB, lake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ("--mysql-url", mariadb.url(), "--lake-dir", str(lake_dir))
    count = 2 + len(GENERATED)
    code, lines, err = run_verify(capsys, *flags)
    assert (code, err) == (0, "")
    assert lines == [
        f"{kinds}.kinds: source {count} rows, master {count} rows: equal",
        "verify: 1 table: 1 equal, 0 differ, 0 skipped",
    ]

    extra = generated(3).master | {"id": 100000}
    with duckdb.connect(str(lake_dir / LAKE_DATABASE)) as lake:
        table = f'"{kinds}"."kinds"'
        lake.execute(f"UPDATE {table} SET name = 'changed', dec2 = 0.06 WHERE id = 5")
        lake.execute(f"UPDATE {table} SET tm = '-838:59:58.000000' WHERE id = 1")
        lake.execute(f"DELETE FROM {table} WHERE id = 7")
        lake.execute(
            f"INSERT INTO {table} ({', '.join(NAMES)}) VALUES ({', '.join('?' for _ in NAMES)})",
            [extra[n] for n in NAMES],
        )
        # The same JSON in other words is not a difference.
        lake.execute(
            f"""UPDATE {table} SET j = '{{"b": {{"x": 1.0}}, "list": [1, 2.5, -3e2, null, true]}}' WHERE id = 1"""
        )

    code, lines, err = run_verify(capsys, *flags)
    assert (code, err) == (1, "")
    assert lines == [
        f"{kinds}.kinds: source {count} rows, master {count} rows:"
        " 4 keys differ (1 missing in master, 1 extra in master, 2 differ)",
        "  id=1: differs in columns tm",
        "  id=5: differs in columns dec2, name",
        "  id=7: missing in master",
        "  id=100000: extra in master",
        "verify: 1 table: 0 equal, 1 differ, 0 skipped",
    ]

    code, lines, _ = run_verify(capsys, *flags, "--show", "2", "--tables", f"{kinds}.kinds")
    assert code == 1
    assert lines[1:] == [
        "  id=1: differs in columns tm",
        "  id=5: differs in columns dec2, name",
        "  ... and 2 more",
        "verify: 1 table: 0 equal, 1 differ, 0 skipped",
    ]


def test_every_master_value_change_is_seen(
    kinds: str, mariadb: LocalMariaDB, lake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One changed value per column, each in its own row: every column's comparison can fail."""
    changes = {
        "ti": "ti + 1",
        "ub": "ub - 1",
        "dec2": "dec2 + 0.01",
        "dec65": "'-10.000000000000000000000000000011'",
        "f": "f + 1",
        "d": "d * 2",
        "b5": "b5 + 1",
        "b64": "b64 - 1",
        "y": "y + 1",
        "dt": "dt + INTERVAL 1 MICROSECOND",
        "ts": "ts + INTERVAL 1 MILLISECOND",
        "dd": "dd + 1",
        "tm": "'00:00:00.000001'",
        "name": "name || ' '",
        "e": "'small'",
        "s": "['green']",
        "bin": "'\\x00\\x00\\x00\\x00'::BLOB",
        "blb": "blb || '\\x01'::BLOB",
        "j": """'{"i": 1}'""",
        "g": "'POINT(0 0)'",
        "note": "'different'",
    }
    ids = {name: 100 + index for index, name in enumerate(changes)}
    with duckdb.connect(str(lake_dir / LAKE_DATABASE)) as lake:
        for name, expression in changes.items():
            lake.execute(f'UPDATE "{kinds}"."kinds" SET "{name}" = {expression} WHERE id = {ids[name]}')
    code, lines, _ = run_verify(capsys, "--mysql-url", mariadb.url(), "--lake-dir", str(lake_dir), "--show", "100")
    assert code == 1
    assert lines[1:-1] == [f"  id={ids[name]}: differs in columns {name}" for name in changes]


def test_tables_missing_on_one_side_without_a_key_or_grown(
    kinds: str, db: Database, mariadb: LocalMariaDB, lake_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE nopk (a INT, b VARCHAR(10))")
    db.execute("INSERT INTO nopk VALUES (1, 'x'), (1, 'x')")
    db.execute("CREATE TABLE only_source (id INT PRIMARY KEY)")
    db.execute("INSERT INTO only_source VALUES (1), (2), (3)")
    db.execute("CREATE TABLE grown (k1 VARCHAR(10), k2 DATE, v INT, PRIMARY KEY (k1, k2))")
    db.execute("INSERT INTO grown VALUES ('a', '2024-01-01', 1), ('b', '2024-01-02', 2)")
    db.execute("ALTER TABLE grown ADD COLUMN added INT NULL")
    db.execute("CREATE VIEW a_view AS SELECT * FROM only_source")
    with duckdb.connect(str(lake_dir / LAKE_DATABASE)) as lake:
        lake.execute(f'CREATE TABLE "{kinds}".only_lake (id INTEGER, _cdc_order VARCHAR)')
        lake.execute(f'INSERT INTO "{kinds}".only_lake VALUES (1, NULL)')
        lake.execute(f'CREATE TABLE "{kinds}".grown (k1 VARCHAR, k2 DATE, v INTEGER, _cdc_order VARCHAR)')
        lake.execute(f"""INSERT INTO "{kinds}".grown VALUES ('a', '2024-01-01', 1, 'o'), ('b', '2024-01-02', 3, 'o')""")

    flags = ("--mysql-url", mariadb.url(), "--lake-dir", str(lake_dir))
    code, lines, err = run_verify(capsys, *flags, "--tables", f"{kinds}.*")
    assert (code, err) == (1, "")
    assert lines == [
        f"{kinds}.grown: source 2 rows, master 2 rows: 1 key differs (1 differ)",
        "  columns missing in master: added",
        "  k1='b', k2='2024-01-02': differs in columns v",
        f"{kinds}.kinds: source 252 rows, master 252 rows: equal",
        f"{kinds}.nopk: skipped: no primary key (history only; no master table)",
        f"{kinds}.only_lake: source -, master 1 row: table missing at the source",
        f"{kinds}.only_source: source 3 rows, master -: table missing in master",
        "verify: 5 tables: 1 equal, 3 differ, 1 skipped",
    ]

    code, lines, _ = run_verify(capsys, *flags, "--tables", f"{kinds}.nopk,{kinds}.kinds")
    assert code == 0  # a table without a primary key is reported, not a difference
    assert lines[-1] == "verify: 2 tables: 1 equal, 0 differ, 1 skipped"

    code, lines, err = run_verify(capsys, *flags, "--tables", f"{kinds}.a_view")
    assert (code, lines) == (2, [])
    assert err == f"cdc-lake: --tables (CDC_TABLES): no table at the source or in the lake matches {kinds}.a_view\n"


def test_flags_from_the_environment(
    kinds: str,
    mariadb: LocalMariaDB,
    lake_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDC_MYSQL_URL", mariadb.url())
    monkeypatch.setenv("CDC_LAKE_DIR", str(lake_dir))
    monkeypatch.setenv("CDC_TABLES", f"{kinds}.kinds")
    code, lines, _ = run_verify(capsys)
    assert code == 0 and lines[0].endswith(": equal")


def test_unusable_source_and_missing_lake(
    kinds: str, mariadb: LocalMariaDB, lake_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"mysql://cdc:cdc-secret@127.0.0.1:{free_port()}"
    code, lines, err = run_verify(capsys, "--mysql-url", closed, "--lake-dir", str(lake_dir))
    assert (code, lines) == (3, [])
    assert err.startswith("cdc-lake: cannot connect to 127.0.0.1:") and err.count("\n") == 1

    code, _, err = run_verify(capsys, "--mysql-url", mariadb.url(), "--lake-dir", str(tmp_path / "nothing"))
    assert code == 2 and "no lake.duckdb in" in err

    code, _, err = run_verify(capsys, "--mysql-url", mariadb.url(password="wrong"), "--lake-dir", str(lake_dir))
    assert code == 2 and "access denied" in err


@contextmanager
def lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process with `path` open for writing (as a compaction would) for `seconds`, or until the block
    ends."""
    script = (
        f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('locked', flush=True); time.sleep({seconds})"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        try:
            yield process
        finally:
            if process.poll() is None and seconds > 10:
                process.kill()
            process.wait(timeout=30)


def test_a_locked_lake_is_waited_for_then_reported(
    kinds: str,
    mariadb: LocalMariaDB,
    lake_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = lake_dir / LAKE_DATABASE
    with lock_held(path, 1.5):
        started = time.monotonic()
        open_lake(path, wait=30).close()  # waits for the writer to finish
        assert 0.5 < time.monotonic() - started < 30

    with lock_held(path, 60):
        with pytest.raises(RuntimeFailure, match="another process holds its lock"):
            open_lake(path, wait=0.5)
        monkeypatch.setattr(verify, "LOCK_WAIT_SECONDS", 0.5)
        code, lines, err = run_verify(capsys, "--mysql-url", mariadb.url(), "--lake-dir", str(lake_dir))
        assert (code, lines) == (1, [])
        assert err.startswith(f"cdc-lake: cannot open {path}: another process holds its lock") and err.count("\n") == 1
