"""A Firehose transformation batch -> the response records, one per input record, in input order. Pure except for
the injectable claim-check `fetch`.

Per input record (`recordId`, base64 `data`, and from a stream source `kinesisRecordMetadata`):

- **Ok**: `data` is the flattened row as one line of JSON plus `\\n`, and `metadata.partitionKeys` holds
  {database, table, dt, hour} for dynamic partitioning (`events/database=D/table=T/dt=.../hour=.../`).
- **ProcessingFailed**: the record could not be flattened (not base64, not UTF-8 JSON, not an object, a missing or
  ill-typed field, a claim-check that cannot be resolved, ...). `data` echoes the input; Firehose writes the
  record to the `processing-failed` error prefix, and the reason goes to the `failures` map (the handler logs it).
- **Dropped** is never returned: the lake's rule is that nothing is silently dropped.

A KPL aggregate (Firehose deaggregates stream records itself, so this is for aggregates that arrive whole) is
deaggregated and each user record flattened. Firehose maps one input record to one output record, so when all
rows share database and table the output is ONE record holding their JSON lines, partitioned by the FIRST row's
dt/hour (a later row of the same aggregate written in the next hour lands in the first row's hour partition;
the merge orders by binlog position, never by partition). Rows spanning tables cannot share one partition:
the aggregate is ProcessingFailed with that reason, never split or dropped.

Response size: Lambda caps a synchronous response at 6 MB, and Firehose fails the whole batch when it is over.
The size of the serialized response is tracked record by record, with room held back for every record to be
returned as ProcessingFailed; an Ok record that would push it over `RESPONSE_LIMIT` (6,000,000 bytes) is returned
as ProcessingFailed with the reason "response size limit". Those land in the error prefix with their original
data, like any failed record, and can be replayed from there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from cdc_streamer.encoding import encode_value

from .claim_check import Fetch, is_pointer, resolve, s3_fetch
from .flatten import FlatRow, InvalidEvent, flatten, parse_event
from .kpl import MAGIC, CorruptAggregate, deaggregate, is_aggregate

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"

RESPONSE_LIMIT = 6_000_000
SIZE_LIMIT_REASON = "response size limit"
_ENVELOPE = len(json.dumps({"records": []}))
_SEPARATOR = len(", ")


def process_batch(
    records: Sequence[dict[str, Any]], fetch: Fetch = s3_fetch
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The Firehose response records (every input recordId once, in input order) and, for each
    ProcessingFailed one, recordId -> reason. Never raises for the content of a record."""
    outputs: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for record in records:
        record_id, original = _identity(record)
        try:
            data, partition_keys = transform_record(record, fetch)
        except InvalidEvent as error:
            outputs.append(_failed(record_id, original))
            failures[str(record_id)] = error.reason
        except Exception as error:  # noqa: BLE001 - a bug must fail one record, not the batch
            outputs.append(_failed(record_id, original))
            failures[str(record_id)] = f"unexpected error: {type(error).__name__}: {' '.join(str(error).split())}"
        else:
            outputs.append(
                {
                    "recordId": record_id,
                    "result": OK,
                    "data": base64.b64encode(data).decode("ascii"),
                    "metadata": {"partitionKeys": partition_keys},
                }
            )
    _fit_response(records, outputs, failures)
    return outputs, failures


def transform_record(record: dict[str, Any], fetch: Fetch = s3_fetch) -> tuple[bytes, dict[str, str]]:
    """One input record -> (output bytes, partition keys); `InvalidEvent` with the reason when it cannot be."""
    if not isinstance(record, dict):
        raise InvalidEvent(f"record must be an object, got {type(record).__name__}")
    payload = _decode_data(record.get("data"))
    if not is_aggregate(payload):
        row = _flat_row(payload, fetch, "")
        return _line(row), row.partition_keys
    try:
        user_records = deaggregate(payload)
    except CorruptAggregate as error:
        raise InvalidEvent(str(error)) from None
    if not user_records:
        raise InvalidEvent("KPL aggregate holds no user records")
    total = len(user_records)
    rows = [
        _flat_row(data, fetch, f"user record {i} of {total} in the KPL aggregate: ")
        for i, data in enumerate(user_records, 1)
    ]
    tables = sorted({(row.partition_keys["database"], row.partition_keys["table"]) for row in rows})
    if len(tables) > 1:
        names = ", ".join(f"{database}.{table}" for database, table in tables)
        raise InvalidEvent(f"KPL aggregate spans tables ({names}); one output record can have one partition")
    return b"".join(_line(row) for row in rows), rows[0].partition_keys


def _identity(record: Any) -> tuple[Any, str]:
    """The record's id (echoed as is) and its data (echoed in a ProcessingFailed result; '' if not a string)."""
    if not isinstance(record, dict):
        return None, ""
    data = record.get("data")
    return record.get("recordId"), data if isinstance(data, str) else ""


def _failed(record_id: Any, original: str) -> dict[str, Any]:
    return {"recordId": record_id, "result": PROCESSING_FAILED, "data": original}


def _decode_data(data: Any) -> bytes:
    if not isinstance(data, str):
        raise InvalidEvent("record has no base64 'data' string" if data is None else "record 'data' is not a string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidEvent(f"record 'data' is not valid base64: {error}") from None


def _flat_row(payload: bytes, fetch: Fetch, where: str) -> FlatRow:
    try:
        event = parse_event(payload)
        if is_pointer(event):
            event = resolve(event, fetch)
        return flatten(event)
    except InvalidEvent as error:
        hint = ""
        if payload.startswith(MAGIC) and not where:
            hint = " (it starts with the KPL magic bytes but its MD5 digest does not match, so it was not deaggregated)"
        raise InvalidEvent(f"{where}{error.reason}{hint}") from None


def _line(row: FlatRow) -> bytes:
    try:
        return (encode_value(row.row) + "\n").encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate from a `\\ud800` escape: not valid Unicode
        raise InvalidEvent(f"event text is not valid Unicode: {error.reason} at index {error.start}") from None


def _fit_response(records: Sequence[Any], outputs: list[dict[str, Any]], failures: dict[str, str]) -> None:
    """Turn the Ok records that would take the serialized response over RESPONSE_LIMIT into ProcessingFailed.

    The budget starts with every record counted as failed (what it costs at least), so turning any number of
    records into failures always fits; each Ok record then spends what it costs beyond that."""
    failed_sizes = [_failed_size(*_identity(record)) for record in records]
    budget = RESPONSE_LIMIT - _ENVELOPE - sum(failed_sizes) - _SEPARATOR * max(len(records) - 1, 0)
    for index, output in enumerate(outputs):
        if output["result"] != OK:
            continue
        extra = _ok_size(output) - failed_sizes[index]
        if extra > budget:
            record_id, original = _identity(records[index])
            outputs[index] = _failed(record_id, original)
            failures[str(record_id)] = SIZE_LIMIT_REASON
        else:
            budget -= extra


# Sizes of response records as the Lambda runtime serializes them (json.dumps: ", " and ": ", ASCII escapes),
# computed from their parts: the same numbers as len(json.dumps(record)), at a fraction of the cost.
_FAILED_OVERHEAD = len(json.dumps(_failed("", ""))) - 4
_OK_OVERHEAD = len(json.dumps({"recordId": "", "result": OK, "data": "", "metadata": {"partitionKeys": {}}})) - 6


def _failed_size(record_id: Any, data: str) -> int:
    return _FAILED_OVERHEAD + len(json.dumps(record_id)) + len(encode_basestring_ascii(data))


def _ok_size(output: dict[str, Any]) -> int:
    return (
        _OK_OVERHEAD
        + len(json.dumps(output["recordId"]))
        + len(encode_basestring_ascii(output["data"]))
        + len(json.dumps(output["metadata"]["partitionKeys"]))
    )
