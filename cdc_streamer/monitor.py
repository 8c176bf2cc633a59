"""What the running streamer exposes about itself: counters the run loop updates, and a probe of the source.

`RunMonitor` is written by the run loop (one thread) and read by the HTTP thread at scrape time: plain
attributes whose single assignments are atomic in CPython, plus one lock around the per-table event counts.
`ServerProbe` is a daemon thread with its own control connection that asks the server where its binlog ends
(`SHOW MASTER STATUS`) every few seconds, which is what "behind" and "stalled" are measured against.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .checkpoint import Checkpoint
from .event import Event
from .health import Observation, replication_lag
from .position import BinlogPosition
from .settings import MySQLUrl
from .source import Source

log = logging.getLogger(__name__)


class ReaderView(Protocol):
    """What the monitor reads from the binlog reader (attributes it writes on its own thread)."""

    connected: bool
    reconnects: int
    last_event_timestamp: int | None
    read_at: tuple[str, int] | None


class RunMonitor:
    def __init__(
        self, stall_seconds: float = 60.0, clock: Callable[[], float] = time.time, *, count_by_table: bool = True
    ) -> None:
        """`count_by_table`: keep the per-table/type event counts (only `/metrics` shows them; they cost a step
        per row event, so the run loop skips them without a metrics server)."""
        self.stall_seconds = stall_seconds
        self.count_by_table = count_by_table
        self.clock = clock
        self.started_at = clock()
        self.reader: ReaderView | None = None
        self.sink: object | None = None
        self.sink_name = ""
        self.transactions = 0
        self.events = 0
        self.inflight_rows = 0
        self.inflight_transactions = 0
        self.checkpoint: Checkpoint | None = None
        self.checkpoint_saved_at: float | None = None
        self.server_position: BinlogPosition | None = None
        self.probed_at: float | None = None
        self.caught_up_at: float | None = None
        self.heartbeat_at: float | None = None
        self._events: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()
        self._last_read: tuple[str, int] | None = None
        self._read_moved_at = self.started_at

    # -- written by the run loop ---------------------------------------------------------------------------------

    def on_transaction(self, events: Sequence[Event]) -> None:
        self.transactions += 1
        self.on_events(events)

    def on_events(self, events: Sequence[Event]) -> None:
        """Count events sent (a transaction sent in batches counts each batch here, then `on_transaction(())`)."""
        if not events:
            return
        self.events += len(events)
        if not self.count_by_table:
            return
        counts: Counter[tuple[str, str, str]] = Counter()
        for event in events:
            kind = event.type
            counts[(event.database, event.table or "", kind if isinstance(kind, str) else kind.value)] += 1
        with self._lock:
            self._events.update(counts)

    def on_inflight(self, rows: int, transactions: int) -> None:
        self.inflight_rows = rows
        self.inflight_transactions = transactions

    def on_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.checkpoint_saved_at = self.clock()

    def on_heartbeat(self, row: dict[str, Any]) -> None:
        """A row of `--heartbeat-table` read from the binlog: its `heartbeat_at` (UTC) is when it was written."""
        moment = row.get("heartbeat_at")
        if isinstance(moment, datetime.datetime):
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            self.heartbeat_at = moment.timestamp()

    # -- read by the probe and the HTTP thread ------------------------------------------------------------------

    def read_position(self) -> BinlogPosition | None:
        read_at = self.reader.read_at if self.reader is not None else None
        with self._lock:
            if read_at != self._last_read:
                self._last_read = read_at
                self._read_moved_at = self.clock()
        return BinlogPosition(*read_at) if read_at is not None else None

    def on_server_position(self, position: BinlogPosition | None) -> None:
        now = self.clock()
        read = self.read_position()
        self.server_position = position
        self.probed_at = now
        if position is not None and read is not None and not read < position:
            self.caught_up_at = now

    def event_counts(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self._events)

    def observe(self) -> Observation:
        read = self.read_position()
        reader = self.reader
        return Observation(
            now=self.clock(),
            connected=bool(reader is not None and reader.connected),
            read_position=read,
            read_moved_at=self._read_moved_at,
            server_position=self.server_position,
            caught_up_at=self.caught_up_at,
            last_event_timestamp=float(reader.last_event_timestamp)
            if reader is not None and reader.last_event_timestamp is not None
            else None,
            heartbeat_at=self.heartbeat_at,
            stall_seconds=self.stall_seconds,
        )


class ServerProbe:
    """Polls the server's binlog end on its own connection; a failed probe is logged and retried, never fatal
    (the reader owns the real connection and its errors)."""

    def __init__(self, url: Callable[[], MySQLUrl], monitor: RunMonitor, interval: float) -> None:
        self._url = url
        self._monitor = monitor
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cdc-server-probe", daemon=True)
        self._source: Source | None = None
        self.progress_seconds = 60.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def probe(self) -> None:
        try:
            if self._source is None:
                self._source = Source(self._url())
            self._monitor.on_server_position(self._source.current_position())
        except Exception as error:  # noqa: BLE001 - a probe never stops the streamer
            log.warning("binlog position probe failed: %s", getattr(error, "message", error))
            self._close()

    def _run(self) -> None:
        last_progress = time.monotonic()
        while not self._stop.is_set():
            self.probe()
            if time.monotonic() - last_progress >= self.progress_seconds:
                last_progress = time.monotonic()
                self.log_progress()
            self._stop.wait(self._interval)
        self._close()

    def log_progress(self) -> None:
        """One line a minute with stable fields (`lag_seconds` feeds the CloudWatch lag alarm)."""
        observation = self._monitor.observe()
        lag = replication_lag(observation)
        fields = {
            "read_position": str(observation.read_position) if observation.read_position else None,
            "server_position": str(observation.server_position) if observation.server_position else None,
            "lag_seconds": round(lag, 3) if lag is not None else None,
            "events": self._monitor.events,
            "transactions": self._monitor.transactions,
            "connected": observation.connected,
        }
        log.info(
            "progress: read %s, server at %s, lag %s s, %d events in %d transactions",
            fields["read_position"],
            fields["server_position"],
            fields["lag_seconds"],
            self._monitor.events,
            self._monitor.transactions,
            extra={"fields": fields},
        )

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


def probe_interval(stall_seconds: float) -> float:
    """Often enough to see a stall well within its threshold, rarely enough to cost nothing."""
    return max(0.5, min(5.0, stall_seconds / 4))
