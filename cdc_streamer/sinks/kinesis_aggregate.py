"""`--aggregate`: KPL-format aggregates, each holding the pending changes of ONE partition key, in order.

Mixing keys in one aggregate is how aggregated records get lost or reordered when a stream is resharded (the
aggregate goes to the shard of its first key only), so every aggregate here has a single key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_kinesis_agg.aggregator import AggRecord

from ..settings import KinesisSettings

EntryT = TypeVar("EntryT")


def aggregate_entries(
    pending: Sequence[Any], settings: KinesisSettings, make_entry: Callable[[str, bytes, list[Any]], EntryT]
) -> list[EntryT]:
    """One entry per key (oldest keys first): an aggregate of that key's pending records, within the limits.

    A key's first record that cannot be wrapped (too close to the record limit) goes out plain, alone. The first
    entry of a call is always taken, so every call makes progress.
    """
    aggregates: dict[str, AggRecord] = {}
    members: dict[str, list[Any]] = {}
    plain: dict[str, bytes] = {}
    closed: set[str] = set()
    budget = settings.batch_bytes
    for record in pending:
        key = record.key
        if key in closed:
            continue
        key_size = len(key.encode("utf-8"))
        aggregate = aggregates.get(key)
        if aggregate is None:
            if len(members) == settings.batch_records or (members and _upper_bound(record, key_size, True) > budget):
                closed.add(key)  # this record and the key's later ones wait for the next call
                continue
            aggregate = AggRecord(max_size=settings.record_limit)
            if not _add(aggregate, record):
                plain[key] = record.data
                members[key] = [record]
                budget -= len(record.data) + key_size
                closed.add(key)
                continue
            aggregates[key] = aggregate
            members[key] = [record]
            budget -= aggregate.get_size_bytes() + key_size  # Kinesis counts each entry's key too
            continue
        before = aggregate.get_size_bytes()
        if _upper_bound(record, key_size, False) > budget or not _add(aggregate, record):
            closed.add(key)
            continue
        budget -= aggregate.get_size_bytes() - before
        members[key].append(record)
    return [
        make_entry(key, plain[key] if key in plain else aggregates[key].get_contents()[2], records)
        for key, records in members.items()
    ]


def _upper_bound(record: Any, key_size: int, new: bool) -> int:
    """What adding this record can cost at most: its bytes, its key, protobuf framing, and magic + digest."""
    return len(record.data) + key_size + 32 + (20 + key_size if new else 0)


def _add(aggregate: AggRecord, record: Any) -> bool:
    try:
        return bool(aggregate.add_user_record(record.key, record.data))
    except ValueError:  # too big to wrap at all
        return False
