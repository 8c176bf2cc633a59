"""A lake directory written the way the pipeline writes it, for compaction tests: Parquet files with the raw
events schema in the lake layout, schema events in the `_schema` partition, binlog orders from a counter."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdc_lake.event_schema import EVENT_COLUMNS, binlog_order

_ARROW = {"string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "boolean": pa.bool_()}
ORDERS: list[dict[str, Any]] = [
    {"name": "id", "type": "int", "unsigned": False},
    {"name": "price", "type": "decimal", "precision": 10, "scale": 2},
    {"name": "note", "type": "varchar"},
]


class Lake:
    """A lake directory and a binlog position counter: each `txn` is one transaction."""

    def __init__(self, root: Path, database: str = "app") -> None:
        self.root = root
        self.database = database
        self.position = 100

    def write(self, table: str, rows: list[dict[str, Any]]) -> Path:
        directory = self.root / f"events/database={self.database}/table={table}/dt=2026-11-23/hour=10"
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {c.name: pa.array([row.get(c.name) for row in rows], type=_ARROW[c.type]) for c in EVENT_COLUMNS}
        path = directory / f"test-{uuid.uuid4()}.parquet"
        pq.write_table(pa.table(arrays), path)
        return path

    def schema(self, table: str, columns: list[dict[str, Any]], key: list[str]) -> None:
        self.position += 10
        data = json.dumps({"table": table, "columns": columns})
        order = binlog_order(1, self.position, 0)
        self.write(
            "_schema",
            [
                {
                    "type": "table-schema",
                    "ts": 1_790_000_000,
                    "xoffset": 0,
                    "binlog_order": order,
                    "data": data,
                    "primary_key_columns": json.dumps(key),
                }
            ],
        )

    def txn(self, table: str, *changes: tuple[str, dict[str, Any], dict[str, Any] | None]) -> list[dict[str, Any]]:
        """Events of one transaction: (type, data, old) each; returns the flattened rows (not yet written)."""
        self.position += 10
        rows = []
        for xoffset, (kind, data, old) in enumerate(changes):
            rows.append(
                {
                    "type": kind,
                    "ts": 1_790_000_000 + self.position,
                    "xoffset": xoffset,
                    "binlog_file": "binlog.000001",
                    "binlog_position": self.position,
                    "binlog_order": binlog_order(1, self.position, xoffset),
                    "data": json.dumps(data),
                    "old": json.dumps(old) if old is not None else None,
                    "primary_key": json.dumps([data.get("id")]),
                    "primary_key_columns": '["id"]',
                }
            )
        return rows
