"""cdc_streamer.mysql_secret without a network: parsing the RDS secret JSON, turning Secrets Manager errors into
one line, building the URL, and the provider's rate limit, against a small hand-written client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer import logs
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.mysql_secret import (
    SecretCredentials,
    SecretCredentialsProvider,
    fetch_secret,
    parse_secret,
    resolve_mysql_url,
    secret_region,
)
from cdc_streamer.settings import MySQLUrl

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cdc/source-AbCdEf"
HOSTILE = "p@ss:/w?rd#%"
NOT_JSON_MESSAGE = "is not an RDS credentials JSON (needs username and password)"


def secret_json(**fields: Any) -> str:
    return json.dumps({"username": "cdc", "password": "pw-1", "host": "db.example", "port": 3306, **fields})


class FakeSecrets:
    """`get_secret_value` answering from a dict of SecretId -> response, or raising a chosen error."""

    def __init__(self, responses: dict[str, dict[str, Any]] | None = None, error: Exception | None = None) -> None:
        self.responses = responses or {}
        self.error = error
        self.calls = 0

    def put(self, text: str) -> None:
        self.responses[ARN] = {"ARN": ARN, "SecretString": text}

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if SecretId not in self.responses:
            raise client_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        return self.responses[SecretId]


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetSecretValue")


def fake_with(text: str) -> FakeSecrets:
    fake = FakeSecrets()
    fake.put(text)
    return fake


# --- parsing ---------------------------------------------------------------------------------------------------


def test_parse_rds_secret() -> None:
    creds = parse_secret(secret_json(dbname="shop", engine="mysql"))
    assert creds == SecretCredentials(user="cdc", password="pw-1", host="db.example", port=3306)


def test_parse_user_alias_string_port_and_no_host() -> None:
    creds = parse_secret(json.dumps({"user": "cdc", "password": "pw", "port": "3307"}))
    assert (creds.user, creds.host, creds.port) == ("cdc", None, 3307)


def test_parse_empty_host_and_port_are_absent() -> None:
    creds = parse_secret(secret_json(host="", port=""))
    assert (creds.host, creds.port) == (None, None)


@pytest.mark.parametrize(
    "text",
    [
        "username=cdc password=Sup3rS3cret!",
        '["cdc", "Sup3rS3cret!"]',
        json.dumps({"username": "cdc", "pass": "Sup3rS3cret!"}),
        json.dumps({"password": "Sup3rS3cret!"}),
        json.dumps({"username": "", "password": "Sup3rS3cret!"}),
        json.dumps({"username": "cdc", "password": ["Sup3rS3cret!"]}),
        "",
    ],
)
def test_not_credentials_never_quotes_the_secret(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_secret(text, ARN)
    assert raised.value.message == f"--mysql-secret-arn (CDC_MYSQL_SECRET_ARN): secret {ARN} {NOT_JSON_MESSAGE}"
    assert "Sup3rS3cret" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.exit_code == 2


@pytest.mark.parametrize("port", [0, 70000, "33o6", 3306.5, True, [3306]])
def test_bad_port_names_the_field_not_the_value(port: Any) -> None:
    with pytest.raises(ConfigError, match=r"'port' is not a number 1-65535$"):
        parse_secret(secret_json(port=port), ARN)


def test_host_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match="'host' is not a string"):
        parse_secret(secret_json(host=["db"]), ARN)


def test_repr_and_str_hide_the_password() -> None:
    creds = SecretCredentials(user="cdc", password=HOSTILE, host="db", port=3306)
    assert repr(creds) == "SecretCredentials(user='cdc', password='***', host='db', port=3306)"
    assert HOSTILE not in str(creds)
    assert HOSTILE not in f"{[creds]}"


# --- region ----------------------------------------------------------------------------------------------------


def test_region_comes_from_the_arn() -> None:
    assert secret_region(ARN) == "eu-west-1"
    assert secret_region("arn:aws-cn:secretsmanager:cn-north-1:1:secret:x") == "cn-north-1"
    assert secret_region("cdc/source") is None  # a plain name: the default region


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:s3:::bucket", "arn:aws:secretsmanager:eu-west-1:1", "arn:aws:secretsmanager::1:secret:x"],
)
def test_malformed_arn(arn: str) -> None:
    with pytest.raises(ConfigError, match="expected arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"):
        fetch_secret(arn, client=FakeSecrets())


def test_empty_arn() -> None:
    with pytest.raises(ConfigError, match="empty"):
        fetch_secret("  ", client=FakeSecrets())


# --- fetching --------------------------------------------------------------------------------------------------


def test_fetch_parses_and_registers_the_password_with_the_log_redactor() -> None:
    password = "fetched-pw-7f3a9c"
    creds = fetch_secret(ARN, client=fake_with(secret_json(password=password)))
    assert creds.password == password
    assert logs.redactor().redact(f"password is {password}") == "password is ***"


def test_secret_binary_is_refused() -> None:
    fake = FakeSecrets({ARN: {"ARN": ARN, "SecretBinary": b'{"username": "cdc", "password": "x"}'}})
    with pytest.raises(ConfigError, match="holds SecretBinary; store the RDS credentials JSON as SecretString"):
        fetch_secret(ARN, client=fake)


def test_not_found() -> None:
    with pytest.raises(ConfigError, match=r"secret ARN not found: .* does not exist in region eu-west-1"):
        fetch_secret(ARN, client=FakeSecrets())


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (client_error("AccessDeniedException", "not authorized"), ConfigError, "secretsmanager:GetSecretValue"),
        (client_error("DecryptionFailure", "KMS said no"), ConfigError, "kms:Decrypt"),
        (client_error("UnrecognizedClientException"), ConfigError, "refused the AWS credentials"),
        (client_error("InvalidRequestException", "marked for deletion"), ConfigError, "marked for deletion"),
        (client_error("InternalServiceError", "oops"), RuntimeFailure, "Secrets Manager failed"),
        (client_error("ThrottlingException", "slow down"), RuntimeFailure, "ThrottlingException"),
        (EndpointConnectionError(endpoint_url="https://x"), RuntimeFailure, "cannot reach Secrets Manager"),
        (NoCredentialsError(), ConfigError, "no AWS credentials"),
    ],
)
def test_errors_are_one_line(error: Exception, kind: type[Exception], words: str) -> None:
    with pytest.raises(kind) as raised:
        fetch_secret(ARN, client=FakeSecrets(error=error))
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.__cause__ is None


# --- URL -------------------------------------------------------------------------------------------------------


CREDS = SecretCredentials(user="cdc", password=HOSTILE, host="cluster.example", port=3307)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, f"mysql://cdc:{quote(HOSTILE, safe='')}@cluster.example:3307"),
        ("", f"mysql://cdc:{quote(HOSTILE, safe='')}@cluster.example:3307"),
        ("mysql://proxy.example:3306", f"mysql://cdc:{quote(HOSTILE, safe='')}@proxy.example:3306"),
        ("mysql://proxy.example", f"mysql://cdc:{quote(HOSTILE, safe='')}@proxy.example:3307"),
        ("mariadb://old:pw@proxy.example:1", f"mariadb://cdc:{quote(HOSTILE, safe='')}@proxy.example:1"),
        (
            "aurora-mysql://reader.example/?ssl_ca=/etc/rds.pem&ssl_verify=1",
            f"aurora-mysql://cdc:{quote(HOSTILE, safe='')}@reader.example:3307/?ssl_ca=/etc/rds.pem&ssl_verify=1",
        ),
        ("mysql://[::1]:3308", f"mysql://cdc:{quote(HOSTILE, safe='')}@[::1]:3308"),
        ("mysql://:3309", f"mysql://cdc:{quote(HOSTILE, safe='')}@cluster.example:3309"),
    ],
)
def test_resolve_url(url: str | None, expected: str) -> None:
    assert resolve_mysql_url(url, CREDS) == expected


def test_hostile_password_survives_the_settings_parser() -> None:
    parsed = MySQLUrl.parse(resolve_mysql_url("mysql://db:3306", CREDS))
    assert (parsed.user, parsed.password, parsed.host, parsed.port) == ("cdc", HOSTILE, "db", 3306)


@given(
    user=st.text(min_size=1, max_size=20),
    password=st.text(max_size=40),
    port=st.none() | st.integers(1, 65535),
)
def test_any_credentials_round_trip(user: str, password: str, port: int | None) -> None:
    creds = SecretCredentials(user=user, password=password, host="db.example", port=port)
    parsed = MySQLUrl.parse(resolve_mysql_url(None, creds))
    assert (parsed.user, parsed.password, parsed.host, parsed.port) == (user, password, "db.example", port or 3306)


def test_no_host_anywhere() -> None:
    with pytest.raises(ConfigError, match=r"the secret has no host: set --mysql-url \(CDC_MYSQL_URL\)"):
        resolve_mysql_url(None, SecretCredentials(user="cdc", password="pw"))


def test_default_port_when_neither_has_one() -> None:
    creds = SecretCredentials(user="cdc", password="pw", host="db")
    assert resolve_mysql_url(None, creds) == "mysql://cdc:pw@db"


@pytest.mark.parametrize("url", ["http://cdc:topsecret@db", "mysql://cdc:topsecret@db:99999"])
def test_bad_url_never_echoes_a_password(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_mysql_url(url, CREDS)
    assert "topsecret" not in str(raised.value)
    assert "--mysql-url (CDC_MYSQL_URL)" in str(raised.value)


# --- provider --------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_provider_reads_once_and_caches() -> None:
    fake = fake_with(secret_json())
    provider = SecretCredentialsProvider(ARN, client=fake)
    assert provider.current() is provider.current()
    assert fake.calls == 1


def test_provider_refresh_is_rate_limited() -> None:
    fake, clock = fake_with(secret_json(password="one")), FakeClock()
    provider = SecretCredentialsProvider(ARN, client=fake, min_refresh_seconds=10.0, clock=clock)
    assert provider.current().password == "one"
    fake.put(secret_json(password="two"))

    clock.now += 9.9
    assert provider.refresh() is False  # too soon: Secrets Manager is not asked
    assert (fake.calls, provider.current().password) == (1, "one")

    clock.now += 0.1
    assert provider.refresh() is True
    assert (fake.calls, provider.current().password) == (2, "two")

    clock.now += 10
    assert provider.refresh() is False  # read, unchanged
    assert fake.calls == 3


def test_a_failed_refresh_counts_for_the_rate_limit() -> None:
    fake, clock = fake_with(secret_json()), FakeClock()
    provider = SecretCredentialsProvider(ARN, client=fake, clock=clock)
    provider.current()
    fake.error = client_error("InternalServiceError")
    clock.now += 10
    with pytest.raises(RuntimeFailure):
        provider.refresh()
    assert provider.refresh() is False  # not asked again at once
    assert fake.calls == 2
    assert provider.current().password == "pw-1"  # the last good credentials stay


def test_first_refresh_reads_and_reports_a_change() -> None:
    provider = SecretCredentialsProvider(ARN, client=fake_with(secret_json()), clock=FakeClock())
    assert provider.refresh() is True
