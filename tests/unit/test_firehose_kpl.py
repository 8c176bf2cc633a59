"""The stdlib KPL deaggregator against aggregates made by aws_kinesis_agg (the library the streamer's sink uses),
and against hand-made corrupt protobufs with valid digests."""

from __future__ import annotations

import base64
import hashlib

import pytest
from aws_kinesis_agg.aggregator import AggRecord
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from firehose_transform.kpl import MAGIC, CorruptAggregate, deaggregate, is_aggregate, user_records


def agg(records: list[tuple[str, bytes]], explicit_hash_key: str | None = None) -> bytes:
    aggregate = AggRecord()
    for key, data in records:
        assert aggregate.add_user_record(key, data, explicit_hash_key)
    data_: bytes = aggregate.get_contents()[2]
    return data_


def reference(data: bytes) -> list[bytes]:
    """aws-kinesis-agg's deaggregation of a Firehose-shaped record holding `data`."""
    record = {
        "recordId": "49546986683135544286507457936321625675700192471156785154",
        "approximateArrivalTimestamp": 1714558500123,
        "data": base64.b64encode(data).decode("ascii"),
        "kinesisRecordMetadata": {
            "shardId": "shardId-000000000001",
            "partitionKey": "app.ops",
            "approximateArrivalTimestamp": 1714558500123,
            "sequenceNumber": "49546986683135544286507457936321625675700192471156785154",
            "subsequenceNumber": 0,
        },
    }
    return [base64.b64decode(user["kinesis"]["data"]) for user in iter_deaggregate_records([record])]


def wrap(body: bytes) -> bytes:
    """A protobuf body with magic and a valid digest."""
    return MAGIC + body + hashlib.md5(body).digest()


def test_one_and_many_user_records_come_back_in_order() -> None:
    assert deaggregate(agg([("k", b'{"a":1}')])) == [b'{"a":1}']
    records = [(f"key-{i % 3}", f"record {i} ".encode() * i) for i in range(50)]
    assert deaggregate(agg(records)) == [data for _, data in records]


def test_sizes_that_need_multi_byte_varints_and_empty_records() -> None:
    records = [("k", b""), ("k", b"x" * 127), ("k", b"y" * 128), ("k", b"z" * 16_384), ("k", b"w" * 900_000)]
    assert deaggregate(agg(records)) == [data for _, data in records]


def test_explicit_hash_keys_are_accepted() -> None:
    data = agg([("k", b"one"), ("j", b"two")], explicit_hash_key="340282366920938463463374607431768211455")
    assert deaggregate(data) == [b"one", b"two"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=2000)), min_size=1, max_size=30))
def test_matches_aws_kinesis_agg(records: list[tuple[str, bytes]]) -> None:
    data = agg(records)
    assert is_aggregate(data)
    assert deaggregate(data) == reference(data) == [d for _, d in records]


@pytest.mark.parametrize(
    "data",
    [b"", b'{"database":"app"}', MAGIC, MAGIC + b"\x00" * 15, MAGIC + b"\x0a\x01k" + b"\x00" * 16, b"\x00" * 64],
)
def test_data_that_is_not_an_aggregate_comes_back_whole(data: bytes) -> None:
    assert not is_aggregate(data)
    assert deaggregate(data) == [data] == reference(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_plain_data_comes_back_whole_as_with_aws_kinesis_agg(data: bytes) -> None:
    assert deaggregate(data) == reference(data)


def test_a_wrong_digest_means_not_an_aggregate() -> None:
    data = agg([("k", b"one"), ("k", b"two")])
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    assert deaggregate(tampered) == [tampered] == reference(tampered)


def test_unknown_fields_are_skipped() -> None:
    # partition_key_table "k", an unknown varint field 9, a record with a tag (field 4), a fixed64 and a fixed32
    record = b"\x08\x00" + b"\x1a\x03abc" + b"\x22\x03\x0a\x01t" + b"\x29" + b"\x00" * 8 + b"\x35" + b"\x00" * 4
    body = b"\x0a\x01k" + b"\x48\x96\x01" + b"\x1a" + bytes([len(record)]) + record
    assert deaggregate(wrap(body)) == [b"abc"]


def test_an_aggregate_without_records_has_no_user_records() -> None:
    assert deaggregate(wrap(b"\x0a\x01k")) == []


def test_magic_and_a_digest_of_nothing_is_not_an_aggregate_as_in_the_kcl() -> None:
    data = wrap(b"")
    assert deaggregate(data) == [data] == reference(data)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x0a", "truncated varint in AggregatedRecord"),
        (b"\x0a\x05ab", "field 1 of AggregatedRecord runs past the end"),
        (b"\x0a\x01k\x1a\x01\x08", "truncated varint in record 0"),
        (b"\x0a\x01k\x1a\x02\x1a\x01", "field 3 of record 0 runs past the end"),
        (b"\x0a\x01k\x1a\x02\x08\x00", "record 0 has no data"),
        (b"\x0a\x01k\x1a\x03\x1a\x01x", "record 0 has no partition_key_index"),
        (b"\x1a\x04\x08\x00\x1a\x00", "record 0 has partition_key_index 0, but the table has 0 keys"),
        (b"\x0a\x01k\x1a\x06\x08\x00\x10\x00\x1a\x00",
         "record 0 has explicit_hash_key_index 0, but the table has 0 keys"),
        (b"\x0a\x01k\x1a\x04\x08\x05\x1a\x00", "record 0 has partition_key_index 5, but the table has 1 keys"),
        (b"\x08\x01", "field 1 has wire type 0, expected 2"),
        (b"\x0a\x01k\x1a\x04\x0a\x00\x1a\x00", "record 0 field 1 has wire type 2, expected 0"),
        (b"\x0b\x0c", "unsupported wire type 3 in AggregatedRecord"),
        (b"\x02\x00", "field number 0 in AggregatedRecord"),
        (b"\x48" + b"\xff" * 10 + b"\x01", "varint longer than 64 bits in AggregatedRecord"),
        (b"\x49\x00\x00", "field 9 of AggregatedRecord runs past the end"),
    ],
)  # fmt: skip
def test_a_corrupt_protobuf_with_a_valid_digest_is_an_error(body: bytes, reason: str) -> None:
    data = wrap(body)
    assert is_aggregate(data)
    with pytest.raises(CorruptAggregate) as raised:
        deaggregate(data)
    assert str(raised.value) == f"corrupt KPL aggregate: {reason}"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_body_decodes_or_raises_corrupt_aggregate_only(body: bytes) -> None:
    try:
        records = user_records(body)
    except CorruptAggregate:
        return
    assert all(isinstance(record, bytes) for record in records)
