"""Binlog coordinates: a file name and a byte offset inside it, ordered the way the server wrote them; and where a
replication session starts (a position on one server, or a GTID state that any server of the topology knows). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError, SourceUnusable

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


@dataclass(frozen=True, slots=True)
class StartPoint:
    """Where a session starts: a binlog position, or a GTID state (MariaDB `0-1-42,1-2-7`, MySQL `uuid:1-42`).

    `server_id` is the server whose binlog `position` is in (None: not known). A file and offset mean nothing on
    another server: every server numbers its own binlog, and the same `binlog.000042:1876` on a promoted replica
    is some other transaction, or the middle of one."""

    position: BinlogPosition | None = None
    gtid: str | None = None
    server_id: int | None = None

    def __str__(self) -> str:
        return f"gtid {self.gtid}" if self.position is None else str(self.position)

    def on_server(self, server_id: int) -> StartPoint:
        """This start point on the server `server_id` (the one a session just reached, `@@server_id`).

        Its own server (or an unknown one): the position. Another server (a failover, an endpoint switched to a
        promoted replica): the GTID state, never the position. No GTID state to go by: SourceUnusable, saying how
        to recover, rather than a guess."""
        if self.position is None or self.server_id in (None, server_id):
            return StartPoint(self.position, self.gtid, server_id)
        if self.gtid:
            return StartPoint(None, self.gtid, server_id)
        raise SourceUnusable(
            f"the source is now server_id {server_id}, but the resume point {self.position} is a binlog position "
            f"of server_id {self.server_id} and no GTID state was recorded with it: restart with --start-gtid set "
            "to the old server's GTID state at that point, or take a new snapshot and start from it "
            f"(--from-snapshot); --start-position {self.position} only if this server continues the old one's "
            "binlog (an Aurora writer after a failover inside its cluster)"
        )
