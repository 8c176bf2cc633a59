"""--mysql-secret-arn against moto's Secrets Manager and the private MariaDB: the secret's credentials connect,
and after a rotation (new password in the server and in the secret) the cached ones are refused with 1045 and
a refresh picks up the new ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pymysql
import pytest
from botocore.config import Config

from cdc_streamer import logs
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.local_mariadb import LocalMariaDB, free_port
from cdc_streamer.mysql_secret import SecretCredentials, SecretCredentialsProvider, fetch_secret, resolve_mysql_url
from cdc_streamer.settings import MySQLUrl
from cdc_streamer.source import ER_ACCESS_DENIED, connect, connection_arguments

FIRST_PASSWORD = "p@ss:/w?rd#%'\"\\ x"  # ASCII only: pymysql sends a str password as latin-1
ROTATED_PASSWORD = "r0tated@:/?#%&=+ ;"


def secrets_client(endpoint: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")


def create_secret(endpoint: str, **content: Any) -> str:
    name = f"cdc/source-{uuid.uuid4().hex[:8]}"
    arn: str = secrets_client(endpoint).create_secret(Name=name, SecretString=json.dumps(content))["ARN"]
    return arn


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secret_user(mariadb: LocalMariaDB) -> Iterator[str]:
    """A MariaDB user of its own (its password is rotated by the test), dropped afterwards."""
    user = f"rot_{uuid.uuid4().hex[:8]}"
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (FIRST_PASSWORD,))
        cursor.execute(f"GRANT SELECT ON *.* TO '{user}'@'127.0.0.1'")
    yield user
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")


def current_user(url: MySQLUrl) -> str:
    with connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        row = cursor.fetchone()
        assert row is not None
        return str(row[0])


def test_secret_credentials_connect_and_survive_a_rotation(aws: str, mariadb: LocalMariaDB, secret_user: str) -> None:
    arn = create_secret(
        aws, username=secret_user, password=FIRST_PASSWORD, host="127.0.0.1", port=mariadb.port, engine="mariadb"
    )
    client, clock = secrets_client(aws), FakeClock()
    provider = SecretCredentialsProvider(arn, client=client, min_refresh_seconds=10.0, clock=clock)

    first = provider.current()
    assert first == SecretCredentials(secret_user, FIRST_PASSWORD, "127.0.0.1", mariadb.port)
    # the host and port from the secret, or from a URL that has no user
    assert current_user(MySQLUrl.parse(resolve_mysql_url(None, first))) == f"{secret_user}@127.0.0.1"
    url_without_user = f"mysql://127.0.0.1:{mariadb.port}"
    assert current_user(MySQLUrl.parse(resolve_mysql_url(url_without_user, first))) == f"{secret_user}@127.0.0.1"

    # rotation, as the RDS rotation Lambda does it: the server first, then the secret
    with mariadb.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"ALTER USER '{secret_user}'@'127.0.0.1' IDENTIFIED BY %s", (ROTATED_PASSWORD,))
    new_content = {"username": secret_user, "password": ROTATED_PASSWORD, "host": "127.0.0.1", "port": mariadb.port}
    client.put_secret_value(SecretId=arn, SecretString=json.dumps(new_content))

    stale = MySQLUrl.parse(resolve_mysql_url(None, provider.current()))
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(**connection_arguments(stale))
    assert refused.value.args[0] == ER_ACCESS_DENIED
    with pytest.raises(ConfigError, match="access denied"):
        connect(stale)

    assert provider.refresh() is False  # read less than 10 s ago: Secrets Manager is not asked
    clock.now += 10
    assert provider.refresh() is True
    fresh = provider.current()
    assert fresh.password == ROTATED_PASSWORD
    assert current_user(MySQLUrl.parse(resolve_mysql_url(url_without_user, fresh))) == f"{secret_user}@127.0.0.1"
    assert logs.redactor().redact(ROTATED_PASSWORD) == "***"

    clock.now += 10
    assert provider.refresh() is False  # read again, unchanged


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"])
def test_endpoint_from_the_environment(aws: str, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    arn = create_secret(aws, user="cdc", password="env-pw", host="db.example")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(variable, aws)
    assert fetch_secret(arn) == SecretCredentials("cdc", "env-pw", "db.example", None)


def test_missing_secret(aws: str) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdc/missing-AbCdEf"
    with pytest.raises(ConfigError, match="secret ARN not found") as raised:
        fetch_secret(arn, client=secrets_client(aws))
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    "text", ["username=cdc password=Sup3rS3cret!", json.dumps({"username": "cdc", "pwd": "Sup3rS3cret!"})]
)
def test_secret_that_is_not_rds_json(aws: str, text: str) -> None:
    arn = secrets_client(aws).create_secret(Name=f"cdc/bad-{uuid.uuid4().hex[:8]}", SecretString=text)["ARN"]
    with pytest.raises(ConfigError, match=r"is not an RDS credentials JSON \(needs username and password\)") as raised:
        fetch_secret(arn, client=secrets_client(aws))
    assert "Sup3rS3cret" not in str(raised.value)


def test_binary_secret(aws: str) -> None:
    content = b'{"username": "cdc", "password": "pw"}'
    arn = secrets_client(aws).create_secret(Name=f"cdc/bin-{uuid.uuid4().hex[:8]}", SecretBinary=content)["ARN"]
    with pytest.raises(ConfigError, match="SecretBinary"):
        fetch_secret(arn, client=secrets_client(aws))


def test_deleted_secret(aws: str) -> None:
    arn = create_secret(aws, username="cdc", password="pw")
    secrets_client(aws).delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    with pytest.raises(ConfigError, match="cannot be read"):
        fetch_secret(arn, client=secrets_client(aws))


def test_unreachable_endpoint(aws: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    client = boto3.client(
        "secretsmanager",
        endpoint_url=closed,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdc/source-AbCdEf"
    with pytest.raises(RuntimeFailure, match="cannot reach Secrets Manager in region us-east-1") as raised:
        fetch_secret(arn, client=client)
    assert raised.value.exit_code == 1
