"""The flattened event schema as a pyarrow schema (from the one definition in `event_schema`)."""

from __future__ import annotations

import pyarrow as pa

from .event_schema import EVENT_COLUMNS

_TYPES = {"string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "boolean": pa.bool_()}

EVENT_SCHEMA = pa.schema([pa.field(column.name, _TYPES[column.type]) for column in EVENT_COLUMNS])
