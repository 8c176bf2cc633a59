"""Snapshot progress on stderr: a one-line bar per table on a terminal, otherwise a plain line at most every 2 s
(`snapshot app.orders: 250000/1000000 rows (25%), 41000 rows/s`) and one when the table is done."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24
TTY_INTERVAL = 0.2
PLAIN_INTERVAL = 2.0


def describe(name: str, done: int, estimate: int, seconds: float) -> str:
    """`app.orders: 250000/1000000 rows (25%), 41000 rows/s`; the estimate (TABLE_ROWS) is approximate, so the
    total shown is never below the rows done and the percentage stays below 100 until the table is done."""
    total = max(estimate, done)
    percent = min(99, done * 100 // total) if total else 0
    rate = done / seconds if seconds > 0 else 0.0
    return f"{name}: {done}/{total} rows ({percent}%), {rate:.0f} rows/s"


def bar(done: int, estimate: int) -> str:
    total = max(estimate, done, 1)
    filled = min(BAR_WIDTH, done * BAR_WIDTH // total)
    return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"


class Progress:
    def __init__(self, stream: TextIO, *, tty: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self._name = ""
        self._estimate = 0
        self._done = 0
        self._started = 0.0
        self._shown = 0.0
        self._width = 0

    def start(self, name: str, estimate: int) -> None:
        self._name, self._estimate, self._done = name, estimate, 0
        self._started = self._shown = self.clock()
        if self.tty:
            self._show()

    def advance(self, rows: int) -> None:
        self._done += rows
        now = self.clock()
        if now - self._shown >= (TTY_INTERVAL if self.tty else PLAIN_INTERVAL):
            self._shown = now
            self._show()

    def finish(self) -> None:
        seconds = self.clock() - self._started
        rate = self._done / seconds if seconds > 0 else 0.0
        line = f"snapshot {self._name}: {self._done} rows in {seconds:.1f}s, {rate:.0f} rows/s"
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width) + "\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._width = 0

    def abandon(self) -> None:
        """End a bar left half-drawn (before an error line)."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def _show(self) -> None:
        text = describe(self._name, self._done, self._estimate, self.clock() - self._started)
        if self.tty:
            line = f"snapshot {bar(self._done, self._estimate)} {text}"
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(f"snapshot {text}\n")
        self.stream.flush()
