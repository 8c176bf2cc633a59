"""A Kinesis client that fails the way a throttled stream does, around a REAL boto3 client (moto in the tests).

moto's Kinesis accepts every record, so the faults are injected here, only while `faulting` is set (a test turns
it on for a sustained period). That period is cut into spells of 1 to 5 s; a share `rates.outage` of them are
outages, where every call is throttled. In the other spells each PutRecords call is, by a seeded draw:

- throttled whole (`rates.throttle`): a botocore `ClientError` ProvisionedThroughputExceededException, nothing sent;
- cut (`rates.connection`): a connection error; half the time before the request left (nothing written), half the
  time after moto stored the records (a `ReadTimeoutError`: the response is lost, so the caller resends records
  the stream already has - duplicates, as on AWS);
- otherwise partly failed: each entry fails with probability `rates.entry` (ErrorCode
  ProvisionedThroughputExceededException or InternalFailure, as Kinesis reports them); only the other entries go
  to moto, and the two are merged back into one response in request order, with the real `FailedRecordCount`.

`high_water` holds, per shard, the highest sequence number moto gave a record sent through this client: every
record at or below it was in the stream at that moment (the test reads it at the kill).

`kill()` makes every later call raise `Killed` (a BaseException, which no `except Exception` catches): the
streamer using the client dies at its next call without flushing, as under SIGKILL.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

ENTRY_ERRORS = ("ProvisionedThroughputExceededException", "InternalFailure")


class Killed(BaseException):
    """The streamer's process was killed (simulated): nothing after this call runs."""


@dataclass(frozen=True, slots=True)
class FaultRates:
    outage: float = 0.25  # share of the 1-5 s spells in which every call is throttled
    throttle: float = 0.25  # share of the other calls refused whole
    connection: float = 0.03  # share of calls cut by a connection error
    entry: float = 0.25  # share of the entries of the remaining calls that fail


@dataclass(slots=True)
class FaultCounts:
    calls: int = 0
    throttled_calls: int = 0  # outage spells included
    outages: int = 0
    connection_errors: int = 0
    lost_responses: int = 0  # connection errors after moto stored the records
    failed_entries: int = 0
    records_sent: int = 0  # Kinesis records (plain or aggregates) moto stored, resends and lost responses included


class KinesisFaults:
    def __init__(self, client: Any, seed: int, rates: FaultRates | None = None) -> None:
        self.client = client
        self.rates = rates or FaultRates()
        self.counts = FaultCounts()
        self.faulting = threading.Event()
        self._killed = threading.Event()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # the counters are read by the test thread
        self._spell_ends = 0.0
        self._outage = False
        self.high_water: dict[str, int] = {}

    def kill(self) -> None:
        self._killed.set()

    def revive(self) -> None:
        """For the next streamer (the restarted process)."""
        self._killed.clear()

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        if self._killed.is_set():
            raise Killed
        with self._lock:
            self.counts.calls += 1
        if not self.faulting.is_set():
            return self._send(StreamName, Records)
        now = time.monotonic()
        if now >= self._spell_ends:
            self._spell_ends = now + self._rng.uniform(1.0, 5.0)
            self._outage = self._rng.random() < self.rates.outage
            with self._lock:
                self.counts.outages += self._outage
        draw = 0.0 if self._outage else self._rng.random()
        if draw < self.rates.throttle:
            with self._lock:
                self.counts.throttled_calls += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded (injected)"}},
                "PutRecords",
            )
        if draw < self.rates.throttle + self.rates.connection:
            with self._lock:
                self.counts.connection_errors += 1
            endpoint = str(self.client.meta.endpoint_url)
            if self._rng.random() < 0.5:
                raise EndpointConnectionError(endpoint_url=endpoint)
            self._send(StreamName, Records)
            with self._lock:
                self.counts.lost_responses += 1
            raise ReadTimeoutError(endpoint_url=endpoint)
        codes = [self._rng.choice(ENTRY_ERRORS) if self._rng.random() < self.rates.entry else None for _ in Records]
        passing = [entry for entry, code in zip(Records, codes, strict=True) if code is None]
        accepted = iter(self._send(StreamName, passing)["Records"] if passing else [])
        results = [
            next(accepted) if code is None else {"ErrorCode": code, "ErrorMessage": "injected failure"}
            for code in codes
        ]
        failed = len(Records) - len(passing)
        with self._lock:
            self.counts.failed_entries += failed
        return {"FailedRecordCount": failed, "Records": results}

    def _send(self, stream: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = self.client.put_records(StreamName=stream, Records=records)
        assert response.get("FailedRecordCount", 0) == 0, "moto failed a record"
        with self._lock:
            self.counts.records_sent += len(records)
            for result in response["Records"]:
                shard, sequence = result["ShardId"], int(result["SequenceNumber"])
                self.high_water[shard] = max(self.high_water.get(shard, 0), sequence)
        return response
