"""A sink that writes JSON lines to a binary stream; stdout and file sinks are this with a different target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from ..encoding import encode_lines
from ..errors import RuntimeFailure
from ..event import Event
from . import Ack


class LinesSink:
    """Buffers encoded lines; `flush()` writes them, syncs the target, then acknowledges."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self._buffer: list[str] = []  # chunks of JSON lines, each line ended by a newline
        self._lines = 0
        self._acks: list[Ack] = []
        self._failure: str | None = None

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self._buffer.append(encode_lines(events))
        self._lines += len(events)
        self._acks.append(ack)
        if self._lines >= 5000:
            self._write()

    def _fail(self, action: str, error: OSError) -> RuntimeFailure:
        # Once a write failed, nothing sent before it may be acknowledged: the sink stays broken.
        self._failure = f"cannot {action} {self._name}: {error.strerror or error}"
        return RuntimeFailure(self._failure)

    def _write(self) -> None:
        if self._failure:
            raise RuntimeFailure(self._failure)
        if not self._buffer:
            return
        data = "".join(self._buffer).encode("utf-8")
        self._buffer.clear()
        self._lines = 0
        try:
            self._stream.write(data)
        except OSError as error:
            raise self._fail("write to", error) from None

    def flush(self) -> None:
        self._write()
        try:
            self._stream.flush()
            self._sync()
        except OSError as error:
            raise self._fail("flush", error) from None
        acks, self._acks = self._acks, []
        for ack in acks:
            ack()

    def _sync(self) -> None:
        """Make flushed bytes durable; stdout has nothing more to do."""

    def close(self) -> None:
        pass
