"""`--sink file --file PATH`: JSON lines appended to a file, fsync'd on every flush before acknowledging."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError
from ..settings import StreamerSettings
from .lines import LinesSink


class FileSink(LinesSink):
    def __init__(self, path: Path) -> None:
        try:
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
