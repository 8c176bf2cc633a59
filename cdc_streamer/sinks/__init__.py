"""Where events go. One narrow interface, a registry of implementations, an in-memory one shipped with it.

A sink receives whole transactions and calls the transaction's `ack` once every one of its events is durable
(written and flushed, or accepted by the remote service). The streamer moves the checkpoint only past
acknowledged transactions, in binlog order, so a sink may acknowledge late or out of order but never early.

`flush()` blocks until every transaction sent so far is acknowledged (or raises); the streamer calls it on a
timer, when too many rows are in flight (back-pressure), and before it stops.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Protocol

from ..errors import ConfigError
from ..event import Event
from ..settings import StreamerSettings

Ack = Callable[[], None]


class Sink(Protocol):
    def send(self, events: Sequence[Event], ack: Ack) -> None:
        """Accept one transaction's events; call `ack` once all of them are durable."""

    def flush(self) -> None:
        """Return once every transaction sent so far has been acknowledged; raise if that cannot happen."""

    def close(self) -> None:
        """Release resources. Called once, after the final flush."""


SinkFactory = Callable[[StreamerSettings], Sink]

# name -> "module:factory", imported only when chosen, so unused sinks cost nothing and pull in nothing.
REGISTRY: dict[str, str] = {
    "stdout": "cdc_streamer.sinks.stdout:StdoutSink.from_settings",
    "file": "cdc_streamer.sinks.file:FileSink.from_settings",
    "memory": "cdc_streamer.sinks.memory:MemorySink.from_settings",
    "kinesis": "cdc_streamer.sinks.kinesis:KinesisSink.from_settings",
    "lake": "cdc_streamer.sinks.lake:LakeSink.from_settings",  # imports cdc_lake (and pyarrow): only when chosen
}


def open_sink(settings: StreamerSettings) -> Sink:
    target = REGISTRY.get(settings.sink)
    if target is None:
        raise ConfigError(f"--sink (CDC_SINK): unknown sink {settings.sink!r}; choose one of {', '.join(REGISTRY)}")
    module_name, _, attribute = target.partition(":")
    factory: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    assert callable(factory)
    sink: Sink = factory(settings)
    return sink
