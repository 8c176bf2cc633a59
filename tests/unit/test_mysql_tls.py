"""TLS to the source without a server: the flags and variables, the TLS settings on the URL (the secret's URLs
too), pymysql's arguments, and how TLS failures read."""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

import pymysql
import pytest

from cdc_streamer import mysql_secret
from cdc_streamer.cli import build_parser, main, mysql_source
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.mysql_secret import SecretCredentials
from cdc_streamer.settings import MySQLUrl, TlsSettings
from cdc_streamer.source import connection_arguments, describe_connect_error, ssl_context

from ..tls_certs import make_authority

URL = "mysql://cdc:s3cret@db.example.internal:3306"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    return make_authority(tmp_path, "unit-ca").cert_file


@pytest.fixture(autouse=True)
def no_tls_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CDC_MYSQL_SSL_CA", "CDC_MYSQL_SSL", "CDC_MYSQL_SSL_SKIP_HOSTNAME_CHECK", "CDC_MYSQL_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)


def parse(*argv: str, command: str = "check") -> argparse.Namespace:
    return build_parser().parse_args([command, "--mysql-url", URL, *argv])


@pytest.mark.parametrize("command", ["run", "snapshot", "check"])
def test_every_connecting_command_takes_the_ca(command: str, ca_file: Path) -> None:
    url, refresh = mysql_source(parse("--mysql-ssl-ca", str(ca_file), command=command))
    assert url.tls == TlsSettings(ca_file=str(ca_file), verify_identity=True)
    assert refresh is None


def test_without_flags_there_are_no_tls_settings() -> None:
    url, _ = mysql_source(parse())
    assert url.tls is None
    assert "ssl" not in connection_arguments(url)


def test_variables_stand_in_for_the_flags(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    monkeypatch.setenv("CDC_MYSQL_SSL_CA", str(ca_file))
    monkeypatch.setenv("CDC_MYSQL_SSL_SKIP_HOSTNAME_CHECK", "true")
    url, _ = mysql_source(parse())
    assert url.tls == TlsSettings(ca_file=str(ca_file), verify_identity=False)


def test_mysql_ssl_means_the_system_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mysql_source(parse("--mysql-ssl"))[0].tls == TlsSettings(ca_file=None)
    monkeypatch.setenv("CDC_MYSQL_SSL", "yes")
    assert mysql_source(parse())[0].tls == TlsSettings(ca_file=None)


def test_a_bad_mysql_ssl_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDC_MYSQL_SSL", "maybe")
    with pytest.raises(ConfigError, match="CDC_MYSQL_SSL"):
        build_parser()


def test_skipping_the_hostname_check_needs_tls() -> None:
    with pytest.raises(ConfigError, match=r"--mysql-ssl-skip-hostname-check .* needs --mysql-ssl-ca or --mysql-ssl"):
        mysql_source(parse("--mysql-ssl-skip-hostname-check"))


@pytest.mark.parametrize("content", [None, "", "not a certificate\n"])
def test_a_missing_or_bad_ca_file_is_a_config_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=r"^--mysql-ssl-ca \(CDC_MYSQL_SSL_CA\): cannot load the CA file") as error:
        mysql_source(parse("--mysql-ssl-ca", str(path)))
    assert "\n" not in error.value.message


def test_a_missing_ca_file_exits_2_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The host does not resolve: the CA file is refused before any connection is tried.
    assert main(["check", "--mysql-url", URL, "--mysql-ssl-ca", str(tmp_path / "nope.pem")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pem" in err and "No such file" in err


def test_the_secret_urls_carry_the_tls_settings(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    """The first URL and every URL rebuilt after a rotation."""

    class FakeProvider:
        def __init__(self, arn: str) -> None:
            self.password = "first"

        def current(self) -> SecretCredentials:
            return SecretCredentials(user="cdc", password=self.password, host="db.example.internal", port=3306)

        def refresh(self) -> bool:
            self.password = "rotated"
            return True

    monkeypatch.setattr(mysql_secret, "SecretCredentialsProvider", FakeProvider)
    args = build_parser().parse_args(
        ["check", "--mysql-secret-arn", "my-secret", "--mysql-ssl-ca", str(ca_file), "--mysql-ssl-skip-hostname-check"]
    )
    url, refresh = mysql_source(args)
    tls = TlsSettings(ca_file=str(ca_file), verify_identity=False)
    assert (url.password, url.tls) == ("first", tls)
    assert refresh is not None
    fresh = refresh()
    assert fresh is not None and (fresh.password, fresh.tls) == ("rotated", tls)


def test_the_context_verifies_the_chain_and_the_name(ca_file: Path) -> None:
    url = MySQLUrl.parse(URL)
    arguments = connection_arguments(MySQLUrl("h", 3306, "u", "p", tls=TlsSettings(ca_file=str(ca_file))))
    context = arguments["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "unit-ca"),),)]
    assert connection_arguments(url).keys() == arguments.keys() - {"ssl"}


def test_skipping_the_hostname_check_still_verifies_the_chain(ca_file: Path) -> None:
    context = ssl_context(TlsSettings(ca_file=str(ca_file), verify_identity=False))
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname


def test_the_system_bundle_context_checks_the_name_too() -> None:
    # pymysql's own ssl_verify_identity would not without a CA file: hence our own context.
    context = ssl_context(TlsSettings(ca_file=None))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_the_url_masks_the_password_with_tls(ca_file: Path) -> None:
    url = MySQLUrl("db", 3306, "cdc", "s3cret", tls=TlsSettings(ca_file=str(ca_file)))
    assert "s3cret" not in repr(url) and "s3cret" not in str(url)
    assert str(url) == "mysql://cdc:***@db:3306"


def wrapped_verify_error(code: int, message: str) -> pymysql.err.OperationalError:
    """What pymysql raises when the handshake's verification fails: 2003 around the ssl error."""
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    cause.verify_code, cause.verify_message = code, message
    error = pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on 'db' ({cause})")
    error.original_exception = cause  # type: ignore[attr-defined]
    return error


TLS_URL = MySQLUrl("db", 3306, "cdc", "p", tls=TlsSettings(ca_file="/etc/ca.pem"))


def test_an_untrusted_certificate_reads_as_one_config_line() -> None:
    failure = describe_connect_error(TLS_URL, wrapped_verify_error(19, "self-signed certificate in certificate chain"))
    assert isinstance(failure, ConfigError)
    assert str(failure) == (
        "TLS to db:3306: the server's certificate is not trusted by the CA file /etc/ca.pem "
        "(self-signed certificate in certificate chain): give the CA that signed it in --mysql-ssl-ca "
        "(CDC_MYSQL_SSL_CA)"
    )


def test_a_certificate_for_another_name_reads_as_one_config_line() -> None:
    error = wrapped_verify_error(62, "Hostname mismatch, certificate is not valid for 'db'.")
    failure = describe_connect_error(TLS_URL, error)
    assert isinstance(failure, ConfigError)
    assert "certificate does not name the host 'db'" in str(failure)


def test_a_server_without_tls_and_a_tls_only_server() -> None:
    no_tls = pymysql.err.OperationalError(2026, "SSL is required but the server doesn't support it")
    assert "does not offer TLS" in str(describe_connect_error(TLS_URL, no_tls))
    insecure = pymysql.err.OperationalError(3159, "Connections using insecure transport are prohibited")
    failure = describe_connect_error(MySQLUrl.parse(URL), insecure)
    assert isinstance(failure, ConfigError) and "--mysql-ssl-ca" in str(failure)


def test_another_handshake_failure_is_a_runtime_failure() -> None:
    cause = ssl.SSLError(1, "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version")
    error = pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on 'db' ({cause})")
    error.original_exception = cause  # type: ignore[attr-defined]
    failure = describe_connect_error(TLS_URL, error)
    assert isinstance(failure, RuntimeFailure) and str(failure).startswith("TLS handshake with db:3306 failed")
