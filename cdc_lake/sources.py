"""What `cdc-lake deliver` reads: the streamer's JSON-lines file, or a Kinesis stream. Each source hands out
Firehose-shaped records and a cursor (file offset / per-shard sequence numbers) to checkpoint after delivery."""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_streamer.errors import ConfigError, RuntimeFailure

Cursor = dict[str, Any]


@dataclass
class Batch:
    records: list[dict[str, Any]]
    cursor: Cursor  # where to resume after these records
    size: int
    caught_up: bool = False  # the source had nothing more to give right now


class FileSource:
    """Complete lines of a JSON-lines file from a byte offset; a line without its newline yet is left alone."""

    def __init__(self, path: Path, cursor: Cursor | None) -> None:
        if not path.exists():
            raise ConfigError(f"--from-file (CDC_FROM_FILE): {path} does not exist")
        self.path = path
        self.offset = int((cursor or {}).get("offset", 0))
        if self.offset > path.stat().st_size:
            raise ConfigError(
                f"--from-file: {path} is shorter ({path.stat().st_size} bytes) than the delivery checkpoint "
                f"({self.offset}); it was replaced: remove the checkpoint to deliver it from the start"
            )
        self._ids = itertools.count()

    def read(self, max_bytes: int) -> Batch:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read(max_bytes)
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) == max_bytes and chunk:  # one line longer than max_bytes: read it whole
                return self._whole_line()
            return Batch([], {"offset": self.offset}, 0, caught_up=True)
        lines = chunk[: end + 1].splitlines()
        start = self.offset
        self.offset += end + 1
        now = int(time.time() * 1000)
        records = [self._record(line, now) for line in lines if line.strip()]
        return Batch(records, {"offset": self.offset, "from": start}, end + 1)

    def _whole_line(self) -> Batch:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            line = handle.readline()
        if not line.endswith(b"\n"):
            return Batch([], {"offset": self.offset}, 0, caught_up=True)
        self.offset += len(line)
        return Batch([self._record(line.rstrip(b"\n"), int(time.time() * 1000))], {"offset": self.offset}, len(line))

    def _record(self, line: bytes, now: int) -> dict[str, Any]:
        return {
            "recordId": f"{self.offset}-{next(self._ids)}",
            "approximateArrivalTimestamp": now,
            "data": base64.b64encode(line).decode("ascii"),
        }


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last_sequence: str | None
    done: bool = False
    behind_ms: int | None = None  # MillisBehindLatest of the last read; None before the first


@dataclass
class KinesisSource:
    """Every shard of a stream, from the checkpointed sequence numbers (or the oldest record).

    KPL aggregates are unpacked here, as Firehose does before calling a transform with dynamic partitioning:
    each user record becomes its own Firehose record.
    """

    client: Any
    stream: str
    cursor: Cursor | None
    shards: dict[str, _Shard] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sequences = dict((self.cursor or {}).get("shards", {}))
        try:
            listed = self.client.list_shards(StreamName=self.stream)["Shards"]
        except Exception as error:  # noqa: BLE001 - one line for the user
            if type(error).__name__ == "NoCredentialsError":
                raise ConfigError("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/...") from None
            code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
            if code == "ResourceNotFoundException":
                raise ConfigError(f"--from-kinesis (CDC_FROM_KINESIS): stream {self.stream!r} does not exist") from None
            raise RuntimeFailure(f"cannot list the shards of {self.stream!r}: {error}") from None
        for shard in listed:
            shard_id = shard["ShardId"]
            self.shards[shard_id] = _Shard(shard_id, None, sequences.get(shard_id))

    def _iterator(self, shard: _Shard) -> str | None:
        if shard.last_sequence:
            response = self.client.get_shard_iterator(
                StreamName=self.stream,
                ShardId=shard.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=shard.last_sequence,
            )
        else:
            response = self.client.get_shard_iterator(
                StreamName=self.stream, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        iterator: str | None = response["ShardIterator"]
        return iterator

    def read(self, max_bytes: int) -> Batch:
        from firehose_transform.kpl import deaggregate

        records: list[dict[str, Any]] = []
        size = 0
        for shard in self.shards.values():
            if shard.done:
                continue
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            response = self.client.get_records(ShardIterator=shard.iterator, Limit=1000)
            shard.iterator = response.get("NextShardIterator")
            shard.behind_ms = int(response.get("MillisBehindLatest", 0))
            if shard.iterator is None:
                shard.done = True  # a closed shard, read to its end
            for raw in response["Records"]:
                sequence = raw["SequenceNumber"]
                arrival = int(raw["ApproximateArrivalTimestamp"].timestamp() * 1000)
                for sub, data in enumerate(deaggregate(bytes(raw["Data"]))):
                    records.append(
                        {
                            "recordId": f"{shard.shard_id}:{sequence}:{sub}",
                            "approximateArrivalTimestamp": arrival,
                            "data": base64.b64encode(data).decode("ascii"),
                            "kinesisRecordMetadata": {
                                "shardId": shard.shard_id,
                                "partitionKey": raw["PartitionKey"],
                                "approximateArrivalTimestamp": arrival,
                                "sequenceNumber": sequence,
                                "subsequenceNumber": sub,
                            },
                        }
                    )
                    size += len(data)
                shard.last_sequence = sequence
            if size >= max_bytes:
                break
        cursor = {"shards": {s.shard_id: s.last_sequence for s in self.shards.values() if s.last_sequence}}
        # An empty read is not the end of a shard: Kinesis can return empty pages with data further on.
        caught_up = not records and all(s.done or s.behind_ms == 0 for s in self.shards.values())
        return Batch(records, cursor, size, caught_up=caught_up)


def kinesis_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session(region_name=region).client("kinesis", endpoint_url=endpoint_url)
    except NoRegionError:
        raise ConfigError("--region (CDC_REGION): no AWS region; set --region or AWS_REGION") from None
