"""Binlog coordinates: a file name and a byte offset inside it, ordered the way the server wrote them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

_POSITION = re.compile(r"^(?P<file>[^:\s]+\.(?P<number>\d+)):(?P<offset>\d+)$")


def file_number(file: str) -> int:
    """The numeric suffix of a binlog file name (`binlog.000123` -> 123); the server increments it on rotation."""
    _, _, suffix = file.rpartition(".")
    return int(suffix) if suffix.isdigit() else -1


@dataclass(frozen=True, slots=True)
class BinlogPosition:
    """`file:offset`. Sorting by `sort_key` gives binlog order even past `binlog.999999`."""

    file: str
    offset: int

    @classmethod
    def parse(cls, text: str, *, flag: str = "position") -> BinlogPosition:
        match = _POSITION.match(text.strip())
        if not match:
            raise ConfigError(f"{flag}: expected FILE:POS such as binlog.000042:4, got {text!r}")
        return cls(match["file"], int(match["offset"]))

    @property
    def sort_key(self) -> tuple[int, int]:
        return (file_number(self.file), self.offset)

    def __lt__(self, other: BinlogPosition) -> bool:
        return self.sort_key < other.sort_key

    def __le__(self, other: BinlogPosition) -> bool:
        return self.sort_key <= other.sort_key

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}"
