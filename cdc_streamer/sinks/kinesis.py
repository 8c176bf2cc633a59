"""`--sink kinesis`: PutRecords without losing or reordering a row.

Rules this sink keeps:
- A transaction is acknowledged only when Kinesis accepted every one of its records.
- One PutRecords call carries at most one record per partition key, so a partial failure can never let a later
  change of a key overtake an earlier one: a key's next record goes out only after the previous was accepted.
  (With `--aggregate`, that one record is a KPL aggregate of the key's pending changes, in order.)
- A failed record (a failed entry, or every record of a failed call) waits before its next attempt; only the
  failed keys wait, the others keep going. Two kinds of failure, two rules (`backoff`):
  throttling (the stream asking for less) is back-pressure: waits of 0.1 s doubling to 1 s, for as long as it
  lasts, up to `THROTTLED_SECONDS` (5 minutes) after the record's first failure;
  errors (InternalFailure, ServiceUnavailable, a dropped or timed-out connection) count toward
  `--max-send-attempts`: waits of 0.1 s doubling to 20 s, so the default 20 attempts span 2 to 4 minutes.
  Past either limit the streamer stops (exit 1) naming the table and position, and the checkpoint stays before the
  unsent row. `--on-send-failure skip` drops such rows instead, counted and logged.
- Events over the record limit: `--oversize fail` (default), `skip`, or `claim-check:s3://bucket/prefix`
  (the event goes to S3 and a small pointer event is sent in its place).
- `send()` never lets more than one batch of records (plus the transaction being added) wait: it sends as it goes,
  and waits out the backoff itself when every waiting key is backing off, so a slow or throttled stream slows the
  reader instead of filling memory.

The client is anything with boto3's `put_records` signature: a boto3 Kinesis client in production, a fault
injector or an in-memory client in tests and benchmarks. Errors:

    Exception raised by put_records
    ├── throttling (THROTTLING)                      -> TransientCallError(throttled): each record throttled once
    ├── service error, dropped or timed-out connection -> TransientCallError: each record failed once
    └── anything else (stream deleted, access revoked) -> RuntimeFailure: exit 1 at once
    ErrorCode on an entry: ProvisionedThroughputExceededException (throttled) or InternalFailure (failed once)
    a record past its limit -> RuntimeFailure (exit 1), or skipped with --on-send-failure skip
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

BACKOFF_FIRST = 0.1  # seconds: the longest wait after a record's first failure
THROTTLED_CAP = 1.0  # seconds: the longest wait after throttling (a shard's limits are per second)
ERROR_CAP = 20.0  # seconds: the longest wait after an error (the AWS SDKs' own cap)
THROTTLED_SECONDS = 300.0  # a record still throttled this long after its first failure stops the streamer
WARN_AFTER_SECONDS = 30.0  # a record failing this long is logged (at most once a minute)

THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ThrottlingException",
        "KMSThrottlingException",
    }
)

RETRYABLE_CALL_ERRORS = THROTTLING | frozenset(
    {
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
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

    def __init__(self, message: str, *, throttled: bool) -> None:
        super().__init__(message)
        self.throttled = throttled


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
    attempts: int = 0  # failed attempts that count toward --max-send-attempts (errors, not throttling)
    throttles: int = 0
    failing_since: float | None = None  # the sink's clock at the first failure
    not_before: float = 0.0  # the sink's clock: no attempt before this (backoff after a failure)
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._key: PartitionKey = partitioner(settings.partition_by)
        self._objects = object_store
        self._sleep = sleep
        self._clock = clock
        self._waited_until = 0.0
        self._backoff_ends = 0.0  # no key backs off once the clock passes this
        self._quiet_until = 0.0  # no "still failing" warning before this
        self._pending: list[PendingRecord] = []
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
        """One PutRecords call of the keys not backing off; when every waiting key is backing off, wait instead."""
        now, ready = self._now(), self._pending
        if now < self._backoff_ends:  # some key may still be backing off
            waits = {record.key: record.not_before for record in self._pending if record.not_before > now}
            ready = [record for record in self._pending if record.key not in waits] if waits else self._pending
            if not ready:
                self._wait(min(waits.values()) - now)
                return
        entries = self._next_entries(ready)
        try:
            response = self._put(entries)
        except TransientCallError as error:
            self.stats.failed_calls += 1
            self._record_failures([(entry, str(error), error.throttled) for entry in entries])
            return
        failures = []
        for entry, result in zip(entries, response["Records"], strict=True):
            if code := result.get("ErrorCode"):
                failures.append((entry, f"{code}: {result.get('ErrorMessage', '')}", code in THROTTLING))
            else:
                self._accepted(entry.records)
        if failures:
            self._record_failures(failures)
        self._pending = [record for record in self._pending if not record.done]

    def _next_entries(self, ready: list[PendingRecord]) -> list[_Entry]:
        """The oldest ready record of each key, up to the call's record and byte limits, in binlog order."""
        if self._settings.aggregate:
            from .kinesis_aggregate import aggregate_entries

            return aggregate_entries(ready, self._settings, _Entry)
        entries: list[_Entry] = []
        keys: set[str] = set()
        size = 0
        for record in ready:
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
                message = f"{code or type(error).__name__}: {error}"
                raise TransientCallError(message, throttled=code in THROTTLING) from None
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

    def _record_failures(self, failures: list[tuple[_Entry, str, bool]]) -> None:
        """Each failed entry's records failed once more (throttled, or an error); the entry's key waits."""
        now, jitter = self._now(), random.uniform(0.5, 1.0)  # one draw per call: its failed keys retry together
        for entry, error, throttled in failures:
            for record in entry.records:
                record.last_error = error
                record.failing_since = now if record.failing_since is None else record.failing_since
                self.stats.retried_records += 1
                if throttled:
                    record.throttles += 1
                    if now - record.failing_since >= THROTTLED_SECONDS:
                        seconds = now - record.failing_since
                        self._give_up(record, f"for {seconds:.0f} s (throttled: the stream needs more capacity)")
                else:
                    record.attempts += 1
                    if record.attempts >= self._settings.max_send_attempts:
                        self._give_up(record, f"{record.attempts} times")
            if throttled:
                wait = backoff(max(record.throttles for record in entry.records), jitter, THROTTLED_CAP)
            else:
                wait = backoff(max(record.attempts for record in entry.records), jitter, ERROR_CAP)
            for record in entry.records:
                record.not_before = now + wait
            self._backoff_ends = max(self._backoff_ends, now + wait)
        self._pending = [record for record in self._pending if not record.done]
        self._warn_if_stuck(now)

    def _warn_if_stuck(self, now: float) -> None:
        """Once a minute at most, while some record has been failing for more than WARN_AFTER_SECONDS."""
        if now < self._quiet_until:
            return
        since, oldest = min(
            ((record.failing_since, record) for record in self._pending if record.failing_since is not None),
            default=(now, None),
            key=lambda pair: pair[0],
        )
        seconds = now - since
        if oldest is None or seconds < WARN_AFTER_SECONDS:
            return
        self._quiet_until = now + 60.0
        log.warning(
            "Kinesis has refused an event of %s at %s for %.0f s (%d throttled, %d failed attempts; last: %s); "
            "still retrying (throttling for up to %.0f s, errors up to --max-send-attempts %d); %d records waiting",
            oldest.table,
            oldest.position,
            seconds,
            oldest.throttles,
            oldest.attempts,
            oldest.last_error,
            THROTTLED_SECONDS,
            self._settings.max_send_attempts,
            len(self._pending),
        )

    def _now(self) -> float:
        """The clock, never behind the end of the last wait: with an injected sleep that returns at once (tests,
        benchmarks) a backoff is skipped, never spun on."""
        return max(self._clock(), self._waited_until)

    def _wait(self, seconds: float) -> None:
        until = self._now() + seconds
        self._sleep(seconds)
        self._waited_until = until

    def _give_up(self, record: PendingRecord, how_long: str) -> None:
        """Out of attempts or time: stop with one line (default), or skip the row when the user opted in."""
        if self._settings.on_send_failure != "skip":
            self._failure = (
                f"Kinesis rejected an event of {record.table} at {record.position} {how_long} "
                f"(last: {record.last_error}); the checkpoint stays before it"
            )
            raise RuntimeFailure(self._failure)
        self.stats.skipped_failed += 1
        log.error(
            "skipped an event of %s at %s: Kinesis rejected it %s (%s)",
            record.table,
            record.position,
            how_long,
            record.last_error,
        )
        self._accepted([record], delivered=False)

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise RuntimeFailure(self._failure)


def backoff(failures: int, jitter: float, cap: float) -> float:
    """Seconds before the next attempt of a record that failed `failures` times: 0.1 s doubling to `cap`, times a
    jitter drawn in [0.5, 1] (spread, yet never short). With the error cap (20 s) the default 20 attempts span at
    least 123 s and at most 246 s; with the throttling cap (1 s) a record is retried about every second."""
    return min(cap, BACKOFF_FIRST * 2.0 ** min(failures - 1, 16)) * jitter


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
