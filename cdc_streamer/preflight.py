"""Preflight: is this source usable for row-based CDC? Small named checks, each saying exactly what to set.

`run` performs the same checks at start; `cdc-streamer check` prints them, one problem per line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .position import BinlogPosition
from .source import BinaryLog, Source


@dataclass(frozen=True, slots=True)
class Problem:
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What the checks look at, read once from the server."""

    flavor: str
    version: str
    variables: dict[str, str | None]
    grants: list[str]
    binary_logs: list[BinaryLog]


VARIABLES = (
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "log_bin_compress",
    "binlog_transaction_compression",
    "binlog_row_value_options",
)


def read_facts(source: Source) -> ServerFacts:
    variables = source.variables(*VARIABLES)
    logs = source.binary_logs() if _on(variables.get("log_bin")) else []
    return ServerFacts(source.flavor, source.version, variables, source.grants(), logs)


def _on(value: str | None) -> bool:
    return (value or "").upper() in ("ON", "1", "TRUE")


def check_binlog_enabled(facts: ServerFacts) -> Problem | None:
    if _on(facts.variables.get("log_bin")):
        return None
    return Problem("log_bin", "binary logging is off: start the server with log_bin (e.g. --log-bin=binlog)")


def check_binlog_format(facts: ServerFacts) -> Problem | None:
    value = (facts.variables.get("binlog_format") or "").upper()
    if value == "ROW":
        return None
    return Problem("binlog_format", f"is {value or 'unset'}: set binlog_format=ROW")


def check_row_image(facts: ServerFacts) -> Problem | None:
    value = (facts.variables.get("binlog_row_image") or "").upper()
    if value == "FULL":
        return None
    return Problem("binlog_row_image", f"is {value or 'unset'}: set binlog_row_image=FULL")


def check_row_metadata(facts: ServerFacts) -> Problem | None:
    value = facts.variables.get("binlog_row_metadata")
    if value is None:
        return Problem(
            "binlog_row_metadata",
            f"not supported by {facts.flavor} {facts.version}: use MariaDB 10.5+ or MySQL 8.0.14+",
        )
    if value.upper() == "FULL":
        return None
    return Problem("binlog_row_metadata", f"is {value}: set binlog_row_metadata=FULL")


def check_compression(facts: ServerFacts) -> Problem | None:
    for name in ("log_bin_compress", "binlog_transaction_compression"):
        if _on(facts.variables.get(name)):
            return Problem(
                name,
                f"is ON: compressed binlog events cannot be decoded (rows would be lost): set {name}=OFF",
            )
    return None


def check_partial_json(facts: ServerFacts) -> Problem | None:
    if "PARTIAL_JSON" in (facts.variables.get("binlog_row_value_options") or "").upper():
        return Problem("binlog_row_value_options", "is PARTIAL_JSON: set binlog_row_value_options='' (empty)")
    return None


_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<scope>\S+) TO ", re.IGNORECASE)


def global_privileges(grants: list[str]) -> set[str]:
    privileges: set[str] = set()
    for grant in grants:
        match = _GRANT.match(grant)
        if match and match["scope"] == "*.*":
            privileges.update(p.strip().upper() for p in match["privileges"].split(","))
    return privileges


def check_grants(facts: ServerFacts) -> Problem | None:
    held = global_privileges(facts.grants)
    if "ALL PRIVILEGES" in held:
        return None
    missing = []
    if "REPLICATION SLAVE" not in held and "REPLICATION REPLICA" not in held:
        missing.append("REPLICATION SLAVE")
    if not held & {"REPLICATION CLIENT", "BINLOG MONITOR"}:
        missing.append("REPLICATION CLIENT")
    if "SELECT" not in held:
        missing.append("SELECT")
    if not missing:
        return None
    return Problem("grants", f"missing {', '.join(missing)}: GRANT {', '.join(missing)} ON *.* TO the streamer's user")


def check_position_available(facts: ServerFacts, position: BinlogPosition | None) -> Problem | None:
    """The start position (stored checkpoint or --start-position) must still be on the server."""
    if position is None or not facts.binary_logs:
        return None
    sizes = {log.name: log.size for log in facts.binary_logs}
    oldest, newest = facts.binary_logs[0].name, facts.binary_logs[-1].name
    if position.file not in sizes:
        if position < BinlogPosition(oldest, 0):
            return Problem(
                "position",
                f"binlog file {position.file} was purged from the server (oldest is {oldest}): "
                "the changes in between are gone; take a new snapshot and start from its position",
            )
        return Problem("position", f"binlog file {position.file} does not exist on the server (newest is {newest})")
    if position.offset > sizes[position.file]:
        return Problem(
            "position",
            f"offset {position.offset} is past the end of {position.file} ({sizes[position.file]} bytes)",
        )
    return None


SERVER_CHECKS: tuple[Callable[[ServerFacts], Problem | None], ...] = (
    check_binlog_enabled,
    check_binlog_format,
    check_row_image,
    check_row_metadata,
    check_compression,
    check_partial_json,
    check_grants,
)


def run_checks(facts: ServerFacts, position: BinlogPosition | None = None) -> list[Problem]:
    problems = [problem for check in SERVER_CHECKS if (problem := check(facts)) is not None]
    if (problem := check_position_available(facts, position)) is not None:
        problems.append(problem)
    return problems
