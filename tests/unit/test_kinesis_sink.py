"""The Kinesis sink's logic without a network: partition keys, settings, batching, retries and their timing (on a
fake clock), acks, oversize events and KPL aggregation, against MemoryKinesis, small hand-written clients and the
fault injector of `tests/kinesis_faults.py`."""

from __future__ import annotations

import base64
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from aws_kinesis_agg import MAGIC
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from cdc_streamer.encoding import encode_event
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.event import ChangeEvent, ColumnDefinition, DdlEvent, Event, Operation, SchemaEvent
from cdc_streamer.partition import MAX_KEY_LENGTH, bounded, partitioner
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MIB, KinesisSettings
from cdc_streamer.sinks.kinesis import (
    ERROR_CAP,
    THROTTLED_CAP,
    THROTTLED_SECONDS,
    KinesisSink,
    backoff,
    claim_check_key,
    pointer_event,
)
from cdc_streamer.sinks.kinesis_memory import MemoryKinesis

from ..kinesis_faults import ENTRY_ERRORS, FaultRates, Killed, KinesisFaults

# -- building events -------------------------------------------------------------------------------------------


def position(offset: int) -> BinlogPosition:
    return BinlogPosition("binlog.000001", offset)


def row(
    key: Any,
    offset: int = 4,
    *,
    xoffset: int = 0,
    table: str = "t",
    pad: int = 0,
    data: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    keyless: bool = False,
    op: Operation = Operation.INSERT,
) -> ChangeEvent:
    return ChangeEvent(
        database="db",
        table=table,
        type=op,
        ts=1700000000,
        xid=offset,
        xoffset=xoffset,
        commit=True,
        position=position(offset),
        gtid=None,
        server_id=1,
        thread_id=7,
        primary_key=() if keyless else (key,),
        primary_key_columns=() if keyless else ("id",),
        data=data if data is not None else {"id": key, "at": f"{offset}/{xoffset}", "pad": "x" * pad},
        old=old,
    )


def ddl(table: str | None = "t", offset: int = 4) -> DdlEvent:
    return DdlEvent("db", table, "table-alter", 1700000000, position(offset), None, 1, None, "ALTER TABLE t ADD c INT")


def schema(table: str = "t", offset: int = 4, xoffset: int = 0) -> SchemaEvent:
    columns = (ColumnDefinition("id", "int", unsigned=False), ColumnDefinition("note", "text"))
    return SchemaEvent("db", table, 1700000000, xoffset, position(offset), None, 1, None, columns, ("id",))


def payload(event: Event) -> bytes:
    return encode_event(event).encode("utf-8")


def pk_key(key: Any) -> str:
    return partitioner("primary_key")(row(key))


def sized_row(key: int, size: int, offset: int = 4) -> ChangeEvent:
    """A row whose payload plus partition key is exactly `size` bytes."""
    base = len(payload(row(key, offset))) + len(pk_key(key))
    event = row(key, offset, pad=size - base)
    assert len(payload(event)) + len(pk_key(key)) == size
    return event


# -- clients ---------------------------------------------------------------------------------------------------

Entry = dict[str, Any]


def user_records(key: str, data: bytes) -> list[tuple[str, bytes]]:
    """An entry as the consumer sees it: KPL aggregates split into their user records, plain records as they are."""
    record = {"SequenceNumber": "1", "PartitionKey": key, "ApproximateArrivalTimestamp": 0, "Data": data}
    out = []
    for user in iter_deaggregate_records([record], data_format="Boto3"):
        body = user["kinesis"]
        raw = base64.b64decode(body["data"]) if body.get("aggregated") else bytes(body["data"])
        out.append((str(body["partitionKey"]), raw))
    return out


class RecordingKinesis:
    """Records every call; fails the entries `fail(call_number, entry)` names an ErrorCode for, accepts the rest.

    `accepted` holds the accepted user records (aggregates split), in the order the stream got them."""

    def __init__(self, fail: Callable[[int, Entry], str | None] | None = None, max_calls: int = 20_000) -> None:
        self.calls: list[list[Entry]] = []
        self.accepted: list[tuple[str, bytes]] = []
        self.fail = fail or (lambda call, entry: None)
        self._max_calls = max_calls

    def put_records(self, *, StreamName: str, Records: list[Entry]) -> dict[str, Any]:
        if not Records:  # what boto3's parameter validation says; also ends a sink that spins on empty calls
            raise ValueError("Invalid length for parameter Records, value: 0, valid min length: 1")
        if len(self.calls) >= self._max_calls:
            raise ValueError("too many calls")
        self.calls.append([dict(entry) for entry in Records])
        results: list[dict[str, Any]] = []
        for entry in Records:
            code = self.fail(len(self.calls), entry)
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                self.accepted.extend(user_records(entry["PartitionKey"], bytes(entry["Data"])))
                results.append({"SequenceNumber": str(len(self.accepted)), "ShardId": "shardId-000000000000"})
        failed = sum(1 for result in results if "ErrorCode" in result)
        return {"FailedRecordCount": failed, "Records": results}

    def payloads(self, key: str | None = None) -> list[bytes]:
        return [data for k, data in self.accepted if key is None or k == key]

    def keys_of_call(self, number: int) -> list[str]:
        return [entry["PartitionKey"] for entry in self.calls[number]]


class RaisingKinesis:
    """Raises the given errors on its first calls, then behaves as MemoryKinesis."""

    def __init__(self, errors: Iterable[Exception]) -> None:
        self.errors = list(errors)
        self.memory = MemoryKinesis()
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[Entry]) -> dict[str, Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.memory.put_records(StreamName=StreamName, Records=Records)


class FakeObjectStore:
    def __init__(self) -> None:
        self.objects: list[dict[str, Any]] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.objects.append({"Bucket": Bucket, "Key": Key, "Body": Body, "ContentType": ContentType})


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, "PutRecords")


def sink(client: Any, **options: Any) -> KinesisSink:
    object_store = options.pop("object_store", None)
    return KinesisSink(
        client, KinesisSettings(stream_name="cdc", **options), object_store=object_store, sleep=lambda s: None
    )


class Acks:
    """Ack callbacks that count how often each transaction was acknowledged, optionally checking a condition."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)

    def __call__(self, name: str, check: Callable[[], None] | None = None) -> Callable[[], None]:
        def ack() -> None:
            if check is not None:
                check()
            self.counts[name] += 1

        return ack


# -- partition keys --------------------------------------------------------------------------------------------


def test_primary_key_partition_names_database_table_and_key_values() -> None:
    key = partitioner("primary_key")
    assert key(row(42)) == "db.t.[42]"
    composite = replace(row(1, data={"a": 1, "b": "x"}), primary_key=(1, "x"), primary_key_columns=("a", "b"))
    assert key(composite) == 'db.t.[1,"x"]'


def test_primary_key_partition_is_stable_for_one_row() -> None:
    key = partitioner("primary_key")
    insert = row(7, 4, data={"id": 7, "v": 1})
    update = row(7, 900, xoffset=3, data={"id": 7, "v": 2}, old={"v": 1}, op=Operation.UPDATE)
    delete = row(7, 1200, data={"id": 7, "v": 2}, op=Operation.DELETE)
    assert key(insert) == key(update) == key(delete)
    assert key(row(8)) != key(insert)
    assert key(row(7, table="u")) != key(insert)


def test_primary_key_partition_falls_back_to_table() -> None:
    key = partitioner("primary_key")
    assert key(row(1, keyless=True)) == "db.t"
    assert key(ddl()) == "db.t"
    assert key(ddl(table=None)) == "db"
    assert key(schema()) == "db.t"  # a schema event is keyed like a DDL event
    assert partitioner("column:id")(schema()) == "db.t"


def test_table_database_and_transaction_partitions() -> None:
    assert partitioner("table")(row(1)) == "db.t"
    assert partitioner("database")(row(1)) == "db"
    by_txn = partitioner("transaction_id")
    assert by_txn(row(1, 300, xoffset=0)) == by_txn(row(2, 300, xoffset=5)) == "binlog.000001:300"
    assert by_txn(row(1, 301)) != by_txn(row(1, 300))


def test_random_partition_is_a_fresh_hex_key() -> None:
    key = partitioner("random")
    keys = {key(row(1)) for _ in range(20)}
    assert len(keys) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


def test_column_partition_keys_by_the_column_value() -> None:
    key = partitioner("column:tenant")
    assert key(row(1, data={"id": 1, "tenant": "acme"})) == 'db.t.tenant="acme"'
    assert key(row(2, data={"id": 2, "tenant": "acme"})) == key(row(1, data={"id": 1, "tenant": "acme"}))
    assert key(row(1, data={"id": 1, "tenant": None})) == "db.t.tenant=null"


def test_column_partition_without_the_column_falls_back_to_table() -> None:
    key = partitioner("column:tenant")
    assert key(row(1)) == "db.t"
    assert key(ddl()) == "db.t"


def test_bounded_keeps_short_keys_and_digests_long_ones() -> None:
    exact = "k" * MAX_KEY_LENGTH
    assert bounded(exact) == exact
    long_key = "k" * (MAX_KEY_LENGTH + 1)
    digest = bounded(long_key)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert bounded(long_key) == digest
    assert bounded(long_key + "x") != digest


def test_long_primary_key_becomes_a_deterministic_digest() -> None:
    key = partitioner("primary_key")
    first = key(row("v" * 300))
    assert first.startswith("sha256:") and len(first) <= MAX_KEY_LENGTH
    assert key(row("v" * 300, 999, data={"id": "v" * 300, "other": 1})) == first
    assert key(row("w" * 300)) != first


@pytest.mark.parametrize("spec", ["", "bogus", "column:", "column", "Primary_Key", "columns:x"])
def test_invalid_partition_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="--partition-by"):
        partitioner(spec)


# -- settings --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"stream_name": ""}, "--stream-name"),
        ({"batch_records": 0}, "--batch-records"),
        ({"batch_records": 501}, "--batch-records"),
        ({"batch_bytes": 0}, "--batch-bytes"),
        ({"batch_bytes": 5 * MIB + 1}, "--batch-bytes"),
        ({"on_send_failure": "retry"}, "--on-send-failure"),
        ({"oversize": "drop"}, "--oversize"),
        ({"oversize": "claim-check:s3://"}, "--oversize"),
        ({"oversize": "claim-check:b/p"}, "--oversize"),
        ({"oversize": "s3://b/p"}, "--oversize"),
    ],
)
def test_invalid_kinesis_settings_name_the_flag(options: dict[str, Any], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        KinesisSettings(**{"stream_name": "cdc", **options})


def test_kinesis_settings_limits_are_inclusive() -> None:
    KinesisSettings(stream_name="cdc", batch_records=1, batch_bytes=1)
    KinesisSettings(stream_name="cdc", batch_records=500, batch_bytes=5 * MIB, on_send_failure="skip")


@pytest.mark.parametrize(
    ("oversize", "uri"),
    [
        ("fail", None),
        ("skip", None),
        ("claim-check:s3://b/p", "s3://b/p"),
        ("claim-check:s3://bucket", "s3://bucket"),
        ("claim-check:s3://bucket/a/b/", "s3://bucket/a/b/"),
    ],
)
def test_oversize_specs_and_claim_check_uri(oversize: str, uri: str | None) -> None:
    assert KinesisSettings(stream_name="cdc", oversize=oversize).claim_check_uri == uri


def test_claim_check_without_a_bucket_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--oversize"):
        KinesisSettings(stream_name="cdc", oversize="claim-check:s3:///prefix")


# -- acknowledgements ------------------------------------------------------------------------------------------


def test_empty_transaction_is_acked_at_once() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client)
    kinesis.send([], acks("empty"))
    assert acks.counts == {"empty": 1}
    kinesis.flush()
    assert acks.counts == {"empty": 1}
    assert client.calls == 0


def test_ack_waits_for_flush_and_comes_once() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client)
    kinesis.send([row(1), row(2, xoffset=1)], acks("a"))
    kinesis.send([row(3, 5)], acks("b"))
    assert acks.counts == {}
    assert client.calls == 0
    kinesis.flush()
    assert acks.counts == {"a": 1, "b": 1}
    kinesis.flush()
    assert acks.counts == {"a": 1, "b": 1}
    assert kinesis.stats.records == 3


def test_ack_comes_only_after_every_record_was_accepted() -> None:
    events = [row(1), row(2, xoffset=1), row(3, xoffset=2)]
    client = RecordingKinesis(
        fail=lambda call, entry: "InternalFailure" if call <= 2 and b'"id":2' in entry["Data"] else None
    )
    acks = Acks()

    def all_accepted() -> None:
        assert sorted(client.payloads()) == sorted(payload(e) for e in events)

    kinesis = sink(client)
    kinesis.send(events, acks("txn", all_accepted))
    kinesis.flush()
    assert acks.counts == {"txn": 1}
    assert len(client.calls) == 3
    assert kinesis.stats.retried_records == 2


def test_transaction_of_only_skipped_oversize_events_is_acked_at_once() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client, record_limit=300, oversize="skip")
    kinesis.send([row(1, pad=400)], acks("big"))
    assert acks.counts == {"big": 1}
    assert kinesis.stats.skipped_oversize == 1
    kinesis.flush()
    assert client.calls == 0


# -- batching and per-key order --------------------------------------------------------------------------------


def test_a_call_never_carries_one_key_twice() -> None:
    client = RecordingKinesis()
    kinesis = sink(client)
    hot = [row(1, 4, xoffset=i, data={"id": 1, "v": i}) for i in range(5)]
    kinesis.send([*hot, row(2, 4, xoffset=5), row(3, 4, xoffset=6)], lambda: None)
    kinesis.flush()
    for call in client.calls:
        keys = [entry["PartitionKey"] for entry in call]
        assert len(keys) == len(set(keys))
    assert len(client.calls) == 5
    assert client.payloads(pk_key(1)) == [payload(e) for e in hot]


def test_records_of_one_key_keep_their_order_across_calls() -> None:
    client = MemoryKinesis()
    kinesis = sink(client, batch_records=2)
    sent: dict[str, list[bytes]] = defaultdict(list)
    rng = random.Random(3)
    for offset in range(4, 64):
        event = row(rng.randrange(3), offset)
        sent[pk_key(event.primary_key[0])].append(payload(event))
        kinesis.send([event], lambda: None)
    kinesis.flush()
    assert dict(client.by_key) == dict(sent)


def test_calls_respect_batch_records() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, batch_records=3)
    kinesis.send([row(i, xoffset=i) for i in range(10)], lambda: None)
    kinesis.flush()
    assert [len(call) for call in client.calls] == [3, 3, 3, 1]
    assert len(client.accepted) == 10


def test_calls_respect_batch_bytes() -> None:
    events = [row(i, xoffset=i, pad=50) for i in range(12)]
    one = len(payload(events[0])) + len(pk_key(0))
    client = RecordingKinesis()
    kinesis = sink(client, batch_bytes=3 * one + one // 2)
    kinesis.send(events, lambda: None)
    kinesis.flush()
    for call in client.calls:
        assert sum(len(e["Data"]) + len(e["PartitionKey"].encode()) for e in call) <= 3 * one + one // 2
    assert [len(call) for call in client.calls] == [3, 3, 3, 3]
    assert sorted(client.payloads()) == sorted(payload(e) for e in events)


def test_send_keeps_fewer_than_batch_records_pending() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client, batch_records=5)
    for number in range(23):
        kinesis.send([row(number, 4 + number)], acks(str(number)))
        assert number + 1 - len(client.records) < 5
        assert len(acks.counts) == len(client.records)
    kinesis.flush()
    assert len(client.records) == 23
    assert len(acks.counts) == 23


def test_send_sends_as_it_goes_even_for_one_hot_key() -> None:
    client = MemoryKinesis()
    kinesis = sink(client, batch_records=4)
    for number in range(15):
        kinesis.send([row(1, 4 + number)], lambda: None)
        assert number + 1 - len(client.records) < 4
    kinesis.flush()
    assert client.by_key[pk_key(1)] == [payload(row(1, 4 + n)) for n in range(15)]


# -- retries ---------------------------------------------------------------------------------------------------


def test_only_failed_entries_are_resent_in_their_order() -> None:
    events = [row(key, xoffset=i) for i, key in enumerate("abcd")]
    failing = {pk_key("b"), pk_key("d")}
    client = RecordingKinesis(
        fail=lambda call, entry: "InternalFailure" if call == 1 and entry["PartitionKey"] in failing else None
    )
    kinesis = sink(client, batch_records=4)
    kinesis.send(events, lambda: None)
    kinesis.flush()
    assert client.keys_of_call(0) == [pk_key(k) for k in "abcd"]
    assert client.keys_of_call(1) == [pk_key("b"), pk_key("d")]
    assert client.payloads() == [payload(events[i]) for i in (0, 2, 1, 3)]
    assert kinesis.stats.retried_records == 2
    assert kinesis.stats.records == 4


def test_later_records_of_a_failed_key_wait_for_it() -> None:
    first, second, other = row("a", 4), row("a", 5), row("b", 6)

    def fail(call: int, entry: Entry) -> str | None:
        return "ProvisionedThroughputExceededException" if call <= 3 and entry["Data"] == payload(first) else None

    client = RecordingKinesis(fail=fail)
    kinesis = sink(client)
    for event in (first, second, other):
        kinesis.send([event], lambda: None)
    kinesis.flush()
    calls_with = [i for i, call in enumerate(client.calls) for e in call if e["Data"] == payload(second)]
    assert calls_with == [4]  # only after `first` got through, in the fourth call (index 3)
    assert payload(other) in [e["Data"] for e in client.calls[0]]
    assert client.payloads(pk_key("a")) == [payload(first), payload(second)]


def test_a_key_out_of_attempts_stops_the_sink_naming_table_and_position() -> None:
    stuck = row("a", 4, table="orders")
    client = RecordingKinesis(fail=lambda call, entry: "InternalFailure" if entry["Data"] == payload(stuck) else None)
    acks = Acks()
    kinesis = sink(client, max_send_attempts=3)
    kinesis.send([row("b", 4, table="orders", xoffset=1), stuck], acks("stuck"))
    kinesis.send([row("c", 9)], acks("fine"))
    with pytest.raises(RuntimeFailure, match=r"db\.orders at binlog\.000001:4 xoffset 0 3 times") as failure:
        kinesis.flush()
    assert "InternalFailure" in failure.value.message
    assert [e["Data"] for call in client.calls for e in call].count(payload(stuck)) == 3
    assert acks.counts == {"fine": 1}
    calls = len(client.calls)
    with pytest.raises(RuntimeFailure, match=r"db\.orders"):
        kinesis.flush()
    with pytest.raises(RuntimeFailure, match=r"db\.orders"):
        kinesis.send([row("d", 20)], acks("later"))
    assert len(client.calls) == calls
    assert "stuck" not in acks.counts and "later" not in acks.counts


def test_skip_on_send_failure_acks_and_counts() -> None:
    stuck, later = row("a", 4), row("a", 5)
    client = RecordingKinesis(fail=lambda call, entry: "InternalFailure" if entry["Data"] == payload(stuck) else None)
    acks = Acks()
    kinesis = sink(client, max_send_attempts=2, on_send_failure="skip")
    kinesis.send([stuck, row("b", 4, xoffset=1)], acks("first"))
    kinesis.send([later], acks("second"))
    kinesis.flush()
    assert acks.counts == {"first": 1, "second": 1}
    assert kinesis.stats.skipped_failed == 1
    assert kinesis.stats.records == 2
    assert client.payloads(pk_key("a")) == [payload(later)]


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("InternalFailure"),
        client_error("ServiceUnavailable"),
        EndpointConnectionError(endpoint_url="https://kinesis.us-east-1.amazonaws.com"),
    ],
    ids=lambda error: type(error).__name__ + ":" + str(getattr(error, "response", {}).get("Error", {}).get("Code", "")),
)
def test_retryable_call_errors_are_retried(error: Exception) -> None:
    client = RaisingKinesis([error, error])
    acks = Acks()
    kinesis = sink(client)
    kinesis.send([row(1), row(2, xoffset=1)], acks("txn"))
    kinesis.flush()
    assert client.calls == 3
    assert acks.counts == {"txn": 1}
    assert kinesis.stats.failed_calls == 2
    assert len(client.memory.records) == 2


def test_persistent_errors_run_out_of_attempts() -> None:
    client = RaisingKinesis([client_error("InternalFailure") for _ in range(10)])
    acks = Acks()
    kinesis = sink(client, max_send_attempts=3)
    kinesis.send([row(1)], acks("txn"))
    with pytest.raises(RuntimeFailure, match=r"db\.t at binlog\.000001:4 xoffset 0 3 times.*InternalFailure"):
        kinesis.flush()
    assert client.calls == 3
    assert acks.counts == {}


def test_non_retryable_call_error_stops_at_once() -> None:
    client = RaisingKinesis([client_error("ResourceNotFoundException")])
    acks = Acks()
    kinesis = sink(client)
    kinesis.send([row(1)], acks("txn"))
    with pytest.raises(RuntimeFailure, match=r"'cdc'.*ResourceNotFoundException"):
        kinesis.flush()
    assert client.calls == 1
    with pytest.raises(RuntimeFailure, match="ResourceNotFoundException"):
        kinesis.flush()
    with pytest.raises(RuntimeFailure, match="ResourceNotFoundException"):
        kinesis.send([], acks("empty"))
    assert client.calls == 1
    assert acks.counts == {}


class FakeClock:
    """Time that passes only when the sink sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FailingKinesis:
    """Fails every call with `code` (the whole call, or every entry) until the clock reaches `until`, then accepts
    everything."""

    def __init__(self, clock: FakeClock, code: str, *, until: float = float("inf"), whole_calls: bool = True) -> None:
        self.clock, self.code, self.until, self.whole_calls = clock, code, until, whole_calls
        self.memory = MemoryKinesis()
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[Entry]) -> dict[str, Any]:
        self.calls += 1
        if self.clock() < self.until:
            if self.whole_calls:
                raise client_error(self.code)
            failed = {"ErrorCode": self.code, "ErrorMessage": "injected"}
            return {"FailedRecordCount": len(Records), "Records": [failed for _ in Records]}
        return self.memory.put_records(StreamName=StreamName, Records=Records)


def clocked_sink(client: Any, clock: FakeClock, **options: Any) -> KinesisSink:
    return KinesisSink(client, KinesisSettings(stream_name="cdc", **options), sleep=clock.sleep, clock=clock)


THROTTLED, FAILED = "ProvisionedThroughputExceededException", "InternalFailure"
FAULTS = [(THROTTLED, True), (THROTTLED, False), (FAILED, True), (FAILED, False)]
FAULT_IDS = ["throttled calls", "throttled entries", "failed calls", "failed entries"]


def test_backoff_doubles_to_its_cap_and_never_falls_below_half() -> None:
    assert [backoff(n, 1.0, ERROR_CAP) for n in (1, 2, 3, 8, 9, 10, 50)] == [0.1, 0.2, 0.4, 12.8, 20.0, 20.0, 20.0]
    assert [backoff(n, 1.0, THROTTLED_CAP) for n in (1, 2, 3, 4, 5, 50)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert [backoff(n, 0.5, ERROR_CAP) for n in (1, 9, 50)] == [0.05, 10.0, 10.0]


def test_the_default_attempts_span_two_to_four_minutes_of_errors() -> None:
    attempts = KinesisSettings(stream_name="cdc").max_send_attempts
    waits = range(1, attempts)  # the waits between the attempts: after failures 1 .. attempts-1
    shortest = sum(backoff(n, 0.5, ERROR_CAP) for n in waits)
    longest = sum(backoff(n, 1.0, ERROR_CAP) for n in waits)
    assert 120 < shortest < longest < 250


@pytest.mark.parametrize(
    ("code", "cap"), [(THROTTLED, THROTTLED_CAP), (FAILED, ERROR_CAP)], ids=["throttled", "failed"]
)
def test_a_failing_record_waits_longer_after_each_failure(code: str, cap: float) -> None:
    clock = FakeClock()
    client = RaisingKinesis([client_error(code) for _ in range(12)])
    kinesis = clocked_sink(client, clock)
    kinesis.send([row(1)], lambda: None)
    kinesis.flush()
    assert client.calls == 13 and len(clock.sleeps) == 12
    for failures, wait in enumerate(clock.sleeps, start=1):
        assert backoff(failures, 0.5, cap) <= wait <= backoff(failures, 1.0, cap)


@pytest.mark.parametrize(("code", "whole_calls"), FAULTS, ids=FAULT_IDS)
def test_a_minute_of_throttling_or_errors_does_not_stop_the_sink(code: str, whole_calls: bool) -> None:
    clock = FakeClock()
    client = FailingKinesis(clock, code, until=60.0, whole_calls=whole_calls)
    kinesis = clocked_sink(client, clock)
    acks = Acks()
    for number in range(5):
        kinesis.send([row(key, 4 + number, xoffset=key) for key in range(3)], acks(str(number)))
    kinesis.flush()
    assert acks.counts == {str(number): 1 for number in range(5)}
    assert len(client.memory.records) == 15 and kinesis.stats.skipped_failed == 0
    assert clock.now >= 60.0
    if code == THROTTLED:
        assert clock.now <= 60.0 + THROTTLED_CAP  # throttling that ends is noticed within a second


@pytest.mark.parametrize("whole_calls", [True, False], ids=["throttled calls", "throttled entries"])
def test_throttling_that_never_ends_stops_the_sink_after_five_minutes(whole_calls: bool) -> None:
    clock = FakeClock()
    client = FailingKinesis(clock, THROTTLED, whole_calls=whole_calls)
    kinesis = clocked_sink(client, clock, max_send_attempts=3)  # throttling does not count toward attempts
    acks = Acks()
    kinesis.send([row(1), row(2, xoffset=1)], acks("txn"))
    with pytest.raises(RuntimeFailure, match=r"db\.t at binlog\.000001:4 xoffset 0 for 30\d s.*ProvisionedThroughput"):
        kinesis.flush()
    assert THROTTLED_SECONDS <= clock.now <= THROTTLED_SECONDS + THROTTLED_CAP
    assert client.calls > 250 and acks.counts == {}


@pytest.mark.parametrize("whole_calls", [True, False], ids=["failed calls", "failed entries"])
def test_errors_that_never_end_stop_the_sink_after_its_attempts(whole_calls: bool) -> None:
    clock = FakeClock()
    client = FailingKinesis(clock, FAILED, whole_calls=whole_calls)
    kinesis = clocked_sink(client, clock)
    acks = Acks()
    kinesis.send([row(1), row(2, xoffset=1)], acks("txn"))
    with pytest.raises(RuntimeFailure, match=r"db\.t at binlog\.000001:4 xoffset 0 20 times.*InternalFailure"):
        kinesis.flush()
    assert 120 < clock.now < 250
    assert client.calls == 20 and acks.counts == {}


def test_a_record_failing_for_long_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    client = FailingKinesis(clock, THROTTLED, until=100.0)
    kinesis = clocked_sink(client, clock)
    kinesis.send([row(1)], lambda: None)
    with caplog.at_level("WARNING", logger="cdc_streamer.sinks.kinesis"):
        kinesis.flush()
    warnings = [r.getMessage() for r in caplog.records if "still retrying" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert re.match(r"Kinesis has refused an event of db\.t at binlog\.000001:4 xoffset 0 for 3\d s", warnings[0])


def test_only_the_failed_keys_back_off() -> None:
    clock = FakeClock()
    client = RecordingKinesis(
        fail=lambda call, entry: "InternalFailure" if call == 1 and entry["PartitionKey"] == pk_key("a") else None
    )
    kinesis = clocked_sink(client, clock, batch_records=2)
    kinesis.send([row("a", 4), row("b", 4, xoffset=1)], lambda: None)
    kinesis.send([row("b", 5), row("c", 5, xoffset=1)], lambda: None)
    assert [client.keys_of_call(n) for n in range(2)] == [[pk_key("a"), pk_key("b")], [pk_key("b"), pk_key("c")]]
    assert clock.sleeps == []  # the second call did not wait for key a's backoff
    kinesis.flush()
    assert client.keys_of_call(2) == [pk_key("a")] and len(clock.sleeps) == 1
    assert client.payloads(pk_key("a")) == [payload(row("a", 4))]


class StandIn(MemoryKinesis):
    """MemoryKinesis with the one attribute of a boto3 client the fault injector reads."""

    meta = SimpleNamespace(endpoint_url="http://stand-in")


def test_the_fault_injector_passes_on_only_the_entries_it_does_not_fail() -> None:
    inner = StandIn()
    faults = KinesisFaults(inner, seed=3, rates=FaultRates(outage=0.0, throttle=0.0, connection=0.0, entry=0.5))
    faults.faulting.set()
    request = [{"Data": str(n).encode(), "PartitionKey": str(n)} for n in range(40)]
    response = faults.put_records(StreamName="cdc", Records=request)
    failed = [n for n, result in enumerate(response["Records"]) if "ErrorCode" in result]
    assert 0 < len(failed) < 40 and response["FailedRecordCount"] == len(failed) == faults.counts.failed_entries
    assert {response["Records"][n]["ErrorCode"] for n in failed} <= set(ENTRY_ERRORS)
    assert [key for key, _ in inner.records] == [str(n) for n in range(40) if n not in failed]
    passed = [result["SequenceNumber"] for result in response["Records"] if "ErrorCode" not in result]
    assert passed == [str(n) for n in range(1, 41 - len(failed))]  # the stand-in's answers, in request order
    faults.faulting.clear()
    assert faults.put_records(StreamName="cdc", Records=request)["FailedRecordCount"] == 0


def test_the_fault_injector_throttles_cuts_and_loses_responses() -> None:
    inner = StandIn()
    request = [{"Data": b"x", "PartitionKey": "k"}]
    throttling = KinesisFaults(inner, seed=1, rates=FaultRates(outage=1.0))
    throttling.faulting.set()
    with pytest.raises(ClientError, match="ProvisionedThroughputExceededException"):
        throttling.put_records(StreamName="cdc", Records=request)
    cutting = KinesisFaults(inner, seed=1, rates=FaultRates(outage=0.0, throttle=0.0, connection=1.0))
    cutting.faulting.set()
    for _ in range(20):
        with pytest.raises((EndpointConnectionError, ReadTimeoutError)):
            cutting.put_records(StreamName="cdc", Records=request)
    assert 0 < cutting.counts.lost_responses == len(inner.records) < 20  # stored, yet the caller saw an error
    cutting.kill()
    with pytest.raises(Killed):
        cutting.put_records(StreamName="cdc", Records=request)


@pytest.mark.parametrize("aggregate", [False, True], ids=["plain", "aggregated"])
def test_the_sink_loses_nothing_through_the_fault_injector(aggregate: bool) -> None:
    inner = StandIn()
    faults = KinesisFaults(inner, seed=5, rates=FaultRates(outage=0.0, throttle=0.3, connection=0.1, entry=0.3))
    faults.faulting.set()
    kinesis = sink(faults, batch_records=7, aggregate=aggregate)
    acks = Acks()
    sent: dict[str, list[bytes]] = defaultdict(list)
    for number in range(60):
        events = [row(key, 4 + number, xoffset=i) for i, key in enumerate((number % 5, 10 + number % 3, number))]
        for event in events:
            sent[pk_key(event.primary_key[0])].append(payload(event))
        kinesis.send(events, acks(str(number)))
    kinesis.flush()
    assert acks.counts == {str(number): 1 for number in range(60)}
    assert faults.counts.throttled_calls and faults.counts.lost_responses and faults.counts.failed_entries
    accepted: dict[str, list[bytes]] = defaultdict(list)
    for key, data in inner.records:
        for user_key, record in user_records(key, data):
            if record not in accepted[user_key]:  # a resend after a lost response is a duplicate
                assert user_key in sent and sent[user_key].index(record) == len(accepted[user_key]), "reordered"
                accepted[user_key].append(record)
    assert accepted == sent


def test_backoff_survives_a_long_run_of_partly_failed_calls() -> None:
    # Every call fails its last entry once: no record nears max_send_attempts, but no round is clean either.
    client = RecordingKinesis()

    def fail_last(call: int, entry: Entry) -> str | None:
        last = client.calls[-1]
        return "ProvisionedThroughputExceededException" if len(last) > 1 and entry["Data"] == last[-1]["Data"] else None

    client.fail = fail_last
    kinesis = sink(client, batch_records=2)
    for number in range(1100):
        kinesis.send([row(number, 4 + number)], lambda: None)
    kinesis.flush()
    assert len(client.accepted) == 1100


# -- oversize events -------------------------------------------------------------------------------------------


def test_oversize_fail_stops_naming_table_and_position() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client, record_limit=300)
    with pytest.raises(RuntimeFailure, match=r"db\.t at binlog\.000001:4 xoffset 1 is \d+ bytes.*--oversize skip"):
        kinesis.send([row(1), row(2, xoffset=1, pad=400)], acks("txn"))
    with pytest.raises(RuntimeFailure, match="300-byte"):
        kinesis.flush()
    assert client.calls == 0
    assert acks.counts == {}


def test_oversize_limit_counts_the_partition_key() -> None:
    exact = sized_row(1, 300)
    kinesis = sink(MemoryKinesis(), record_limit=300)
    kinesis.send([exact], lambda: None)
    with pytest.raises(RuntimeFailure):
        kinesis.send([sized_row(1, 301, offset=5)], lambda: None)


def test_oversize_skip_drops_the_event_and_sends_the_rest() -> None:
    client = MemoryKinesis()
    acks = Acks()
    kinesis = sink(client, record_limit=300, oversize="skip")
    small = row(1)
    kinesis.send([small, row(2, xoffset=1, pad=400)], acks("txn"))
    kinesis.flush()
    assert acks.counts == {"txn": 1}
    assert client.records == [(pk_key(1), payload(small))]
    assert kinesis.stats.skipped_oversize == 1
    assert kinesis.stats.records == 1


def test_oversize_claim_check_stores_the_event_and_sends_a_pointer() -> None:
    client = MemoryKinesis()
    store = FakeObjectStore()
    acks = Acks()
    kinesis = sink(client, record_limit=400, oversize="claim-check:s3://b/p", object_store=store)
    big = row(2, 4, xoffset=1, pad=600, old={"pad": "y" * 100}, op=Operation.UPDATE)
    kinesis.send([row(1), big], acks("txn"))
    kinesis.flush()
    assert acks.counts == {"txn": 1}
    assert kinesis.stats.claim_checked == 1
    assert store.objects == [
        {"Bucket": "b", "Key": "p/db/t/binlog.000001/4-1.json", "Body": payload(big), "ContentType": "application/json"}
    ]
    [pointer] = client.by_key[pk_key(2)]
    fields = json.loads(pointer)
    assert "data" not in fields and "old" not in fields
    assert fields["claim_check"] == {"uri": "s3://b/p/db/t/binlog.000001/4-1.json", "bytes": len(payload(big))}
    assert fields["primary_key"] == [2]
    assert fields["type"] == "update" and fields["xoffset"] == 1 and fields["position"] == "binlog.000001:4"
    assert len(pointer) + len(pk_key(2)) <= 400


def test_claim_check_key_is_deterministic() -> None:
    event = row(1, 77, xoffset=3)
    assert (
        claim_check_key("p", event) == claim_check_key("p", row(1, 77, xoffset=3)) == "p/db/t/binlog.000001/77-3.json"
    )
    assert claim_check_key("/a/b/", event) == "a/b/db/t/binlog.000001/77-3.json"
    assert claim_check_key("", event) == claim_check_key("/", event) == "db/t/binlog.000001/77-3.json"
    assert claim_check_key("p", row(1, 77, xoffset=4)) != claim_check_key("p", event)
    # a schema event shares its xoffset with the row after it, never its object
    assert claim_check_key("p", schema(offset=77, xoffset=3)) == "p/db/t/binlog.000001/77-3-schema.json"


def test_claim_check_without_prefix_uses_the_bucket_root() -> None:
    store = FakeObjectStore()
    kinesis = sink(MemoryKinesis(), record_limit=300, oversize="claim-check:s3://bucket", object_store=store)
    kinesis.send([row(1, pad=400)], lambda: None)
    assert [(o["Bucket"], o["Key"]) for o in store.objects] == [("bucket", "db/t/binlog.000001/4-0.json")]


def test_pointer_event_drops_row_images_and_sql() -> None:
    change = row(5, data={"id": 5, "v": "big"}, old={"v": "small"}, op=Operation.UPDATE)
    fields = json.loads(pointer_event(change, "s3://b/k.json", 1234))
    assert {"data", "old"}.isdisjoint(fields)
    assert fields["claim_check"] == {"uri": "s3://b/k.json", "bytes": 1234}
    assert fields["primary_key"] == [5] and fields["primary_key_columns"] == ["id"]
    ddl_fields = json.loads(pointer_event(ddl(), "s3://b/d.json", 10))
    assert "sql" not in ddl_fields
    assert ddl_fields["claim_check"] == {"uri": "s3://b/d.json", "bytes": 10}
    schema_fields = json.loads(pointer_event(schema(), "s3://b/s.json", 99))
    assert "columns" not in schema_fields and schema_fields["type"] == "table-schema"
    assert schema_fields["primary_key_columns"] == ["id"]


def test_schema_events_are_sent_and_acknowledged_with_their_transaction() -> None:
    client = MemoryKinesis()
    kinesis = sink(client)
    acked: list[int] = []
    kinesis.send([schema(), row(1), row(2, xoffset=1)], lambda: acked.append(1))
    kinesis.flush()
    assert acked == [1]
    assert [(key, json.loads(data)["type"]) for key, data in client.records] == [
        ("db.t", "table-schema"),
        ("db.t.[1]", "insert"),
        ("db.t.[2]", "insert"),
    ]


# -- KPL aggregation -------------------------------------------------------------------------------------------


def test_aggregates_hold_one_key_each_and_deaggregate_in_order() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True)
    events = [row(number % 3, 4 + number) for number in range(12)]
    for event in events:
        kinesis.send([event], lambda: None)
    kinesis.flush()
    assert len(client.calls) == 1
    assert sorted(client.keys_of_call(0)) == sorted(pk_key(k) for k in range(3))
    for entry in client.calls[0]:
        assert bytes(entry["Data"]).startswith(MAGIC)
        users = user_records(entry["PartitionKey"], bytes(entry["Data"]))
        assert {key for key, _ in users} == {entry["PartitionKey"]}
        assert len(users) == 4
    for key in range(3):
        assert client.payloads(pk_key(key)) == [payload(e) for e in events if e.primary_key == (key,)]
    assert kinesis.stats.records == 12


def test_aggregate_never_exceeds_record_limit() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True, record_limit=1000)
    events = [row(1, 4 + number, pad=100) for number in range(30)]
    kinesis.send(events, lambda: None)
    kinesis.flush()
    entries = [entry for call in client.calls for entry in call]
    assert len(entries) > 3
    assert all(len(entry["Data"]) <= 1000 for entry in entries)
    assert client.payloads() == [payload(e) for e in events]


def test_aggregate_call_data_fits_batch_bytes() -> None:
    events = [row(number % 6, 4 + number, pad=20) for number in range(60)]
    for batch_bytes in range(600, 3000, 97):
        client = RecordingKinesis()
        kinesis = sink(client, aggregate=True, batch_bytes=batch_bytes)
        kinesis.send(events, lambda: None)
        kinesis.flush()
        assert all(sum(len(e["Data"]) for e in call) <= batch_bytes for call in client.calls)
        assert sorted(client.payloads()) == sorted(payload(e) for e in events)


def test_aggregate_call_with_partition_keys_fits_batch_bytes() -> None:
    events = [row(number % 6, 4 + number, pad=20) for number in range(6)]
    for batch_bytes in range(400, 2500):
        client = RecordingKinesis()
        kinesis = sink(client, aggregate=True, batch_bytes=batch_bytes)
        kinesis.send(events, lambda: None)
        kinesis.flush()
        for call in client.calls:
            assert sum(len(e["Data"]) + len(e["PartitionKey"].encode()) for e in call) <= batch_bytes


def test_record_too_big_to_wrap_goes_out_plain() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True, record_limit=2000)
    big = sized_row(1, 2000)
    kinesis.send([big, row(2, 4, xoffset=1)], lambda: None)
    kinesis.flush()
    entries = {entry["PartitionKey"]: bytes(entry["Data"]) for call in client.calls for entry in call}
    assert entries[pk_key(1)] == payload(big)
    assert entries[pk_key(2)].startswith(MAGIC)
    assert client.payloads(pk_key(1)) == [payload(big)]


def test_record_too_big_to_wrap_after_a_small_one_of_its_key_loses_nothing() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True, record_limit=2000)
    small, big = row(1, 4), sized_row(1, 2000, offset=5)
    kinesis.send([small], lambda: None)
    kinesis.send([big], lambda: None)
    kinesis.flush()
    assert client.payloads(pk_key(1)) == [payload(small), payload(big)]


def test_record_just_under_record_limit_is_sent_with_aggregation() -> None:
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True, record_limit=2000)
    event = sized_row(1, 2000 - 20)
    kinesis.send([event], lambda: None)
    kinesis.flush()
    assert client.payloads() == [payload(event)]


def test_record_larger_than_batch_bytes_is_sent_with_aggregation() -> None:
    event = sized_row(1, 990)
    plain = RecordingKinesis()
    plain_sink = sink(plain, batch_bytes=1000)
    plain_sink.send([event], lambda: None)
    plain_sink.flush()
    assert plain.payloads() == [payload(event)]
    client = RecordingKinesis()
    kinesis = sink(client, aggregate=True, batch_bytes=1000)
    kinesis.send([event], lambda: None)
    kinesis.flush()
    assert client.payloads() == [payload(event)]


# -- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    transactions=st.lists(st.lists(st.integers(0, 3), max_size=6), min_size=1, max_size=15),
    seed=st.integers(0, 2**32 - 1),
    failure_rate=st.sampled_from([0.0, 0.2, 0.5]),
    batch_records=st.integers(1, 6),
    aggregate=st.booleans(),
)
def test_random_failures_lose_nothing_duplicate_nothing_and_keep_key_order(
    transactions: list[list[int]], seed: int, failure_rate: float, batch_records: int, aggregate: bool
) -> None:
    rng = random.Random(seed)
    client = RecordingKinesis(fail=lambda call, entry: "InternalFailure" if rng.random() < failure_rate else None)
    kinesis = sink(client, batch_records=batch_records, aggregate=aggregate, max_send_attempts=1000)
    acks = Acks()
    sent: dict[str, list[bytes]] = defaultdict(list)
    for number, keys in enumerate(transactions):
        events = [row(key, 100 * (number + 1), xoffset=i) for i, key in enumerate(keys)]
        for event in events:
            sent[pk_key(event.primary_key[0])].append(payload(event))
        mine = {payload(event) for event in events}

        def all_accepted(mine: set[bytes] = mine) -> None:
            assert mine <= set(client.payloads())

        kinesis.send(events, acks(str(number), all_accepted))
    kinesis.flush()
    assert acks.counts == {str(number): 1 for number in range(len(transactions))}
    accepted: dict[str, list[bytes]] = defaultdict(list)
    for key, data in client.accepted:
        accepted[key].append(data)
    assert accepted == sent
    for call in client.calls:
        keys = [entry["PartitionKey"] for entry in call]
        assert len(keys) == len(set(keys)) and len(keys) <= batch_records
