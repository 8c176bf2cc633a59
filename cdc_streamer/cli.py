"""`cdc-streamer run | snapshot | check | position`. Every flag can also come from a `CDC_*` environment variable.

Errors end in one line on stderr and the exit code of DESIGN.md: 0 ok, 1 runtime failure, 2 usage/config,
3 source not usable. A traceback is printed only with CDC_DEBUG=1.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .checkpoint import open_store
from .errors import CdcError, ConfigError, RuntimeFailure
from .heartbeat import parse_heartbeat_table
from .logs import configure_logging as configure_log_output
from .logs import redactor
from .masking import KEY_ENV, Masker
from .masking_setup import load_masker
from .partition import CHOICES, partitioner
from .position import BinlogPosition
from .preflight import read_facts, run_checks
from .settings import (
    MIB,
    SNAPSHOT_CHUNK_ROWS,
    KinesisSettings,
    LakeSettings,
    MonitoringSettings,
    MySQLUrl,
    StreamerSettings,
    TableFilter,
    TlsSettings,
)
from .snapshot_progress import Progress
from .source import Source
from .streamer import Streamer

PROG = "cdc-streamer"
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_HEARTBEAT_SECONDS = 1.0
DEFAULT_METRICS_PORT = 9100  # where `health` looks when neither --url nor CDC_METRICS_PORT says
LOG_LEVELS = ("debug", "info", "warning", "error")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")


def env_name(flag: str) -> str:
    return "CDC_" + flag.lstrip("-").replace("-", "_").upper()


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog.split()[0]}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    help: str,
    *,
    default: Any = None,
    **kwargs: Any,
) -> None:
    """A flag whose default comes from its CDC_* variable, then from `default`."""
    env = env_name(flag)
    parser.add_argument(flag, default=os.environ.get(env, default), help=f"{help} [env {env}]", **kwargs)


def switch(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, help: str, *, default: bool = False
) -> None:
    """An on/off flag; its CDC_* variable (true/false) overrides `default`. A default-on switch also gets
    `--no-...` to turn it off."""
    env = env_name(flag)
    raw = os.environ.get(env, "").strip().lower()
    if raw not in TRUE + FALSE:
        raise ConfigError(f"{env}: expected true or false, got {raw!r}")
    value = raw in TRUE if raw else default
    if default:
        no_flag = "--no-" + flag.removeprefix("--")
        parser.add_argument(
            flag,
            action=argparse.BooleanOptionalAction,
            default=value,
            help=f"{help} (on by default; {no_flag} turns it off) [env {env}]",
        )
    else:
        parser.add_argument(flag, action="store_true", default=value, help=f"{help} [env {env}]")


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Stream MySQL/MariaDB binlog row changes as Maxwell-format JSON events.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    run = commands.add_parser("run", help="stream change events to a sink")
    connection_options(run)
    option(run, "--server-id", "replica server id, unique among the source's replicas", default="6379")
    option(run, "--sink", "stdout | file | kinesis | lake", default="stdout")
    option(run, "--file", "output file for --sink file (JSON lines, appended)")
    kinesis_options(run)
    lake_options(run)
    store_option(run)
    option(run, "--start-position", "start at FILE:POS instead of the stored checkpoint")
    option(run, "--start-gtid", "start at a GTID set/state instead of the stored checkpoint")
    option(run, "--end-position", "stop (exit 0) after the transaction that reaches FILE:POS")
    option(
        run,
        "--from-snapshot",
        "start at the position a `snapshot` recorded: its export directory <out>/<export_id> or cdc_position.json",
    )
    switch(run, "--replay", "never write the checkpoint")
    switch(run, "--stop-when-caught-up", "exit 0 at the server's end of binlog")
    switch(run, "--output-ddl", "emit DDL events")
    switch(run, "--output-query", "add the originating SQL statement as `query` (needs annotate/rows-query events)")
    switch(
        run,
        "--output-schema",
        "emit a table-schema event before a table's first row event and after its definition changed",
        default=True,
    )
    option(run, "--include-tables", "only these tables: db.table,db.*")
    option(run, "--exclude-tables", "skip these tables: db.table,db.*")
    option(run, "--exclude-columns", "drop these columns from events: db.table.column,...")
    masking_options(run)
    option(
        run,
        "--flush-interval",
        f"seconds between sink flushes and checkpoint saves (default {DEFAULT_FLUSH_INTERVAL}; "
        "with --sink lake, --lake-buffer-seconds)",
    )
    option(run, "--max-inflight-rows", "rows sent but not acknowledged before the streamer waits", default="10000")
    monitoring_options(run)
    log_options(run)

    snapshot = commands.add_parser(
        "snapshot", help="consistent snapshot of tables + its binlog position, in the export layout"
    )
    connection_options(snapshot)
    option(snapshot, "--out", "where the export goes: DIR or s3://bucket/prefix (it is written to <out>/<export id>)")
    option(snapshot, "--tables", "only these tables: db.table,db.* (default: every base table of every non-system db)")
    option(snapshot, "--chunk-rows", "rows per keyset query and Parquet row group", default=str(SNAPSHOT_CHUNK_ROWS))
    option(snapshot, "--export-id", "the export's name (default: cdc-snapshot-<UTC yyyymmddThhmmssZ>)")
    option(snapshot, "--endpoint-url", "S3 endpoint for an s3:// --out (VPC endpoint, or a local stand-in)")
    option(snapshot, "--region", "AWS region for an s3:// --out (default: the boto3 chain, e.g. AWS_REGION)")
    masking_options(snapshot)
    log_options(snapshot)

    check = commands.add_parser("check", help="preflight: is the source usable? (exit 3 when not)")
    connection_options(check)
    store_option(check)
    option(check, "--start-position", "also check that FILE:POS is still on the server")

    position = commands.add_parser("position", help="print the stored checkpoint")
    store_option(position)

    health = commands.add_parser("health", help="ask a running streamer's /healthcheck (exit 0 healthy, 1 not)")
    option(
        health,
        "--url",
        "the health endpoint (default http://127.0.0.1:<CDC_METRICS_PORT or 9100>/healthcheck)",
    )
    option(health, "--timeout", "seconds to wait for the answer", default="5")
    return parser


def masking_options(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--mask-columns",
        f"replace these columns' values with a keyed HMAC-SHA256 (key: {KEY_ENV}): db.table.column,db.*.column",
    )
    option(parser, "--mask-key-secret-arn", f"read the masking key from this Secrets Manager secret, not {KEY_ENV}")


def masker_from(args: argparse.Namespace) -> Masker | None:
    return load_masker(getattr(args, "mask_columns", None), getattr(args, "mask_key_secret_arn", None))


def log_options(parser: argparse.ArgumentParser) -> None:
    option(parser, "--log-level", "debug | info | warning | error", default="info")
    option(
        parser, "--log-format", "text | json (one JSON object per line, for CloudWatch and the like)", default="text"
    )


def monitoring_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("monitoring")
    option(group, "--metrics-port", "serve /metrics (Prometheus) and /healthcheck on this port (default: off)")
    option(group, "--metrics-address", "the address the metrics server listens on", default="0.0.0.0")
    option(
        group,
        "--health-stall-seconds",
        "/healthcheck answers 503 when the server's binlog moved on and the streamer read nothing for this long",
        default="60",
    )
    option(
        group,
        "--heartbeat-table",
        "write a heartbeat row to db.table every --heartbeat-interval and measure lag by it even when the source "
        "is idle (needs CREATE once, then INSERT, UPDATE on that table; default: off)",
    )
    option(group, "--heartbeat-interval", "seconds between heartbeat writes", default="1")


def monitoring_settings(args: argparse.Namespace) -> MonitoringSettings:
    port = None
    if args.metrics_port not in (None, ""):
        port = _number(args, "metrics_port", int, 1)
        if port > 65535:
            raise ConfigError(f"--metrics-port (CDC_METRICS_PORT): expected a port 1-65535, got {port}")
    return MonitoringSettings(
        metrics_port=port,
        metrics_address=args.metrics_address,
        stall_seconds=_number(args, "health_stall_seconds", float, 1.0),
        heartbeat_table=parse_heartbeat_table(args.heartbeat_table),
        heartbeat_interval=_number(args, "heartbeat_interval", float, 0.1),
    )


def kinesis_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("kinesis sink (--sink kinesis)")
    option(group, "--stream-name", "Kinesis data stream name")
    option(group, "--region", "AWS region (default: the boto3 chain, e.g. AWS_REGION)")
    option(group, "--endpoint-url", "Kinesis/S3 endpoint (VPC endpoint, or a local stand-in)")
    option(group, "--partition-by", CHOICES, default="primary_key")
    switch(group, "--aggregate", "pack each key's pending records into one KPL aggregate")
    option(group, "--batch-records", "records per PutRecords call (max 500)", default="500")
    option(group, "--batch-bytes", "bytes per PutRecords call (max 5 MiB)", default=str(5 * MIB))
    option(group, "--record-limit", "largest record the stream accepts, bytes", default=str(MIB))
    option(group, "--max-send-attempts", "attempts per record before giving up", default="20")
    option(group, "--on-send-failure", "fail (exit 1, checkpoint stays) | skip (counted, logged)", default="fail")
    option(group, "--oversize", "fail | skip | claim-check:s3://bucket/prefix", default="fail")


def kinesis_settings(args: argparse.Namespace) -> KinesisSettings | None:
    if args.sink != "kinesis":
        return None
    settings = KinesisSettings(
        stream_name=args.stream_name or "",
        region=args.region or None,
        endpoint_url=args.endpoint_url or None,
        partition_by=args.partition_by,
        aggregate=args.aggregate,
        batch_records=_number(args, "batch_records", int, 1),
        batch_bytes=_number(args, "batch_bytes", int, 1),
        record_limit=_number(args, "record_limit", int, 1),
        max_send_attempts=_number(args, "max_send_attempts", int, 1),
        on_send_failure=args.on_send_failure,
        oversize=args.oversize,
    )
    partitioner(settings.partition_by)  # validates --partition-by
    return settings


def lake_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("lake sink (--sink lake; --endpoint-url and --region serve an s3:// lake)")
    option(group, "--lake-dir", "the lake for --sink lake: a directory or s3://bucket/prefix")
    option(
        group,
        "--lake-buffer-seconds",
        "deliver when the oldest buffered event is this old (also on every flush of the streamer)",
        default="1.0",
    )
    option(group, "--lake-buffer-mb", "deliver when this many MiB of events are buffered", default="64")


def lake_settings(args: argparse.Namespace) -> LakeSettings | None:
    if args.sink != "lake":
        return None
    return LakeSettings(
        lake_dir=args.lake_dir or "",
        buffer_seconds=_number(args, "lake_buffer_seconds", float, 0.0),
        buffer_bytes=int(_number(args, "lake_buffer_mb", float, 0.0) * MIB),
        endpoint_url=args.endpoint_url or None,
        region=args.region or None,
    )


def flush_interval(args: argparse.Namespace, lake: LakeSettings | None) -> float:
    """--flush-interval; unset, the lake sink's buffer age (every flush delivers), else 1 s."""
    if args.flush_interval is None:
        return lake.buffer_seconds if lake is not None else DEFAULT_FLUSH_INTERVAL
    value: float = _number(args, "flush_interval", float, 0.0)
    return value


def heartbeat_seconds(lake: LakeSettings | None) -> float:
    """An idle source sends a heartbeat this often, and the streamer flushes on it: with --sink lake, a quiet
    source's last events reach the lake within about --lake-buffer-seconds (a tenth of a second at least)."""
    if lake is None:
        return DEFAULT_HEARTBEAT_SECONDS
    return min(DEFAULT_HEARTBEAT_SECONDS, max(lake.buffer_seconds, 0.1))


def connection_options(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--mysql-url",
        "source server: mysql://user:password@host:port (with --mysql-secret-arn, mysql://host:port or nothing)",
    )
    option(
        parser,
        "--mysql-secret-arn",
        "read the user and password (and host/port if the URL has none) from this AWS Secrets Manager secret "
        "(RDS JSON: username, password, host, port); read again when the server refuses them (rotation)",
    )
    tls_options(parser)


def tls_options(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--mysql-ssl-ca",
        "connect with TLS and verify the server's certificate against this PEM CA file (RDS/Aurora: "
        "global-bundle.pem) and its host name against the host of --mysql-url",
    )
    switch(parser, "--mysql-ssl", "connect with TLS, verified against the system CA bundle (no --mysql-ssl-ca)")
    switch(
        parser,
        "--mysql-ssl-skip-hostname-check",
        "UNSAFE: with TLS, do not check that the certificate names the host (anyone holding a certificate from the "
        "CA can then pose as the server)",
    )


def mysql_tls(args: argparse.Namespace) -> TlsSettings | None:
    """The TlsSettings of --mysql-ssl-ca / --mysql-ssl / --mysql-ssl-skip-hostname-check, None without them. The CA
    file is loaded once here: a bad one stops the command before anything connects (exit 2)."""
    from .source import ssl_context

    ca_file = getattr(args, "mysql_ssl_ca", None) or None
    skip_hostname_check = bool(getattr(args, "mysql_ssl_skip_hostname_check", False))
    if ca_file is None and not getattr(args, "mysql_ssl", False):
        if skip_hostname_check:
            raise ConfigError(
                "--mysql-ssl-skip-hostname-check (CDC_MYSQL_SSL_SKIP_HOSTNAME_CHECK): needs --mysql-ssl-ca or "
                "--mysql-ssl"
            )
        return None
    tls = TlsSettings(ca_file=ca_file, verify_identity=not skip_hostname_check)
    ssl_context(tls)
    return tls


def optional_mysql_url(args: argparse.Namespace) -> MySQLUrl | None:
    """--mysql-url (or --mysql-secret-arn) with the TLS flags, for the commands where the source is optional."""
    if not (getattr(args, "mysql_url", None) or getattr(args, "mysql_secret_arn", None)):
        mysql_tls(args)  # a TLS flag without a source is still checked (a bad CA file is exit 2)
        return None
    return mysql_source(args)[0]


def mysql_source(args: argparse.Namespace) -> tuple[MySQLUrl, Callable[[], MySQLUrl | None] | None]:
    """The source URL (with the TLS settings of the flags), and with --mysql-secret-arn a function that re-reads the
    secret (None: unchanged). Every password is registered with the log redactor before anything can log it."""
    from dataclasses import replace

    tls = mysql_tls(args)
    arn = getattr(args, "mysql_secret_arn", None)
    if not arn:
        url = MySQLUrl.parse(args.mysql_url)
        redactor().add(url.password)
        return replace(url, tls=tls), None
    from .mysql_secret import SecretCredentialsProvider, resolve_mysql_url

    provider = SecretCredentialsProvider(arn)

    def current() -> MySQLUrl:
        credentials = provider.current()
        redactor().add(credentials.password)
        url = MySQLUrl.parse(resolve_mysql_url(args.mysql_url, credentials), flag="--mysql-secret-arn")
        return replace(url, tls=tls)

    def refreshed() -> MySQLUrl | None:
        return current() if provider.refresh() else None

    return current(), refreshed


def store_option(parser: argparse.ArgumentParser) -> None:
    option(
        parser,
        "--position-store",
        "where the checkpoint lives: file:PATH | dynamodb:TABLE[/KEY] (with a single-writer lease) | none",
        default="none",
    )


def _number(args: argparse.Namespace, name: str, convert: Callable[[str], Any], minimum: float) -> Any:
    flag = "--" + name.replace("_", "-")
    raw = getattr(args, name)
    try:
        value = convert(str(raw))
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{flag} ({env_name(flag)}): expected a number >= {minimum}, got {raw!r}")
    return value


def _position(args: argparse.Namespace, name: str) -> BinlogPosition | None:
    raw = getattr(args, name, None)
    flag = "--" + name.replace("_", "-")
    return BinlogPosition.parse(raw, flag=f"{flag} ({env_name(flag)})") if raw else None


def settings_from(args: argparse.Namespace, mysql: MySQLUrl | None = None) -> StreamerSettings:
    if args.start_position and args.start_gtid:
        raise ConfigError("--start-position and --start-gtid are exclusive: give one")
    from_snapshot = getattr(args, "from_snapshot", None)
    if from_snapshot and (args.start_position or args.start_gtid):
        raise ConfigError("--from-snapshot and --start-position/--start-gtid are exclusive: give one")
    start_position = _position(args, "start_position")
    if from_snapshot:
        from .snapshot_output import read_recorded_position  # pyarrow: only when asked for

        # Like --start-position: the streamer derives the GTID state at it (BINLOG_GTID_POS on MariaDB), which is
        # the state the snapshot recorded.
        start_position = read_recorded_position(
            from_snapshot, endpoint_url=args.endpoint_url or None, region=args.region or None
        ).position
    lake = lake_settings(args)
    return StreamerSettings(
        mysql=mysql or MySQLUrl.parse(args.mysql_url),
        server_id=_number(args, "server_id", int, 1),
        sink=args.sink,
        file=Path(args.file) if args.file else None,
        position_store=args.position_store,
        start_position=start_position,
        start_gtid=args.start_gtid or None,
        end_position=_position(args, "end_position"),
        replay=args.replay,
        stop_when_caught_up=args.stop_when_caught_up,
        output_ddl=args.output_ddl,
        output_query=args.output_query,
        output_schema=args.output_schema,
        filter=TableFilter(
            include=TableFilter.parse_patterns(args.include_tables, "--include-tables"),
            exclude=TableFilter.parse_patterns(args.exclude_tables, "--exclude-tables"),
            excluded_columns=TableFilter.parse_columns(args.exclude_columns, "--exclude-columns"),
        ),
        flush_interval=flush_interval(args, lake),
        max_inflight_rows=_number(args, "max_inflight_rows", int, 1),
        heartbeat_seconds=heartbeat_seconds(lake),
        kinesis=kinesis_settings(args),
        lake=lake,
        monitoring=monitoring_settings(args),
        masker=masker_from(args),
    )


def command_run(args: argparse.Namespace) -> int:
    # Every row change makes a few container objects (its event, its row dicts), none of them in a reference cycle;
    # with the default threshold (700) the cyclic collector ran every few hundred rows: ~10% of the streamer's time.
    gc.set_threshold(100_000, 20, 20)
    url, refresh = mysql_source(args)
    settings = settings_from(args, url)
    stats = Streamer(settings, refresh_credentials=refresh).run()
    rate = stats.rows / stats.seconds if stats.seconds else 0.0
    logging.getLogger(PROG).info(
        "stopped: %d rows in %d transactions, %.1fs, %.0f rows/s, %d reconnects",
        stats.rows,
        stats.transactions,
        stats.seconds,
        rate,
        stats.reconnects,
    )
    return 0


def command_snapshot(args: argparse.Namespace) -> int:
    from .snapshot import SnapshotSettings, take_snapshot  # pyarrow: only for this command

    settings = SnapshotSettings(
        mysql=mysql_source(args)[0],
        out=args.out or "",
        tables=TableFilter.parse_patterns(args.tables, "--tables (CDC_TABLES)"),
        chunk_rows=_number(args, "chunk_rows", int, 1),
        export_id=args.export_id or None,
        endpoint_url=args.endpoint_url or None,
        region=args.region or None,
        masker=masker_from(args),
    )
    result = take_snapshot(settings, Progress(sys.stderr))
    gtid = f" gtid={result.point.gtid}" if result.point.gtid else ""
    print(f"{PROG}: snapshot of {result.tables} tables, {result.rows} rows", file=sys.stderr)
    print(result.export_dir)
    print(f"{result.point.position}{gtid}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    url = mysql_source(args)[0]
    store = open_store(args.position_store)
    position = _position(args, "start_position")
    stored = store.load()
    if position is None and stored is not None:
        position = stored.position
    with Source(url) as source:
        facts = read_facts(source)
        problems = run_checks(facts, position)
        current = source.current_position()
    for problem in problems:
        print(problem)
    if problems:
        return 3
    print(f"ok: {facts.flavor} {facts.version} at {url.address}, binlog at {current}")
    return 0


def command_position(args: argparse.Namespace) -> int:
    checkpoint = open_store(args.position_store).load()
    if checkpoint is None:
        print(f"{PROG}: no checkpoint stored in {args.position_store}", file=sys.stderr)
        return 1
    gtid = f" gtid={checkpoint.gtid}" if checkpoint.gtid else ""
    print(f"{checkpoint.position}{gtid}")
    return 0


def command_health(args: argparse.Namespace) -> int:
    url = args.url or f"http://127.0.0.1:{os.environ.get('CDC_METRICS_PORT') or DEFAULT_METRICS_PORT}/healthcheck"
    status, document = fetch_health(url, _number(args, "timeout", float, 0.1))
    reasons = "; ".join(document.get("reasons") or [])
    lag = document.get("replication_lag_seconds")
    lag_text = f", lag {lag:.1f} s" if isinstance(lag, int | float) else ""
    print(
        f"{document.get('status', status)}: read {document.get('read_position')}{lag_text}"
        + (f": {reasons}" if reasons else "")
    )
    return 0 if status == 200 else 1


def fetch_health(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    """GET the health endpoint: (HTTP status, its JSON document). Unreachable is a RuntimeFailure (exit 1)."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise RuntimeFailure(f"health: cannot reach {url}: {reason}") from None
    try:
        document = json.loads(body)
    except ValueError:
        document = {}
    return status, document if isinstance(document, dict) else {}


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": command_run,
    "snapshot": command_snapshot,
    "check": command_check,
    "position": command_position,
    "health": command_health,
}


def configure_logging(level: str, log_format: str = "text") -> None:
    if level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level (CDC_LOG_LEVEL): one of {' | '.join(LOG_LEVELS)}, got {level!r}")
    configure_log_output(level.lower(), log_format)
    logging.getLogger("pymysqlreplication").setLevel(logging.WARNING)


def run_command(
    prog: str,
    build: Callable[[], argparse.ArgumentParser],
    commands: dict[str, Callable[[argparse.Namespace], int]],
    argv: Sequence[str] | None,
    configure: Callable[[argparse.Namespace], None],
) -> int:
    """Build the parser (it reads the switches' CDC_* variables: a bad one is a usage error), parse, run one
    command, and turn every failure into one line on stderr and its exit code."""
    try:
        args = build().parse_args(argv)
        configure(args)
        return commands[args.command](args)
    except CdcError as error:
        print(f"{prog}: {redactor().redact(error.message)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("CDC_DEBUG") in TRUE:
            print(redactor().redact(traceback.format_exc()), file=sys.stderr, end="")
        print(f"{prog}: internal error: {type(error).__name__}: {redactor().redact(str(error))}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(
        PROG,
        build_parser,
        COMMANDS,
        argv,
        lambda args: configure_logging(getattr(args, "log_level", "info"), getattr(args, "log_format", "text")),
    )


def entry_point() -> NoReturn:
    raise SystemExit(main())
