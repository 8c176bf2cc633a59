"""`cdc-lake deliver`: a local Firehose. Reads change events, calls the Firehose transform's own batch function,
writes the Ok rows as Parquet under `events/...` and the rejected records under `errors/processing-failed/`,
then moves its checkpoint. Kill it anywhere: the checkpoint only moves after the files are durable, so a restart
re-delivers at most the last buffer (duplicates, which the merge removes), never less."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from .layout import checkpoint_path, errors_dir, object_name, partition_dir
from .parquet_schema import EVENT_SCHEMA
from .sources import Batch, Cursor
from .storage import LakeStore

log = logging.getLogger(__name__)

INVOCATION_RECORDS = 500  # records per transform call, like a Firehose invocation


class Source(Protocol):
    def read(self, max_bytes: int) -> Batch: ...


@dataclass
class DeliveryStats:
    records: int = 0
    rows: int = 0
    failed: int = 0
    files: int = 0


@dataclass(frozen=True)
class DeliverySettings:
    name: str = "cdc-lake-deliver"
    buffer_seconds: float = 5.0
    buffer_bytes: int = 64 * 1024 * 1024
    follow: bool = False
    poll_seconds: float = 0.5


def load_cursor(store: LakeStore, name: str) -> Cursor | None:
    data = store.read_bytes(checkpoint_path(name))
    return json.loads(data) if data else None


def save_cursor(store: LakeStore, name: str, cursor: Cursor) -> None:
    store.write_bytes(checkpoint_path(name), json.dumps(cursor).encode())


class Delivery:
    def __init__(self, source: Source, store: LakeStore, settings: DeliverySettings) -> None:
        self.source = source
        self.store = store
        self.settings = settings
        self.stats = DeliveryStats()
        self.stop_requested = False

    def run(self) -> DeliveryStats:
        """Deliver until the source is drained (or, with follow, until stopped)."""
        while not self.stop_requested:
            records, cursor, drained = self._fill_buffer()
            if records:
                self._deliver(records)
            if cursor is not None:
                save_cursor(self.store, self.settings.name, cursor)
            if drained and not self.settings.follow:
                break
            if drained:
                time.sleep(self.settings.poll_seconds)
        return self.stats

    def _fill_buffer(self) -> tuple[list[dict[str, Any]], Cursor | None, bool]:
        """Records until the buffer is full or old enough; and whether the source had nothing more."""
        records: list[dict[str, Any]] = []
        cursor: Cursor | None = None
        size = 0
        began = time.monotonic()
        while True:
            batch = self.source.read(min(8 * 1024 * 1024, self.settings.buffer_bytes - size))
            if not batch.records:
                if batch.caught_up or time.monotonic() - began >= self.settings.buffer_seconds:
                    return records, cursor, batch.caught_up
                time.sleep(0.2)  # an empty page of a shard that has more: Kinesis allows 5 reads/s per shard
                continue
            records.extend(batch.records)
            cursor = batch.cursor
            size += batch.size
            full = size >= self.settings.buffer_bytes
            if full or time.monotonic() - began >= self.settings.buffer_seconds or self.stop_requested:
                return records, cursor, False

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        from firehose_transform.transform import process_batch  # the Lambda's own core

        now = datetime.datetime.now(datetime.UTC)
        partitions: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        failures: list[dict[str, Any]] = []
        for start in range(0, len(records), INVOCATION_RECORDS):
            chunk = records[start : start + INVOCATION_RECORDS]
            outputs, reasons = process_batch(chunk)
            originals = {record["recordId"]: record for record in chunk}
            for output in outputs:
                if output["result"] == "Ok":
                    keys = output["metadata"]["partitionKeys"]
                    key = (keys["database"], keys["table"], keys["dt"], keys["hour"])
                    for line in base64.b64decode(output["data"]).splitlines():
                        if line.strip():
                            partitions[key].append(json.loads(line))
                elif output["result"] == "ProcessingFailed":
                    failures.append(
                        error_record(originals[output["recordId"]], reasons.get(output["recordId"], ""), now)
                    )
        for (database, table, dt, hour), rows in sorted(partitions.items()):
            name = object_name(self.settings.name, now)
            self.store.write_parquet(f"{partition_dir(database, table, dt, hour)}/{name}", to_table(rows))
            self.stats.files += 1
            self.stats.rows += len(rows)
        if failures:
            body = "".join(json.dumps(failure) + "\n" for failure in failures).encode()
            self.store.write_bytes(f"{errors_dir(now)}/{object_name(self.settings.name, now, '')}", body)
            self.stats.failed += len(failures)
            log.warning("%d records failed the transform; see %s", len(failures), self.store.path(errors_dir(now)))
        self.stats.records += len(records)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def error_record(record: dict[str, Any], reason: str, now: datetime.datetime) -> dict[str, Any]:
    """Firehose's processing-failed record shape, with the transform's reason as the message."""
    millis = int(now.timestamp() * 1000)
    return {
        "attemptsMade": 1,
        "arrivalTimestamp": record.get("approximateArrivalTimestamp", millis),
        "errorCode": "Lambda.ProcessingFailed",
        "errorMessage": reason or "the transform marked the record ProcessingFailed",
        "attemptEndingTimestamp": millis,
        "rawData": record["data"],
        "lambdaArn": "local:firehose_transform.handler",
    }
