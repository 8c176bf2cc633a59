"""Typed settings for the streamer, validated once at start. Secrets never appear in a repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .errors import ConfigError
from .position import BinlogPosition

if TYPE_CHECKING:
    from .masking import Masker

DEFAULT_MYSQL_PORT = 3306
SNAPSHOT_CHUNK_ROWS = 50_000  # `cdc-streamer snapshot --chunk-rows`: rows per keyset query and Parquet row group


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS to the source (`--mysql-ssl-ca`, `--mysql-ssl`): the server's certificate must chain to `ca_file` (None:
    the system's CA bundle), and, unless `verify_identity` is off (`--mysql-ssl-skip-hostname-check`, unsafe), name
    the host the URL connects to. A server that does not offer TLS is refused."""

    ca_file: str | None = None
    verify_identity: bool = True

    def describe_trust(self) -> str:
        return f"the CA file {self.ca_file}" if self.ca_file else "the system CA bundle"


@dataclass(frozen=True, slots=True)
class MySQLUrl:
    """`mysql://user:password@host:port` parsed; `str()` and `repr()` mask the password.

    `tls` (None: no TLS settings, the client library's default) is set from the flags, not from the URL."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: TlsSettings | None = None

    @classmethod
    def parse(cls, text: str | None, *, flag: str = "--mysql-url (CDC_MYSQL_URL)") -> MySQLUrl:
        if not text:
            raise ConfigError(f"{flag} is required: mysql://user:password@host:port")
        example = "expected mysql://user:password@host:port"
        try:
            parts = urlsplit(text.strip())
            port = parts.port if parts.port is not None else DEFAULT_MYSQL_PORT
        except ValueError:
            # The library's message can quote part of the password: never echo it.
            raise ConfigError(
                f"{flag}: {example}; the port is not a number 1-65535 "
                "(URL-encode any of @ : / ? # in the password, e.g. %23 for #)"
            ) from None
        if not 0 < port < 65536:
            raise ConfigError(f"{flag}: {example}; the port must be 1-65535")
        if parts.scheme not in ("mysql", "mariadb", "aurora-mysql") or not parts.hostname:
            raise ConfigError(f"{flag}: {example}, got {mask_url(text)!r}")
        if not parts.username:
            raise ConfigError(f"{flag}: no user name in the URL; {example}")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"mysql://{self.user}:***@{self.address}"


def mask_url(text: str) -> str:
    """The URL with any password replaced by ***, for messages."""
    try:
        parts = urlsplit(text)
        if parts.password:
            return text.replace(f":{parts.password}@", ":***@", 1)
        if parts.username is not None and parts.password is None:
            return text
    except ValueError:
        pass
    return "<unparseable URL>" if "@" in text else text


@dataclass(frozen=True, slots=True)
class TableFilter:
    """`--include-tables` / `--exclude-tables` patterns (`db.table`, `db.*`) and `--exclude-columns`."""

    include: tuple[tuple[str, str], ...] = ()
    exclude: tuple[tuple[str, str], ...] = ()
    excluded_columns: frozenset[tuple[str, str, str]] = frozenset()

    @staticmethod
    def parse_patterns(text: str | None, flag: str) -> tuple[tuple[str, str], ...]:
        patterns = []
        for item in split_list(text):
            database, dot, table = item.partition(".")
            if not dot or not database or not table or "." in table:
                raise ConfigError(f"{flag}: expected db.table or db.* entries separated by commas, got {item!r}")
            patterns.append((database, table))
        return tuple(patterns)

    @staticmethod
    def parse_columns(text: str | None, flag: str) -> frozenset[tuple[str, str, str]]:
        columns = set()
        for item in split_list(text):
            parts = item.split(".")
            if len(parts) != 3 or not all(parts):
                raise ConfigError(f"{flag}: expected db.table.column entries separated by commas, got {item!r}")
            columns.add((parts[0], parts[1], parts[2]))
        return frozenset(columns)

    def wants(self, database: str, table: str) -> bool:
        if self.include and not any(_matches(p, database, table) for p in self.include):
            return False
        return not any(_matches(p, database, table) for p in self.exclude)

    def columns_excluded(self, database: str, table: str) -> frozenset[str]:
        return frozenset(c for d, t, c in self.excluded_columns if d == database and t == table)


def _matches(pattern: tuple[str, str], database: str, table: str) -> bool:
    return pattern[0] == database and pattern[1] in ("*", table)


def split_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class KinesisSettings:
    """`--sink kinesis`: where to send, how to key, batch and retry, and what to do with rows that cannot go."""

    stream_name: str
    region: str | None = None
    endpoint_url: str | None = None
    partition_by: str = "primary_key"
    aggregate: bool = False
    batch_records: int = 500
    batch_bytes: int = 5 * MIB
    record_limit: int = MIB
    max_send_attempts: int = 20
    on_send_failure: str = "fail"
    oversize: str = "fail"

    def __post_init__(self) -> None:
        if not self.stream_name:
            raise ConfigError("--stream-name (CDC_STREAM_NAME) is required with --sink kinesis")
        if not 1 <= self.batch_records <= 500:
            raise ConfigError("--batch-records (CDC_BATCH_RECORDS): PutRecords takes 1 to 500 records")
        if not 1 <= self.batch_bytes <= 5 * MIB:
            raise ConfigError(f"--batch-bytes (CDC_BATCH_BYTES): PutRecords takes at most {5 * MIB} bytes")
        if self.on_send_failure not in ("fail", "skip"):
            raise ConfigError(f"--on-send-failure (CDC_ON_SEND_FAILURE): fail or skip, got {self.on_send_failure!r}")
        if self.oversize not in ("fail", "skip") and not self.claim_check_uri:
            raise ConfigError(
                f"--oversize (CDC_OVERSIZE): fail, skip or claim-check:s3://bucket/prefix, got {self.oversize!r}"
            )

    @property
    def claim_check_uri(self) -> str | None:
        location = self.oversize.removeprefix("claim-check:s3://")
        if location == self.oversize or not location.split("/", 1)[0]:
            return None  # not a claim check, or no bucket
        return f"s3://{location}"


@dataclass(frozen=True, slots=True)
class LakeSettings:
    """`--sink lake`: the events go straight into the lake (local delivery in the streamer's process).

    A buffer is delivered when its oldest event is `buffer_seconds` old or it holds `buffer_bytes` of events, and
    on every flush of the streamer (which must see everything sent acknowledged)."""

    lake_dir: str
    buffer_seconds: float = 1.0
    buffer_bytes: int = 64 * MIB
    endpoint_url: str | None = None
    region: str | None = None
    name: str = "cdc-streamer"  # the delivery name in object names, as `cdc-lake deliver --name`

    def __post_init__(self) -> None:
        if not self.lake_dir:
            raise ConfigError(
                "--lake-dir (CDC_LAKE_DIR) is required with --sink lake: a directory or s3://bucket/prefix"
            )
        if not self.buffer_seconds >= 0:
            raise ConfigError(
                f"--lake-buffer-seconds (CDC_LAKE_BUFFER_SECONDS): expected seconds >= 0, got {self.buffer_seconds!r}"
            )
        if not self.buffer_bytes > 0:
            raise ConfigError(
                f"--lake-buffer-mb (CDC_LAKE_BUFFER_MB): expected more than 0 MiB, got {self.buffer_bytes} bytes"
            )


@dataclass(frozen=True, slots=True)
class MonitoringSettings:
    """`--metrics-port` (None: no HTTP server), `--health-stall-seconds`, `--heartbeat-table`."""

    metrics_port: int | None = None
    metrics_address: str = "0.0.0.0"
    stall_seconds: float = 60.0
    heartbeat_table: tuple[str, str] | None = None
    heartbeat_interval: float = 1.0
    progress_seconds: float = 60.0  # a "progress" log line (read position, lag) this often


@dataclass(frozen=True, slots=True)
class StreamerSettings:
    mysql: MySQLUrl
    server_id: int
    sink: str = "stdout"
    file: Path | None = None
    position_store: str = "none"
    start_position: BinlogPosition | None = None
    start_gtid: str | None = None
    end_position: BinlogPosition | None = None
    replay: bool = False
    stop_when_caught_up: bool = False
    output_ddl: bool = False
    output_query: bool = False
    output_schema: bool = True
    filter: TableFilter = field(default_factory=TableFilter)
    flush_interval: float = 1.0
    max_inflight_rows: int = 10_000
    heartbeat_seconds: float = 1.0
    read_timeout: float = 30.0
    max_reconnects: int = 10
    kinesis: KinesisSettings | None = None
    lake: LakeSettings | None = None
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    masker: Masker | None = None  # --mask-columns
