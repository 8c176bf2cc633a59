"""An in-memory sink: keeps every event it is sent. For tests, and for embedding the streamer in a program."""

from __future__ import annotations

from collections.abc import Sequence

from ..event import Event
from ..settings import StreamerSettings
from . import Ack


class MemorySink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.transactions = 0
        self.flushes = 0
        self._acks: list[Ack] = []

    @classmethod
    def from_settings(cls, settings: StreamerSettings) -> MemorySink:
        return cls()

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self.events.extend(events)
        self.transactions += 1
        self._acks.append(ack)

    def flush(self) -> None:
        self.flushes += 1
        acks, self._acks = self._acks, []
        for ack in acks:
            ack()

    def close(self) -> None:
        pass
