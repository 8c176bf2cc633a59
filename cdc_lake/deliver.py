"""`cdc-lake deliver`: a local Firehose. Reads change events, calls the Firehose transform's own batch function,
writes the Ok rows as Parquet under `events/...` and the rejected records under `errors/processing-failed/`,
then moves its checkpoint. Kill it anywhere: the checkpoint only moves after the files are durable, so a restart
re-delivers at most the last buffer (duplicates, which the merge removes), never less.

The delivery itself is `deliver_payloads` (raw events in, durable files and stats out): `cdc-lake deliver` calls it
with what it read, the streamer's `--sink lake` (cdc_streamer/sinks/lake.py) with the events it streams."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from .layout import checkpoint_path, errors_dir, object_name, partition_dir
from .parquet_schema import EVENT_SCHEMA
from .sources import Batch, Cursor
from .storage import LakeStore

log = logging.getLogger(__name__)

INVOCATION_RECORDS = 500  # records per transform call, like a Firehose invocation
ARROW_BATCH = 10_000  # flattened rows of one partition converted to Arrow at a time (PartitionRows)
INVOCATION_BYTES = 1024 * 1024  # event bytes per transform call: Firehose's default Lambda buffer size (1 MB)


class Source(Protocol):
    def read(self, max_bytes: int) -> Batch: ...


@dataclass
class DeliveryStats:
    records: int = 0
    rows: int = 0
    failed: int = 0
    files: int = 0

    def add(self, other: DeliveryStats) -> None:
        self.records += other.records
        self.rows += other.rows
        self.failed += other.failed
        self.files += other.files


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
        payloads = [base64.b64decode(record["data"]) for record in records]
        arrivals = [record.get("approximateArrivalTimestamp") for record in records]
        stats = deliver_payloads(self.store, payloads, self.settings.name, arrivals=arrivals)
        self.stats.add(stats)


def deliver_payloads(
    store: LakeStore,
    payloads: Sequence[bytes],
    name: str,
    *,
    arrivals: Sequence[int | None] | None = None,
    now: datetime.datetime | None = None,
) -> DeliveryStats:
    """Deliver raw change events (one JSON event each, as the streamer encodes them) into the lake; return once
    every one of them is durable, as a row under `events/` or an error record under `errors/processing-failed/`.

    The events go through the Firehose transform's own batch function in invocations of at most
    INVOCATION_RECORDS records and INVOCATION_BYTES bytes (one record always goes, whatever its size). The Ok rows
    become one snappy Parquet object per partition, the ProcessingFailed records one JSON-lines object of Firehose
    error records; each write is atomic (LakeStore). `cdc-lake deliver` and the streamer's `--sink lake` both
    deliver through this function. `arrivals` (epoch milliseconds per payload, None for "now") go into the error
    records."""
    from firehose_transform.transform import process_batch  # the Lambda's own core

    now = now or datetime.datetime.now(datetime.UTC)
    now_ms = int(now.timestamp() * 1000)
    stats = DeliveryStats(records=len(payloads))
    partitions: dict[tuple[str, str, str, str], PartitionRows] = defaultdict(PartitionRows)
    failures: list[dict[str, Any]] = []
    for chunk in invocations(payloads):
        records: list[dict[str, Any]] = [
            {
                "recordId": str(index),
                "approximateArrivalTimestamp": (arrivals[index] if arrivals is not None else None) or now_ms,
                "data": base64.b64encode(payloads[index]).decode("ascii"),
            }
            for index in chunk
        ]
        outputs, reasons = process_batch(records)
        for record, output in zip(records, outputs, strict=True):
            if output["result"] == "Ok":
                keys = output["metadata"]["partitionKeys"]
                key = (keys["database"], keys["table"], keys["dt"], keys["hour"])
                for line in base64.b64decode(output["data"]).splitlines():
                    if line.strip():
                        partitions[key].add(json.loads(line))
            else:  # ProcessingFailed: the transform never returns Dropped
                failures.append(error_record(record, reasons.get(record["recordId"], ""), now))
    for (database, table, dt, hour), rows in sorted(partitions.items()):
        store.write_parquet(f"{partition_dir(database, table, dt, hour)}/{object_name(name, now)}", rows.table())
        stats.files += 1
        stats.rows += len(rows)
    if failures:
        body = "".join(json.dumps(failure) + "\n" for failure in failures).encode()
        store.write_bytes(f"{errors_dir(now)}/{object_name(name, now, '')}", body)
        stats.failed += len(failures)
        log.warning("%d records failed the transform; see %s", len(failures), store.path(errors_dir(now)))
    return stats


def invocations(payloads: Sequence[bytes]) -> Iterator[range]:
    """Index ranges of Firehose-sized transform invocations: at most INVOCATION_RECORDS records and, but for a
    single record, INVOCATION_BYTES bytes, so the transform's response stays under Lambda's 6 MB limit."""
    start = size = 0
    for index, payload in enumerate(payloads):
        cost = response_cost(payload)
        if index > start and (index - start == INVOCATION_RECORDS or size + cost > INVOCATION_BYTES):
            yield range(start, index)
            start, size = index, 0
        size += cost
    if start < len(payloads):
        yield range(start, len(payloads))


def response_cost(payload: bytes) -> int:
    """What a record adds to the transform's response: its size, but a claim-check pointer costs the event it
    stands for (the transform fetches it whole), so many small pointers cannot overflow one response."""
    if b'"claim_check"' not in payload:
        return len(payload)
    try:
        return max(len(payload), int(json.loads(payload)["claim_check"]["bytes"]))
    except (ValueError, KeyError, TypeError):
        return len(payload)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


class PartitionRows:
    """One partition's flattened rows of a delivery, turned into Arrow every ARROW_BATCH rows: a row as a Python dict
    takes several times its Arrow size, and a 64 MiB buffer of events held as dicts took ~900 MB."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._tables: list[pa.Table] = []
        self._count = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self._count += 1
        if len(self._rows) >= ARROW_BATCH:
            self._tables.append(to_table(self._rows))
            self._rows = []

    def __len__(self) -> int:
        return self._count

    def table(self) -> pa.Table:
        tables = [*self._tables, to_table(self._rows)] if self._rows or not self._tables else self._tables
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


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
