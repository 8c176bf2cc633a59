"""Checkpoint stores: where the streamer remembers the position after the last acknowledged transaction.

A small interface (`load`, `save`) with a registry: `file:PATH` (atomic replace, fsync'd), `dynamodb:TABLE[/KEY]`
(one item per pipeline, guarded by a single-writer lease: `checkpoint_dynamodb`) and `none`.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ConfigError, RuntimeFailure
from .position import BinlogPosition


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The position after the last transaction whose every row the sink acknowledged."""

    position: BinlogPosition
    gtid: str | None = None
    server_id: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "position": str(self.position),
                "file": self.position.file,
                "offset": self.position.offset,
                "gtid": self.gtid,
                "server_id": self.server_id,
                "saved_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
        )

    @classmethod
    def from_json(cls, text: str, *, origin: str) -> Checkpoint:
        try:
            data = json.loads(text)
            return cls(BinlogPosition(str(data["file"]), int(data["offset"])), data.get("gtid"), data.get("server_id"))
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"checkpoint {origin} is unreadable ({error}); fix or remove it") from None


class CheckpointStore(Protocol):
    """Where the checkpoint lives. `run` holds the store's single-writer lease while it streams: `acquire` before
    the first save (refuses when another streamer holds it), `renew` on every flush, `release` on a clean stop.
    `load` needs no lease (`position`, `check`)."""

    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...

    def acquire(self) -> None: ...

    def renew(self) -> None: ...

    def release(self) -> None: ...


class NoLease:
    """For stores with a single writer by construction (a file on one host, nothing at all)."""

    def acquire(self) -> None:
        pass

    def renew(self) -> None:
        pass

    def release(self) -> None:
        pass


class NoCheckpointStore(NoLease):
    """`--position-store none`: nothing remembered; every start needs a start position (or starts at the end)."""

    def load(self) -> Checkpoint | None:
        return None

    def save(self, checkpoint: Checkpoint) -> None:
        pass


class FileCheckpointStore(NoLease):
    """One small JSON file, replaced atomically: write a temp file, fsync, rename over, fsync the directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._check_writable()

    def _check_writable(self) -> None:
        directory = self.path.parent
        problem = None
        if not directory.is_dir():
            problem = f"directory {directory} does not exist"
        elif self.path.exists() and not os.access(self.path, os.W_OK):
            problem = "the file is not writable"
        elif not os.access(directory, os.W_OK | os.X_OK):
            problem = f"directory {directory} is not writable"
        if problem:
            raise ConfigError(f"--position-store (CDC_POSITION_STORE): cannot write {self.path}: {problem}")

    def load(self) -> Checkpoint | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise ConfigError(f"cannot read checkpoint {self.path}: {error.strerror}") from None
        return Checkpoint.from_json(text, origin=str(self.path))

    def save(self, checkpoint: Checkpoint) -> None:
        directory = self.path.parent
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(checkpoint.to_json() + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as error:
            raise RuntimeFailure(f"cannot save checkpoint to {self.path}: {error.strerror or error}") from None


def open_store(spec: str) -> CheckpointStore:
    """`file:PATH`, `dynamodb:TABLE[/KEY]` (KEY names the pipeline, default `default`) or `none`."""
    kind, _, argument = spec.partition(":")
    if kind == "none" and not argument:
        return NoCheckpointStore()
    if kind == "file" and argument:
        return FileCheckpointStore(Path(argument))
    if kind == "dynamodb" and argument:
        from .checkpoint_dynamodb import DynamoDBCheckpointStore  # boto3 only when this store is chosen

        return DynamoDBCheckpointStore.from_spec(argument)
    raise ConfigError(
        f"--position-store (CDC_POSITION_STORE): expected file:PATH, dynamodb:TABLE[/KEY] or none, got {spec!r}"
    )
