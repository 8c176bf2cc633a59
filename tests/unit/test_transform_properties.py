"""Property tests: whatever a batch holds (arbitrary bytes, arbitrary JSON, events with any field replaced by any
JSON value, aggregates of those), the transform never raises, returns every recordId once and in order, and
every record is either Ok with well-formed JSON lines and partition keys, or ProcessingFailed with its input
echoed and a reason."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firehose_transform.handler import handler
from firehose_transform.transform import process_batch

from .test_firehose_transform import aggregate, invocation, row_event, wire

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from([*row_event().keys(), "old", "commit", "claim_check", "sql", "definition"])


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A valid event with one to three fields replaced by arbitrary JSON (or removed)."""
    event: dict[str, Any] = row_event()
    for field in draw(st.lists(FIELDS, min_size=1, max_size=3)):
        if draw(st.booleans()):
            event[field] = draw(JSON)
        else:
            event.pop(field, None)
    return json.dumps(event).encode()


PAYLOADS = (
    st.binary(max_size=200)
    | JSON.map(lambda value: json.dumps(value).encode())
    | mutated_events()
    | st.just(wire(row_event()))
)


def check_response(records: list[dict[str, Any]], outputs: list[dict[str, Any]], failures: dict[str, str]) -> None:
    assert [output["recordId"] for output in outputs] == [record["recordId"] for record in records]
    for record, output in zip(records, outputs, strict=True):
        if output["result"] == "Ok":
            text = base64.b64decode(output["data"]).decode("utf-8")
            assert text.endswith("\n")
            rows = [json.loads(line) for line in text.removesuffix("\n").split("\n")]
            assert rows and all(isinstance(row, dict) for row in rows)
            assert set(output["metadata"]["partitionKeys"]) == {"database", "table", "dt", "hour"}
            assert record["recordId"] not in failures
        else:
            assert output["result"] == "ProcessingFailed"  # never Dropped: nothing is silently lost
            assert output["data"] == record["data"]
            assert failures[record["recordId"]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PAYLOADS, min_size=1, max_size=8))
def test_any_batch_returns_every_record_id_once_in_order(payloads: list[bytes]) -> None:
    event = invocation(payloads)
    outputs, failures = process_batch(event["records"])
    check_response(event["records"], outputs, failures)


@settings(max_examples=60, deadline=None)
@given(st.lists(mutated_events() | st.just(wire(row_event())), min_size=1, max_size=5))
def test_aggregates_of_any_events_never_crash_the_batch(payloads: list[bytes]) -> None:
    event = invocation([aggregate(*payloads), wire(row_event())])
    outputs, failures = process_batch(event["records"])
    check_response(event["records"], outputs, failures)
    assert outputs[1]["result"] == "Ok"  # a bad neighbour never fails a good record


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "recordId": JSON,
                "data": st.text(max_size=40) | JSON,
                "kinesisRecordMetadata": JSON,
            },
        ),
        min_size=1,
        max_size=5,
    )
)
def test_malformed_record_envelopes_fail_alone(records: list[dict[str, Any]]) -> None:
    response = handler({"records": records}, None)
    assert [output.get("recordId") for output in response["records"]] == [record.get("recordId") for record in records]
    assert all(output["result"] in ("Ok", "ProcessingFailed") for output in response["records"])
