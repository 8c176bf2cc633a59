"""Golden scenarios: SQL statements next to the exact events they produce.

A scenario file (tests/golden/*.sql) is SQL with expectations after each statement:

    -- flags: {"output_ddl": true}              optional StreamerSettings overrides (JSON), first lines only
    INSERT INTO t VALUES (1, 'a');
    -- => {"table": "t", "type": "insert", "primary_key": [1], ...}

Every event field is compared exactly, numbers as the JSON text wrote them (`1.50` is not `1.5`), except the
fields that differ per run (ts, xid, position, gtid, server_id, thread_id), which are checked for their shape.
Defaults an expectation may omit: database (the scenario's), xoffset 0, and for row events commit true (schema
events always print `"commit": false`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdc_streamer.encoding import encode_event
from cdc_streamer.event import Event

VOLATILE = ("ts", "xid", "position", "gtid", "server_id", "thread_id")
POSITION = re.compile(r"^binlog\.\d{6}:\d+$")
MARIADB_GTID = re.compile(r"^\d+-\d+-\d+$")


@dataclass(frozen=True)
class Number:
    """A JSON number as written, so `1.50` and `1.5` stay different."""

    text: str


def load_json(text: str) -> Any:
    return json.loads(text, parse_float=Number, parse_int=lambda s: Number(s) if len(s) > 15 else int(s))


@dataclass
class Step:
    sql: str
    expected: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    flags: dict[str, Any]


def parse_scenario(path: Path) -> Scenario:
    steps: list[Step] = []
    flags: dict[str, Any] = {}
    pending: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("-- flags:"):
            flags.update(json.loads(stripped.removeprefix("-- flags:")))
        elif stripped.startswith("-- =>"):
            if not steps or pending:
                raise ValueError(f"{path}:{number}: an expectation must follow a complete statement")
            try:
                steps[-1].expected.append(load_json(stripped.removeprefix("-- =>")))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: {error}") from None
        elif stripped.startswith("--") or not stripped:
            continue
        else:
            pending.append(line)
            if stripped.endswith(";"):
                steps.append(Step("\n".join(pending).rstrip().rstrip(";")))
                pending = []
    if pending:
        raise ValueError(f"{path}: statement without a closing semicolon")
    return Scenario(path.stem, steps, flags)


def actual_fields(event: Event) -> dict[str, Any]:
    fields: dict[str, Any] = load_json(encode_event(event))
    return fields


def check_volatile(fields: dict[str, Any], server_id: int) -> list[str]:
    problems = []
    now = time.time()
    if not (isinstance(fields.get("ts"), int) and abs(fields["ts"] - now) < 86400):
        problems.append(f"ts {fields.get('ts')!r} is not a recent epoch second")
    if not POSITION.match(str(fields.get("position"))):
        problems.append(f"position {fields.get('position')!r} is not FILE:POS")
    if not MARIADB_GTID.match(str(fields.get("gtid"))):
        problems.append(f"gtid {fields.get('gtid')!r} is not a MariaDB GTID")
    if fields.get("server_id") != server_id:
        problems.append(f"server_id {fields.get('server_id')!r} != {server_id}")
    xid = fields.get("xid")
    if "sql" not in fields and not (xid is None or (isinstance(xid, int) and xid > 0)):
        problems.append(f"xid {xid!r} is neither null (XA, non-transactional) nor a positive integer")
    if not (fields.get("thread_id") is None or isinstance(fields.get("thread_id"), int)):
        problems.append(f"thread_id {fields.get('thread_id')!r}")
    return problems


def expected_fields(expected: dict[str, Any], database: str) -> dict[str, Any]:
    defaults: dict[str, Any] = {"database": database, "xoffset": 0}
    if "sql" not in expected:
        defaults.update(commit=expected.get("type") != "table-schema")
    return {**defaults, **expected}


def stable_fields(fields: dict[str, Any]) -> dict[str, Any]:
    stable = {key: value for key, value in fields.items() if key not in VOLATILE}
    if "sql" not in stable:
        stable.setdefault("commit", False)  # Maxwell prints commit only on a transaction's last row
    return stable
