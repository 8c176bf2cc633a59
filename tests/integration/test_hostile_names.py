"""Hostile identifiers and values end to end: MariaDB tables and columns named with quotes, backticks, `/`, `=`,
`%`, `..`, SQL, reserved words, spaces and Unicode, holding values that look like SQL — streamed, delivered,
merged, verified and queried. Every generated statement quotes them; every lake path keeps each name one escaped
partition value (Hive's escaping), so no name can leave its directory or break another table's compaction."""

from __future__ import annotations

import json
from pathlib import Path

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli

DATABASE = "hostile \"db\" = 'x'; -- /y"
TABLES = [
    "a/b",
    "..",
    "../../escape",
    "a=b",
    "%41",
    "it's",
    'a"b',
    "a`b",
    "x; DROP TABLE y",
    "select",
    "Ünïcode 表",
    "sp ace",
    "#hash?*[]^{}",
    "back\\slash",
]
COLUMNS = ['col"1', "c`2", "it's", "select", "a.b", "na me", "ü"]
VALUES = ["'); DROP TABLE x; --", 'quote " and \\ backslash', "nul \0 byte", "line\nbreak", "emoji 🙂 ünï", "%41 =/"]


def mysql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def test_hostile_names_and_values_survive_the_whole_pipeline(mariadb: LocalMariaDB, tmp_path: Path) -> None:
    root = mariadb.root_connection()
    db = Database(mariadb, DATABASE)
    try:
        db.recreate()
        start = db.position()
        columns = ", ".join(f"{mysql_name(c)} VARCHAR(60)" for c in COLUMNS)
        marks = ", ".join(["%s"] * (len(COLUMNS) + 1))
        for n, table in enumerate(TABLES):
            qualified = f"{mysql_name(DATABASE)}.{mysql_name(table)}"
            db.execute(f"CREATE TABLE {qualified} (id INT PRIMARY KEY, {columns}) DEFAULT CHARSET = utf8mb4")
            rows = [(k, *(VALUES[(k + i + n) % len(VALUES)] for i in range(len(COLUMNS)))) for k in range(1, 7)]
            with_args = qualified.replace("%", "%%")  # pymysql formats the text of a statement with parameters
            db.executemany(f"INSERT INTO {with_args} VALUES ({marks})", rows)
            db.execute(f"UPDATE {with_args} SET {mysql_name('select')} = %s WHERE id = 2", (VALUES[0],))
            db.execute(f"DELETE FROM {qualified} WHERE id = 3")

        lake, events = tmp_path / "lake", tmp_path / "events.jsonl"
        streamed = run_cli(*file_sink_run(mariadb, events, f"{DATABASE}.*", "--start-position", str(start),
                                          "--stop-when-caught-up", "--replay"))  # fmt: skip
        assert streamed.returncode == 0, streamed.stderr
        changes = [json.loads(line) for line in events.read_text().splitlines()]
        assert {e["table"] for e in changes if e["type"] == "insert"} == set(TABLES)

        delivered = run_cli("deliver", "--from-file", str(events), "--lake-dir", str(lake), cli="cdc_lake")
        assert delivered.returncode == 0, delivered.stdout + delivered.stderr
        assert "failed" not in delivered.stderr.replace("0 failed", "")
        assert not (lake / "errors").exists()
        assert not (tmp_path / "escape").exists() and not (lake.parent / "escape").exists()
        database_dirs = [path.name for path in (lake / "events").iterdir()]
        assert database_dirs == ["database=hostile %22db%22 %3D %27x%27; -- %2Fy"]
        table_dirs = {path.name for path in next((lake / "events").iterdir()).iterdir()}
        assert {"table=a%2Fb", "table=..", "table=..%2F..%2Fescape", "table=a%3Db", "table=%2541"} <= table_dirs

        compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
        assert compacted.returncode == 0, compacted.stdout + compacted.stderr
        verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), cli="cdc_lake")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"verify: {len(TABLES)} tables: {len(TABLES)} equal" in verified.stdout, verified.stdout

        live = f'"{DATABASE.replace(chr(34), chr(34) * 2)}"."x; DROP TABLE y_live"'
        queried = run_cli("query", "--lake-dir", str(lake), "--format", "json",
                          f'SELECT id, "select", "col""1" FROM {live} ORDER BY id', cli="cdc_lake")  # fmt: skip
        assert queried.returncode == 0, queried.stdout + queried.stderr
        answers = [json.loads(line) for line in queried.stdout.splitlines()]
        assert [answer["id"] for answer in answers] == [1, 2, 4, 5, 6]
        assert answers[1]["select"] == VALUES[0]
        with root.cursor() as cursor:
            cursor.execute(f'SELECT `col"1` FROM {mysql_name(DATABASE)}.`x; DROP TABLE y` WHERE id = 4')
            assert answers[2]['col"1'] == cursor.fetchone()[0]
    finally:
        db.execute(f"DROP DATABASE IF EXISTS {mysql_name(DATABASE)}")
        db.close()
        root.close()


def test_hostile_names_through_the_snapshot_and_load(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    for table in TABLES[:6]:
        db.execute(f"CREATE TABLE {mysql_name(table)} (id INT PRIMARY KEY, {mysql_name('it' + chr(39) + 's')} TEXT)")
        with_args = mysql_name(table).replace("%", "%%")
        db.executemany(f"INSERT INTO {with_args} VALUES (%s, %s)", [(1, VALUES[0]), (2, VALUES[2])])
    snapshot = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path / "exports"),
                       "--tables", f"{db.name}.*")  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    [export] = (tmp_path / "exports").iterdir()
    lake = tmp_path / "lake"
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), cli="cdc_lake")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), cli="cdc_lake")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verify: 6 tables: 6 equal" in verified.stdout
