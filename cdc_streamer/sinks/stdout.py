"""`--sink stdout`: one JSON event per line on standard output."""

from __future__ import annotations

import sys

from ..settings import StreamerSettings
from .lines import LinesSink


class StdoutSink(LinesSink):
    def __init__(self) -> None:
        super().__init__(sys.stdout.buffer, "standard output")

    @classmethod
    def from_settings(cls, settings: StreamerSettings) -> StdoutSink:
        return cls()
