"""Deaggregation of the Kinesis Producer Library's aggregated record format, in the standard library.

    4 magic bytes F3 89 9A C2 | protobuf AggregatedRecord | 16-byte MD5 of the protobuf

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }

Firehose itself deaggregates records it reads from a stream before invoking the transform; this module covers
aggregates that reach the transform whole (other sources, `cdc-lake deliver`). As in the KCL: data without the
magic, without a protobuf, or whose digest does not match is a plain record, returned as is. A valid digest over
a protobuf that does not decode raises `CorruptAggregate` (the KCL would pass such data on as a plain record; here
it is an error with the reason, so it is never mistaken for an event). Unknown fields are skipped.
"""

from __future__ import annotations

import hashlib

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class CorruptAggregate(ValueError):
    """The data is a KPL aggregate (magic and digest match) whose protobuf cannot be decoded."""


def is_aggregate(data: bytes) -> bool:
    """True when `data` has the KPL magic bytes, a non-empty protobuf and a matching MD5 digest (as the KCL and
    aws-kinesis-agg decide it)."""
    if len(data) <= len(MAGIC) + DIGEST_SIZE or not data.startswith(MAGIC):
        return False
    body = data[len(MAGIC) : -DIGEST_SIZE]
    return hashlib.md5(body, usedforsecurity=False).digest() == data[-DIGEST_SIZE:]


def deaggregate(data: bytes) -> list[bytes]:
    """The user records of a KPL aggregate, in order; `[data]` for anything that is not an aggregate."""
    if not is_aggregate(data):
        return [data]
    return user_records(data[len(MAGIC) : -DIGEST_SIZE])


def user_records(body: bytes) -> list[bytes]:
    """The `data` of each Record of an AggregatedRecord protobuf (without magic and digest)."""
    partition_keys = 0
    hash_keys = 0
    records: list[tuple[int, int | None, bytes]] = []
    for field, wire, value in _fields(body, "AggregatedRecord"):
        if field in (1, 2, 3) and wire != _LENGTH_DELIMITED:
            raise CorruptAggregate(f"corrupt KPL aggregate: field {field} has wire type {wire}, expected 2")
        if field == 1:
            partition_keys += 1
        elif field == 2:
            hash_keys += 1
        elif field == 3:
            assert isinstance(value, bytes)
            records.append(_record(value, len(records)))
    for index, (partition_key_index, hash_key_index, _) in enumerate(records):
        if partition_key_index >= partition_keys:
            raise CorruptAggregate(
                f"corrupt KPL aggregate: record {index} has partition_key_index {partition_key_index}, "
                f"but the table has {partition_keys} keys"
            )
        if hash_key_index is not None and hash_key_index >= hash_keys:
            raise CorruptAggregate(
                f"corrupt KPL aggregate: record {index} has explicit_hash_key_index {hash_key_index}, "
                f"but the table has {hash_keys} keys"
            )
    return [data for _, _, data in records]


def _record(body: bytes, index: int) -> tuple[int, int | None, bytes]:
    partition_key_index: int | None = None
    hash_key_index: int | None = None
    data: bytes | None = None
    for field, wire, value in _fields(body, f"record {index}"):
        expected = {1: _VARINT, 2: _VARINT, 3: _LENGTH_DELIMITED, 4: _LENGTH_DELIMITED}.get(field)
        if expected is not None and wire != expected:
            raise CorruptAggregate(
                f"corrupt KPL aggregate: record {index} field {field} has wire type {wire}, expected {expected}"
            )
        if field == 1:
            assert isinstance(value, int)
            partition_key_index = value
        elif field == 2:
            assert isinstance(value, int)
            hash_key_index = value
        elif field == 3:
            assert isinstance(value, bytes)
            data = value
    if partition_key_index is None or data is None:
        missing = "partition_key_index" if partition_key_index is None else "data"
        raise CorruptAggregate(f"corrupt KPL aggregate: record {index} has no {missing}")
    return partition_key_index, hash_key_index, data


def _fields(body: bytes, where: str) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of one message: ints for varints and fixed-size fields,
    bytes for length-delimited ones."""
    fields: list[tuple[int, int, int | bytes]] = []
    position = 0
    end = len(body)
    while position < end:
        key, position = _varint(body, position, where)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise CorruptAggregate(f"corrupt KPL aggregate: field number 0 in {where}")
        value: int | bytes
        if wire == _VARINT:
            value, position = _varint(body, position, where)
        elif wire == _LENGTH_DELIMITED:
            length, position = _varint(body, position, where)
            if position + length > end:
                raise CorruptAggregate(f"corrupt KPL aggregate: field {field} of {where} runs past the end")
            value = body[position : position + length]
            position += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if position + size > end:
                raise CorruptAggregate(f"corrupt KPL aggregate: field {field} of {where} runs past the end")
            value = int.from_bytes(body[position : position + size], "little")
            position += size
        else:
            raise CorruptAggregate(f"corrupt KPL aggregate: unsupported wire type {wire} in {where}")
        fields.append((field, wire, value))
    return fields


def _varint(body: bytes, position: int, where: str) -> tuple[int, int]:
    """A base-128 varint at `position` (at most 10 bytes, 64 bits) and the position after it."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(body):
            raise CorruptAggregate(f"corrupt KPL aggregate: truncated varint in {where}")
        byte = body[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if value >= 1 << 64:
                break
            return value, position
    raise CorruptAggregate(f"corrupt KPL aggregate: varint longer than 64 bits in {where}")
