"""The real `cdc-streamer` command against the real server: bad input, preflight, position, SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli, start_cli, stop_process

SetVariable = Callable[[str, str], None]


def assert_one_line_error(result: object, code: int, *fragments: str) -> None:
    stderr = getattr(result, "stderr", "")
    lines = [line for line in stderr.splitlines() if " info " not in line]
    assert getattr(result, "returncode", None) == code, stderr
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--mysql-url", "not a url"], 2, "--mysql-url"),
        (["--mysql-url", "mysql://cdc:wrong-password@127.0.0.1:{port}"], 2, "access denied"),
        (["--mysql-url", "mysql://cdc:x@127.0.0.1:1"], 1, "cannot connect to 127.0.0.1:1"),
        (["--include-tables", "mysql.no_such_table"], 2, "mysql.no_such_table does not exist"),
        (["--exclude-tables", "no_such_db.*"], 2, "'no_such_db' does not exist"),
        (["--position-store", "file:/no/such/dir/checkpoint.json"], 2, "/no/such/dir"),
        (["--start-position", "binlog-without-offset"], 2, "FILE:POS"),
        (["--start-position", "binlog.000001:99999999999"], 3, "past the end"),
        (["--end-position", "12"], 2, "--end-position"),
        (["--sink", "kafka"], 2, "unknown sink 'kafka'"),
        (["--sink", "file"], 2, "--file"),
        (["--server-id", "0"], 2, "--server-id"),
        (["--include-tables", "nodot"], 2, "--include-tables"),
        (["--exclude-columns", "a.b"], 2, "--exclude-columns"),
        (["--flush-interval", "soon"], 2, "--flush-interval"),
        (["--no-such-flag"], 2, "--no-such-flag"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    mariadb: LocalMariaDB, args: list[str], code: int, fragment: str
) -> None:
    args = [arg.format(port=mariadb.port) for arg in args]
    if "--mysql-url" not in args:
        args = ["--mysql-url", mariadb.url(), *args]
    result = run_cli("run", "--stop-when-caught-up", *args, timeout=60)
    assert_one_line_error(result, code, fragment)


def test_environment_variables_stand_in_for_flags(mariadb: LocalMariaDB) -> None:
    result = run_cli("run", env={"CDC_MYSQL_URL": mariadb.url(), "CDC_START_POSITION": "nonsense"})
    assert_one_line_error(result, 2, "CDC_START_POSITION")


def test_the_password_never_appears_in_output(mariadb: LocalMariaDB) -> None:
    result = run_cli("run", "--mysql-url", "mysql://cdc:s3cret-pa55@127.0.0.1:1", timeout=60)
    assert "s3cret-pa55" not in result.stderr + result.stdout


def test_check_passes_on_a_usable_server(mariadb: LocalMariaDB) -> None:
    result = run_cli("check", "--mysql-url", mariadb.url())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: mariadb")


@pytest.fixture
def global_variable(mariadb: LocalMariaDB) -> Iterator[SetVariable]:
    """Set a global variable on the shared server for one test, and put it back."""
    saved: list[tuple[str, object]] = []

    def set_variable(name: str, value: str) -> None:
        with mariadb.root_connection() as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT @@global.{name}")
            saved.append((name, cursor.fetchone()[0]))
            cursor.execute(f"SET GLOBAL {name} = %s", (value,))

    yield set_variable
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        for name, value in reversed(saved):
            cursor.execute(f"SET GLOBAL {name} = %s", (value,))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("binlog_format", "STATEMENT", "binlog_format: is STATEMENT: set binlog_format=ROW"),
        ("binlog_row_image", "MINIMAL", "binlog_row_image: is MINIMAL: set binlog_row_image=FULL"),
        ("binlog_row_metadata", "MINIMAL", "binlog_row_metadata: is MINIMAL: set binlog_row_metadata=FULL"),
        (
            "log_bin_compress",
            "ON",
            "log_bin_compress: is ON: compressed binlog events cannot be decoded (rows would be lost): "
            "set log_bin_compress=OFF",
        ),
    ],
)
def test_check_reports_each_problem_and_exits_3(
    mariadb: LocalMariaDB, global_variable: SetVariable, variable: str, value: str, message: str
) -> None:
    global_variable(variable, value)
    result = run_cli("check", "--mysql-url", mariadb.url())
    assert result.returncode == 3
    assert message in result.stdout.splitlines()
    run = run_cli("run", "--mysql-url", mariadb.url(), "--stop-when-caught-up")
    assert_one_line_error(run, 3, message)


def test_check_reports_several_problems_on_their_own_lines(mariadb: LocalMariaDB, global_variable: SetVariable) -> None:
    global_variable("binlog_format", "MIXED")
    global_variable("binlog_row_image", "NOBLOB")
    result = run_cli("check", "--mysql-url", mariadb.url())
    assert result.returncode == 3
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["binlog_format", "binlog_row_image"]


def test_check_reports_missing_grants(mariadb: LocalMariaDB) -> None:
    mariadb.create_cdc_user("reader_only", "pw", privileges="SELECT")
    result = run_cli("check", "--mysql-url", mariadb.url("reader_only", "pw"))
    assert result.returncode == 3
    assert "grants: missing REPLICATION SLAVE, REPLICATION CLIENT" in result.stdout


def test_check_exits_3_when_the_binary_log_is_off(tmp_path: Path) -> None:
    server = LocalMariaDB(tmp_path / "nobinlog", binlog=False)
    server.start()
    try:
        server.create_cdc_user()
        result = run_cli("check", "--mysql-url", server.url())
        assert result.returncode == 3
        assert result.stdout.startswith("log_bin: binary logging is off")
        run = run_cli("run", "--mysql-url", server.url())
        assert_one_line_error(run, 3, "binary logging is off")
    finally:
        server.stop()
        shutil.rmtree(tmp_path / "nobinlog", ignore_errors=True)


def test_a_checkpoint_in_a_purged_binlog_is_refused_with_the_recovery(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    old = db.position()
    db.execute("FLUSH BINARY LOGS")
    current = db.position()
    # MariaDB keeps (with only a warning) a binlog a dump thread still reads: an earlier test's streamer that
    # exited is noticed by its server thread at the next heartbeat (1 s). Purge until the file is gone.
    deadline = time.monotonic() + 30
    while True:
        db.execute(f"PURGE BINARY LOGS TO '{current.file}'")
        if old.file not in {row[0] for row in db.query("SHOW BINARY LOGS")}:
            break
        assert time.monotonic() < deadline, f"{old.file} was not purged within 30 s"
        time.sleep(0.2)
    store = tmp_path / "checkpoint.json"
    store.write_text(json.dumps({"file": old.file, "offset": old.offset, "gtid": None}))

    check = run_cli("check", "--mysql-url", mariadb.url(), "--position-store", f"file:{store}")
    assert check.returncode == 3
    assert f"binlog file {old.file} was purged" in check.stdout
    run = run_cli("run", "--mysql-url", mariadb.url(), "--position-store", f"file:{store}")
    assert_one_line_error(run, 3, f"binlog file {old.file} was purged", "take a new snapshot")


def test_position_prints_the_stored_checkpoint(tmp_path: Path) -> None:
    store = tmp_path / "checkpoint.json"
    missing = run_cli("position", "--position-store", f"file:{store}")
    assert_one_line_error(missing, 1, "no checkpoint")
    store.write_text(json.dumps({"file": "binlog.000007", "offset": 1234, "gtid": "0-1-99"}))
    shown = run_cli("position", "--position-store", f"file:{store}")
    assert shown.returncode == 0
    assert shown.stdout.strip() == "binlog.000007:1234 gtid=0-1-99"


def wait_for_lines(path: Path, count: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{path} has fewer than {count} lines after {timeout}s")


def test_sigterm_flushes_saves_the_checkpoint_and_exits_0(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    output, store = tmp_path / "events.jsonl", tmp_path / "checkpoint.json"
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    start = db.position()
    process = start_cli(
        *file_sink_run(mariadb, output, f"{db.name}.t"),
        "--position-store",
        f"file:{store}",
        "--start-position",
        str(start),
        "--flush-interval",
        "60",
    )
    try:
        for row in range(50):
            db.execute("INSERT INTO t VALUES (%s)", (row,))
        end = db.position()
        time.sleep(1.5)  # idle: the heartbeat lets the streamer flush what it has
        wait_for_lines(output, 51)  # the table's schema event, then the rows
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        stop_process(process)
    assert process.returncode == 0, stderr
    schema, *rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert schema["type"] == "table-schema" and schema["columns"] == [{"name": "id", "type": "int", "unsigned": False}]
    assert [row["data"]["id"] for row in rows] == list(range(50))
    assert json.loads(store.read_text())["position"] == str(end)


@pytest.mark.parametrize(
    ("flags", "env", "types"),
    [
        ([], {}, ["table-schema", "insert"]),
        (["--no-output-schema"], {}, ["insert"]),
        ([], {"CDC_OUTPUT_SCHEMA": "false"}, ["insert"]),
        (["--output-schema"], {"CDC_OUTPUT_SCHEMA": "false"}, ["table-schema", "insert"]),
    ],
)
def test_output_schema_switch(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path, flags: list[str], env: dict[str, str], types: list[str]
) -> None:
    output = tmp_path / "events.jsonl"
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    start = db.position()
    db.execute("INSERT INTO t VALUES (1)")
    run = file_sink_run(mariadb, output, f"{db.name}.t")
    result = run_cli(*run, "--start-position", str(start), "--end-position", str(db.position()), *flags, env=env)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["type"] for line in output.read_text().splitlines()] == types


def test_a_bad_output_schema_variable_is_a_usage_error(mariadb: LocalMariaDB) -> None:
    result = run_cli("run", "--mysql-url", mariadb.url(), env={"CDC_OUTPUT_SCHEMA": "maybe"}, timeout=60)
    assert_one_line_error(result, 2, "CDC_OUTPUT_SCHEMA")
