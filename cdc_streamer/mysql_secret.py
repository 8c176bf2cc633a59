"""MySQL credentials from AWS Secrets Manager (`--mysql-secret-arn`, CDC_MYSQL_SECRET_ARN), read again after the
server refuses them, because the secret was rotated.

The secret is the RDS/Aurora standard JSON, as SecretString:

    {"username": "cdc", "password": "...", "host": "cluster.example", "port": 3306, "dbname": ..., "engine": ...}

(`user` is accepted for `username`; `host` and `port` are optional when `--mysql-url` gives them.)

- The region is the ARN's (a secret can only be read in its own region); a plain secret name uses the default
  region (AWS_REGION / AWS_DEFAULT_REGION). The endpoint is boto3's own: AWS_ENDPOINT_URL_SECRETS_MANAGER or
  AWS_ENDPOINT_URL.
- Every failure is one line (`ConfigError` for what the user must change, `RuntimeFailure` for an unreachable or
  failing service), and no message ever quotes the secret's content.
- Every password read is registered with the log redactor (`logs.redactor()`) before it is returned.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from . import logs
from .errors import ConfigError, RuntimeFailure
from .settings import mask_url

log = logging.getLogger(__name__)

FLAG = "--mysql-secret-arn (CDC_MYSQL_SECRET_ARN)"
URL_FLAG = "--mysql-url (CDC_MYSQL_URL)"
URL_SCHEMES = ("mysql", "mariadb", "aurora-mysql")
ARN_EXAMPLE = "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"

CLIENT_CONFIG = Config(connect_timeout=10, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})

CREDENTIALS_REFUSED = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "InvalidClientTokenId", "ExpiredTokenException"}
)
SECRET_UNUSABLE = frozenset({"InvalidRequestException", "InvalidParameterException", "ValidationException"})


@dataclass(frozen=True, slots=True)
class SecretCredentials:
    """The user and password of a secret, and its host and port when it has them. `repr` masks the password."""

    user: str
    password: str
    host: str | None = None
    port: int | None = None

    def __repr__(self) -> str:
        return f"SecretCredentials(user={self.user!r}, password='***', host={self.host!r}, port={self.port!r})"


def secret_region(arn: str, flag: str = FLAG) -> str | None:
    """The region of a secret ARN; None for a plain secret name. A malformed ARN is a ConfigError."""
    if not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or not parts[3] or parts[5] != "secret" or not parts[6]:
        raise ConfigError(f"{flag}: expected {ARN_EXAMPLE}, got {arn!r}")
    return parts[3]


def fetch_secret(arn: str, *, client: Any | None = None) -> SecretCredentials:
    """GetSecretValue, parsed. `client` is a boto3 secretsmanager client (or anything with `get_secret_value`);
    by default one for the ARN's region."""
    arn = arn.strip()
    text = read_secret_string(arn, FLAG, client=client, expected="the RDS credentials JSON")
    if text is None:
        raise not_credentials(arn)
    credentials = parse_secret(text, arn)
    logs.redactor().add(credentials.password)
    return credentials


def read_secret_string(arn: str, flag: str, *, client: Any | None = None, expected: str) -> str | None:
    """A secret's SecretString (None when it has none); every failure is one line naming `flag`."""
    if not arn:
        raise ConfigError(f"{flag}: empty; expected {ARN_EXAMPLE}")
    region = secret_region(arn, flag)
    where = f"region {region}" if region else "the default region"
    try:
        if client is None:
            client = boto3.session.Session(region_name=region).client("secretsmanager", config=CLIENT_CONFIG)
        response = client.get_secret_value(SecretId=arn)
    except NoRegionError:
        raise ConfigError(
            f"{flag}: no AWS region for secret {arn!r}: give the full secret ARN or set AWS_REGION"
        ) from None
    except NoCredentialsError:
        raise ConfigError(
            f"no AWS credentials found to read the secret of {flag}: "
            "set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role"
        ) from None
    except ClientError as error:
        raise describe_client_error(arn, where, error, flag) from None
    except BotoCoreError as error:
        raise RuntimeFailure(f"cannot reach Secrets Manager in {where} to read {arn}: {error}") from None
    text = response.get("SecretString")
    if not isinstance(text, str):
        if response.get("SecretBinary") is not None:
            raise ConfigError(f"{flag}: secret {arn} holds SecretBinary; store {expected} as SecretString")
        return None
    return text


def describe_client_error(arn: str, where: str, error: ClientError, flag: str = FLAG) -> Exception:
    """A Secrets Manager error -> one of ours, saying what to change. AWS's messages never hold secret values."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", ""))
    message = str(details.get("Message", "")) or code
    if code == "ResourceNotFoundException":
        return ConfigError(f"{flag}: secret ARN not found: {arn} does not exist in {where}")
    if code == "AccessDeniedException":
        return ConfigError(
            f"{flag}: access denied to secret {arn}: allow secretsmanager:GetSecretValue on it "
            "(and kms:Decrypt on its KMS key) for the streamer's IAM role"
        )
    if code == "DecryptionFailure":
        return ConfigError(f"{flag}: cannot decrypt secret {arn}: allow kms:Decrypt on its KMS key ({message})")
    if code in CREDENTIALS_REFUSED:
        return ConfigError(f"Secrets Manager in {where} refused the AWS credentials ({code}): check them")
    if code in SECRET_UNUSABLE:
        return ConfigError(f"{flag}: secret {arn} cannot be read ({code}: {message})")
    return RuntimeFailure(f"Secrets Manager failed to read {arn} in {where} ({code}: {message})")


def not_credentials(arn: str) -> ConfigError:
    return ConfigError(f"{FLAG}: secret {arn} is not an RDS credentials JSON (needs username and password)")


def parse_secret(text: str, arn: str = "ARN") -> SecretCredentials:
    """The RDS credentials JSON -> SecretCredentials. Errors name the field, never its value."""
    try:
        data = json.loads(text)
    except ValueError:
        raise not_credentials(arn) from None
    if not isinstance(data, dict):
        raise not_credentials(arn)
    user = data.get("username", data.get("user"))
    password = data.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise not_credentials(arn)
    host = data.get("host")
    if host is not None and not isinstance(host, str):
        raise ConfigError(f"{FLAG}: secret {arn}: 'host' is not a string")
    return SecretCredentials(
        user=user, password=password, host=(host or "").strip() or None, port=_port(data.get("port"), arn)
    )


def _port(value: Any, arn: str) -> int | None:
    if value is None or value == "":
        return None
    port: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value.strip())
    if port is None or not 0 < port < 65536:
        raise ConfigError(f"{FLAG}: secret {arn}: 'port' is not a number 1-65535")
    return port


def resolve_mysql_url(url: str | None, creds: SecretCredentials) -> str:
    """The `mysql://user:password@host:port` URL for `MySQLUrl.parse`: the secret's user and password (quoted)
    over any in `url`; the host and port of `url`, else the secret's; the scheme, path and query of `url`."""
    scheme, host, port, path, query = "mysql", creds.host, creds.port, "", ""
    if url and url.strip():
        text = url.strip()
        try:
            parts = urlsplit(text)
            url_port = parts.port
        except ValueError:
            raise ConfigError(
                f"{URL_FLAG}: expected mysql://host:port (the user and password come from {FLAG}); "
                "the port is not a number 1-65535"
            ) from None
        if parts.scheme not in URL_SCHEMES:
            raise ConfigError(
                f"{URL_FLAG}: expected mysql://host:port (the user and password come from {FLAG}), "
                f"got {mask_url(text)!r}"
            )
        scheme, path, query = parts.scheme, parts.path, parts.query
        host = parts.hostname or host
        port = url_port if url_port is not None else port
    if not host:
        raise ConfigError(f"{FLAG}: the secret has no host: set {URL_FLAG} to mysql://host:port")
    netloc = f"{quote(creds.user, safe='')}:{quote(creds.password, safe='')}@"
    netloc += f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, path, query, ""))


class SecretCredentialsProvider:
    """The credentials of one secret: read once, then read again on demand after the server refused them.

    `refresh()` reads at most once per `min_refresh_seconds` (failed reads count), so a wrong password retried
    in a loop does not hammer Secrets Manager. Thread-safe."""

    def __init__(
        self,
        arn: str,
        *,
        client: Any | None = None,
        min_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.arn = arn
        self.min_refresh_seconds = min_refresh_seconds
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: SecretCredentials | None = None
        self._fetched_at: float | None = None

    def current(self) -> SecretCredentials:
        """The cached credentials; the first call reads the secret."""
        with self._lock:
            if self._credentials is None:
                return self._fetch(self._clock())
            return self._credentials

    def refresh(self) -> bool:
        """Read the secret again, unless it was read less than `min_refresh_seconds` ago (then False).
        True when the credentials differ from the cached ones (also on a first read)."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self.min_refresh_seconds:
                return False
            before = self._credentials
            after = self._fetch(now)
        changed = after != before
        log.info(
            "MySQL credentials re-read from %s: %s",
            self.arn,
            "changed" if changed else "unchanged",
            extra={"fields": {"secret_arn": self.arn, "user": after.user, "changed": changed}},
        )
        return changed

    def _fetch(self, now: float) -> SecretCredentials:
        self._fetched_at = now  # before the call: a failing read is rate-limited too
        self._credentials = fetch_secret(self.arn, client=self._client)
        return self._credentials
