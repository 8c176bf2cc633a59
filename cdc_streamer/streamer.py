"""The run loop: reader -> sink -> checkpoint, with back-pressure, periodic flushes and a clean stop on signals.

Acknowledge, then checkpoint, at transaction boundaries only: the checkpoint moves to the end of the longest
prefix of transactions the sink has acknowledged, never further.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from .checkpoint import Checkpoint, CheckpointStore, open_store
from .errors import ConfigError, SourceUnusable
from .preflight import check_position_available, read_facts, run_checks
from .reader import BinlogReader, ReaderOptions, Transaction
from .replication import SessionOptions, StartPoint
from .settings import StreamerSettings
from .sinks import Sink, open_sink
from .source import Source

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InflightEntry:
    txn: Transaction
    rows: int
    acknowledged: bool = False

    def ack(self) -> None:
        self.acknowledged = True


class Inflight:
    """Transactions handed to the sink, in binlog order, each flagged once acknowledged."""

    def __init__(self) -> None:
        self._queue: deque[InflightEntry] = deque()
        self.rows = 0

    def add(self, txn: Transaction, rows: int) -> InflightEntry:
        """Track a transaction; one without rows (all filtered out) counts as acknowledged at once."""
        entry = InflightEntry(txn, rows, acknowledged=rows == 0)
        self._queue.append(entry)
        self.rows += rows
        return entry

    @staticmethod
    def ack(entry: InflightEntry) -> None:
        entry.ack()

    def pop_acknowledged(self) -> Transaction | None:
        """Drop the acknowledged prefix; return its last transaction (the new checkpoint), if any."""
        last: Transaction | None = None
        while self._queue and self._queue[0].acknowledged:
            entry = self._queue.popleft()
            self.rows -= entry.rows
            last = entry.txn
        return last

    def __len__(self) -> int:
        return len(self._queue)


@dataclass(slots=True)
class RunStats:
    rows: int = 0
    transactions: int = 0
    seconds: float = 0.0
    reconnects: int = 0


class StopSignal:
    """SIGTERM/SIGINT set a flag; the loop sees it at the next transaction or heartbeat (within ~1s)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[StopSignal]:
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def resolve_start(settings: StreamerSettings, stored: Checkpoint | None, source: Source) -> StartPoint:
    """--start-position / --start-gtid, else the stored checkpoint, else the server's current position."""
    if settings.start_position is not None:
        return StartPoint(settings.start_position, source.gtid_at(settings.start_position))
    if settings.start_gtid:
        return StartPoint(None, settings.start_gtid)
    if stored is not None:
        return StartPoint(stored.position, stored.gtid)
    current = source.current_position()
    if current is None:
        raise SourceUnusable("binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")
    return StartPoint(current, source.gtid_at(current))


def validate_filter(settings: StreamerSettings, source: Source) -> None:
    """Every table named in a filter must exist, so a typo is not a silent 'no events'."""
    for flag, patterns in (
        ("--include-tables", settings.filter.include),
        ("--exclude-tables", settings.filter.exclude),
    ):
        for database, table in patterns:
            tables = source.existing_tables(database)
            if tables is None:
                raise ConfigError(f"{flag}: database {database!r} does not exist on the source")
            if table != "*" and table not in tables:
                raise ConfigError(f"{flag}: table {database}.{table} does not exist on the source")


class Streamer:
    def __init__(self, settings: StreamerSettings, sink: Sink | None = None, store: CheckpointStore | None = None):
        self.settings = settings
        self.store = store if store is not None else open_store(settings.position_store)
        self._sink = sink
        self.stop = StopSignal()
        self.stats = RunStats()

    def run(self) -> RunStats:
        settings = self.settings
        sink = self._sink if self._sink is not None else open_sink(settings)
        try:
            return self._run(sink)
        finally:
            sink.close()

    def _run(self, sink: Sink) -> RunStats:
        settings = self.settings
        with Source(settings.mysql) as source:
            facts = read_facts(source)
            problems = run_checks(facts)
            if problems:
                raise SourceUnusable("; ".join(str(problem) for problem in problems))
            start = resolve_start(settings, self.store.load(), source)
            if (problem := check_position_available(facts, start.position)) is not None:
                raise SourceUnusable(str(problem))
            validate_filter(settings, source)
            server_id = source.server_id()
            log.info(
                "streaming %s %s at %s from %s to the %s sink",
                source.flavor,
                source.version,
                settings.mysql.address,
                start,
                settings.sink,
            )
            if start.position is not None:
                self._save(Checkpoint(start.position, start.gtid, server_id))
            reader = BinlogReader(
                settings.mysql,
                start,
                ReaderOptions(
                    session=SessionOptions(
                        server_id=settings.server_id,
                        flavor=source.flavor,
                        blocking=not settings.stop_when_caught_up,
                        annotate=settings.output_query,
                        heartbeat_seconds=settings.heartbeat_seconds,
                        read_timeout=settings.read_timeout,
                    ),
                    filter=settings.filter,
                    output_ddl=settings.output_ddl,
                    output_query=settings.output_query,
                    output_schema=settings.output_schema,
                    end_position=settings.end_position,
                    max_reconnects=settings.max_reconnects,
                ),
                json_columns=source.json_columns,
                forget_table=source.forget_table,
                stop_requested=lambda: self.stop.requested,
            )
            began = time.monotonic()
            try:
                with self.stop.installed():
                    self._loop(reader, sink, server_id)
            finally:
                self.stats.seconds = time.monotonic() - began
                self.stats.reconnects = reader.reconnects
        return self.stats

    def _loop(self, reader: BinlogReader, sink: Sink, server_id: int) -> None:
        inflight = Inflight()
        try:
            self._consume(reader, sink, inflight, server_id)
        except BaseException:
            # Keep what the sink did acknowledge before failing; a broken sink refuses to flush again.
            with contextlib.suppress(Exception):
                self._flush(sink, inflight, server_id)
            with contextlib.suppress(Exception):
                self._checkpoint(inflight, server_id)
            raise
        self._flush(sink, inflight, server_id)

    def _consume(self, reader: BinlogReader, sink: Sink, inflight: Inflight, server_id: int) -> None:
        last_flush = time.monotonic()
        for txn in reader.transactions():
            if txn is not None:
                entry = inflight.add(txn, len(txn.events))
                if txn.events:
                    sink.send(txn.events, entry.ack)
                    self.stats.rows += len(txn.events)
                self.stats.transactions += 1
            due = time.monotonic() - last_flush >= self.settings.flush_interval
            if inflight.rows >= self.settings.max_inflight_rows or (len(inflight) and (due or txn is None)):
                self._flush(sink, inflight, server_id)
                last_flush = time.monotonic()
            if self.stop.requested:
                log.info("stop requested: flushing and saving the checkpoint")
                break

    def _flush(self, sink: Sink, inflight: Inflight, server_id: int) -> None:
        sink.flush()
        self._checkpoint(inflight, server_id)

    def _checkpoint(self, inflight: Inflight, server_id: int) -> None:
        """Move the checkpoint to the end of the acknowledged prefix, if it grew."""
        done = inflight.pop_acknowledged()
        if done is not None:
            self._save(Checkpoint(done.end, done.gtid_state, server_id))

    def _save(self, checkpoint: Checkpoint) -> None:
        if not self.settings.replay:
            self.store.save(checkpoint)
