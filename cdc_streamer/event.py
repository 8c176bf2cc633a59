"""The change events the streamer emits: one per row change, plus DDL events when asked for, and a schema event
before a table's first row event and after its definition changed.

The wire format is written down in docs/events.md (Maxwell's data format); `encoding` turns these into JSON.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .position import BinlogPosition


class Operation(enum.Enum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class ChangeEvent:
    """One row change. Not frozen only for speed (a frozen dataclass's constructor costs 2.5 µs more, per row):
    nothing changes an event once made; a sink that needs another one (masking) makes a copy with `replace`.

    `position` is where the row's transaction starts in the binlog (replaying from it replays the transaction);
    `xoffset` is the row's index inside the transaction, so (file number, offset, xoffset) is binlog order.
    `data` is the row after the change (before it, for a delete); `old` holds only the changed columns'
    previous values (updates only).
    """

    database: str
    table: str
    type: Operation
    ts: int
    xid: int | None
    xoffset: int
    commit: bool
    position: BinlogPosition
    gtid: str | None
    server_id: int
    thread_id: int | None
    primary_key: tuple[Any, ...]
    primary_key_columns: tuple[str, ...]
    data: dict[str, Any]
    old: dict[str, Any] | None = None
    query: str | None = None


@dataclass(frozen=True, slots=True)
class DdlEvent:
    """A schema change (`--output-ddl`): `type` is the DDL kind such as `table-alter`, `sql` the statement."""

    database: str
    table: str | None
    type: str
    ts: int
    position: BinlogPosition
    gtid: str | None
    server_id: int
    thread_id: int | None
    sql: str
    xoffset: int = 0
    commit: bool = True


@dataclass(frozen=True, slots=True)
class ColumnDefinition:
    """One column of a schema event: a `type` of the vocabulary in docs/events.md and only the facts that type has
    (`unsigned` for integers, `precision`/`scale` for decimal, `fsp` for time/datetime/timestamp, `bits` for bit,
    `values` for enum/set); the others stay None and are not printed."""

    name: str
    type: str
    unsigned: bool | None = None
    precision: int | None = None
    scale: int | None = None
    fsp: int | None = None
    bits: int | None = None
    values: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SchemaEvent:
    """A table's definition (`--output-schema`), from the binlog's TABLE_MAP metadata: emitted inside a transaction
    just before the first row event of a table whose definition differs from the last one emitted for it.

    `xoffset` is that row event's: the schema event does not take an index of its own, so row xoffsets are the same
    with or without schema events. `primary_key_columns` are in key order, like row events'.
    """

    database: str
    table: str
    ts: int
    xoffset: int
    position: BinlogPosition
    gtid: str | None
    server_id: int
    thread_id: int | None
    columns: tuple[ColumnDefinition, ...]
    primary_key_columns: tuple[str, ...]
    type: str = "table-schema"
    commit: bool = False


Event = ChangeEvent | DdlEvent | SchemaEvent
