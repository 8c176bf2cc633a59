"""`cdc-lake deliver | compact | load-export | query | verify`. Every flag can also come from a `CDC_*`
environment variable.

Exit codes as for cdc-streamer: 0 ok, 1 runtime failure, 2 usage/config. One line on stderr per failure.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from cdc_streamer.cli import Parser, configure_logging, option, run_command, switch, tls_options
from cdc_streamer.errors import ConfigError
from firehose_transform.claim_check import use_endpoint

from .deliver import Delivery, DeliverySettings, Source, load_cursor
from .storage import LakeStore

PROG = "cdc-lake"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The lake: change events as Parquet, master tables, queries.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    deliver = commands.add_parser("deliver", help="flatten change events into partitioned Parquet (a local Firehose)")
    option(deliver, "--from-file", "the streamer's JSON-lines file (cdc-streamer run --sink file)")
    option(deliver, "--from-kinesis", "a Kinesis stream name")
    option(deliver, "--endpoint-url", "Kinesis/S3 endpoint (VPC endpoint, or a local stand-in)")
    option(deliver, "--region", "AWS region (default: the boto3 chain)")
    option(deliver, "--lake-dir", "the lake: a directory or s3://bucket/prefix")
    option(deliver, "--buffer-seconds", "deliver at least this often while events arrive", default="5")
    option(deliver, "--buffer-mb", "deliver when this much is buffered", default="64")
    option(deliver, "--name", "delivery name: object names and the checkpoint", default="cdc-lake-deliver")
    switch(deliver, "--follow", "keep delivering new events until stopped (SIGTERM/SIGINT)")

    compact = commands.add_parser("compact", help="merge new change events into the master tables")
    option(compact, "--lake-dir", "the lake: a directory, or s3://bucket/prefix with --athena")
    option(compact, "--tables", "only these tables: db.table or db.* entries, comma-separated")
    option(compact, "--lookback-seconds", "re-read files this much older than the watermark", default="900")
    switch(compact, "--rebuild", "drop the selected master tables and merge every event again")
    option(compact, "--interval", "repeat every this many seconds until stopped (SIGTERM/SIGINT)")
    athena_options(compact, "run the merge SQL on Athena (Iceberg) instead of the local DuckDB file")
    switch(compact, "--maintenance", "with --athena: also OPTIMIZE (bin pack) and VACUUM each master table")
    option(compact, "--endpoint-url", "AWS endpoint (a VPC endpoint, or a local stand-in)")
    option(compact, "--region", "AWS region (default: the boto3 chain)")

    load = commands.add_parser("load-export", help="create or replace master tables from an export (Aurora layout)")
    option(load, "--export", "the export: its directory, or s3://bucket/prefix/<export_id>")
    option(load, "--lake-dir", "the lake: a directory (its lake.duckdb), or s3://bucket/prefix with --athena")
    option(load, "--tables", "only these tables: db.table or db.* entries, comma-separated (default: all)")
    option(load, "--position", "FILE:POS recorded before the export started (required without cdc_position.json)")
    option(load, "--mysql-url", "the source, read-only, for the primary keys a real Aurora export does not record")
    option(load, "--mysql-secret-arn", "read the source's user and password from this Secrets Manager secret")
    tls_options(load)
    athena_options(load, "load into Iceberg master tables with Athena (the export and the lake on S3)")
    option(load, "--endpoint-url", "S3 (and Athena) endpoint (a VPC endpoint, or a local stand-in)")
    option(load, "--region", "AWS region (default: the boto3 chain)")

    query = commands.add_parser("query", help="run SQL on the local lake's master tables and _live views")
    option(query, "--lake-dir", "the lake directory")
    option(query, "--format", "output: table, csv or json (one object per line)", default="table")
    option(query, "--dialect", "duckdb (default) or athena (Trino SQL, transpiled)", default="duckdb")
    query.add_argument("sql", help="the SQL statement")

    from .verify import add_arguments

    add_arguments(commands.add_parser("verify", help="compare each master table with its source table"))
    return parser


def athena_options(parser: argparse.ArgumentParser, what: str) -> None:
    """`--athena` and where Athena runs: the same flags (and CDC_* variables) for every command that can use it."""
    switch(parser, "--athena", what)
    option(parser, "--workgroup", "Athena workgroup", default="primary")
    option(parser, "--output", "Athena query results location: s3://bucket/prefix/")


def _positive(raw: str, flag: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{flag}: expected a positive number, got {raw!r}")
    return value


def open_source(args: argparse.Namespace, store: LakeStore, name: str) -> Source:
    if bool(args.from_file) == bool(args.from_kinesis):
        raise ConfigError("give exactly one of --from-file (CDC_FROM_FILE) and --from-kinesis (CDC_FROM_KINESIS)")
    cursor = load_cursor(store, name)
    if args.from_file:
        from .sources import FileSource

        return FileSource(Path(args.from_file), cursor)
    from cdc_streamer.settings import KinesisSettings
    from cdc_streamer.sinks.kinesis_client import open_clients

    from .sources import KinesisSource

    client, _ = open_clients(
        KinesisSettings(stream_name=args.from_kinesis, region=args.region, endpoint_url=args.endpoint_url)
    )
    return KinesisSource(client, args.from_kinesis, cursor)


def command_deliver(args: argparse.Namespace) -> int:
    if not args.lake_dir:
        raise ConfigError("--lake-dir (CDC_LAKE_DIR) is required")
    settings = DeliverySettings(
        name=args.name,
        buffer_seconds=_positive(args.buffer_seconds, "--buffer-seconds (CDC_BUFFER_SECONDS)"),
        buffer_bytes=int(_positive(args.buffer_mb, "--buffer-mb (CDC_BUFFER_MB)") * 1024 * 1024),
        follow=args.follow,
    )
    store = LakeStore.open(args.lake_dir, endpoint_url=args.endpoint_url, region=args.region)
    # Claim-check pointers are fetched from S3 by the transform: through the same endpoint as the rest.
    use_endpoint(args.endpoint_url, args.region)
    delivery = Delivery(open_source(args, store, settings.name), store, settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        delivery.stop_requested = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    stats = delivery.run()
    logging.getLogger(PROG).info(
        "delivered %d records: %d rows in %d files, %d failed", stats.records, stats.rows, stats.files, stats.failed
    )
    return 0


def _lake_dir(args: argparse.Namespace) -> Path:
    if not args.lake_dir:
        raise ConfigError("--lake-dir (CDC_LAKE_DIR) is required")
    if args.lake_dir.startswith("s3://"):
        raise ConfigError(
            "--lake-dir (CDC_LAKE_DIR): an s3:// lake is compacted with --athena; locally give a directory"
        )
    path = Path(args.lake_dir)
    if not path.is_dir():
        raise ConfigError(f"--lake-dir (CDC_LAKE_DIR): {path} is not a directory")
    return path


def command_compact(args: argparse.Namespace) -> int:
    from cdc_streamer.settings import TableFilter

    from .compact import CompactSettings, Outcome, compact_lake

    try:
        lookback = float(args.lookback_seconds)
    except (TypeError, ValueError):
        lookback = -1.0
    if not lookback >= 0:
        raise ConfigError(
            f"--lookback-seconds (CDC_LOOKBACK_SECONDS): expected seconds >= 0, got {args.lookback_seconds!r}"
        )
    interval = _positive(args.interval, "--interval (CDC_INTERVAL)") if args.interval else None
    tables = TableFilter(include=TableFilter.parse_patterns(args.tables, "--tables (CDC_TABLES)"))
    if args.athena:
        from .compact_athena import AthenaSettings, compact_athena

        run: Callable[[], list[Outcome]] = functools.partial(
            compact_athena,
            AthenaSettings(
                lake=args.lake_dir or "",
                workgroup=args.workgroup,
                output=args.output or "",
                tables=tables,
                lookback_seconds=lookback,
                rebuild=args.rebuild,
                maintenance=args.maintenance,
                endpoint_url=args.endpoint_url,
                region=args.region,
            ),
        )
        ddl: Callable[[], list[str]] = list
    else:
        from .table_ddl import apply_table_ddl

        lake_dir = _lake_dir(args)
        run = functools.partial(compact_lake, CompactSettings(lake_dir, tables, lookback, args.rebuild))
        # TRUNCATE/DROP/RENAME at the source (DDL events): after the merges (docs/lake.md, "Schema changes")
        ddl = functools.partial(apply_table_ddl, lake_dir, tables)
    stop = _stop_flag()
    failed = False
    while True:
        outcomes = run()
        for outcome in outcomes:
            print(outcome.line(), flush=True)
        for line in ddl():
            print(line, flush=True)
        failed = any(outcome.status == "failed" for outcome in outcomes)
        if interval is None or stop.wait(interval):
            break
    return 1 if failed else 0


def _stop_flag() -> threading.Event:
    stop = threading.Event()

    def request(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request)
    return stop


def command_load_export(args: argparse.Namespace) -> int:
    from cdc_streamer.cli import optional_mysql_url
    from cdc_streamer.position import BinlogPosition
    from cdc_streamer.settings import TableFilter

    if not args.lake_dir:
        raise ConfigError("--lake-dir (CDC_LAKE_DIR) is required")
    tables = TableFilter(include=TableFilter.parse_patterns(args.tables, "--tables (CDC_TABLES)"))
    position = BinlogPosition.parse(args.position, flag="--position (CDC_POSITION)") if args.position else None
    mysql_url = optional_mysql_url(args)
    if args.athena:
        from .load_athena import AthenaLoadSettings, load_export_athena

        athena = AthenaLoadSettings(
            export=args.export or "",
            lake=args.lake_dir,
            workgroup=args.workgroup,
            output=args.output or "",
            tables=tables,
            position=position,
            mysql_url=mysql_url,
            endpoint_url=args.endpoint_url,
            region=args.region,
        )
        for loaded_on_athena in load_export_athena(athena):
            print(loaded_on_athena.line(), flush=True)
        return 0
    from .load_export import LoadSettings, load_export

    if args.lake_dir.startswith("s3://"):
        raise ConfigError(
            "--lake-dir (CDC_LAKE_DIR): without --athena load-export fills the local lake: give a directory, or add "
            "--athena (CDC_ATHENA) to load an s3:// lake with Athena"
        )
    lake = Path(args.lake_dir)
    if lake.exists() and not lake.is_dir():
        raise ConfigError(f"--lake-dir (CDC_LAKE_DIR): {lake} is not a directory")
    settings = LoadSettings(
        export=args.export or "",
        lake_dir=lake,
        tables=tables,
        position=position,
        mysql_url=mysql_url,
        endpoint_url=args.endpoint_url,
        region=args.region,
    )
    for loaded in load_export(settings):
        print(loaded.line(), flush=True)
    return 0


def command_query(args: argparse.Namespace) -> int:
    from .query import DIALECTS, FORMATS, render, run_query

    if args.format not in FORMATS:
        raise ConfigError(f"--format (CDC_FORMAT): expected one of {', '.join(FORMATS)}, got {args.format!r}")
    if args.dialect not in DIALECTS:
        raise ConfigError(f"--dialect (CDC_DIALECT): expected one of {', '.join(DIALECTS)}, got {args.dialect!r}")
    names, rows = run_query(_lake_dir(args), args.sql, args.dialect)
    sys.stdout.write(render(names, rows, args.format))
    return 0


def _command_verify(args: argparse.Namespace) -> int:
    from .verify import command_verify

    return command_verify(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "deliver": command_deliver,
    "compact": command_compact,
    "load-export": command_load_export,
    "query": command_query,
    "verify": _command_verify,
}


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(PROG, build_parser, COMMANDS, argv, lambda args: configure_logging("info"))


def entry_point() -> NoReturn:
    raise SystemExit(main())
