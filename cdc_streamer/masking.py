"""PII masking (`--mask-columns db.table.column`): a keyed HMAC-SHA256 in place of each value, before any event or
snapshot row leaves the process.

    masked value = lowercase hex of HMAC-SHA256(key, UTF-8 of the value's canonical text)

The canonical text is the value as the event format prints it (docs/events.md), so the streamer (binlog values)
and the snapshot (SELECT values) mask a value the same way and a masked key still joins and merges:

    column types           canonical text                          example
    char, varchar, text,   the string                              'ann@example.com'
    enum
    binary, varbinary,     base64 of the bytes (BINARY(n) padded)  x'00FF' -> 'AP8='
    blob
    tinyint ... bigint     the decimal digits                      -42 -> '-42'
    date                   YYYY-MM-DD ('0000-00-00' as is)         '2024-02-29'

Other types (numbers with fractions, times, JSON, SET, BIT, geometry) are refused at start: their two
representations do not agree to the byte, and a mask that differs between snapshot and stream would break the
merge. NULL stays NULL (a NULL holds no personal data, and keeping it keeps `IS NULL` queries right).
Whatever a masked column holds at run time (after an ALTER changed its type) is masked all the same: a value of a
masked column never leaves unmasked.

A masked column's type becomes `varchar` in schema events and `string` in snapshot Parquet, so the lake declares
it as a string. A masked primary-key column masks `primary_key` (and with it the Kinesis partition key) too. Events
of a table with masked columns carry no `query` (`--output-query`): the SQL text holds the unmasked values.

The key is at least 16 bytes, from CDC_MASK_KEY or from a Secrets Manager secret (`--mask-key-secret-arn`); it is
registered with the log redactor and never printed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import ConfigError
from .event import ChangeEvent, ColumnDefinition, Event, SchemaEvent

FLAG = "--mask-columns (CDC_MASK_COLUMNS)"
KEY_ENV = "CDC_MASK_KEY"
KEY_SECRET_FLAG = "--mask-key-secret-arn (CDC_MASK_KEY_SECRET_ARN)"
MIN_KEY_BYTES = 16

MASKABLE_TYPES = frozenset(
    {
        "char",
        "varchar",
        "tinytext",
        "text",
        "mediumtext",
        "longtext",
        "enum",
        "binary",
        "varbinary",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "integer",
        "bigint",
        "date",
    }
)
MASKED_TYPE = "varchar"  # the schema-event type of a masked column


@dataclass(frozen=True, slots=True)
class MaskPattern:
    """`db.table.column`; the table may be `*` (every table of the database)."""

    database: str
    table: str
    column: str

    def matches(self, database: str, table: str, column: str) -> bool:
        return (
            self.database == database
            and self.table in ("*", table)
            and self.column.lower() == column.lower()  # MySQL column names are case-insensitive
        )

    def __str__(self) -> str:
        return f"{self.database}.{self.table}.{self.column}"


def parse_mask_columns(text: str | None) -> tuple[MaskPattern, ...]:
    patterns = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        parts = item.split(".")
        if len(parts) != 3 or not all(parts) or "*" in (parts[0], parts[2]):
            raise ConfigError(f"{FLAG}: expected db.table.column or db.*.column entries, got {item!r}")
        patterns.append(MaskPattern(*parts))
    return tuple(patterns)


def check_key(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the masking key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def canonical_text(value: Any) -> str:
    """The value as the event format prints it (the table above); any other value still gets a stable text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(canonical_text(item) for item in value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class Masker:
    """Masks the declared columns of events (`apply`) and of snapshot rows (`mask_value`)."""

    def __init__(self, key: bytes, patterns: Sequence[MaskPattern]) -> None:
        self._key = key
        self.patterns = tuple(patterns)
        self._columns: dict[tuple[str, str], frozenset[str]] = {}

    def __repr__(self) -> str:
        return f"Masker(columns={', '.join(map(str, self.patterns))!r}, key='***')"

    def mask_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return hmac.new(self._key, canonical_text(value).encode("utf-8"), hashlib.sha256).hexdigest()

    def mask_positions(self, row: Sequence[Any], positions: frozenset[int]) -> tuple[Any, ...]:
        """A row of values (snapshot, verify) with the values at `positions` masked."""
        mask = self.mask_value
        return tuple(mask(value) if i in positions else value for i, value in enumerate(row))

    def masked_columns(self, database: str, table: str, columns: Iterable[str]) -> frozenset[str]:
        """Which of these columns of the table are masked."""
        wanted = self._wanted(database, table)
        return frozenset(name for name in columns if name.lower() in wanted)

    def is_masked_table(self, database: str, table: str) -> bool:
        return bool(self._wanted(database, table))

    def apply(self, events: Sequence[Event]) -> list[Event]:
        """The events with every masked column's value replaced; events of other tables unchanged."""
        return [self._apply(event) for event in events]

    def _apply(self, event: Event) -> Event:
        if isinstance(event, ChangeEvent):
            if not self.is_masked_table(event.database, event.table):
                return event
            masked = self.masked_columns(event.database, event.table, event.data)
            if not masked:
                return dataclasses.replace(event, query=None)
            data = self._mask_row(event.data, masked)
            return dataclasses.replace(
                event,
                data=data,
                old=self._mask_row(event.old, masked) if event.old is not None else None,
                primary_key=tuple(data.get(name) for name in event.primary_key_columns)
                if masked.intersection(event.primary_key_columns)
                else event.primary_key,
                query=None,
            )
        if isinstance(event, SchemaEvent) and self.is_masked_table(event.database, event.table):
            names = self.masked_columns(event.database, event.table, (column.name for column in event.columns))
            if names:
                columns = tuple(
                    ColumnDefinition(column.name, MASKED_TYPE) if column.name in names else column
                    for column in event.columns
                )
                return dataclasses.replace(event, columns=columns)
        return event

    def _wanted(self, database: str, table: str) -> frozenset[str]:
        """The masked column names of a table, lowercase (empty for a table without masked columns)."""
        key = (database, table)
        wanted = self._columns.get(key)
        if wanted is None:
            wanted = frozenset(
                p.column.lower() for p in self.patterns if p.database == database and p.table in ("*", table)
            )
            if len(self._columns) < 100_000:
                self._columns[key] = wanted
        return wanted

    def _mask_row(self, row: Mapping[str, Any], masked: frozenset[str]) -> dict[str, Any]:
        return {name: self.mask_value(value) if name in masked else value for name, value in row.items()}
