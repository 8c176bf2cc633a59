"""`--sink lake --lake-dir DIR`: the embedded default. The streamer delivers its events into the lake itself, with
the same function as `cdc-lake deliver` (`cdc_lake.deliver.deliver_payloads`: the Firehose transform's batch
function, the same Parquet and the same key layout), and no Kinesis or file in between.

Rules this sink keeps:
- A transaction is acknowledged only once the files holding every one of its events are durable (LakeStore's
  atomic writes: fsync'd and renamed locally, complete uploads on S3), so the checkpoint never runs ahead of the
  lake. An event the transform rejects is durable too, as an error record under `errors/processing-failed/` with
  the reason: it is acknowledged like the others and never holds the checkpoint back.
- The buffer is delivered when its oldest event is `--lake-buffer-seconds` old or it holds `--lake-buffer-mb` of
  events (checked as events arrive; a transaction bigger than that is delivered in parts and acknowledged after
  its last part), and on every `flush()`, which must leave everything sent acknowledged. The streamer flushes every
  `--flush-interval` (which defaults to `--lake-buffer-seconds` with this sink), at `--max-inflight-rows`, on an
  idle heartbeat and before it stops.
- No timer thread: a quiet source sends no more events to check the age on, but it sends heartbeats, and the
  streamer flushes on each one while anything is in flight. With this sink the CLI shortens the heartbeat period
  to `--lake-buffer-seconds` (at most 1 s, at least 0.1 s), so a quiet source's last events reach the lake within
  about that time.
- A failed write breaks the sink: nothing more is acknowledged, the streamer stops (exit 1) with the checkpoint
  after the last delivered transaction, and a restart delivers the rest again (duplicates, which the merge removes).

`cdc_lake` (and pyarrow) is imported only here, and this module only when `--sink lake` is chosen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from cdc_lake.deliver import DeliveryStats, deliver_payloads
from cdc_lake.storage import LakeStore

from ..encoding import encode_event
from ..errors import ConfigError, RuntimeFailure
from ..event import Event
from ..settings import LakeSettings, StreamerSettings
from . import Ack

log = logging.getLogger(__name__)


class LakeSink:
    def __init__(
        self, store: LakeStore, settings: LakeSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._payloads: list[bytes] = []
        self._size = 0
        self._oldest: float | None = None  # when the oldest buffered event arrived
        self._acks: list[Ack] = []  # transactions whose every event is delivered or buffered, in order
        self._failure: str | None = None
        self.stats = DeliveryStats()

    @classmethod
    def from_settings(cls, settings: StreamerSettings) -> LakeSink:
        if settings.lake is None:
            raise ConfigError("--lake-dir (CDC_LAKE_DIR) is required with --sink lake")
        lake = settings.lake
        store = LakeStore.open(lake.lake_dir, endpoint_url=lake.endpoint_url, region=lake.region)
        log.info("delivering into the lake at %s", store.root if store.local else f"s3://{store.root}")
        if not settings.output_ddl:
            log.warning(
                "--output-ddl is off: the lake will not see TRUNCATE, DROP or RENAME TABLE, so `cdc-lake compact` "
                "cannot apply them and master tables keep the rows they removed; add --output-ddl (CDC_OUTPUT_DDL)"
            )
        return cls(store, lake)

    # -- Sink protocol -------------------------------------------------------------------------------------------

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self._check_usable()
        for event in events:
            payload = encode_event(event).encode("utf-8")
            if self._oldest is None:
                self._oldest = self._clock()
            self._payloads.append(payload)
            self._size += len(payload)
            if self._size >= self._settings.buffer_bytes:
                self._deliver()  # part of this transaction: its ack waits for the delivery of its last event
        self._acks.append(ack)
        if not self._payloads or self._due():
            self._deliver()

    def flush(self) -> None:
        self._check_usable()
        self._deliver()

    def close(self) -> None:
        """Deliver what a failed run left buffered, best effort (the checkpoint does not cover it, so a restart
        delivers it again), and log what was delivered."""
        if self._failure is None and self._payloads:
            try:
                self._deliver()
            except RuntimeFailure as error:
                log.error("%s", error.message)
        log.info(
            "lake sink: %d events delivered, %d rows in %d files, %d rejected by the transform (errors/)",
            self.stats.records,
            self.stats.rows,
            self.stats.files,
            self.stats.failed,
        )

    # -- delivering ----------------------------------------------------------------------------------------------

    def _due(self) -> bool:
        if self._size >= self._settings.buffer_bytes:
            return True
        return self._oldest is not None and self._clock() - self._oldest >= self._settings.buffer_seconds

    def _deliver(self) -> None:
        """Write the buffer durably, then acknowledge the transactions it completed."""
        if self._payloads:
            payloads = self._payloads
            try:
                stats = deliver_payloads(self._store, payloads, self._settings.name)
            except Exception as error:  # noqa: BLE001 - any failure: nothing more may be acknowledged, one line
                self._failure = (
                    f"cannot deliver {len(payloads)} events into the lake at {self._store.root}: "
                    f"{type(error).__name__}: {' '.join(str(error).split())}; the checkpoint stays before them"
                )
                raise RuntimeFailure(self._failure) from None
            self.stats.add(stats)
            self._payloads, self._size, self._oldest = [], 0, None
        acks, self._acks = self._acks, []
        for ack in acks:
            ack()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise RuntimeFailure(self._failure)
