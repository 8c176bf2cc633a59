"""The GTID state after a transaction: what a restart by GTID sends to the server. Pure.

MariaDB: the last GTID of each replication domain, `0-1-42,1-2-7` (what `@slave_connect_state` takes).
MySQL:   the executed set, `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42:45` (what COM_BINLOG_DUMP_GTID takes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class GtidState:
    flavor: str
    mariadb: tuple[tuple[int, str], ...] = ()
    mysql: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @classmethod
    def parse(cls, text: str | None, flavor: str) -> GtidState:
        if not text or not text.strip():
            return cls(flavor)
        try:
            if flavor == "mariadb":
                domains = {}
                for item in _items(text):
                    domain, server, sequence = (int(part) for part in item.split("-"))
                    domains[domain] = f"{domain}-{server}-{sequence}"
                return cls(flavor, mariadb=tuple(sorted(domains.items())))
            sets: dict[str, list[tuple[int, int]]] = {}
            for item in _items(text):
                uuid, *ranges = item.split(":")
                if not _UUID.fullmatch(uuid) or not ranges:
                    raise ValueError(item)
                for interval in ranges:
                    low, _, high = interval.partition("-")
                    first, last = int(low), int(high or low)
                    if not 0 < first <= last:
                        raise ValueError(interval)
                    sets.setdefault(uuid.lower(), []).append((first, last))
            return cls(flavor, mysql=tuple((u, _merge(r)) for u, r in sorted(sets.items())))
        except ValueError:
            example = "0-1-42" if flavor == "mariadb" else "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-42"
            raise ConfigError(f"--start-gtid: cannot read GTID set {text!r}; expected e.g. {example}") from None

    def add(self, gtid: str) -> GtidState:
        if self.flavor == "mariadb":
            domain = int(gtid.split("-", 1)[0])
            domains = dict(self.mariadb)
            domains[domain] = gtid
            return GtidState(self.flavor, mariadb=tuple(sorted(domains.items())))
        uuid, _, number = gtid.rpartition(":")
        sets = {u: list(r) for u, r in self.mysql}
        sets.setdefault(uuid.lower(), []).append((int(number), int(number)))
        return GtidState(self.flavor, mysql=tuple((u, _merge(r)) for u, r in sorted(sets.items())))

    def __str__(self) -> str:
        if self.flavor == "mariadb":
            return ",".join(gtid for _, gtid in self.mariadb)
        return ",".join(
            uuid + "".join(f":{low}" if low == high else f":{low}-{high}" for low, high in ranges)
            for uuid, ranges in self.mysql
        )


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", "").split(",") if item.strip()]


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)
