"""Events -> Maxwell-format JSON text. Pure functions.

A hand-rolled encoder rather than `json.dumps`, for one reason: DECIMAL must reach the JSON text exactly as the
server stored it (`12.30`, 65 digits), and the standard encoder can only print numbers through float.
"""

from __future__ import annotations

import math
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from .event import ChangeEvent, ColumnDefinition, DdlEvent, Event, SchemaEvent


class RawJson(str):
    """Text that is already JSON, emitted as is: `json.loads(text, parse_float=RawJson)` keeps numbers exactly as
    they were written when the document is encoded again (`1.50` stays `1.50`, `0.000` stays `0.000`)."""

    __slots__ = ()


def encode_value(value: Any) -> str:
    kind = type(value)
    if kind is RawJson:
        return str.__str__(value)
    if kind is str:
        text: str = encode_basestring(value)
        return text
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    if kind is Decimal:
        return format(value, "f") if value.is_finite() else "null"
    if kind is dict:
        return "{" + ",".join(f"{encode_basestring(str(k))}:{encode_value(v)}" for k, v in value.items()) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join(encode_value(item) for item in value) + "]"
    return _encode_subclass(value)


def _encode_subclass(value: Any) -> str:
    """Instances of subclasses of the JSON types (rare): encode them as their base type."""
    if isinstance(value, bool):
        return encode_value(bool(value))
    if isinstance(value, int):
        return encode_value(int(value))
    if isinstance(value, float):
        return encode_value(float(value))
    if isinstance(value, Decimal):
        return encode_value(Decimal(value))
    if isinstance(value, dict):
        return encode_value(dict(value))
    if isinstance(value, list | tuple | set | frozenset):
        return encode_value(list(value))
    text: str = encode_basestring(str(value))
    return text


def change_event_fields(event: ChangeEvent) -> dict[str, Any]:
    """The event as an ordered mapping of Maxwell's field names (the order Maxwell prints them in)."""
    fields: dict[str, Any] = {
        "database": event.database,
        "table": event.table,
        "type": event.type.value,
        "ts": event.ts,
        "xid": event.xid,
        "xoffset": event.xoffset,
    }
    if event.commit:
        fields["commit"] = True
    fields.update(
        position=str(event.position),
        gtid=event.gtid,
        server_id=event.server_id,
        thread_id=event.thread_id,
        primary_key=list(event.primary_key),
        primary_key_columns=list(event.primary_key_columns),
    )
    if event.query is not None:
        fields["query"] = event.query
    fields["data"] = event.data
    if event.old is not None:
        fields["old"] = event.old
    return fields


def ddl_event_fields(event: DdlEvent) -> dict[str, Any]:
    return {
        "database": event.database,
        "table": event.table,
        "type": event.type,
        "ts": event.ts,
        "xoffset": event.xoffset,
        "position": str(event.position),
        "gtid": event.gtid,
        "server_id": event.server_id,
        "thread_id": event.thread_id,
        "sql": event.sql,
    }


def column_fields(column: ColumnDefinition) -> dict[str, Any]:
    """A schema event's column: name, type, then only the facts its type has."""
    fields: dict[str, Any] = {"name": column.name, "type": column.type}
    for key in ("unsigned", "precision", "scale", "fsp", "bits"):
        value = getattr(column, key)
        if value is not None:
            fields[key] = value
    if column.values is not None:
        fields["values"] = list(column.values)
    return fields


def schema_event_fields(event: SchemaEvent) -> dict[str, Any]:
    return {
        "database": event.database,
        "table": event.table,
        "type": event.type,
        "ts": event.ts,
        "xoffset": event.xoffset,
        "commit": event.commit,
        "position": str(event.position),
        "gtid": event.gtid,
        "server_id": event.server_id,
        "thread_id": event.thread_id,
        "columns": [column_fields(column) for column in event.columns],
        "primary_key_columns": list(event.primary_key_columns),
    }


def event_fields(event: Event) -> dict[str, Any]:
    if isinstance(event, ChangeEvent):
        return change_event_fields(event)
    if isinstance(event, SchemaEvent):
        return schema_event_fields(event)
    return ddl_event_fields(event)


def encode_event(event: Event) -> str:
    """One event as one line of JSON (no trailing newline)."""
    return encode_value(event_fields(event))
