"""TLS to the source: a private MariaDB that accepts only TLS (require_secure_transport, a cdc user REQUIRE SSL)
with a certificate from a throw-away CA, and the real `cdc-streamer` against it: verified, refused with the wrong
CA or a certificate for another name, and never quietly in clear text."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql
import pytest

from cdc_streamer.errors import ConfigError, CredentialsRejected
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.replication import ReplicationSession, SessionOptions, StartPoint
from cdc_streamer.settings import MySQLUrl, TlsSettings
from cdc_streamer.source import Source, connection_arguments, describe_connect_error

from ..tls_certs import make_authority, make_server_cert
from .support import Database, file_sink_run, run_cli


@dataclass(frozen=True)
class Certificates:
    ca: Path  # signed both servers' certificates
    other_ca: Path  # unrelated: trusts neither
    server: tuple[Path, Path]  # SAN DNS:localhost, IP:127.0.0.1
    misnamed: tuple[Path, Path]  # SAN DNS:db.example.internal only


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = Path(tmp_path_factory.mktemp("tls"))
    authority = make_authority(directory, "test-ca")
    return Certificates(
        ca=authority.cert_file,
        other_ca=make_authority(directory, "other-ca").cert_file,
        server=make_server_cert(directory, authority, "server", dns=("localhost",), ips=("127.0.0.1",)),
        misnamed=make_server_cert(directory, authority, "misnamed", dns=("db.example.internal",)),
    )


def start_tls_server(base: Path, server_id: int, cert: tuple[Path, Path], ca: Path) -> LocalMariaDB:
    server = LocalMariaDB(
        base,
        server_id=server_id,
        extra_options=(
            f"--ssl-ca={ca}",
            f"--ssl-cert={cert[0]}",
            f"--ssl-key={cert[1]}",
            "--require-secure-transport=ON",  # TCP without TLS is refused; root's unix socket still works
        ),
    )
    server.start()
    server.create_cdc_user()
    with server.root_connection() as conn, conn.cursor() as cur:
        cur.execute("ALTER USER 'cdc'@'127.0.0.1' REQUIRE SSL")
    return server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[LocalMariaDB]:
    base = Path(tmp_path_factory.mktemp("mariadb-tls"))
    server = start_tls_server(base, 21, certs.server, certs.ca)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def misnamed_server(tmp_path_factory: pytest.TempPathFactory, certs: Certificates) -> Iterator[LocalMariaDB]:
    """Its certificate is from the right CA but names db.example.internal, not 127.0.0.1."""
    base = Path(tmp_path_factory.mktemp("mariadb-misnamed"))
    server = start_tls_server(base, 22, certs.misnamed, certs.ca)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def tls_db(tls_server: LocalMariaDB, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = Database(tls_server, "tls_" + request.node.name[:40].lower().replace("[", "_").replace("]", ""))
    database.recreate()
    yield database
    database.close()


def tls_url(server: LocalMariaDB, ca: Path) -> MySQLUrl:
    return replace(MySQLUrl.parse(server.url()), tls=TlsSettings(ca_file=str(ca)))


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    lines = [line for line in result.stderr.splitlines() if " info " not in line]
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_check_and_run_stream_over_verified_tls(
    tls_server: LocalMariaDB, tls_db: Database, certs: Certificates, tmp_path: Path
) -> None:
    check = run_cli("check", "--mysql-url", tls_server.url(), "--mysql-ssl-ca", str(certs.ca), timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("ok: mariadb")

    tls_db.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
    start = tls_db.position()
    tls_db.executemany("INSERT INTO t VALUES (%s, %s)", [(1, "one"), (2, "two"), (3, "three")])
    output = tmp_path / "events.jsonl"
    run = file_sink_run(tls_server, output, f"{tls_db.name}.t")
    result = run_cli(
        *run,
        "--start-position",
        str(start),
        "--stop-when-caught-up",
        "--no-output-schema",
        env={"CDC_MYSQL_SSL_CA": str(certs.ca)},  # the variable stands in for the flag
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(e["type"], e["data"]["id"]) for e in events] == [("insert", 1), ("insert", 2), ("insert", 3)]


def test_every_connection_is_encrypted(tls_server: LocalMariaDB, tls_db: Database, certs: Certificates) -> None:
    """The server refuses TCP without TLS anyway; here each kind of connection says so itself."""
    url = tls_url(tls_server, certs.ca)
    with Source(url) as source:
        cipher = dict(source._rows("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))["Ssl_cipher"]
        version = dict(source._rows("SHOW SESSION STATUS LIKE 'Ssl_version'"))["Ssl_version"]
        position = source.current_position()
    assert cipher and version.startswith("TLS")
    assert position is not None
    session = ReplicationSession(url, StartPoint(position=position), SessionOptions(server_id=4343, flavor="mariadb"))
    try:
        assert isinstance(session._stream._sock, ssl.SSLSocket)  # type: ignore[attr-defined]
        assert isinstance(session._ctl._sock, ssl.SSLSocket)  # type: ignore[attr-defined]
    finally:
        session.close()


def test_the_wrong_ca_fails_closed(
    tls_server: LocalMariaDB, tls_db: Database, certs: Certificates, tmp_path: Path
) -> None:
    tls_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    start = tls_db.position()
    tls_db.execute("INSERT INTO t VALUES (1)")
    wrong = ["--mysql-ssl-ca", str(certs.other_ca)]
    check = run_cli("check", "--mysql-url", tls_server.url(), *wrong, timeout=60)
    assert_one_line_error(check, 2, "certificate is not trusted by the CA file", "--mysql-ssl-ca")

    output = tmp_path / "events.jsonl"
    run = file_sink_run(tls_server, output, f"{tls_db.name}.t")
    result = run_cli(*run, *wrong, "--start-position", str(start), "--stop-when-caught-up", timeout=120)
    assert_one_line_error(result, 2, "certificate")
    assert not output.exists() or output.read_text() == ""

    snapshot = run_cli("snapshot", "--mysql-url", tls_server.url(), *wrong, "--out", str(tmp_path / "out"))
    assert_one_line_error(snapshot, 2, "certificate")

    # The replication session is refused for good (ConfigError), not retried as a lost connection.
    url = tls_url(tls_server, certs.other_ca)
    with pytest.raises(ConfigError, match="not trusted"):
        ReplicationSession(url, StartPoint(position=start), SessionOptions(server_id=4344, flavor="mariadb"))


def test_the_system_bundle_with_mysql_ssl(tls_server: LocalMariaDB, certs: Certificates) -> None:
    refused = run_cli("check", "--mysql-url", tls_server.url(), "--mysql-ssl", timeout=60)
    assert_one_line_error(refused, 2, "not trusted by the system CA bundle")
    # OpenSSL's default verify paths follow SSL_CERT_FILE: make the test CA "the system bundle".
    trusted = run_cli(
        "check", "--mysql-url", tls_server.url(), env={"CDC_MYSQL_SSL": "true", "SSL_CERT_FILE": str(certs.ca)}
    )
    assert trusted.returncode == 0, trusted.stderr


def test_a_server_without_tls_is_refused_not_used_in_clear_text(mariadb: LocalMariaDB, certs: Certificates) -> None:
    """The session server has no TLS: asking for TLS fails closed."""
    result = run_cli("check", "--mysql-url", mariadb.url(), "--mysql-ssl-ca", str(certs.ca), timeout=60)
    assert_one_line_error(result, 2, "does not offer TLS")


def test_a_clear_text_client_is_refused_in_one_line(tls_server: LocalMariaDB) -> None:
    """A client without TLS (pymysql before its opportunistic TLS, or TLS disabled) meets require_secure_transport:
    MariaDB answers "access denied", which is one line, not a traceback."""
    url = MySQLUrl.parse(tls_server.url())
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(**connection_arguments(url), ssl_disabled=True)
    described = describe_connect_error(url, refused.value)
    assert isinstance(described, CredentialsRejected)
    assert "\n" not in described.message


def test_the_host_name_is_verified(misnamed_server: LocalMariaDB, certs: Certificates) -> None:
    args = ["check", "--mysql-url", misnamed_server.url(), "--mysql-ssl-ca", str(certs.ca)]
    refused = run_cli(*args, timeout=60)
    assert_one_line_error(refused, 2, "certificate does not name the host '127.0.0.1'")
    skipped = run_cli(*args, "--mysql-ssl-skip-hostname-check", timeout=60)
    assert skipped.returncode == 0, skipped.stderr


def test_a_missing_ca_file_is_a_usage_error(tls_server: LocalMariaDB, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    for command in ("check", "run", "snapshot"):
        result = run_cli(command, "--mysql-url", tls_server.url(), "--mysql-ssl-ca", str(missing), timeout=60)
        assert_one_line_error(result, 2, "--mysql-ssl-ca (CDC_MYSQL_SSL_CA)", str(missing))


def test_verify_and_load_export_connect_over_verified_tls(
    tls_server: LocalMariaDB, tls_db: Database, certs: Certificates, tmp_path: Path
) -> None:
    tls_db.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))")
    tls_db.executemany("INSERT INTO t VALUES (%s, %s)", [(1, "one"), (2, "two")])
    ca = ["--mysql-ssl-ca", str(certs.ca)]
    snapshot = run_cli("snapshot", "--mysql-url", tls_server.url(), *ca, "--out", str(tmp_path / "out"),
                       "--tables", f"{tls_db.name}.t", timeout=120)  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    [export] = (tmp_path / "out").iterdir()
    lake = tmp_path / "lake"
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), "--mysql-url",
                     tls_server.url(), *ca, cli="cdc_lake", timeout=120)  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    verified = run_cli("verify", "--mysql-url", tls_server.url(), *ca, "--lake-dir", str(lake), cli="cdc_lake",
                       timeout=120)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verify: 1 table: 1 equal" in verified.stdout

    wrong = run_cli("verify", "--mysql-url", tls_server.url(), "--mysql-ssl-ca", str(certs.other_ca), "--lake-dir",
                    str(lake), cli="cdc_lake", timeout=120)  # fmt: skip
    assert_one_line_error(wrong, 2, "certificate is not trusted by the CA file")
    missing = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), "--mysql-ssl-ca",
                      str(tmp_path / "no-such-ca.pem"), cli="cdc_lake")  # fmt: skip
    assert_one_line_error(missing, 2, "--mysql-ssl-ca")
