"""The Firehose transform (the Lambda handler, as Firehose invokes it) near Firehose's limits: a Kinesis record of
the maximum size (1 MiB, key included) with the content that grows most when flattened, a Lambda buffer full of
such records, and claim-check pointers whose whole events are bigger than one response can carry.

Lambda answers at most 6 MB; the transform's row is JSON text inside JSON, base64-encoded, so an event can grow:
plain text and base64 BLOBs by 4/3, `"` and `\\` by 8/3 (escaped twice), control characters (`\\u0001`, 6 bytes
in the event, 7 in the row) by 14/9. What does not fit comes back ProcessingFailed with the reason "response size
limit" and its input echoed (Firehose writes it to errors/processing-failed/, counted and logged): never dropped,
and it fits when sent again alone, unless one row alone is over the limit (a claim-checked event). Each test
prints one line of figures.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from cdc_streamer.encoding import encode_value
from firehose_transform.flatten import flatten, parse_event
from firehose_transform.handler import handler
from firehose_transform.transform import RESPONSE_LIMIT, SIZE_LIMIT_REASON, process_batch

from .large_and_ddl import MIB

KEY = "app.docs.[7]"
CONTENT: dict[str, Callable[[int], str]] = {
    "base64 (BLOB)": lambda n: base64.b64encode(b"\xff" * (n * 3 // 4)).decode()[:n],
    "ASCII text": lambda n: "x" * n,
    "multibyte text": lambda n: ("é€😀a" * (n // 4 + 1))[:n],
    "quotes": lambda n: '"' * n,
    "backslashes": lambda n: "\\" * n,
    "control characters": lambda n: "\x01" * n,
}


def event_json(value: str, key: int = 7, position: int = 1876) -> bytes:
    return encode_value({
        "database": "app", "table": "docs", "type": "insert", "ts": 1714558500, "xid": 1207, "xoffset": 0,
        "commit": True, "position": f"binlog.000042:{position}", "gtid": "0-1-317", "server_id": 1,
        "thread_id": None, "primary_key": [key], "primary_key_columns": ["id"], "data": {"id": key, "body": value},
    }).encode()  # fmt: skip


def kinesis_sized(kind: str, size: int = MIB) -> bytes:
    """An event of `kind` content whose JSON plus partition key is exactly `size` bytes (a full Kinesis record)."""
    make = CONTENT[kind]
    low, high = 0, size
    while low < high:  # the longest value that fits: encoded lengths grow with the value, not always by one
        middle = (low + high + 1) // 2
        if len(event_json(make(middle))) + len(KEY) <= size:
            low = middle
        else:
            high = middle - 1
    payload = event_json(make(low))
    padding = size - len(payload) - len(KEY)  # what the last character could not fill: plain ASCII
    payload = event_json(make(low) + "x" * padding) if padding else payload
    assert len(payload) + len(KEY) == size, (kind, len(payload))
    return payload


def invocation(payloads: list[bytes]) -> dict[str, Any]:
    """A Firehose transformation invocation with a Kinesis Data Stream source."""
    return {
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/cdc",
        "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/cdc-events",
        "region": "us-east-1",
        "records": [
            {
                "recordId": f"4960{i:04d}",
                "approximateArrivalTimestamp": 1714558500000 + i,
                "data": base64.b64encode(payload).decode(),
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000000",
                    "partitionKey": KEY,
                    "sequenceNumber": f"4960{i:04d}",
                    "subsequenceNumber": 0,
                    "approximateArrivalTimestamp": 1714558500000 + i,
                },
            }
            for i, payload in enumerate(payloads)
        ],
    }


def check_response(
    request: dict[str, Any], response: dict[str, Any], whole: Callable[[bytes], bytes] = lambda payload: payload
) -> tuple[int, int]:
    """Every record answered once, in order, Ok (with the row of its event, `whole(payload)` for a pointer) or
    ProcessingFailed (its input echoed), the whole response under Lambda's limit; returns (ok, failed)."""
    assert len(json.dumps(response)) <= RESPONSE_LIMIT
    records = response["records"]
    assert [r["recordId"] for r in records] == [r["recordId"] for r in request["records"]]
    ok = failed = 0
    for sent, answer in zip(request["records"], records, strict=True):
        payload = whole(base64.b64decode(sent["data"]))
        if answer["result"] == "Ok":
            ok += 1
            row = json.loads(base64.b64decode(answer["data"]))
            assert row == json.loads(encode_value(flatten(parse_event(payload)).row)), "the row is not the event's"
            assert json.loads(row["data"])["body"] == json.loads(payload)["data"]["body"]
        else:
            assert answer["result"] == "ProcessingFailed", answer["result"]
            assert answer["data"] == sent["data"], "a failed record must echo its input (errors/ keeps it)"
            failed += 1
    return ok, failed


@pytest.mark.parametrize("kind", list(CONTENT))
def test_a_full_kinesis_record_fits_one_response_whatever_its_content(kind: str) -> None:
    payload = kinesis_sized(kind)
    request = invocation([payload])
    response = handler(request, None)
    ok, failed = check_response(request, response)
    assert (ok, failed) == (1, 0)
    row = base64.b64decode(response["records"][0]["data"])
    print(
        f"\none {MIB:,}-byte Kinesis record of {kind}: event {len(payload):,} bytes -> row {len(row):,} bytes "
        f"(x{len(row) / len(payload):.2f}) -> response {len(json.dumps(response)):,} of {RESPONSE_LIMIT:,} bytes: Ok"
    )


@pytest.mark.parametrize(
    ("records", "hint", "expected"),
    [(2, "the stack's 1 MiB Lambda buffer hint", (2, 0)), (3, "Firehose's 3 MiB maximum", (1, 2))],
)
def test_a_lambda_buffer_of_the_largest_records_never_fails_the_batch(
    records: int, hint: str, expected: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Firehose invokes the Lambda when its buffer reaches the hint, so an invocation holds up to the hint plus one
    record. The quote-heavy record grows most (x8/3 to the base64 row); a failed record still costs its echoed
    input (x4/3), so three of them leave room for one Ok row only."""
    payloads = [kinesis_sized("quotes", MIB - i) for i in range(records)]
    request = invocation(payloads)
    with caplog.at_level(logging.ERROR, logger="firehose_transform.handler"):
        response = handler(request, None)
    ok, failed = check_response(request, response)
    logged = [r.getMessage() for r in caplog.records if SIZE_LIMIT_REASON in r.getMessage()]
    assert len(logged) == failed, "every ProcessingFailed record is logged with its reason"
    assert (ok, failed) == expected
    again = [
        answer["data"] for answer in response["records"] if answer["result"] == "ProcessingFailed"
    ]  # sent again, one per invocation: each fits
    for data in again:
        retry = invocation([base64.b64decode(data)])
        assert check_response(retry, handler(retry, None)) == (1, 0)
    print(
        f"\n{records} records of {MIB:,} bytes (quotes), {hint}: {ok} Ok, {failed} ProcessingFailed "
        f"('{SIZE_LIMIT_REASON}', logged), response {len(json.dumps(response)):,} bytes; each failed one Ok when "
        "sent again alone; 0 dropped"
    )


def test_claim_checked_events_fit_while_one_response_holds_them(caplog: pytest.LogCaptureFixture) -> None:
    """Pointer events are a few hundred bytes, so Firehose packs many into one invocation; their whole events
    (fetched from S3) must share one 6 MB response. A whole event whose row alone is over it can never pass
    the Lambda: it stays in errors/ (and in S3), counted."""
    blob_1mib = base64.b64encode(bytes(range(256)) * 4096).decode()  # a 1 MiB BLOB: 1,398,104 base64 characters
    objects: dict[str, bytes] = {}
    pointers = []
    for i, value in enumerate([blob_1mib] * 6 + ["y" * 4_600_000, "y" * 4_400_000]):
        whole = event_json(value, key=i, position=1000 + i)
        uri = f"s3://claims/cdc/app/docs/binlog.000042/{1000 + i}-0.json"
        objects[uri] = whole
        pointer = json.loads(whole)
        del pointer["data"]
        pointer["claim_check"] = {"uri": uri, "bytes": len(whole)}
        pointers.append(encode_value(pointer).encode())
    request = invocation(pointers)
    outputs, reasons = process_batch(request["records"], fetch=objects.__getitem__)
    ok, failed = check_response(request, {"records": outputs}, lambda p: objects[json.loads(p)["claim_check"]["uri"]])
    alone = [
        process_batch(invocation([base64.b64decode(o["data"])])["records"], fetch=objects.__getitem__)[0][0]["result"]
        for o in outputs
        if o["result"] != "Ok"
    ]
    sizes = sorted(len(v) for v in objects.values())
    print(
        f"\n{len(pointers)} pointers in one invocation (whole events {sizes[0]:,}-{sizes[-1]:,} bytes): {ok} Ok, "
        f"{failed} ProcessingFailed ({set(reasons.values())}); sent again one per invocation: "
        f"{alone.count('Ok')} Ok, {alone.count('ProcessingFailed')} still over 6 MB alone (the 4,600,000-byte text)"
    )
    assert set(reasons.values()) == {SIZE_LIMIT_REASON}
    assert ok >= 3 and failed >= 1
    assert alone.count("ProcessingFailed") == 1, "only the event too big for any response fails alone"
