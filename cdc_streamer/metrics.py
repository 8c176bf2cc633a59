"""`--metrics-port`: `/metrics` (Prometheus text format) and `/healthcheck` (JSON, 200 or 503) over HTTP.

Every value is read from the `RunMonitor` at scrape time by one custom collector, so the run loop pays nothing
per scrape and nothing is double-counted. Names follow Prometheus conventions: `cdc_` prefix, `_total` for
counters, base units (seconds, bytes). The full list is in docs/operations.md.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from . import __version__
from .errors import ConfigError
from .health import Health, assess, replication_lag
from .monitor import RunMonitor
from .position import BinlogPosition, file_number

log = logging.getLogger(__name__)


def _position_gauges(name: str, what: str, position: BinlogPosition | None) -> Iterator[GaugeMetricFamily]:
    if position is None:
        return
    yield GaugeMetricFamily(f"{name}_file_number", f"{what}: binlog file number", value=file_number(position.file))
    yield GaugeMetricFamily(f"{name}_offset_bytes", f"{what}: offset in the binlog file", value=position.offset)


class StreamerCollector(Collector):
    def __init__(self, monitor: RunMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        monitor = self.monitor
        observation = monitor.observe()
        info = InfoMetricFamily("cdc_build", "streamer version and sink")
        info.add_metric([], {"version": __version__, "sink": monitor.sink_name})
        yield info

        events = CounterMetricFamily(
            "cdc_events", "change, DDL and schema events sent to the sink", labels=["database", "table", "type"]
        )
        for (database, table, kind), count in sorted(monitor.event_counts().items()):
            events.add_metric([database, table, kind], count)
        yield events
        yield CounterMetricFamily("cdc_transactions", "transactions read from the binlog", value=monitor.transactions)
        yield GaugeMetricFamily("cdc_inflight_rows", "events sent, not yet acknowledged", value=monitor.inflight_rows)
        yield GaugeMetricFamily(
            "cdc_inflight_transactions", "transactions not yet checkpointed", value=monitor.inflight_transactions
        )

        checkpoint = monitor.checkpoint
        yield from _position_gauges("cdc_checkpoint", "the checkpoint", checkpoint.position if checkpoint else None)
        if monitor.checkpoint_saved_at is not None:
            saved = monitor.checkpoint_saved_at
            yield GaugeMetricFamily("cdc_checkpoint_saved_timestamp_seconds", "when the checkpoint was saved", saved)
        yield from _position_gauges("cdc_read", "the last binlog event read", observation.read_position)
        yield from _position_gauges("cdc_server", "the server's binlog end (last probe)", observation.server_position)

        lag = replication_lag(observation)
        if lag is not None:
            yield GaugeMetricFamily("cdc_replication_lag_seconds", "how far behind the source the streamer is", lag)
        if observation.heartbeat_at is not None:
            written = observation.heartbeat_at
            yield GaugeMetricFamily("cdc_heartbeat_timestamp_seconds", "time in the newest heartbeat row read", written)
        yield GaugeMetricFamily("cdc_connected", "1 while the replication connection is up", int(observation.connected))
        yield GaugeMetricFamily("cdc_healthy", "1 when /healthcheck answers 200", int(assess(observation).ok))
        reader = monitor.reader
        yield CounterMetricFamily(
            "cdc_reconnects", "replication reconnects", value=reader.reconnects if reader is not None else 0
        )
        yield from self._sink_metrics()

    def _sink_metrics(self) -> Iterator[CounterMetricFamily]:
        """Every counter of the sink's `stats` dataclass, as `cdc_sink_<field>_total` (kinesis: records, calls,
        retried_records, failed_calls, skipped_failed, skipped_oversize, claim_checked, bytes; lake: records,
        rows, failed, files)."""
        stats = getattr(self.monitor.sink, "stats", None)
        if stats is None or not dataclasses.is_dataclass(stats):
            return
        for field in dataclasses.fields(stats):
            value = getattr(stats, field.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield CounterMetricFamily(
                    f"cdc_sink_{field.name}", f"{self.monitor.sink_name} sink: {field.name}", value=value
                )


def health_document(monitor: RunMonitor) -> tuple[Health, dict[str, Any]]:
    observation = monitor.observe()
    health = assess(observation)
    checkpoint = monitor.checkpoint
    document = {
        "status": health.status,
        "reasons": list(health.reasons),
        "connected": observation.connected,
        "read_position": str(observation.read_position) if observation.read_position else None,
        "server_position": str(observation.server_position) if observation.server_position else None,
        "checkpoint": str(checkpoint.position) if checkpoint else None,
        "replication_lag_seconds": replication_lag(observation),
        "transactions": monitor.transactions,
        "events": monitor.events,
    }
    return health, document


class MetricsServer:
    """A small threaded HTTP server on a daemon thread; `close()` stops it."""

    def __init__(self, monitor: RunMonitor, port: int, address: str = "0.0.0.0") -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StreamerCollector(monitor))
        ProcessCollector(namespace="cdc", registry=self.registry)
        handler = _handler(monitor, self.registry)
        try:
            self._server = ThreadingHTTPServer((address, port), handler)
        except OSError as error:
            reason = "in use" if error.errno == errno.EADDRINUSE else (error.strerror or str(error))
            raise ConfigError(
                f"--metrics-port (CDC_METRICS_PORT): cannot listen on {address}:{port}: {reason}"
            ) from None
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="cdc-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthcheck", *self._server.server_address[:2])
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(monitor: RunMonitor, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"cdc-streamer/{__version__}"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path in ("/healthcheck", "/health"):
                health, document = health_document(monitor)
                body = json.dumps(document).encode() + b"\n"
                self._send(200 if health.ok else 503, "application/json", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthcheck\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler
