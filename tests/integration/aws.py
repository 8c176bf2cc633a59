"""moto's server mode on loopback, and helpers to read a Kinesis stream back and to inject failures.

moto never fails a PutRecords entry and never throttles, so `FaultyKinesis` wraps the real boto3 client: the
entries it chooses to fail are not sent at all (as Kinesis does with failed entries), the rest go to moto for
real, and the two are merged into one response in request order.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.exceptions import ClientError


@dataclass(frozen=True)
class StreamRecord:
    shard: str
    sequence: int
    partition_key: str  # the Kinesis record's key (for an aggregate: the aggregate's)
    user_key: str  # the user record's own key
    event: dict[str, Any]


def kinesis(endpoint: str, region: str = "us-east-1") -> Any:
    return boto3.client("kinesis", endpoint_url=endpoint, region_name=region)


def create_stream(endpoint: str, name: str, shards: int = 4) -> None:
    client = kinesis(endpoint)
    client.create_stream(StreamName=name, ShardCount=shards)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})


def read_stream(endpoint: str, name: str) -> list[StreamRecord]:
    """Every user record in the stream, shard by shard in sequence order, aggregates unpacked."""
    client = kinesis(endpoint)
    records: list[StreamRecord] = []
    for shard in client.list_shards(StreamName=name)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = client.get_shard_iterator(StreamName=name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            response = client.get_records(ShardIterator=iterator, Limit=10_000)
            for raw in response["Records"]:
                for user in iter_deaggregate_records([raw], data_format="Boto3"):
                    data = user["kinesis"]["data"]
                    if user["kinesis"].get("aggregated"):  # the library base64-encodes unpacked records
                        data = base64.b64decode(data)
                    records.append(
                        StreamRecord(
                            shard=shard_id,
                            sequence=int(raw["SequenceNumber"]),
                            partition_key=raw["PartitionKey"],
                            user_key=user["kinesis"]["partitionKey"],
                            event=json.loads(data),
                        )
                    )
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return records


class FaultyKinesis:
    """A real boto3 Kinesis client whose chosen entries fail and chosen calls raise, as a real stream's can."""

    def __init__(
        self,
        client: Any,
        fail_entry: Callable[[dict[str, Any]], str | None] = lambda entry: None,
        fail_call: Callable[[int], bool] = lambda call: False,
    ) -> None:
        self.client = client
        self.fail_entry = fail_entry
        self.fail_call = fail_call
        self.calls = 0
        self.failed_entries = 0
        self.failed_calls = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.fail_call(self.calls):
            self.failed_calls += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded (injected)"}},
                "PutRecords",
            )
        codes = [self.fail_entry(entry) for entry in Records]
        passing = [entry for entry, code in zip(Records, codes, strict=True) if code is None]
        sent = self.client.put_records(StreamName=StreamName, Records=passing)["Records"] if passing else []
        results, accepted = [], iter(sent)
        for code in codes:
            if code is None:
                results.append(next(accepted))
            else:
                self.failed_entries += 1
                results.append({"ErrorCode": code, "ErrorMessage": "injected failure"})
        return {"FailedRecordCount": sum(code is not None for code in codes), "Records": results}


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")
