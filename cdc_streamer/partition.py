"""Kinesis partition keys for events. Pure.

`primary_key` (the default) keys a row change by database, table and primary-key values, so every change of one
row lands on one shard, in order. A table without a primary key falls back to `table`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable

from .encoding import encode_value
from .errors import ConfigError
from .event import ChangeEvent, Event

MAX_KEY_LENGTH = 256  # Kinesis' limit, in Unicode characters

PartitionKey = Callable[[Event], str]

CHOICES = "primary_key | table | database | transaction_id | column:NAME | random"


def bounded(key: str) -> str:
    """Kinesis keys are at most 256 characters; a longer key becomes a digest of itself (same key, same shard)."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def by_table(event: Event) -> str:
    return bounded(f"{event.database}.{event.table}" if event.table is not None else event.database)


def by_database(event: Event) -> str:
    return bounded(event.database)


def by_primary_key(event: Event) -> str:
    if not isinstance(event, ChangeEvent) or not event.primary_key_columns:
        return by_table(event)
    return bounded(f"{event.database}.{event.table}.{encode_value(list(event.primary_key))}")


def by_transaction(event: Event) -> str:
    return bounded(str(event.position))


def by_random(event: Event) -> str:
    return uuid.uuid4().hex


def by_column(name: str) -> PartitionKey:
    def key(event: Event) -> str:
        if isinstance(event, ChangeEvent) and name in event.data:
            return bounded(f"{event.database}.{event.table}.{name}={encode_value(event.data[name])}")
        return by_table(event)

    return key


_FIXED: dict[str, PartitionKey] = {
    "primary_key": by_primary_key,
    "table": by_table,
    "database": by_database,
    "transaction_id": by_transaction,
    "random": by_random,
}


def partitioner(spec: str) -> PartitionKey:
    if spec in _FIXED:
        return _FIXED[spec]
    kind, _, name = spec.partition(":")
    if kind == "column" and name:
        return by_column(name)
    raise ConfigError(f"--partition-by (CDC_PARTITION_BY): expected {CHOICES}, got {spec!r}")
