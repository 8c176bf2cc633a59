"""`cdc-streamer snapshot` against the real server: every type family read back from the Parquet, the JSON
documents, keyset chunks, a snapshot taken under concurrent writes checked against the binlog from its position,
refusals and bad input, cleanup after a failure, an S3 target, and `run --from-snapshot`."""

from __future__ import annotations

import datetime
import io
import json
import random
import struct
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdc_streamer.encoding import column_fields
from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.event import ChangeEvent, Operation, SchemaEvent
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl
from cdc_streamer.snapshot import SnapshotSettings, take_snapshot
from cdc_streamer.snapshot_progress import Progress
from cdc_streamer.wkb import geometry_to_wkt

from .support import Database, run_cli, stream_range

EVERY_TYPE = """
CREATE TABLE every_type (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
  ii INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  d65 DECIMAL(65,30), d38 DECIMAL(38,10), d10 DECIMAL(10,2), f FLOAT, dbl DOUBLE, b1 BIT(1), b64 BIT(64),
  y YEAR, dd DATE, t0 TIME, t3 TIME(3), dt6 DATETIME(6), dt0 DATETIME, ts3 TIMESTAMP(3) NULL,
  c5 CHAR(5), vc VARCHAR(10), tx TEXT, lt LONGTEXT, bn BINARY(4), vb VARBINARY(8), bl BLOB, mb MEDIUMBLOB,
  e ENUM('small','it''s','a,b'), s SET('red','green','blue'), j JSON, g GEOMETRY, pt POINT
) DEFAULT CHARSET=utf8mb4
"""

# What the export holds for each column (the spec's table).
EXPECTED_TYPES = {
    "id": pa.int32(),
    "ti": pa.int32(),
    "tu": pa.int32(),
    "si": pa.int32(),
    "su": pa.int32(),
    "mi": pa.int32(),
    "mu": pa.int32(),
    "ii": pa.int64(),
    "bi": pa.int64(),
    "bu": pa.decimal128(20, 0),
    "d65": pa.string(),
    "d38": pa.decimal128(38, 10),
    "d10": pa.decimal128(10, 2),
    "f": pa.float32(),
    "dbl": pa.float64(),
    "b1": pa.binary(),
    "b64": pa.binary(),
    "y": pa.int32(),
    "dd": pa.string(),
    "t0": pa.string(),
    "t3": pa.string(),
    "dt6": pa.timestamp("us"),
    "dt0": pa.timestamp("us"),
    "ts3": pa.timestamp("us"),
    "c5": pa.binary(),
    "vc": pa.string(),
    "tx": pa.string(),
    "lt": pa.string(),
    "bn": pa.binary(),
    "vb": pa.binary(),
    "bl": pa.binary(),
    "mb": pa.binary(),
    "e": pa.string(),
    "s": pa.string(),
    "j": pa.string(),
    "g": pa.binary(),
    "pt": pa.binary(),
}

D65 = "-12345678901234567890123456789012345.123456789012345678901234567890"
D38 = "1234567890123456789012345678.0123456789"
JSON_TEXT = '{"a": [1, 2.50, "x"], "b": null}'


def point_wkb(x: float, y: float) -> bytes:
    return b"\x00\x00\x00\x00\x01\x01\x00\x00\x00" + struct.pack("<dd", x, y)


def float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


EDGE_ROW = {
    "id": 1,
    "ti": -128,
    "tu": 255,
    "si": -32768,
    "su": 65535,
    "mi": -8388608,
    "mu": 16777215,
    "ii": 4294967295,
    "bi": -9223372036854775808,
    "bu": Decimal(18446744073709551615),
    "d65": D65,
    "d38": Decimal(D38),
    "d10": Decimal("-99999999.99"),
    "f": float32(1.1),
    "dbl": 1.7976931348623157e308,
    "b1": b"\x01",
    "b64": b"\xff" * 8,
    "y": 2155,
    "dd": "0000-00-00",
    "t0": "-838:59:59",
    "t3": "838:59:59.999",
    "dt6": None,  # zero date
    "dt0": datetime.datetime(9999, 12, 31, 23, 59, 59),
    "ts3": datetime.datetime(2038, 1, 19, 3, 14, 7, 999000),
    "c5": b"ab",  # CHAR drops trailing spaces
    "vc": "héllo 😀",
    "tx": "",
    "lt": "emoji 😀 ünïcode",
    "bn": b"ab\x00\x00",
    "vb": b"\x00\xff",
    "bl": bytes(range(256)),
    "mb": b"",
    "e": "it's",
    "s": "",
    "j": JSON_TEXT,
    "g": point_wkb(1, 2),
    "pt": point_wkb(-0.5, 1e20),
}
NULL_ROW = {name: None for name in EXPECTED_TYPES} | {"id": 2}
PLAIN_ROW = NULL_ROW | {
    "id": 3,
    "ti": 0,
    "dd": "2024-02-29",
    "t0": "00:00:00",
    "dt6": datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
    "dt0": None,  # 2024-02-30 (ALLOW_INVALID_DATES): no timestamp holds it
    "ts3": datetime.datetime(1970, 1, 1, 0, 0, 1),
    "c5": b"a b",
    "s": "red,blue",
    "e": "a,b",
    "b64": b"\x00" * 7 + b"\x05",
}


def fill_every_type(db: Database) -> None:
    db.execute(EVERY_TYPE)
    db.execute("SET SESSION time_zone = '+00:00'")
    db.execute("SET SESSION sql_mode = ''")
    db.execute(
        "INSERT INTO every_type VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, 4294967295, "
        "-9223372036854775808, 18446744073709551615, %s, %s, -99999999.99, 1.1, 1.7976931348623157e308, b'1', "
        "b'1111111111111111111111111111111111111111111111111111111111111111', 2155, '0000-00-00', '-838:59:59', "
        "'838:59:59.999', '0000-00-00 00:00:00', '9999-12-31 23:59:59', '2038-01-19 03:14:07.999', 'ab   ', %s, "
        "'', %s, 'ab', x'00ff', %s, '', 'it''s', '', %s, ST_GeomFromText('POINT(1 2)'), "
        "ST_GeomFromText('POINT(-0.5 1e20)'))",
        (D65, D38, "héllo 😀", "emoji 😀 ünïcode", bytes(range(256)), JSON_TEXT),
    )
    db.execute("INSERT INTO every_type (id) VALUES (2)")
    db.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
    db.execute(
        "INSERT INTO every_type (id, ti, dd, t0, dt6, dt0, ts3, c5, s, e, b64) VALUES "
        "(3, 0, '2024-02-29', '00:00:00', '2024-01-02 03:04:05.123456', '2024-02-30 10:00:00', "
        "'1970-01-01 00:00:01', 'a b', 'blue,red', 'a,b', 5)"
    )
    db.execute("SET SESSION sql_mode = DEFAULT")
    db.execute("SET SESSION time_zone = DEFAULT")


def snapshot(mariadb: LocalMariaDB, out: Path | str, *args: str) -> tuple[str, str]:
    """Run the real command; returns (export directory, position line)."""
    result = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(out), *args, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    export_dir, position = result.stdout.splitlines()
    return export_dir, position


def read_export(export_dir: str | Path, database: str, table: str) -> pa.Table:
    files = sorted((Path(export_dir) / database / f"{database}.{table}" / "1").glob("part-*.gz.parquet"))
    assert files, f"no Parquet file for {database}.{table}"
    return pa.concat_tables([pq.read_table(file) for file in files])


def documents(export_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(export_info, export_tables_info, cdc_position)."""
    root = Path(export_dir)
    (info,) = root.glob("export_info_*.json")
    (tables,) = root.glob("export_tables_info_*.json")
    return (
        json.loads(info.read_text()),
        json.loads(tables.read_text()),
        json.loads((root / "cdc_position.json").read_text()),
    )


def one_line_error(result: Any, code: int, *fragments: str) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    line: str = lines[0]
    return line


def test_every_type_family_is_exported_with_the_spec_types_and_exact_values(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    fill_every_type(db)
    before = db.position()
    export_dir, position_line = snapshot(mariadb, tmp_path, "--tables", f"{db.name}.every_type")

    table = read_export(export_dir, db.name, "every_type")
    assert {field.name: field.type for field in table.schema} == EXPECTED_TYPES
    rows = {row["id"]: row for row in table.to_pylist()}
    assert rows == {1: EDGE_ROW, 2: NULL_ROW, 3: PLAIN_ROW}
    assert geometry_to_wkt(rows[1]["g"]) == "POINT(1 2)"

    info, tables_info, position = documents(export_dir)
    export_id = Path(export_dir).name
    assert Path(export_dir).parent == tmp_path.resolve()
    assert export_id.startswith("cdc-snapshot-")
    assert (Path(export_dir) / f"export_tables_info_{export_id}_from_1_to_1.json").exists()
    assert info["exportTaskIdentifier"] == export_id
    assert info["sourceArn"] == f"mariadb://127.0.0.1:{mariadb.port}"
    assert info["exportOnly"] == [f"{db.name}.every_type"]
    assert info["status"] == "COMPLETE" and info["percentProgress"] == 100
    assert info["snapshotTime"] == position["snapshotTime"]
    assert info["taskStartTime"] <= info["taskEndTime"]
    assert info["snapshotTime"].endswith("Z")

    assert position["exportId"] == export_id
    assert BinlogPosition(position["file"], position["position"]) == before
    assert position["gtid"] == db.query("SELECT @@gtid_binlog_pos")[0][0]
    assert position_line == f"{before} gtid={position['gtid']}"

    (entry,) = tables_info["perTableStatus"]
    assert entry["target"] == f"{db.name}.every_type"
    assert entry["status"] == "COMPLETE"
    assert entry["TableStatistics"]["partitioningInfo"] == {"numberOfPartitions": 1, "numberOfCompletedPartitions": 1}
    assert entry["cdc"]["rows"] == 3
    assert entry["cdc"]["primaryKey"] == ["id"]
    mappings = {item["columnName"]: item for item in entry["schemaMetadata"]["originalTypeMappings"]}
    assert list(mappings) == list(EXPECTED_TYPES)
    assert {name: item["expectedExportedType"] for name, item in mappings.items()} == {
        name: str(kind) for name, kind in EXPECTED_TYPES.items()
    }
    assert mappings["bu"]["originalType"] == "bigint unsigned"
    assert mappings["tu"]["originalType"] == "tinyint unsigned"
    assert mappings["j"]["originalType"] == "longtext"  # MariaDB's JSON, as DATA_TYPE spells it
    assert mappings["pt"]["originalType"] == "point"
    assert mappings["d65"] | {"columnName": ""} == {
        "columnName": "",
        "originalType": "decimal",
        "expectedExportedType": "string",
        "originalCharMaxLength": 0,
        "originalNumPrecision": 65,
        "originalNumScale": 30,
        "originalDateTimePrecision": 0,
    }
    assert mappings["ts3"]["originalDateTimePrecision"] == 3
    assert mappings["vc"]["originalCharMaxLength"] == 10


def test_cdc_columns_equal_the_streamers_schema_event(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    start = db.position()
    fill_every_type(db)
    db.execute("CREATE TABLE pair (a INT UNSIGNED, b VARCHAR(5), c DATETIME(2), PRIMARY KEY (b, a))")
    db.execute("INSERT INTO pair VALUES (1, 'x', NOW())")
    end = db.position()
    events = stream_range(mariadb, start, end, db.name)
    schemas = {event.table: event for event in events if isinstance(event, SchemaEvent)}
    assert set(schemas) == {"every_type", "pair"}

    export_dir, _ = snapshot(mariadb, tmp_path, "--tables", f"{db.name}.*")
    _, tables_info, _ = documents(export_dir)
    entries = {entry["target"]: entry["cdc"] for entry in tables_info["perTableStatus"]}
    assert list(entries) == [f"{db.name}.every_type", f"{db.name}.pair"]
    for name, event in schemas.items():
        cdc = entries[f"{db.name}.{name}"]
        assert cdc["columns"] == [column_fields(column) for column in event.columns]
        assert cdc["primaryKey"] == list(event.primary_key_columns)
    assert entries[f"{db.name}.pair"]["primaryKey"] == ["b", "a"]


def test_composite_key_tables_are_read_in_key_order_chunk_by_chunk(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE pairs (a VARCHAR(5), b INT, v INT, PRIMARY KEY (a, b))")
    db.executemany("INSERT INTO pairs VALUES (%s, %s, %s)", [(f"k{i % 3}", i, i * 10) for i in range(200)])
    # Key types whose order is not their text's: ENUM by index, SET by bitmask, BIT, FLOAT, DECIMAL, unsigned.
    db.execute(
        "CREATE TABLE odd_keys (e ENUM('zeta','alpha','mid'), s SET('x','y'), bt BIT(8), f FLOAT, "
        "d DECIMAL(30,10), u BIGINT UNSIGNED, PRIMARY KEY (e, s, bt, f, d, u))"
    )
    db.executemany(
        "INSERT INTO odd_keys VALUES (%s, %s, %s, %s, %s, %s)",
        [
            (e, s, bt, f, d, u)
            for e in ("zeta", "alpha", "mid")
            for s in ("", "x", "y", "x,y")
            for bt in (1, 200)
            for f in (1.1, 2.2)
            for d in ("0.0000000001", "99999999999999999999.5")
            for u in (1, 18446744073709551615)
        ],
    )
    export_dir, _ = snapshot(mariadb, tmp_path, "--tables", f"{db.name}.pairs,{db.name}.odd_keys", "--chunk-rows", "7")

    pairs = read_export(export_dir, db.name, "pairs")
    expected = [{"a": a, "b": b, "v": v} for a, b, v in db.query("SELECT a, b, v FROM pairs ORDER BY a, b")]
    assert pairs.to_pylist() == expected
    files = sorted((Path(export_dir) / db.name / f"{db.name}.pairs" / "1").iterdir())
    assert len(files) == 3  # 70 rows (10 chunks) per file
    assert [pq.ParquetFile(file).metadata.num_row_groups for file in files] == [10, 10, 9]

    odd = read_export(export_dir, db.name, "odd_keys").to_pylist()
    keys = db.query("SELECT e, s, bt + 0, d, u FROM odd_keys ORDER BY e, s, bt, f, d, u")
    assert len(odd) == 3 * 4 * 2 * 2 * 2 * 2
    assert [(r["e"], r["s"], r["bt"][0], r["d"], int(r["u"])) for r in odd] == [
        (e, s, bt, d, u) for e, s, bt, d, u in keys
    ]
    _, tables_info, _ = documents(export_dir)
    assert [entry["cdc"]["rows"] for entry in tables_info["perTableStatus"]] == [len(odd), 200]


def test_an_empty_table_gets_one_file_with_its_schema(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE nothing (id BIGINT UNSIGNED PRIMARY KEY, at DATETIME(3))")
    export_dir, _ = snapshot(mariadb, tmp_path, "--tables", f"{db.name}.nothing")
    table = read_export(export_dir, db.name, "nothing")
    assert table.num_rows == 0
    assert table.schema == pa.schema([("id", pa.decimal128(20, 0)), ("at", pa.timestamp("us"))])


class Writer(threading.Thread):
    """Inserts, updates and deletes rows of `live` until stopped, one autocommit statement at a time."""

    def __init__(self, mariadb: LocalMariaDB, database: str, next_id: int) -> None:
        super().__init__(daemon=True)
        self.conn = mariadb.root_connection(charset="utf8mb4", database=database)
        self.stop = threading.Event()
        self.next_id = next_id
        self.changes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(7)
        try:
            with self.conn.cursor() as cursor:
                while not self.stop.is_set():
                    action = rng.random()
                    if action < 0.4:
                        cursor.execute("INSERT INTO live VALUES (%s, %s, %s)", (self.next_id, "new", rng.randint(0, 9)))
                        self.next_id += 1
                    elif action < 0.8:
                        cursor.execute(
                            "UPDATE live SET v = %s, n = n + 1 WHERE id = %s",
                            (f"upd{self.changes}", rng.randint(1, self.next_id)),
                        )
                    else:
                        cursor.execute("DELETE FROM live WHERE id = %s", (rng.randint(1, self.next_id),))
                    self.changes += 1
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            self.conn.close()


def test_a_snapshot_under_concurrent_writes_equals_the_table_at_its_position(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE live (id INT PRIMARY KEY, v VARCHAR(20), n BIGINT)")
    db.executemany("INSERT INTO live VALUES (%s, %s, %s)", [(i, f"v{i}", i) for i in range(1, 4001)])
    writer = Writer(mariadb, db.name, 4001)
    writer.start()
    time.sleep(0.2)
    try:
        settings = SnapshotSettings(
            MySQLUrl.parse(mariadb.url()), str(tmp_path), tables=((db.name, "live"),), chunk_rows=5
        )
        result = take_snapshot(settings, Progress(io.StringIO(), tty=False))
        during = writer.changes
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert during > 50, "the writer must have changed rows while the snapshot ran"
    end = db.position()

    rows = {row["id"]: row for row in read_export(result.export_dir, db.name, "live").to_pylist()}
    final = {id_: {"id": id_, "v": v, "n": n} for id_, v, n in db.query("SELECT id, v, n FROM live")}
    assert rows != final, "the writes after the snapshot's position must be missing from it"

    changes = [e for e in stream_range(mariadb, result.point.position, end, db.name) if isinstance(e, ChangeEvent)]
    assert changes
    for event in changes:
        if event.type is Operation.DELETE:
            del rows[event.data["id"]]
        else:
            assert (event.data["id"] in rows) == (event.type is Operation.UPDATE), event
            rows[event.data["id"]] = event.data
    assert rows == final


def test_tables_without_a_primary_key_are_refused_all_at_once_before_anything_is_written(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE keyed (id INT PRIMARY KEY)")
    db.execute("CREATE TABLE loose (a INT)")
    db.execute("CREATE TABLE loose_too (a INT, UNIQUE KEY (a))")
    out = tmp_path / "out"
    result = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(out), "--tables", f"{db.name}.*")
    one_line_error(result, 2, f"{db.name}.loose, {db.name}.loose_too", "primary key")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--mysql-url", "mysql://cdc:x@127.0.0.1:1"], 1, "cannot connect to 127.0.0.1:1"),
        (["--mysql-url", "mysql://cdc:wrong@127.0.0.1:{port}"], 2, "access denied"),
        (["--mysql-url", "nonsense"], 2, "--mysql-url"),
        (["--tables", "{db}.no_such_table"], 2, "table {db}.no_such_table does not exist"),
        (["--tables", "no_such_db.*"], 2, "database 'no_such_db' does not exist"),
        (["--tables", "nodot"], 2, "--tables"),
        (["--tables", "{db}.a_view"], 2, "is a view"),
        (["--chunk-rows", "0"], 2, "--chunk-rows"),
        (["--export-id", "../escape"], 2, "--export-id"),
        (["--out", ""], 2, "--out"),
        (["--out", "/proc/no/such/place"], 2, "--out"),
        (["--no-such-flag"], 2, "--no-such-flag"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.execute("CREATE VIEW a_view AS SELECT id FROM t")
    args = [arg.format(port=mariadb.port, db=db.name) for arg in args]
    if "--mysql-url" not in args:
        args = ["--mysql-url", mariadb.url(), *args]
    if "--out" not in args:
        args = ["--out", str(tmp_path / "out"), *args]
    if "--tables" not in args:
        args = ["--tables", f"{db.name}.t", *args]
    result = run_cli("snapshot", *args, timeout=60)
    one_line_error(result, code, fragment.format(db=db.name))


def test_an_export_id_that_already_holds_files_is_refused(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    (tmp_path / "same" / "x").mkdir(parents=True)
    args = ["--mysql-url", mariadb.url(), "--out", str(tmp_path), "--tables", f"{db.name}.t", "--export-id", "same"]
    one_line_error(run_cli("snapshot", *args), 2, "already exists and is not empty", "--export-id")
    (tmp_path / "same" / "x").rmdir()  # an empty directory is fine
    assert run_cli("snapshot", *args).returncode == 0


def test_a_user_without_select_is_told_which_grant_is_missing(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, secret VARCHAR(10))")
    mariadb.create_cdc_user("blind", "pw", "REPLICATION SLAVE, REPLICATION CLIENT")
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"GRANT SELECT (id) ON `{db.name}`.t TO 'blind'@'127.0.0.1'")
    url = mariadb.url("blind", "pw")
    result = run_cli("snapshot", "--mysql-url", url, "--out", str(tmp_path), "--tables", f"{db.name}.t")
    one_line_error(result, 3, f"missing SELECT on {db.name}.t")
    result = run_cli("snapshot", "--mysql-url", url, "--out", str(tmp_path), "--tables", f"{db.name}.other")
    one_line_error(result, 3, "may not read it", "GRANT SELECT")
    assert list(tmp_path.iterdir()) == []


class FailingProgress(Progress):
    """Fails the snapshot after `after` rows, like a lost connection or a full disk would."""

    def __init__(self, after: int, error: BaseException) -> None:
        super().__init__(io.StringIO(), tty=False)
        self.after, self.error, self.rows = after, error, 0

    def advance(self, rows: int) -> None:
        self.rows += rows
        if self.rows >= self.after:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeFailure("disk on fire"), KeyboardInterrupt()])
def test_a_failed_snapshot_removes_its_partial_export_and_says_so(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path, error: BaseException
) -> None:
    db.execute("CREATE TABLE a (id INT PRIMARY KEY)")
    db.execute("CREATE TABLE b (id INT PRIMARY KEY)")
    db.executemany("INSERT INTO a VALUES (%s)", [(i,) for i in range(100)])
    db.executemany("INSERT INTO b VALUES (%s)", [(i,) for i in range(100)])
    settings = SnapshotSettings(
        MySQLUrl.parse(mariadb.url()), str(tmp_path), tables=((db.name, "*"),), chunk_rows=3, export_id="broken"
    )
    with pytest.raises(Exception) as raised:
        take_snapshot(settings, FailingProgress(150, error))
    assert f"removed the partial export {tmp_path.resolve() / 'broken'}" in str(raised.value)
    assert raised.value.exit_code == (1 if isinstance(error, RuntimeFailure) else 130)  # type: ignore[attr-defined]
    assert list(tmp_path.iterdir()) == []


def test_run_from_snapshot_streams_only_what_came_after_it(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    db.execute("INSERT INTO t VALUES (1, 'before'), (2, 'before')")
    export_dir, _ = snapshot(mariadb, tmp_path / "out", "--tables", f"{db.name}.t")
    db.execute("INSERT INTO t VALUES (3, 'after')")
    db.execute("UPDATE t SET v = 'changed' WHERE id = 1")

    base = ["run", "--mysql-url", mariadb.url(), "--sink", "file", "--include-tables", f"{db.name}.*"]
    for i, location in enumerate((export_dir, f"{export_dir}/cdc_position.json")):
        output = tmp_path / f"events{i}.jsonl"
        result = run_cli(*base, "--file", str(output), "--stop-when-caught-up", "--from-snapshot", location)
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in output.read_text().splitlines()]
        rows = [(e["type"], e["data"]) for e in events if e["type"] != "table-schema"]
        assert rows == [("insert", {"id": 3, "v": "after"}), ("update", {"id": 1, "v": "changed"})]

    env = {"CDC_FROM_SNAPSHOT": export_dir}
    result = run_cli(*base, "--file", str(tmp_path / "x.jsonl"), "--start-position", "binlog.000001:4", env=env)
    one_line_error(result, 2, "--from-snapshot and --start-position/--start-gtid are exclusive")
    result = run_cli(*base, "--file", str(tmp_path / "x.jsonl"), "--from-snapshot", str(tmp_path / "nowhere"))
    one_line_error(result, 2, "--from-snapshot", "cannot read")
    for info in Path(export_dir).glob("export_info_*.json"):
        info.unlink()
    result = run_cli(*base, "--file", str(tmp_path / "x.jsonl"), "--from-snapshot", export_dir)
    one_line_error(result, 2, "incomplete")


def test_a_snapshot_to_s3_and_run_from_it(aws: str, mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    import boto3

    boto3.client("s3", endpoint_url=aws, region_name="us-east-1").create_bucket(Bucket="exports")
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    db.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"v{i}") for i in range(25)])
    export_dir, position = snapshot(
        mariadb, "s3://exports/snap", "--tables", f"{db.name}.t", "--chunk-rows", "2", "--endpoint-url", aws
    )
    assert export_dir.startswith("s3://exports/snap/cdc-snapshot-")
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="exports", Prefix="snap/")["Contents"]]
    export_id = export_dir.rsplit("/", 1)[1]
    assert f"snap/{export_id}/export_info_{export_id}.json" in keys
    assert len([key for key in keys if key.endswith(".gz.parquet")]) == 2  # 20 rows per file
    recorded = json.loads(s3.get_object(Bucket="exports", Key=f"snap/{export_id}/cdc_position.json")["Body"].read())
    assert f"{recorded['file']}:{recorded['position']}" == position.split()[0]

    db.execute("INSERT INTO t VALUES (100, 'after')")
    output = tmp_path / "events.jsonl"
    result = run_cli(
        "run", "--mysql-url", mariadb.url(), "--sink", "file", "--file", str(output), "--stop-when-caught-up",
        "--include-tables", f"{db.name}.t", "--from-snapshot", export_dir, "--endpoint-url", aws,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["data"] for row in rows if row["type"] == "insert"] == [{"id": 100, "v": "after"}]


def test_progress_lines_without_a_terminal(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    db.executemany("INSERT INTO t VALUES (%s)", [(i,) for i in range(10)])
    result = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path), "--tables", f"{db.name}.t")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"snapshot {db.name}.t: 10 rows in ")
    assert lines[-1] == "cdc-streamer: snapshot of 1 tables, 10 rows"
