"""The Firehose transform end to end: Firehose-shaped invocations (stream source, kinesisRecordMetadata) built from
the golden scenarios' events, per-record outcomes, every failure kind, KPL aggregates, claim-check pointers, the
response size limit, property tests over arbitrary payloads, and the Lambda-light import rule.

The builders here (`golden_events`, `wire`, `invocation`) are shared with the other test_firehose_* modules."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
import sys
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdc_lake.event_schema import COLUMN_NAMES, DDL_TABLE, SCHEMA_TABLE
from cdc_streamer.encoding import RawJson, encode_event, encode_value
from cdc_streamer.event import ChangeEvent, ColumnDefinition, DdlEvent, Operation, SchemaEvent
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import KinesisSettings
from cdc_streamer.sinks.kinesis import KinesisSink, claim_check_key, pointer_event
from cdc_streamer.sinks.kinesis_memory import MemoryKinesis
from firehose_transform import claim_check, transform
from firehose_transform.flatten import flatten, parse_event
from firehose_transform.handler import handler
from firehose_transform.kpl import MAGIC
from firehose_transform.transform import (
    OK,
    PROCESSING_FAILED,
    RESPONSE_LIMIT,
    SIZE_LIMIT_REASON,
    process_batch,
    transform_record,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
STREAM_ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/cdc-events"
DELIVERY_ARN = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/cdc-lake"
BASE_TS = 1714558500  # 2024-05-01 10:15:00 UTC

# -- building events and invocations ---------------------------------------------------------------------------


def golden_events() -> Iterator[tuple[str, dict[str, Any]]]:
    """(scenario name, wire event) for every `-- =>` line of tests/golden/*.sql, completed the way the streamer
    writes it: database `app`, and per transaction (a run of consecutive `-- =>` lines) one ts, xid, position and
    gtid. Numbers keep their text (`parse_float=RawJson`), so the events re-encode byte for byte."""
    sequence = 0
    for path in sorted(GOLDEN.glob("*.sql")):
        group: list[dict[str, Any]] = []
        for line in [*path.read_text().splitlines(), ""]:
            if line.startswith("-- =>"):
                group.append(json.loads(line.removeprefix("-- =>"), parse_float=RawJson))
                continue
            if group:
                sequence += 1
                for expected in group:
                    yield path.stem, _complete(expected, sequence, commit_default=expected is group[-1])
                group = []


def _complete(expected: dict[str, Any], sequence: int, *, commit_default: bool) -> dict[str, Any]:
    common = {
        "ts": BASE_TS + 61 * sequence,
        "position": f"binlog.000042:{1876 + 418 * sequence}",
        "gtid": f"0-1-{316 + sequence}",
        "server_id": 1,
    }
    if "sql" in expected:
        return {
            "database": "app",
            "table": expected["table"],
            "type": expected["type"],
            "ts": common["ts"],
            "position": common["position"],
            "gtid": common["gtid"],
            "server_id": 1,
            "thread_id": 27,
            "sql": expected["sql"],
        }
    if expected["type"] == "table-schema":
        return {
            "database": "app",
            "table": expected["table"],
            "type": "table-schema",
            "ts": common["ts"],
            "xoffset": expected.get("xoffset", 0),
            "commit": False,
            "position": common["position"],
            "gtid": common["gtid"],
            "server_id": 1,
            "thread_id": None,
            "columns": expected["columns"],
            "primary_key_columns": expected["primary_key_columns"],
        }
    event: dict[str, Any] = {
        "database": "app",
        "table": expected["table"],
        "type": expected["type"],
        "ts": common["ts"],
        "xid": 1200 + sequence,
        "xoffset": expected.get("xoffset", 0),
    }
    if expected.get("commit", commit_default):
        event["commit"] = True
    event.update(
        position=common["position"],
        gtid=common["gtid"],
        server_id=1,
        thread_id=None,
        primary_key=expected["primary_key"],
        primary_key_columns=expected["primary_key_columns"],
    )
    if "query" in expected:
        event["query"] = expected["query"]
    event["data"] = expected["data"]
    if "old" in expected:
        event["old"] = expected["old"]
    return event


def wire(event: Any) -> bytes:
    """An event as the streamer writes it: one compact line of JSON, numbers as written."""
    return encode_value(event).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def invocation(payloads: Iterable[bytes], *, first_sequence: int = 0) -> dict[str, Any]:
    """A Firehose data-transformation invocation with a Kinesis data stream as the source."""
    records = []
    for index, payload in enumerate(payloads):
        arrival = 1714558500123 + index
        records.append(
            {
                "recordId": f"49546986683135544286507457936321625675700192471156785154{index:04d}",
                "approximateArrivalTimestamp": arrival,
                "data": b64(payload),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000001",
                    "partitionKey": f"app.ops.[{index}]",
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": f"4954698668313554428650745793632162567570019247115{first_sequence + index:07d}",
                    "subsequenceNumber": 0,
                },
            }
        )
    return {
        "invocationId": "6d1f2e80-2b44-4a1e-9d0b-4f8a3b3c7f21",
        "deliveryStreamArn": DELIVERY_ARN,
        "sourceKinesisStreamArn": STREAM_ARN,
        "region": "eu-west-1",
        "records": records,
    }


def decode_output(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON lines of an Ok output record (each must be one compact line ending in a newline)."""
    text = base64.b64decode(record["data"]).decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.removesuffix("\n").split("\n")]


def aggregate(*payloads: bytes, key: str = "app.ops") -> bytes:
    agg = AggRecord()
    for payload in payloads:
        assert agg.add_user_record(key, payload)
    data: bytes = agg.get_contents()[2]
    return data


def row_event(table: Any = "ops", ts: Any = BASE_TS, xoffset: Any = 0, **fields: Any) -> dict[str, Any]:
    """An insert into app.ops (fields override or add to it)."""
    key = xoffset + 1 if type(xoffset) is int else 1
    event: dict[str, Any] = {
        "database": "app",
        "table": table,
        "type": "insert",
        "ts": ts,
        "xid": 1207,
        "xoffset": xoffset,
        "position": "binlog.000042:1876",
        "gtid": "0-1-317",
        "server_id": 1,
        "thread_id": None,
        "primary_key": [key],
        "primary_key_columns": ["id"],
        "data": {"id": key, "name": "one", "qty": 10},
    }
    event.update(fields)
    return event


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in row_event().items() if k != field}


def ids(event: dict[str, Any]) -> list[Any]:
    return [record["recordId"] for record in event["records"]]


# -- golden events through the handler -------------------------------------------------------------------------


def test_golden_events_flatten_through_the_handler() -> None:
    events = [event for _, event in golden_events()]
    assert len(events) > 40
    event = invocation(wire(e) for e in events)
    response = handler(event, None)
    assert [r["recordId"] for r in response["records"]] == ids(event)
    for source, output in zip(events, response["records"], strict=True):
        assert output["result"] == OK, output
        (line,) = decode_output(output)
        assert list(line) == list(COLUMN_NAMES)
        flat = flatten(parse_event(wire(source)))
        assert line == flat.row
        assert output["metadata"]["partitionKeys"] == flat.partition_keys
        ddl, schema = "sql" in source, "columns" in source
        assert flat.partition_keys["table"] == (DDL_TABLE if ddl else SCHEMA_TABLE if schema else source["table"])
        assert flat.partition_keys["database"] == "app"
        assert line["type"] == source["type"]
        assert line["commit"] is bool(source.get("commit"))


def test_output_lines_keep_numbers_exactly_as_the_binlog_wrote_them() -> None:
    numeric = [e for name, e in golden_events() if name == "numeric"]
    response = handler(invocation(wire(e) for e in numeric), None)
    first = decode_output(response["records"][0])[0]
    data = first["data"]
    for text in (
        '"d65":12345678901234567890123456789012345.123456789012345678901234567890',
        '"d10":12345678.90',
        '"ub":18446744073709551615',
        '"sb":-9223372036854775808',
        '"b64":18446744073709551615',
        '"f":1.1',
    ):
        assert text in data
    second = decode_output(response["records"][1])[0]["data"]
    assert '"d65":-0.000000000000000000000000000001' in second
    assert '"d10":-0.50' in second
    assert '"f":-3.40282e+38' in second
    third = decode_output(response["records"][2])[0]["data"]
    assert '"d65":0.000000000000000000000000000000' in third and '"d10":0.00' in third and '"f":0.0' in third
    update = decode_output(response["records"][4])[0]
    assert update["old"] == '{"d10":12345678.90,"f":1.1}'
    # every data/old/primary_key text is the exact slice of the wire event
    for event, output in zip(numeric, response["records"], strict=True):
        line = decode_output(output)[0]
        text = wire(event).decode()
        assert f'"data":{line["data"]}' in text
        assert f'"primary_key":{line["primary_key"]}' in text
        if line["old"] is not None:
            assert f'"old":{line["old"]}' in text


def test_events_encoded_by_the_streamer_flatten_to_the_streamers_own_text() -> None:
    position = BinlogPosition("mysql-bin-changelog.000123", 4567)
    data = {"id": 2**64 - 1, "price": Decimal("1.50"), "big": Decimal("9" * 35 + "." + "1" * 30), "s": "Zoë 😀"}
    change = ChangeEvent(
        database="shop",
        table="orders",
        type=Operation.UPDATE,
        ts=1714607999,
        xid=77,
        xoffset=3,
        commit=True,
        position=position,
        gtid="3E11FA47-71CA-11E1-9E33-C80AA9429562:23",
        server_id=1234,
        thread_id=99,
        primary_key=(2**64 - 1,),
        primary_key_columns=("id",),
        data=data,
        old={"price": Decimal("1.25")},
    )
    ddl = DdlEvent(
        "shop", "orders", "table-alter", 1714608000, position, None, 1234, 99, "ALTER TABLE orders ADD x INT"
    )
    response = handler(invocation([encode_event(change).encode(), encode_event(ddl).encode()]), None)
    row = decode_output(response["records"][0])[0]
    assert row["data"] == encode_value(data)
    assert row["old"] == '{"price":1.25}'
    assert row["primary_key"] == "[18446744073709551615]"
    assert row["binlog_order"] == "0000000123:00000000000000004567:0000000003"
    assert (row["binlog_file"], row["binlog_position"], row["commit"]) == ("mysql-bin-changelog.000123", 4567, True)
    assert response["records"][0]["metadata"]["partitionKeys"] == {
        "database": "shop",
        "table": "orders",
        "dt": "2024-05-01",
        "hour": "23",
    }
    ddl_row = decode_output(response["records"][1])[0]
    assert response["records"][1]["metadata"]["partitionKeys"] == {
        "database": "shop",
        "table": "_ddl",
        "dt": "2024-05-02",
        "hour": "00",
    }
    assert json.loads(ddl_row["data"]) == {"table": "orders", "sql": "ALTER TABLE orders ADD x INT"}
    assert ddl_row["xid"] is None and ddl_row["type"] == "table-alter"


def schema_event(xoffset: int = 3, values: int = 2) -> SchemaEvent:
    columns = (
        ColumnDefinition("id", "bigint", unsigned=True),
        ColumnDefinition("price", "decimal", precision=65, scale=30),
        ColumnDefinition("tags", "set", values=tuple(f"tag{i}" for i in range(values))),
    )
    position = BinlogPosition("mysql-bin-changelog.000123", 4567)
    return SchemaEvent("shop", "orders", 1714607999, xoffset, position, "0-1-9", 1234, 99, columns, ("id",))


def test_schema_events_encoded_by_the_streamer_flatten_to_the_schema_partition() -> None:
    event = schema_event()
    response = handler(invocation([encode_event(event).encode()]), None)
    output = response["records"][0]
    assert output["result"] == OK
    assert output["metadata"]["partitionKeys"] == {
        "database": "shop",
        "table": "_schema",
        "dt": "2024-05-01",
        "hour": "23",
    }
    row = decode_output(output)[0]
    assert row["data"] == (
        '{"table":"orders","columns":[{"name":"id","type":"bigint","unsigned":true},'
        '{"name":"price","type":"decimal","precision":65,"scale":30},'
        '{"name":"tags","type":"set","values":["tag0","tag1"]}]}'
    )
    assert (row["type"], row["xoffset"], row["commit"], row["primary_key_columns"]) == (
        "table-schema",
        3,
        False,
        '["id"]',
    )
    assert (row["xid"], row["primary_key"], row["old"]) == (None, None, None)
    assert row["binlog_order"] == "0000000123:00000000000000004567:0000000003"


def test_a_schema_event_pointer_resolves_to_the_schema_event_not_the_row_after_it() -> None:
    objects = FakeObjects()
    change = big_change(3)
    schema = schema_event(xoffset=3, values=5000)
    records, failures = process_batch(
        invocation([claim(objects, schema), claim(objects, change)])["records"], fetch=objects.fetch
    )
    assert failures == {}
    assert records[0]["metadata"]["partitionKeys"]["table"] == SCHEMA_TABLE
    assert json.loads(decode_output(records[0])[0]["data"])["columns"][2]["values"][-1] == "tag4999"
    assert decode_output(records[1])[0]["type"] == "update"


# -- failures: one record at a time, the rest go on ------------------------------------------------------------


FAILURES: list[tuple[str, Any, str]] = [
    ("not base64", "not base64!", "record 'data' is not valid base64"),
    ("bad padding", "abc", "record 'data' is not valid base64"),
    ("missing data", None, "record has no base64 'data' string"),
    ("data not a string", 12, "record 'data' is not a string"),
    ("not utf-8", b64(b'{"database":"\xff"}'), "payload is not UTF-8"),
    ("not json", b64(b"INSERT INTO ops"), "invalid JSON: Expecting value"),
    ("two events in one record", b64(wire(row_event()) + b"\n" + wire(row_event())), "invalid JSON: Extra data"),
    ("NaN", b64(b'{"x": NaN}'), "invalid JSON: NaN is not a JSON value"),
    ("json array", b64(b"[1, 2]"), "event must be a JSON object, got array"),
    ("json string", b64(b'"app.ops"'), "event must be a JSON object, got string"),
    ("empty", "", "invalid JSON: Expecting value"),
    ("missing database", b64(wire(without("database"))), "missing field 'database'"),
    ("missing data field", b64(wire(without("data"))), "missing field 'data'"),
    ("ts as text", b64(wire(row_event(ts="1714558500"))), "field 'ts' must be an integer, got string"),
    ("bad position", b64(wire(row_event(position="binlog.000042"))), "malformed position 'binlog.000042'"),
    ("unknown type", b64(wire(row_event(type="upsert"))), "unknown type 'upsert' for a row event"),
    ("lone surrogate", b64(b'{"database":"app","table":"ops","type":"insert","ts":1,"xoffset":0,'
                           b'"position":"b.1:4","data":{"s":"\\ud800"}}'), "event text is not valid Unicode"),
    ("magic without digest", b64(MAGIC + b"\x00" * 40), "starts with the KPL magic bytes but its MD5 digest"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "reason"), FAILURES, ids=[f[0] for f in FAILURES])
def test_a_bad_record_fails_alone_with_its_reason(name: str, data: Any, reason: str) -> None:
    event = invocation([wire(row_event()), b"placeholder", wire(row_event(xoffset=1))])
    if data is None:
        del event["records"][1]["data"]
    else:
        event["records"][1]["data"] = data
    records, failures = process_batch(event["records"])
    assert [r["recordId"] for r in records] == ids(event)
    assert [r["result"] for r in records] == [OK, PROCESSING_FAILED, OK]
    failed = records[1]
    assert failed["data"] == (data if isinstance(data, str) else "")
    assert "metadata" not in failed
    assert list(failures) == [ids(event)[1]]
    assert reason in failures[ids(event)[1]], failures


def test_handler_logs_one_line_per_failed_record(caplog: pytest.LogCaptureFixture) -> None:
    event = invocation([b"{}", wire(row_event()), b"[]"])
    with caplog.at_level(logging.INFO, logger="firehose_transform"):
        response = handler(event, None)
    assert [r["result"] for r in response["records"]] == [PROCESSING_FAILED, OK, PROCESSING_FAILED]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"record {ids(event)[0]} ProcessingFailed: missing field 'database'",
        f"record {ids(event)[2]} ProcessingFailed: event must be a JSON object, got array",
    ]
    assert all(record.levelno == logging.ERROR for record in caplog.records)


def test_records_that_are_not_objects_or_lack_ids_still_get_one_result_each() -> None:
    records: list[Any] = [None, {"data": b64(wire(row_event()))}, {"recordId": 7, "data": b64(b"{}")}]
    outputs, failures = process_batch(records)
    assert [o["recordId"] for o in outputs] == [None, None, 7]
    assert [o["result"] for o in outputs] == [PROCESSING_FAILED, OK, PROCESSING_FAILED]
    assert failures == {"None": "record must be an object, got NoneType", "7": "missing field 'database'"}


def test_an_unexpected_error_fails_the_record_not_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: dict[str, Any]) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(transform, "flatten", broken)
    outputs, failures = process_batch(invocation([wire(row_event())])["records"])
    assert outputs[0]["result"] == PROCESSING_FAILED
    assert list(failures.values()) == ["unexpected error: KeyError: 'bug'"]


# -- KPL aggregates --------------------------------------------------------------------------------------------


def test_an_aggregate_of_one_table_is_one_record_of_json_lines_partitioned_by_its_first_row() -> None:
    late = BASE_TS + 2700  # 10:15 -> 11:00: the next hour
    rows = [row_event(xoffset=0), row_event(xoffset=1, ts=late), row_event(xoffset=2, ts=late, type="delete")]
    event = invocation([aggregate(*(wire(r) for r in rows)), wire(row_event(table="pair"))])
    records, failures = process_batch(event["records"])
    assert failures == {}
    assert [r["result"] for r in records] == [OK, OK]
    lines = decode_output(records[0])
    assert [line["xoffset"] for line in lines] == [0, 1, 2]
    assert [line["ts"] for line in lines] == [BASE_TS, late, late]
    assert lines == [flatten(r).row for r in rows]
    assert records[0]["metadata"]["partitionKeys"] == {
        "database": "app",
        "table": "ops",
        "dt": "2024-05-01",
        "hour": "10",
    }
    assert base64.b64decode(records[0]["data"]).count(b"\n") == 3


def test_an_aggregate_spanning_tables_fails_whole_and_names_them() -> None:
    ddl = {"database": "app", "table": "ops", "type": "table-alter", "ts": BASE_TS, "position": "binlog.000042:99",
           "gtid": None, "server_id": 1, "thread_id": 5, "sql": "ALTER TABLE ops ADD b INT"}  # fmt: skip
    spanning = aggregate(wire(row_event()), wire(row_event(table="pair")))
    with_ddl = aggregate(wire(row_event()), wire(ddl))
    event = invocation([spanning, with_ddl])
    records, failures = process_batch(event["records"])
    assert [r["result"] for r in records] == [PROCESSING_FAILED, PROCESSING_FAILED]
    assert records[0]["data"] == event["records"][0]["data"]
    assert failures[ids(event)[0]] == (
        "KPL aggregate spans tables (app.ops, app.pair); one output record can have one partition"
    )
    assert "(app._ddl, app.ops)" in failures[ids(event)[1]]


def test_an_aggregate_with_a_bad_user_record_fails_and_says_which() -> None:
    event = invocation([aggregate(wire(row_event()), b'{"database": "app"}', wire(row_event(xoffset=2)))])
    _, failures = process_batch(event["records"])
    assert failures == {ids(event)[0]: "user record 2 of 3 in the KPL aggregate: missing field 'type'"}


def test_corrupt_and_empty_aggregates_fail() -> None:
    body = b"\x1a\x04\x08\x00\x1a\x10"  # a record whose data field runs past the end
    corrupt = MAGIC + body + hashlib.md5(body).digest()
    empty = MAGIC + b"\x0a\x01k" + hashlib.md5(b"\x0a\x01k").digest()  # a key table, no records
    event = invocation([corrupt, empty])
    records, failures = process_batch(event["records"])
    assert [r["result"] for r in records] == [PROCESSING_FAILED, PROCESSING_FAILED]
    assert failures[ids(event)[0]] == "corrupt KPL aggregate: field 3 of record 0 runs past the end"
    assert failures[ids(event)[1]] == "KPL aggregate holds no user records"


def test_aggregates_from_the_kinesis_sink_flatten_in_binlog_order() -> None:
    client = MemoryKinesis()
    sink = KinesisSink(
        client, KinesisSettings(stream_name="s", partition_by="table", aggregate=True), sleep=lambda s: None
    )
    position = BinlogPosition("binlog.000042", 1876)
    changes = [
        ChangeEvent("app", "ops", Operation.INSERT, BASE_TS, 1207, i, i == 9, position, "0-1-317", 1, None, (i,),
                    ("id",), {"id": i, "price": Decimal(f"{i}.50")})
        for i in range(10)
    ]  # fmt: skip
    sink.send(changes, lambda: None)
    sink.flush()
    assert len(client.records) == 1
    records, failures = process_batch(invocation(data for _, data in client.records)["records"])
    assert failures == {}
    lines = decode_output(records[0])
    assert [line["xoffset"] for line in lines] == list(range(10))
    assert [json.loads(line["data"], parse_float=str)["price"] for line in lines] == [f"{i}.50" for i in range(10)]


# -- claim-check pointers --------------------------------------------------------------------------------------


class FakeObjects:
    """The bucket the streamer wrote claim-check objects to, and the transform's `fetch` over it."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fetched: list[str] = []

    def put(self, uri: str, body: bytes) -> None:
        self.objects[uri] = body

    def fetch(self, uri: str) -> bytes:
        self.fetched.append(uri)
        if uri not in self.objects:
            raise FileNotFoundError(f"NoSuchKey: {uri}")
        return self.objects[uri]


def big_change(xoffset: int = 3) -> ChangeEvent:
    return ChangeEvent(
        "shop", "docs", Operation.UPDATE, BASE_TS, 1207, xoffset, False, BinlogPosition("binlog.000042", 1876),
        "0-1-317", 1, None, (7,), ("id",), {"id": 7, "body": "x" * 50_000, "price": Decimal("10.00")},
        old={"price": Decimal("9.90")},
    )  # fmt: skip


def claim(objects: FakeObjects, change: ChangeEvent | DdlEvent | SchemaEvent) -> bytes:
    """What the Kinesis sink does with an oversize event: the whole event to S3, a pointer into the stream."""
    whole = encode_event(change).encode("utf-8")
    uri = f"s3://cdc-claims/{claim_check_key('cdc', change)}"
    objects.put(uri, whole)
    return pointer_event(change, uri, len(whole)).encode("utf-8")


def test_a_pointer_event_is_resolved_to_the_whole_event() -> None:
    objects = FakeObjects()
    change = big_change()
    pointer = claim(objects, change)
    assert b'"data"' not in pointer
    records, failures = process_batch(invocation([pointer])["records"], fetch=objects.fetch)
    assert failures == {}
    (line,) = decode_output(records[0])
    assert line == flatten(parse_event(encode_event(change).encode())).row
    assert line["old"] == '{"price":9.90}'
    assert objects.fetched == ["s3://cdc-claims/cdc/shop/docs/binlog.000042/1876-3.json"]


def test_pointer_events_inside_an_aggregate_and_ddl_pointers_are_resolved() -> None:
    objects = FakeObjects()
    ddl = DdlEvent("shop", "docs", "table-create", BASE_TS, BinlogPosition("binlog.000042", 10), None, 1, 5,
                   "CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT) " + "-- padding " * 100)  # fmt: skip
    payload = aggregate(claim(objects, big_change(0)), wire(row_event(table="docs", xoffset=1) | {"database": "shop"}))
    records, failures = process_batch(invocation([payload, claim(objects, ddl)])["records"], fetch=objects.fetch)
    assert failures == {}
    assert [line["xoffset"] for line in decode_output(records[0])] == [0, 1]
    ddl_line = decode_output(records[1])[0]
    assert json.loads(ddl_line["data"])["sql"].startswith("CREATE TABLE docs")
    assert records[1]["metadata"]["partitionKeys"]["table"] == DDL_TABLE


def test_claim_check_failures_fail_the_record_with_the_reason() -> None:
    objects = FakeObjects()
    missing = claim(objects, big_change(1))
    objects.objects.clear()
    short = claim(objects, big_change(2))
    uri_short = "s3://cdc-claims/cdc/shop/docs/binlog.000042/1876-2.json"
    objects.objects[uri_short] = objects.objects[uri_short][:-1]
    other = claim(objects, big_change(3))
    uri_other = "s3://cdc-claims/cdc/shop/docs/binlog.000042/1876-3.json"
    objects.objects[uri_other] = objects.objects[uri_other].replace(b'"xoffset":3', b'"xoffset":4')
    not_json = pointer_event(big_change(5), "s3://cdc-claims/x.json", 4).encode()
    objects.put("s3://cdc-claims/x.json", b"nope")
    bad_uri = pointer_event(big_change(6), "https://example.com/x", 4).encode()
    no_size = json.dumps(row_event(claim_check={"uri": "s3://b/k"})).encode()
    event = invocation([missing, short, other, not_json, bad_uri, no_size])
    records, failures = process_batch(event["records"], fetch=objects.fetch)
    assert all(r["result"] == PROCESSING_FAILED for r in records)
    reasons = [failures[record_id] for record_id in ids(event)]
    assert reasons[0] == (
        "claim-check fetch of s3://cdc-claims/cdc/shop/docs/binlog.000042/1876-1.json failed: "
        "FileNotFoundError: NoSuchKey: s3://cdc-claims/cdc/shop/docs/binlog.000042/1876-1.json"
    )
    size = len(encode_event(big_change(2)).encode())
    assert reasons[1] == f"claim-check object {uri_short} is {size - 1} bytes, the pointer says {size}"
    assert reasons[2] == f"claim-check object {uri_other} holds another event: xoffset is 4, the pointer says 3"
    assert reasons[3].startswith("claim-check object s3://cdc-claims/x.json: invalid JSON")
    assert reasons[4] == "claim_check.uri must be s3://bucket/key, got 'https://example.com/x'"
    assert reasons[5] == "field 'claim_check.bytes' must be a non-negative integer, got None"


def test_the_default_fetch_reads_the_object_with_a_lazily_created_s3_client(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, str]] = []

    class Body:
        def read(self) -> bytes:
            return b"whole event"

    class Client:
        def get_object(self, **kwargs: str) -> dict[str, Any]:
            calls.append(kwargs)
            return {"Body": Body()}

    monkeypatch.setattr(claim_check, "_s3_client", Client)
    assert claim_check.s3_fetch("s3://cdc-claims/cdc/shop/docs/a b.json") == b"whole event"
    assert calls == [{"Bucket": "cdc-claims", "Key": "cdc/shop/docs/a b.json"}]


# -- the response size limit -----------------------------------------------------------------------------------


def test_records_past_the_response_limit_fail_with_the_size_reason() -> None:
    # quotes double in the wire JSON and double again as text inside the output line: outputs outgrow inputs
    big = [wire(row_event(xoffset=i, data={"id": i, "doc": '"' * 100_000})) for i in range(15)]
    event = invocation([*big, wire(row_event(xoffset=99))])
    records, failures = process_batch(event["records"])
    response = json.dumps({"records": records})
    assert len(response) <= RESPONSE_LIMIT
    assert [r["recordId"] for r in records] == ids(event)
    results = [r["result"] for r in records]
    assert len(json.dumps(event)) < RESPONSE_LIMIT  # the request itself fits in a Lambda invocation
    assert 0 < results.count(OK) < 15
    first_failed = results.index(PROCESSING_FAILED)
    assert all(result == PROCESSING_FAILED for result in results[first_failed:15])
    assert results[15] == OK  # a small record after them still fits
    assert set(failures.values()) == {SIZE_LIMIT_REASON}
    assert all(records[i]["data"] == event["records"][i]["data"] for i in range(first_failed, 15))
    # what was kept came close to the limit: one more big record would not have fitted
    assert RESPONSE_LIMIT - len(response) < len(json.dumps(records[0]))


def test_the_size_accounting_matches_json_dumps() -> None:
    event = invocation([wire(row_event(table="é ops"))])
    record = event["records"][0]
    record["recordId"] = 'id "with" quotes ü'
    records, _ = process_batch([record])
    assert transform._ok_size(records[0]) == len(json.dumps(records[0]))
    failed = transform._failed(record["recordId"], record["data"])
    assert transform._failed_size(record["recordId"], record["data"]) == len(json.dumps(failed))


# -- properties: never raise, every recordId once, in order ----------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
field_values = st.one_of(json_values, st.sampled_from([0, -1, 2**63, 2**64, "", "binlog.000001:4", "x/y", "insert"]))
EVENT_FIELDS = [*row_event(), "commit", "old", "sql", "claim_check"]
event_like = st.fixed_dictionaries({}, optional=dict.fromkeys(EVENT_FIELDS, field_values))
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.text(max_size=10), json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    event_like.map(lambda d: json.dumps(d).encode()),
    st.builds(lambda e, k: wire(row_event() | {k: e}), json_values, st.sampled_from(sorted(row_event()))),
    st.lists(st.binary(max_size=80), min_size=1, max_size=4).map(lambda items: aggregate(*items)),
)
records_strategy = st.lists(
    st.one_of(
        payloads.map(lambda p: {"data": b64(p)}),
        st.text(max_size=40).map(lambda text: {"data": text}),
        st.dictionaries(st.sampled_from(["data", "x"]), json_values, max_size=2),
    ),
    max_size=12,
)


def _failing_fetch(uri: str) -> bytes:
    raise ConnectionError("no network in unit tests")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records_strategy)
def test_any_input_gives_one_result_per_record_in_order_and_never_raises(records: list[dict[str, Any]]) -> None:
    for index, record in enumerate(records):
        record["recordId"] = f"id-{index}"
    outputs, failures = process_batch(records, fetch=_failing_fetch)
    assert [o["recordId"] for o in outputs] == [f"id-{i}" for i in range(len(records))]
    assert {o["recordId"] for o in outputs if o["result"] == PROCESSING_FAILED} == set(failures)
    for output in outputs:
        assert output["result"] in (OK, PROCESSING_FAILED)
        assert isinstance(output["data"], str)
        if output["result"] == OK:
            for line in decode_output(output):
                assert list(line) == list(COLUMN_NAMES)
            assert set(output["metadata"]["partitionKeys"]) == {"database", "table", "dt", "hour"}
    json.dumps({"records": outputs})  # the runtime can serialize it


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=5), json_values)
def test_any_row_image_survives_byte_for_byte(data: dict[str, Any], key: Any) -> None:
    source = wire(row_event(data=data, primary_key=[key]))
    records, failures = process_batch(invocation([source])["records"])
    if failures:  # only text that is not valid Unicode (lone surrogates) may fail
        assert "not valid Unicode" in next(iter(failures.values()))
        return
    line = decode_output(records[0])[0]
    assert f'"data":{line["data"]}'.encode() in source
    assert f'"primary_key":{line["primary_key"]}'.encode() in source


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["ops", "pair"]), min_size=1, max_size=6))
def test_aggregates_are_ok_exactly_when_they_hold_one_table(tables: list[str]) -> None:
    payload = aggregate(*(wire(row_event(table=t, xoffset=i)) for i, t in enumerate(tables)))
    data, keys = (None, None)
    try:
        data, keys = transform_record({"data": b64(payload)})
    except ValueError as error:
        assert len(set(tables)) > 1 and "spans tables" in str(error)
    else:
        assert len(set(tables)) == 1 and keys is not None and keys["table"] == tables[0]
        assert data is not None and data.count(b"\n") == len(tables)


# -- Lambda-light ----------------------------------------------------------------------------------------------


def test_the_handler_imports_only_the_stdlib_and_the_two_carried_project_modules() -> None:
    script = "import sys, json\nimport firehose_transform.handler\nprint(json.dumps(sorted(sys.modules)))\n"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root)
    modules = json.loads(result.stdout)
    for heavy in ("pyarrow", "duckdb", "aws_kinesis_agg", "google", "google.protobuf", "boto3", "botocore"):
        assert heavy not in modules
    allowed = {"cdc_lake", "cdc_lake.event_schema", "cdc_streamer", "cdc_streamer.encoding",
               "cdc_streamer.event", "cdc_streamer.position", "cdc_streamer.errors",
               "cdc_streamer.path_names",
               "cdc_streamer._fastpath"}  # fmt: skip  # the compiled encoder where built; the Lambda zip has none
    outside = [
        name
        for name in modules
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] != "firehose_transform"
        and name not in allowed
        and not name.startswith("_")
        and name not in ("sitecustomize", "usercustomize")
    ]
    assert outside == []
