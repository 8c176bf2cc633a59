"""Lambda entry points of the streamer package (the container image's `lambda` target).

`record_position` is the initial load's first step: before the Aurora export starts, store the source's current
binlog position as the streamer's checkpoint. The export then holds every change committed before it, the
streamer starts from this earlier position, and the latest-wins merge absorbs the overlap (docs/lake.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from .checkpoint import Checkpoint, open_store
from .errors import ConfigError, SourceUnusable
from .settings import MySQLUrl
from .source import Source

log = logging.getLogger(__name__)


def source_url(environ: Mapping[str, str]) -> MySQLUrl:
    """CDC_MYSQL_URL, with the credentials of CDC_MYSQL_SECRET_ARN when it is set."""
    arn = environ.get("CDC_MYSQL_SECRET_ARN")
    if not arn:
        return MySQLUrl.parse(environ.get("CDC_MYSQL_URL"), flag="CDC_MYSQL_URL")
    from .mysql_secret import fetch_secret, resolve_mysql_url

    url = resolve_mysql_url(environ.get("CDC_MYSQL_URL"), fetch_secret(arn))
    return MySQLUrl.parse(url, flag="CDC_MYSQL_URL with CDC_MYSQL_SECRET_ARN")


def record_current_position(url: MySQLUrl, store_spec: str) -> Checkpoint:
    """Save the server's current binlog position (and GTID state at it) as the checkpoint in `store_spec`."""
    if store_spec in ("", "none"):
        raise ConfigError("CDC_POSITION_STORE: record_position needs a checkpoint store (dynamodb:TABLE or file:PATH)")
    store = open_store(store_spec)
    with Source(url) as source:
        position = source.current_position()
        if position is None:
            raise SourceUnusable("binary logging is off: set binlog_format=ROW in the cluster parameter group")
        checkpoint = Checkpoint(position, source.gtid_at(position), source.server_id())
    store.save(checkpoint)
    return checkpoint


def record_position(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Step Functions task: `{}` in; `{"position": "file:pos", "gtid": ..., "server_id": ...}` out."""
    _configure_logging()
    checkpoint = record_current_position(source_url(os.environ), os.environ.get("CDC_POSITION_STORE", ""))
    log.info("recorded the source's binlog position %s as the streamer's start", checkpoint.position)
    return {"position": str(checkpoint.position), "gtid": checkpoint.gtid, "server_id": checkpoint.server_id}


def _configure_logging() -> None:
    from .logs import configure_lambda_logging

    configure_lambda_logging(os.environ.get("CDC_LOG_LEVEL", "info"))
