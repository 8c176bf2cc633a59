"""An in-memory stand-in for a Kinesis stream's PutRecords: keeps every accepted record, per partition key, in
order. For tests and for benchmarking the sink's encode+batch path without a network."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class MemoryKinesis:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []
        self.by_key: dict[str, list[bytes]] = defaultdict(list)
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        results = []
        for entry in Records:
            key, data = entry["PartitionKey"], bytes(entry["Data"])
            self.records.append((key, data))
            self.by_key[key].append(data)
            results.append({"SequenceNumber": str(len(self.records)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": 0, "Records": results}
