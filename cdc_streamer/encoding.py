"""Events -> Maxwell-format JSON text. Pure functions.

A hand-rolled encoder rather than `json.dumps`, for one reason: DECIMAL must reach the JSON text exactly as the
server stored it (`12.30`, 65 digits), and the standard encoder can only print numbers through float.

`encode_value` is the C version from `cdc_streamer._fastpath` when that extension is built (and CDC_PURE_PYTHON
was not set when this module was imported), else `encode_value_python`; the two write the same text for every
value (tests/unit/test_fast_encoding.py). This module stays stdlib-only: without the extension (the Firehose
transform Lambda ships only .py files) the Python version is used.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from .event import ChangeEvent, ColumnDefinition, DdlEvent, Event, SchemaEvent


class RawJson(str):
    """Text that is already JSON, emitted as is: `json.loads(text, parse_float=RawJson)` keeps numbers exactly as
    they were written when the document is encoded again (`1.50` stays `1.50`, `0.000` stays `0.000`)."""

    __slots__ = ()


def encode_value_python(value: Any) -> str:
    """The reference encoder: exact-type dispatch, subclasses through `_encode_subclass`."""
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
        return "{" + ",".join(f"{encode_basestring(str(k))}:{encode_value_python(v)}" for k, v in value.items()) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join(encode_value_python(item) for item in value) + "]"
    return _encode_subclass(value)


def _encode_subclass(value: Any) -> str:
    """Instances of subclasses of the JSON types (rare): encode them as their base type. The C encoder calls this
    too, so that the whole subtree goes through the Python reference."""
    if isinstance(value, bool):
        return encode_value_python(bool(value))
    if isinstance(value, int):
        return encode_value_python(int(value))
    if isinstance(value, float):
        return encode_value_python(float(value))
    if isinstance(value, Decimal):
        return encode_value_python(Decimal(value))
    if isinstance(value, dict):
        return encode_value_python(dict(value))
    if isinstance(value, list | tuple | set | frozenset):
        return encode_value_python(list(value))
    text: str = encode_basestring(str(value))
    return text


def pure_python() -> bool:
    """CDC_PURE_PYTHON set (to anything but "" or "0"): use the Python path everywhere (encoder and row decoder)."""
    return os.environ.get("CDC_PURE_PYTHON", "") not in ("", "0")


def _compiled_encoder() -> Callable[[Any], str] | None:
    if pure_python():
        return None
    try:
        from . import _fastpath
    except ImportError:
        return None
    _fastpath.setup_encoder(RawJson, Decimal, _encode_subclass)
    return _fastpath.encode_value


encode_value: Callable[[Any], str] = _compiled_encoder() or encode_value_python


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


def encode_event_python(event: Event) -> str:
    """One event as one line of JSON (no trailing newline)."""
    return encode_value(event_fields(event))


def encode_lines_python(events: Sequence[Event]) -> str:
    """The events as JSON lines, each ended by a newline."""
    return "".join(encode_event_python(event) + "\n" for event in events)


def _compiled_event_encoders() -> tuple[Callable[[Event], str], Callable[[Sequence[Event]], str]] | None:
    """The C versions: a ChangeEvent is written field by field without `change_event_fields`' dict; other events
    go through `encode_event_python`."""
    if encode_value is encode_value_python:
        return None
    from . import _fastpath

    _fastpath.setup_events(ChangeEvent, encode_event_python)
    return _fastpath.encode_event, _fastpath.encode_lines


encode_event, encode_lines = _compiled_event_encoders() or (encode_event_python, encode_lines_python)
