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
    """One entry per key (oldest keys first): an aggregate of that key's pending records, within the limits."""
    aggregates: dict[str, AggRecord] = {}
    members: dict[str, list[Any]] = {}
    plain: dict[str, bytes] = {}
    closed: set[str] = set()
    budget = settings.batch_bytes
    for record in pending:
        key = record.key
        if key in closed:
            continue
        aggregate = aggregates.get(key)
        if aggregate is None and len(aggregates) == settings.batch_records:
            closed.add(key)
            continue
        # an upper bound of what this record adds: its bytes, its key, protobuf framing, magic and digest
        if len(record.data) + len(key.encode("utf-8")) + 32 + (20 if aggregate is None else 0) > budget:
            closed.add(key)  # this record and the key's later ones wait for the next call
            continue
        if aggregate is None:
            aggregate = aggregates[key] = AggRecord(max_size=settings.record_limit)
            members[key] = []
        before = aggregate.get_size_bytes() if members[key] else 0
        try:
            added = aggregate.add_user_record(key, record.data)
        except ValueError:  # too big to wrap, though it fits the record limit by itself: send it plain, alone
            plain[key] = record.data
            members[key].append(record)
            budget -= len(record.data) + len(key.encode("utf-8"))
            closed.add(key)
            continue
        if not added:  # the aggregate is full
            closed.add(key)
            continue
        budget -= aggregate.get_size_bytes() - before
        members[key].append(record)
    entries = []
    for key, records in members.items():
        if not records:
            continue
        if key in plain:
            entries.append(make_entry(key, plain[key], records))
        else:
            _, _, data = aggregates[key].get_contents()
            entries.append(make_entry(key, data, records))
    return entries
