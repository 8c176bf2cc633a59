"""One change event (docs/events.md) -> one flattened lake row and its partition keys. Pure functions, stdlib only.

    parse_event(payload)  bytes of one JSON event -> dict   (numbers kept as written: `1.50` stays `1.50`)
    flatten(event)        dict -> FlatRow(row, partition_keys)

`row` has exactly the columns of `cdc_lake.event_schema.COLUMN_NAMES`, in that order; `partition_keys` are
{database, table, dt, hour}, with dt `YYYY-MM-DD` and hour `HH` of the event's `ts` in UTC. Row images
(`data`, `old`) and the key (`primary_key`, `primary_key_columns`) become JSON *text* columns, encoded with the
streamer's own `encode_value`, so DECIMAL(65,30), 2^64-1 and `1.50` reach the lake exactly as the binlog had them.

DDL events (`sql` and no `data`) go to the `_ddl` table of their database: `type` is the DDL kind, `data` is
`{"table": ..., "sql": ...}`, `xid` is null. They carry their `xoffset` (0 when absent, as in events written
before DDL events had one).

Schema events (type `table-schema`: `columns` and no `data`) go to the `_schema` table of their database: `data`
is `{"table": ..., "columns": [...]}` (the columns exactly as received), `primary_key_columns` the key's column
names, `xid`, `old` and `primary_key` are null, and `xoffset` is required. Each column must be an object with a
string `name` and a string `type`.

Anything that does not follow the event format raises `InvalidEvent` with a one-line reason naming the field.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from cdc_lake.event_schema import DDL_TABLE, SCHEMA_TABLE, binlog_order
from cdc_streamer.encoding import RawJson, encode_value
from cdc_streamer.path_names import path_value as partition_value

ROW_TYPES = frozenset({"insert", "update", "delete"})
SCHEMA_TYPE = "table-schema"
DDL_TYPES = frozenset(
    {
        "database-create",
        "database-alter",
        "database-drop",
        "table-create",
        "table-alter",
        "table-rename",
        "table-drop",
        "table-truncate",
    }
)

_POSITION = re.compile(r"(?P<file>[^:\s]+\.(?P<number>[0-9]+)):(?P<offset>[0-9]+)", re.ASCII)
_BIGINT = 2**63  # Glue `bigint` is signed 64-bit
_INT = 2**31  # Glue `int`
_MAX_FILE_NUMBER = 10**10 - 1  # binlog_order pads the file number to 10 digits
_MAX_TS = 253_402_300_799  # 9999-12-31 23:59:59 UTC
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_JSON_TYPES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    RawJson: "number",
    int: "integer",
    bool: "boolean",
    type(None): "null",
}


class InvalidEvent(ValueError):
    """The payload is not a change event this transform can flatten; `reason` is one line naming what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FlatRow:
    """A flattened event: `row` (the lake columns, in schema order) and where it goes (`partition_keys`)."""

    row: dict[str, Any]
    partition_keys: dict[str, str]


def parse_event(payload: bytes) -> dict[str, Any]:
    """One event's UTF-8 JSON -> dict. Fractional and exponent numbers become `RawJson` (their exact text);
    integers are Python ints (exact at any size). `NaN`/`Infinity` are not JSON and are refused."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"payload is not UTF-8: {error}") from None
    try:
        event = _DECODER.decode(text)
    except RecursionError:
        raise InvalidEvent("invalid JSON: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an integer over Python's digit limit
        raise InvalidEvent(f"invalid JSON: {error}") from None
    if type(event) is not dict:
        raise InvalidEvent(f"event must be a JSON object, got {_json_type(event)}")
    return event


def flatten(event: dict[str, Any]) -> FlatRow:
    """The lake row and partition keys of one parsed event (see the module docstring)."""
    if type(event) is not dict:
        raise InvalidEvent(f"event must be a JSON object, got {_json_type(event)}")
    database = _name(event, "database")
    kind = _required(event, "type", str)
    ts = _required(event, "ts", int)
    if not 0 <= ts <= _MAX_TS:
        raise InvalidEvent(f"field 'ts' is out of range (Unix seconds from 1970 to 9999): {show(ts)}")
    file, offset, file_number = _position(event)
    xid: int | None = None
    primary_key: str | None = None
    primary_key_columns: str | None = None
    old_text: str | None = None
    if "data" not in event and "sql" in event:  # a DDL event
        if kind not in DDL_TYPES:
            raise InvalidEvent(
                f"unknown type {show(kind)} for a DDL event (expected one of {', '.join(sorted(DDL_TYPES))})"
            )
        table = DDL_TABLE
        source_table = _optional(event, "table", str)
        sql = _required(event, "sql", str)
        xoffset: int = _optional(event, "xoffset", int) or 0
        data_text = encode_value({"table": source_table, "sql": sql})
    elif kind == SCHEMA_TYPE or ("data" not in event and "columns" in event):
        if kind != SCHEMA_TYPE:
            raise InvalidEvent(f"unknown type {show(kind)} for a schema event (expected {SCHEMA_TYPE})")
        table = SCHEMA_TABLE
        source_table = _name(event, "table")
        xoffset = _required(event, "xoffset", int)
        columns = _columns(event)
        data_text = _encode({"table": source_table, "columns": columns}, "columns")
        primary_key_columns = _encode(_required(event, "primary_key_columns", list), "primary_key_columns")
    else:
        if kind not in ROW_TYPES:
            raise InvalidEvent(f"unknown type {show(kind)} for a row event (expected insert, update or delete)")
        table = _name(event, "table")
        xoffset = _required(event, "xoffset", int)
        xid = _bigint(event, "xid")
        data_text = _encode(_required(event, "data", dict), "data")
        old_text = _encode_optional(event, "old", dict)
        primary_key = _encode_optional(event, "primary_key", list)
        primary_key_columns = _encode_optional(event, "primary_key_columns", list)
    if not 0 <= xoffset < _INT:
        raise InvalidEvent(f"field 'xoffset' is out of range (0 to {_INT - 1}): {show(xoffset)}")
    commit = _optional(event, "commit", bool) or False
    gtid = _optional(event, "gtid", str)
    server_id = _bigint(event, "server_id")
    thread_id = _bigint(event, "thread_id")
    dt, hour = _dt_hour(ts // 3600)
    row = {
        "type": kind,
        "ts": ts,
        "xid": xid,
        "xoffset": xoffset,
        "commit": commit,
        "binlog_file": file,
        "binlog_position": offset,
        "binlog_order": binlog_order(file_number, offset, xoffset),
        "gtid": gtid,
        "server_id": server_id,
        "thread_id": thread_id,
        "primary_key": primary_key,
        "primary_key_columns": primary_key_columns,
        "data": data_text,
        "old": old_text,
    }
    keys = {"database": partition_value(database), "table": partition_value(table), "dt": dt, "hour": hour}
    return FlatRow(row, keys)


def show(value: Any, limit: int = 80) -> str:
    """A value for a reason: its repr, cut to `limit` characters so one bad field cannot flood the log."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (Python's digit limit)
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- field readers -----------------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_float=RawJson, parse_constant=_refuse_constant)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _required(event: dict[str, Any], field: str, kind: type) -> Any:
    if field not in event:
        raise InvalidEvent(f"missing field {field!r}")
    value = event[field]
    if type(value) is not kind:
        raise InvalidEvent(f"field {field!r} must be {_article(kind)}, got {_json_type(value)}")
    return value


def _optional(event: dict[str, Any], field: str, kind: type) -> Any:
    """Absent and null are the same: None."""
    value = event.get(field)
    if value is not None and type(value) is not kind:
        raise InvalidEvent(f"field {field!r} must be {_article(kind)} or null, got {_json_type(value)}")
    return value


def _article(kind: type) -> str:
    name = _JSON_TYPES[kind]
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _bigint(event: dict[str, Any], field: str) -> int | None:
    value: int | None = _optional(event, field, int)
    if value is not None and not -_BIGINT <= value < _BIGINT:
        raise InvalidEvent(f"field {field!r} is out of the signed 64-bit range: {show(value)}")
    return value


def _name(event: dict[str, Any], field: str) -> str:
    """A database or table name: non-empty and valid Unicode (no lone surrogate from a `\\ud800` escape). It becomes
    an S3 path segment's value Hive-escaped (`partition_value`), so '/' or '=' in a name is fine."""
    value: str = _required(event, field, str)
    if not value:
        raise InvalidEvent(f"field {field!r} must be a non-empty name, got {show(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent(f"field {field!r} is not valid Unicode: {show(value)}") from None
    return value


def _position(event: dict[str, Any]) -> tuple[str, int, int]:
    position: str = _required(event, "position", str)
    match = _POSITION.fullmatch(position)
    if match is None:
        raise InvalidEvent(f"malformed position {show(position)}: expected FILE:OFFSET such as binlog.000042:1876")
    offset = int(match["offset"])
    number = int(match["number"])
    if offset >= _BIGINT or number > _MAX_FILE_NUMBER:
        raise InvalidEvent(f"malformed position {show(position)}: file number or offset out of range")
    return match["file"], offset, number


def _columns(event: dict[str, Any]) -> list[Any]:
    """A schema event's `columns`: a list of objects, each with a string `name` and a string `type`."""
    columns: list[Any] = _required(event, "columns", list)
    for index, column in enumerate(columns):
        field = f"columns[{index}]"
        if type(column) is not dict:
            raise InvalidEvent(f"field {field!r} must be an object, got {_json_type(column)}")
        for key in ("name", "type"):
            if key not in column:
                raise InvalidEvent(f"missing field '{field}.{key}'")
            if type(column[key]) is not str:
                raise InvalidEvent(f"field '{field}.{key}' must be a string, got {_json_type(column[key])}")
    return columns


def _encode(value: Any, field: str) -> str:
    try:
        return encode_value(value)
    except RecursionError:
        raise InvalidEvent(f"field {field!r} is nested too deeply") from None


def _encode_optional(event: dict[str, Any], field: str, kind: type) -> str | None:
    value = _optional(event, field, kind)
    return None if value is None else _encode(value, field)


@functools.lru_cache(maxsize=4096)
def _dt_hour(hours: int) -> tuple[str, str]:
    """(`YYYY-MM-DD`, `HH`) in UTC of the hour that starts `hours` hours after the epoch."""
    days, hour = divmod(hours, 24)
    return datetime.date.fromordinal(_EPOCH_ORDINAL + days).isoformat(), f"{hour:02d}"
