"""A list that keeps its first items in memory and the rest in an unnamed temporary file, read back in order.

The reader holds a transaction's row changes until its commit (their events carry the transaction's xid, and the
last one `commit: true`). A 1,000,000-row transaction held as Python objects takes gigabytes; past `keep` items
this spills them, `batch` at a time, pickled, to a file the operating system deletes when it is closed (or the
process dies), the way Maxwell's `ListWithDiskBuffer` does. Reading back holds one batch at a time.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Generic, TypeVar

from .errors import RuntimeFailure

T = TypeVar("T")


class SpillList(Generic[T]):
    """Append, then iterate once or more; `close()` deletes the file (also safe to call twice)."""

    def __init__(self, keep: int = 20_000, batch: int = 10_000) -> None:
        self.keep = keep
        self.batch = batch
        self._memory: list[T] = []
        self._file: IO[bytes] | None = None
        self._spilled = 0

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def append(self, item: T) -> None:
        memory = self._memory
        memory.append(item)
        if len(memory) >= self.keep:
            self._spill()

    def _spill(self) -> None:
        """Move full batches from memory to the file (the order stays: the file holds the oldest items)."""
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="cdc-transaction-")  # noqa: SIM115 - lives with the list
            self._file.seek(0, 2)
            memory = self._memory
            while len(memory) >= self.batch:
                pickle.dump(memory[: self.batch], self._file, protocol=pickle.HIGHEST_PROTOCOL)
                self._spilled += self.batch
                del memory[: self.batch]
        except OSError as error:
            raise RuntimeFailure(
                f"cannot spill a large transaction to a temporary file ({error.strerror or error}): "
                "free space in the temporary directory (TMPDIR) or point TMPDIR elsewhere"
            ) from None

    def __len__(self) -> int:
        return self._spilled + len(self._memory)

    def __iter__(self) -> Iterator[T]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[T]]:
        """The items in order, a batch at a time: the spilled ones read back one batch at a time, then memory's."""
        if self._file is not None:
            self._file.flush()
            self._file.seek(0)
            read = 0
            while read < self._spilled:
                batch: list[T] = pickle.load(self._file)
                read += len(batch)
                yield batch
        if self._memory:
            yield self._memory

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._spilled = 0
        self._memory = []
