"""Where things go in the lake (a local directory and an S3 prefix look the same). Pure."""

from __future__ import annotations

import datetime
import uuid

from cdc_streamer.path_names import name_from_path as partition_name
from cdc_streamer.path_names import path_value as partition_value

__all__ = ["checkpoint_path", "errors_dir", "object_name", "partition_dir", "partition_name", "partition_value"]


def partition_dir(database: str, table: str, dt: str, hour: str) -> str:
    return f"events/database={database}/table={table}/dt={dt}/hour={hour}"


def object_name(name: str, now: datetime.datetime, suffix: str = ".parquet") -> str:
    """Firehose-style: `<name>-<yyyy-MM-dd-HH-mm-ss>-<uuid>`, so objects sort by delivery time."""
    return f"{name}-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


def errors_dir(now: datetime.datetime) -> str:
    """Firehose's error prefix for records the transform rejected: `processing-failed/yyyy/MM/dd/HH`."""
    return f"errors/processing-failed/{now:%Y/%m/%d/%H}"


def checkpoint_path(name: str) -> str:
    return f"_checkpoints/deliver-{name}.json"
