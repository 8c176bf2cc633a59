"""The real `cdc-streamer run --mysql-secret-arn` against MariaDB and moto's Secrets Manager: it connects with the
secret's credentials, keeps streaming across a password rotation (the replication connection is killed after the
rotation, the reconnect is refused, the secret is read again), and no password ever reaches its JSON logs."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cdc_streamer.local_mariadb import LocalMariaDB, free_port

from .support import Database, run_cli, start_cli

OLD, NEW = "old-Pa55:w@rd/#1", "new-Pa55%w0rd?2"


@pytest.fixture
def rotating_user(mariadb: LocalMariaDB, db: Database) -> Iterator[str]:
    db.execute("CREATE USER 'rotating'@'127.0.0.1' IDENTIFIED BY %s", (OLD,))
    db.execute("GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'rotating'@'127.0.0.1'")
    yield "rotating"
    db.execute("DROP USER 'rotating'@'127.0.0.1'")


def wait_for_rows(path: Path, count: int, timeout: float = 60.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            rows = [json.loads(line) for line in path.read_text().splitlines()]
            if len(rows) >= count:
                return rows
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {count} rows")


def test_streams_through_a_password_rotation_and_never_logs_a_secret(
    aws: str, mariadb: LocalMariaDB, db: Database, rotating_user: str, tmp_path: Path
) -> None:
    secrets = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1")
    arn = secrets.create_secret(
        Name=f"cdc/{db.name}",
        SecretString=json.dumps(
            {"username": rotating_user, "password": OLD, "host": "127.0.0.1", "port": mariadb.port}
        ),
    )["ARN"]
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    output = tmp_path / "events.jsonl"
    port = free_port()
    env = {"AWS_ENDPOINT_URL_SECRETSMANAGER": aws, "AWS_ENDPOINT_URL": aws, "CDC_MYSQL_SECRET_ARN": arn}
    streamer = start_cli(
        "run",
        "--sink",
        "file",
        "--file",
        str(output),
        "--include-tables",
        f"{db.name}.t",
        "--no-output-schema",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--metrics-port",
        str(port),
        env=env,
    )
    try:
        time.sleep(3)  # the streamer starts at the server's end: let it get there
        db.execute("INSERT INTO t VALUES (1)")
        wait_for_rows(output, 1)
        # rotate as Secrets Manager's RDS rotation does: the database first, then the secret
        db.execute("ALTER USER 'rotating'@'127.0.0.1' IDENTIFIED BY %s", (NEW,))
        secrets.put_secret_value(
            SecretId=arn,
            SecretString=json.dumps(
                {"username": rotating_user, "password": NEW, "host": "127.0.0.1", "port": mariadb.port}
            ),
        )
        time.sleep(10.5)  # the streamer re-reads a secret at most every 10 s
        for (thread,) in db.query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'rotating' AND COMMAND LIKE 'Binlog Dump%%'"
        ):
            db.execute(f"KILL {int(thread)}")
        db.execute("INSERT INTO t VALUES (2)")
        rows = wait_for_rows(output, 2)
        assert [row["data"] for row in rows] == [{"id": 1}, {"id": 2}]
        exposed = "".join(
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()
            for path in ("/metrics", "/healthcheck")
        )
        assert "cdc_events_total" in exposed and '"status": "ok"' in exposed
        for secret in (OLD, NEW, "Pa55"):
            assert secret not in exposed  # nor in what the metrics and health endpoints show
    finally:
        streamer.send_signal(signal.SIGTERM)
        _, stderr = streamer.communicate(timeout=30)
    assert streamer.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    messages = " ".join(line["message"] for line in lines)
    assert "refused the credentials" in messages and "reconnecting" in messages
    for secret in (OLD, NEW, "Pa55"):
        assert secret not in stderr


def test_wrong_password_in_the_url_is_one_line_without_the_password(mariadb: LocalMariaDB, tmp_path: Path) -> None:
    url = mariadb.url(password="Wr0ng-s3cret-V@lue").replace("@127", "@127", 1)
    url = url.replace("Wr0ng-s3cret-V@lue", "Wr0ng-s3cret-V%40lue")
    result = run_cli("run", "--mysql-url", url, "--sink", "file", "--file", str(tmp_path / "x"), "--log-format", "json")
    assert result.returncode == 2
    assert result.stderr.startswith("cdc-streamer: access denied for user 'cdc'")
    assert "Wr0ng" not in result.stderr and "s3cret" not in result.stderr
