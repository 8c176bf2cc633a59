"""`cdc-lake deliver`. Every flag can also come from a `CDC_*` environment variable.

Exit codes as for cdc-streamer: 0 ok, 1 runtime failure, 2 usage/config. One line on stderr per failure.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from cdc_streamer.cli import Parser, configure_logging, option, run_command, switch
from cdc_streamer.errors import ConfigError

from .deliver import Delivery, DeliverySettings, Source, load_cursor
from .storage import LakeStore

PROG = "cdc-lake"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="The lake: deliver change events as Parquet.")
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
    return parser


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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"deliver": command_deliver}


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(PROG, build_parser(), COMMANDS, argv, lambda args: configure_logging("info"))


def entry_point() -> NoReturn:
    raise SystemExit(main())
