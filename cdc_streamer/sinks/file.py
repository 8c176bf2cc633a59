"""`--sink file --file PATH`: JSON lines appended to a file, fsync'd on every flush before acknowledging."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError
from ..settings import StreamerSettings
from .lines import LinesSink

log = logging.getLogger(__name__)


def drop_torn_line(path: Path) -> int:
    """Cut a partial last line (a crash mid-write) back to the last newline; return the bytes removed.

    Those bytes were never acknowledged, so the restarted streamer sends their transaction again.
    """
    try:
        with path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return 0
            keep = size
            while keep > 0:
                step = min(keep, 1 << 16)
                handle.seek(keep - step)
                newline = handle.read(step).rfind(b"\n")
                if newline >= 0:
                    keep = keep - step + newline + 1
                    break
                keep -= step
            handle.truncate(keep)
            return size - keep
    except FileNotFoundError:
        return 0


class FileSink(LinesSink):
    def __init__(self, path: Path) -> None:
        try:
            if removed := drop_torn_line(path):
                log.warning("removed a partial last line (%d bytes) from %s left by a crash", removed, path)
            stream = path.open("ab")
        except OSError as error:
            raise ConfigError(f"--file (CDC_FILE): cannot open {path} for appending: {error.strerror}") from None
        super().__init__(stream, str(path))
        self._file = stream

    @classmethod
    def from_settings(cls, settings: StreamerSettings) -> FileSink:
        if settings.file is None:
            raise ConfigError("--file (CDC_FILE) is required with --sink file")
        return cls(settings.file)

    def _sync(self) -> None:
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
