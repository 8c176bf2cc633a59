"""`--sink kinesis`: PutRecords without losing or reordering a row.

Rules this sink keeps:
- A transaction is acknowledged only when Kinesis accepted every one of its records.
- One PutRecords call carries at most one record per partition key, so a partial failure can never let a later
  change of a key overtake an earlier one: a key's next record goes out only after the previous was accepted.
  (With `--aggregate`, that one record is a KPL aggregate of the key's pending changes, in order.)
- Failed entries are resent, in their original order, with exponential backoff and full jitter, up to
  `--max-send-attempts`; then the streamer stops (exit 1) naming the table and position, and the checkpoint
  stays before the unsent row. `--on-send-failure skip` drops such rows instead, counted and logged.
- Events over the record limit: `--oversize fail` (default), `skip`, or `claim-check:s3://bucket/prefix`
  (the event goes to S3 and a small pointer event is sent in its place).
- `send()` never lets more than one batch of records wait: it sends as it goes, so a slow stream slows the
  reader instead of filling memory.

The client is anything with boto3's `put_records` signature: a boto3 Kinesis client in production, a fault
injector or an in-memory client in tests and benchmarks.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..encoding import encode_event, encode_value, event_fields
from ..errors import RuntimeFailure
from ..event import ChangeEvent, Event, SchemaEvent
from ..partition import PartitionKey, partitioner
from ..settings import KinesisSettings, StreamerSettings
from . import Ack

log = logging.getLogger(__name__)

RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class KinesisClient(Protocol):
    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]: ...


class ObjectStore(Protocol):
    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


class TransientCallError(Exception):
    """A whole PutRecords call failed in a way worth retrying (throttling, a dropped connection)."""


@dataclass(slots=True)
class _Transaction:
    remaining: int
    ack: Ack


@dataclass(slots=True)
class PendingRecord:
    data: bytes
    key: str
    txn: _Transaction
    event: Event  # for messages only: where the row came from
    attempts: int = 0
    last_error: str = ""
    done: bool = False

    @property
    def table(self) -> str:
        return _table(self.event)

    @property
    def position(self) -> str:
        return _position(self.event)


@dataclass(slots=True)
class SinkStats:
    records: int = 0
    calls: int = 0
    retried_records: int = 0
    failed_calls: int = 0
    skipped_failed: int = 0
    skipped_oversize: int = 0
    claim_checked: int = 0
    bytes: int = 0


@dataclass(slots=True)
class _Entry:
    """One entry of a PutRecords call: one record, or a KPL aggregate of one key's records."""

    key: str
    data: bytes
    records: list[PendingRecord] = field(default_factory=list)


class KinesisSink:
    def __init__(
        self,
        client: KinesisClient,
        settings: KinesisSettings,
        *,
        object_store: ObjectStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._settings = settings
        self._key: PartitionKey = partitioner(settings.partition_by)
        self._objects = object_store
        self._sleep = sleep
        self._pending: list[PendingRecord] = []
        self._failed_rounds = 0
        self._failure: str | None = None
        self.stats = SinkStats()
        if settings.partition_by in ("table", "database", "transaction_id") and not settings.aggregate:
            log.warning(
                "--partition-by %s without --aggregate sends one record per key per PutRecords call; "
                "add --aggregate for throughput",
                settings.partition_by,
            )

    @classmethod
    def from_settings(cls, settings: StreamerSettings) -> KinesisSink:
        from .kinesis_client import open_clients  # boto3 only when this sink is chosen

        if settings.kinesis is None:
            raise RuntimeFailure("--sink kinesis needs Kinesis settings")
        client, objects = open_clients(settings.kinesis)
        return cls(client, settings.kinesis, object_store=objects)

    # -- Sink protocol -------------------------------------------------------------------------------------------

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self._check_usable()
        txn = _Transaction(0, ack)
        records = [record for event in events if (record := self._record(event, txn)) is not None]
        txn.remaining = len(records)
        if not records:
            ack()
            return
        self._pending.extend(records)
        while len(self._pending) >= self._settings.batch_records:
            self._send_round()

    def flush(self) -> None:
        self._check_usable()
        while self._pending:
            self._send_round()

    def close(self) -> None:
        pass

    # -- building records ----------------------------------------------------------------------------------------

    def _record(self, event: Event, txn: _Transaction) -> PendingRecord | None:
        data = encode_event(event).encode("utf-8")
        key = self._key(event)
        if len(data) + len(key.encode("utf-8")) > self._settings.record_limit:
            data = self._oversize(event, data)
            if not data:
                return None
        return PendingRecord(data, key, txn, event)

    def _oversize(self, event: Event, data: bytes) -> bytes:
        table, position = _table(event), _position(event)
        limit = self._settings.record_limit
        uri = self._settings.claim_check_uri
        if uri is not None and self._objects is not None:
            self.stats.claim_checked += 1
            return self._claim_check(event, data, uri)
        if self._settings.oversize == "skip":
            self.stats.skipped_oversize += 1
            log.warning(
                "skipped an event of %s at %s: %d bytes, over the %d-byte record limit",
                table,
                position,
                len(data),
                limit,
            )
            return b""
        self._failure = (
            f"an event of {table} at {position} is {len(data)} bytes, over the {limit}-byte Kinesis record limit: "
            "use --oversize skip or --oversize claim-check:s3://bucket/prefix, or raise --record-limit"
        )
        raise RuntimeFailure(self._failure)

    def _claim_check(self, event: Event, data: bytes, uri: str) -> bytes:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        key = claim_check_key(prefix, event)
        assert self._objects is not None
        self._objects.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        return pointer_event(event, f"s3://{bucket}/{key}", len(data)).encode("utf-8")

    # -- sending -------------------------------------------------------------------------------------------------

    def _send_round(self) -> None:
        entries = self._next_entries()
        try:
            response = self._put(entries)
        except TransientCallError as error:
            self.stats.failed_calls += 1
            self._record_failures([(entry, str(error)) for entry in entries])
            return
        failures = []
        for entry, result in zip(entries, response["Records"], strict=True):
            if result.get("ErrorCode"):
                failures.append((entry, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
            else:
                self._accepted(entry.records)
        if failures:
            self._record_failures(failures)
        else:
            self._failed_rounds = 0
        self._pending = [record for record in self._pending if not record.done]

    def _next_entries(self) -> list[_Entry]:
        """The oldest pending record of each key, up to the call's record and byte limits, in binlog order."""
        if self._settings.aggregate:
            from .kinesis_aggregate import aggregate_entries

            return aggregate_entries(self._pending, self._settings, _Entry)
        entries: list[_Entry] = []
        keys: set[str] = set()
        size = 0
        for record in self._pending:
            if record.key in keys:
                continue
            keys.add(record.key)  # a later record of this key must wait even if this one does not fit
            record_size = len(record.data) + len(record.key.encode("utf-8"))
            if entries and size + record_size > self._settings.batch_bytes:
                continue
            entries.append(_Entry(record.key, record.data, [record]))
            size += record_size
            if len(entries) == self._settings.batch_records:
                break
        return entries

    def _put(self, entries: list[_Entry]) -> dict[str, Any]:
        self.stats.calls += 1
        request = [{"Data": entry.data, "PartitionKey": entry.key} for entry in entries]
        try:
            response: dict[str, Any] = self._client.put_records(StreamName=self._settings.stream_name, Records=request)
        except Exception as error:  # noqa: BLE001 - classified below: retry, or stop with one line
            code = _error_code(error)
            if code in RETRYABLE_CALL_ERRORS or _is_connection_error(error):
                raise TransientCallError(f"{code or type(error).__name__}: {error}") from None
            self._failure = (
                f"Kinesis PutRecords to {self._settings.stream_name!r} failed: {code or type(error).__name__}: {error}"
            )
            raise RuntimeFailure(self._failure) from None
        return response

    def _accepted(self, records: list[PendingRecord], *, delivered: bool = True) -> None:
        for record in records:
            record.done = True
            if delivered:
                self.stats.records += 1
                self.stats.bytes += len(record.data)
            record.txn.remaining -= 1
            if record.txn.remaining == 0:
                record.txn.ack()

    def _record_failures(self, failures: list[tuple[_Entry, str]]) -> None:
        for entry, error in failures:
            for record in entry.records:
                record.attempts += 1
                record.last_error = error
                self.stats.retried_records += 1
                if record.attempts >= self._settings.max_send_attempts:
                    self._give_up(record)
        self._pending = [record for record in self._pending if not record.done]
        self._failed_rounds += 1
        self._sleep(random.uniform(0, min(5.0, 0.05 * 2 ** min(self._failed_rounds, 10))))

    def _give_up(self, record: PendingRecord) -> None:
        """Out of attempts: stop with one line (default), or skip the row when the user opted in."""
        if self._settings.on_send_failure != "skip":
            self._failure = (
                f"Kinesis rejected an event of {record.table} at {record.position} {record.attempts} times "
                f"(last: {record.last_error}); the checkpoint stays before it"
            )
            raise RuntimeFailure(self._failure)
        self.stats.skipped_failed += 1
        log.error(
            "skipped an event of %s at %s after %d failed attempts (%s)",
            record.table,
            record.position,
            record.attempts,
            record.last_error,
        )
        self._accepted([record], delivered=False)

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise RuntimeFailure(self._failure)


def _table(event: Event) -> str:
    return f"{event.database}.{event.table}"


def _position(event: Event) -> str:
    return f"{event.position} xoffset {event.xoffset}"


def claim_check_key(prefix: str, event: Event) -> str:
    """Deterministic, so a resent event overwrites its own object. A schema event shares its xoffset with the row
    event after it, so its name says `schema`."""
    kind = "-schema" if isinstance(event, SchemaEvent) else ""
    name = f"{event.database}/{event.table}/{event.position.file}/{event.position.offset}-{event.xoffset}{kind}.json"
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def pointer_event(event: Event, uri: str, size: int) -> str:
    """The event without its row images (or statement, or columns), plus where the whole event is (resolved by the
    Firehose transform)."""
    fields = event_fields(event)
    for heavy in ("data", "old", "query", "sql", "columns"):
        fields.pop(heavy, None)
    fields["claim_check"] = {"uri": uri, "bytes": size}
    if isinstance(event, ChangeEvent):
        fields["primary_key"] = list(event.primary_key)
    return encode_value(fields)


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _is_connection_error(error: Exception) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError"})
