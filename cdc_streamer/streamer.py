"""The run loop: reader -> sink -> checkpoint, with back-pressure, periodic flushes and a clean stop on signals.

Acknowledge, then checkpoint, at transaction boundaries only: the checkpoint moves to the end of the longest
prefix of transactions the sink has acknowledged, never further.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import FrameType

from . import row_decoder
from .checkpoint import Checkpoint, CheckpointStore, open_store
from .errors import ConfigError, ConnectionLost, CredentialsRejected, SourceUnusable
from .heartbeat import HeartbeatWriter
from .masking_setup import check_mask_columns
from .monitor import RunMonitor, ServerProbe, probe_interval
from .position import StartPoint
from .preflight import check_position_available, read_facts, run_checks
from .reader import BinlogReader, ReaderOptions, SpilledEvents, Transaction
from .replication import ReplicationSession, SessionOptions
from .settings import MySQLUrl, StreamerSettings
from .sinks import Sink, open_sink
from .sinks.masking import masking_sink
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


class BatchAcks:
    """One transaction sent in several batches: `done` is called once every batch is acknowledged and `seal()` said
    that no more batches follow."""

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done
        self._outstanding = 0
        self._sealed = False

    def add(self) -> Callable[[], None]:
        self._outstanding += 1
        return self._ack

    def _ack(self) -> None:
        self._outstanding -= 1
        self._check()

    def seal(self) -> None:
        self._sealed = True
        self._check()

    def _check(self) -> None:
        if self._sealed and self._outstanding == 0:
            self._done()


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
        """Handle the signals while streaming; in another thread than the main one (an embedding program, a test)
        signals cannot be handled there, and setting `requested` is the way to stop."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def resolve_start(settings: StreamerSettings, stored: Checkpoint | None, source: Source) -> StartPoint:
    """--start-position / --start-gtid, else the stored checkpoint, else the server's current position.

    A checkpoint saved while streaming another server (a failover since) resumes by its GTID state, or is refused
    when it has none (`StartPoint.on_server`): its file and offset are never looked up on this server."""
    server_id = source.server_id()
    if settings.start_position is not None:
        return StartPoint(settings.start_position, source.gtid_at(settings.start_position), server_id)
    if settings.start_gtid:
        return StartPoint(None, settings.start_gtid, server_id)
    if stored is not None:
        start = StartPoint(stored.position, stored.gtid, stored.server_id).on_server(server_id)
        if start.position is None:
            log.warning(
                "the checkpoint %s is a position of server_id %s, and the source is server_id %s (a failover since "
                "it was saved?): resuming by its GTID state %s",
                stored.position,
                stored.server_id,
                server_id,
                start.gtid,
            )
        return start
    current = source.current_position()
    if current is None:
        raise SourceUnusable("binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")
    return StartPoint(current, source.gtid_at(current), server_id)


def decoder_in_use() -> str:
    """Which row decoder runs, for the start-up line: a slow install (no compiler at `pip install`) says so."""
    if row_decoder.pure_python():
        return "the library: CDC_PURE_PYTHON is set"
    if not row_decoder.compiled():
        return "the library: cdc_streamer._fastpath is not built (no C compiler at install), several times slower"
    return "cdc_streamer._fastpath"


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
    if settings.masker is not None:
        check_mask_columns(settings.masker.patterns, source.column_types, source.json_columns)


CredentialsRefresh = Callable[[], MySQLUrl | None]


class Streamer:
    """`refresh_credentials`, when given (`--mysql-secret-arn`), re-reads the credentials after the server refused
    them and returns the new URL, or None when they have not changed."""

    def __init__(
        self,
        settings: StreamerSettings,
        sink: Sink | None = None,
        store: CheckpointStore | None = None,
        refresh_credentials: CredentialsRefresh | None = None,
    ):
        self.settings = settings
        self.store = store if store is not None else open_store(settings.position_store)
        self._sink = sink
        self.stop = StopSignal()
        self.stats = RunStats()
        self.url = settings.mysql
        self._refresh_credentials = refresh_credentials
        monitoring = settings.monitoring
        self.monitor = RunMonitor(monitoring.stall_seconds, count_by_table=monitoring.metrics_port is not None)
        self._leased = False

    def run(self) -> RunStats:
        settings = self.settings
        with ExitStack() as stack:
            monitoring = settings.monitoring
            if monitoring.metrics_port is not None:
                from .metrics import MetricsServer  # prometheus-client only when asked for

                server = MetricsServer(self.monitor, monitoring.metrics_port, monitoring.metrics_address)
                stack.callback(server.close)
                server.start()
            sink = self._sink if self._sink is not None else open_sink(settings)
            stack.callback(sink.close)
            self.monitor.sink, self.monitor.sink_name = sink, settings.sink
            stack.callback(self._release)  # runs first: the lease goes once the sink has flushed
            self._run(masking_sink(sink, settings.masker) if settings.masker is not None else sink)
        return self.stats

    def _connect(self) -> Source:
        try:
            return Source(self.url)
        except CredentialsRejected:
            if not self._renew_url():
                raise
            return Source(self.url)

    def _session(self, url: MySQLUrl, start: StartPoint, options: SessionOptions) -> ReplicationSession:
        """The reader's sessions: after a refused login, re-read the secret; if it has not changed yet (a rotation
        half-way), let the reader back off and retry like any lost connection."""
        try:
            return ReplicationSession(self.url, start, options)
        except CredentialsRejected as error:
            if self._refresh_credentials is None:
                raise
            if not self._renew_url():
                raise ConnectionLost(f"{error.message}; the secret has not changed yet") from None
            return ReplicationSession(self.url, start, options)

    def _renew_url(self) -> bool:
        fresh = self._refresh_credentials() if self._refresh_credentials is not None else None
        if fresh is None:
            return False
        log.warning("the source refused the credentials; read them again from the secret and reconnecting")
        self.url = fresh
        return True

    def _release(self) -> None:
        if self._leased:
            self._leased = False
            self.store.release()

    def _run(self, sink: Sink) -> None:
        settings = self.settings
        with self._connect() as source:
            facts = read_facts(source)
            problems = run_checks(facts)
            if problems:
                raise SourceUnusable("; ".join(str(problem) for problem in problems))
            if not settings.replay:
                self.store.acquire()  # before reading the checkpoint: a second streamer stops here
                self._leased = True
            start = resolve_start(settings, self.store.load(), source)
            if (problem := check_position_available(facts, start.position)) is not None:
                raise SourceUnusable(str(problem))
            validate_filter(settings, source)
            server_id = source.server_id()
            log.info(
                "streaming %s %s at %s from %s to the %s sink (rows decoded by %s)",
                source.flavor,
                source.version,
                settings.mysql.address,
                start,
                settings.sink,
                decoder_in_use(),
            )
            if start.position is not None:
                self._save(Checkpoint(start.position, start.gtid, start.server_id))
            monitoring = settings.monitoring
            reader = BinlogReader(
                self.url,
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
                    heartbeat_table=monitoring.heartbeat_table,
                ),
                json_columns=source.json_columns,
                forget_table=source.forget_table,
                session_factory=self._session,
                stop_requested=lambda: self.stop.requested,
                on_heartbeat=self.monitor.on_heartbeat,
            )
            self.monitor.reader = reader
            began = time.monotonic()
            try:
                with self.stop.installed(), ExitStack() as helpers:
                    probe = ServerProbe(lambda: self.url, self.monitor, probe_interval(monitoring.stall_seconds))
                    probe.progress_seconds = monitoring.progress_seconds
                    helpers.callback(probe.stop)
                    probe.start()
                    if monitoring.heartbeat_table is not None:
                        writer = HeartbeatWriter(
                            self.url, monitoring.heartbeat_table, settings.server_id, monitoring.heartbeat_interval
                        )
                        helpers.callback(writer.stop)
                        writer.start()
                    self._loop(reader, sink, server_id)
            finally:
                self.stats.seconds = time.monotonic() - began
                self.stats.reconnects = reader.reconnects

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
        monitor = self.monitor
        for txn in reader.transactions():
            if txn is not None:
                entry = inflight.add(txn, len(txn.events))
                if isinstance(txn.events, SpilledEvents):
                    self._send_in_batches(txn.events, entry, sink, inflight, server_id)
                elif txn.events:
                    sink.send(txn.events, entry.ack)
                self.stats.rows += len(txn.events)
                self.stats.transactions += 1
                monitor.on_transaction(txn.events if isinstance(txn.events, list) else ())
                monitor.on_inflight(inflight.rows, len(inflight))
            elif self._leased:
                self.store.renew()  # idle: keep the lease (the store renews at most every third of it)
            due = time.monotonic() - last_flush >= self.settings.flush_interval
            if inflight.rows >= self.settings.max_inflight_rows or (len(inflight) and (due or txn is None)):
                self._flush(sink, inflight, server_id)
                last_flush = time.monotonic()
            if self.stop.requested:
                log.info("stop requested: flushing and saving the checkpoint")
                break

    def _send_in_batches(
        self, events: SpilledEvents, entry: InflightEntry, sink: Sink, inflight: Inflight, server_id: int
    ) -> None:
        """A transaction too large to hold, sent a batch at a time: it is acknowledged once every batch is, and the
        sink is flushed whenever `--max-inflight-rows` are unacknowledged, so memory stays bounded. A stop
        requested part-way leaves the transaction unacknowledged: the restart sends it again from its start."""
        acks = BatchAcks(entry.ack)
        unflushed = 0
        for batch in events.batches():
            sink.send(batch, acks.add())
            self.monitor.on_events(batch)
            unflushed += len(batch)
            if unflushed >= self.settings.max_inflight_rows:
                self._flush(sink, inflight, server_id)
                unflushed = 0
            if self.stop.requested:
                return
        acks.seal()

    def _flush(self, sink: Sink, inflight: Inflight, server_id: int) -> None:
        sink.flush()
        self._checkpoint(inflight, server_id)
        self.monitor.on_inflight(inflight.rows, len(inflight))
        if self._leased:
            self.store.renew()

    def _checkpoint(self, inflight: Inflight, server_id: int) -> None:
        """Move the checkpoint to the end of the acknowledged prefix, if it grew."""
        done = inflight.pop_acknowledged()
        if done is not None:
            # The transaction's own server: after a failover the checkpoint is a position of the new one.
            self._save(Checkpoint(done.end, done.gtid_state, server_id if done.server_id is None else done.server_id))

    def _save(self, checkpoint: Checkpoint) -> None:
        if not self.settings.replay:
            self.store.save(checkpoint)
            self.monitor.on_checkpoint(checkpoint)
