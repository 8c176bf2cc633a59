"""The diff and the report of `cdc-lake verify`: per-side key -> digest maps, the differing keys, the text.

`Digests` collects one side's rows (a digest per primary key; the canonical rows of the first differing keys),
`compare` turns two sides into a `KeyDiff`, and `format_report` prints the `TableReport`s. Pure: no I/O.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cdc_streamer.values import format_time

from .verify_values import Row, row_digest

__all__ = [
    "DIFFERS",
    "DUPLICATED",
    "EXTRA",
    "MISSING",
    "Digests",
    "Key",
    "KeyDiff",
    "TableReport",
    "align_columns",
    "compare",
    "differing_columns",
    "format_key",
    "format_report",
    "format_table",
    "format_value",
    "key_order",
]

# Master-only columns the lake adds (merge_sql.ORDER, merge_sql.CHANGED_AT, ...) all start with it.
METADATA_PREFIX = "_cdc_"
MISSING, EXTRA, DIFFERS, DUPLICATED = "missing in master", "extra in master", "differs", "duplicated in master"

Key = tuple[Any, ...]

# ---------------------------------------------------------------------------------------------- the diff


def _sort_value(value: Any) -> tuple[int, str, Any]:
    if value is None:
        return (0, "", 0)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (1, "number", value)
    return (2, type(value).__name__, value)


def key_order(key: Key) -> tuple[tuple[int, str, Any], ...]:
    """Sort order of canonical keys (values of one column share a type, so this always compares)."""
    return tuple(_sort_value(value) for value in key)


def _sorted_keys(keys: Iterable[Key]) -> list[Key]:
    try:
        return sorted(keys, key=key_order)
    except TypeError:  # mixed types in one key column: still deterministic
        return sorted(keys, key=repr)


@dataclass
class Digests:
    """One side of a table: row count, key -> digest, keys seen more than once, and (when given the other
    side's digests) the canonical rows of up to `keep` smallest keys whose digest differs from it."""

    key_indexes: tuple[int, ...]
    reference: Mapping[Key, bytes] | None = None
    keep: int = 0
    rows: int = 0
    digests: dict[Key, bytes] = field(default_factory=dict)
    duplicated: set[Key] = field(default_factory=set)
    kept: dict[Key, Row] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        key = tuple(row[index] for index in self.key_indexes)
        digest = row_digest(row)
        self.rows += 1
        if key in self.digests:
            self.duplicated.add(key)
        self.digests[key] = digest
        if self.keep and self.reference is not None and self.reference.get(key, digest) != digest:
            self.kept[key] = row
            if len(self.kept) > 2 * self.keep:
                self._prune()

    def _prune(self) -> None:
        self.kept = {key: self.kept[key] for key in _sorted_keys(self.kept)[: self.keep]}

    def finish(self) -> Digests:
        self._prune()
        return self


@dataclass(frozen=True, slots=True)
class KeyDiff:
    """Differing keys, each list sorted."""

    missing: tuple[Key, ...] = ()  # at the source, not in master
    extra: tuple[Key, ...] = ()  # in master, not at the source
    differs: tuple[Key, ...] = ()  # both sides, other content
    duplicated: tuple[Key, ...] = ()  # more than one master row

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.differs) + len(self.duplicated)

    def first(self, count: int) -> list[tuple[Key, str]]:
        """The `count` smallest differing keys, each with what is wrong with it."""
        tagged = [
            *((key, MISSING) for key in self.missing),
            *((key, EXTRA) for key in self.extra),
            *((key, DIFFERS) for key in self.differs),
            *((key, DUPLICATED) for key in self.duplicated),
        ]
        try:
            tagged.sort(key=lambda item: key_order(item[0]))
        except TypeError:
            tagged.sort(key=lambda item: repr(item[0]))
        return tagged[: max(count, 0)]


def compare(source: Mapping[Key, bytes], master: Mapping[Key, bytes], duplicated: Iterable[Key] = ()) -> KeyDiff:
    """Source digests vs master digests. A key with several master rows is `duplicated`, whatever its content."""
    dups = set(duplicated)
    return KeyDiff(
        missing=tuple(_sorted_keys(key for key in source if key not in master)),
        extra=tuple(_sorted_keys(key for key in master if key not in source and key not in dups)),
        differs=tuple(
            _sorted_keys(
                key for key, digest in master.items() if key in source and source[key] != digest and key not in dups
            )
        ),
        duplicated=tuple(_sorted_keys(dups)),
    )


def differing_columns(names: Sequence[str], source: Row, master: Row) -> tuple[str, ...]:
    return tuple(name for name, a, b in zip(names, source, master, strict=True) if repr(a) != repr(b))


def align_columns(source: Sequence[str], master: Sequence[str]) -> tuple[str | None, ...]:
    """For each source column, the master column of that name (case-insensitive, as both engines compare
    names), or None when the master table does not have it. Master-only columns are not compared."""
    by_name = {name.lower(): name for name in master if not name.startswith(METADATA_PREFIX)}
    return tuple(by_name.get(name.lower()) for name in source)


# ---------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class TableReport:
    """One table's outcome. `source_rows`/`master_rows` are None when that side has no such table."""

    database: str
    table: str
    source_rows: int | None = None
    master_rows: int | None = None
    key_columns: tuple[str, ...] = ()
    skipped: str = ""
    problem: str = ""  # a whole-table difference (a side without the table, a key column missing in master)
    diff: KeyDiff = field(default_factory=KeyDiff)
    column_diffs: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    missing_columns: tuple[str, ...] = ()  # source columns the master table does not have

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def equal(self) -> bool:
        return not self.skipped and not self.problem and not self.diff.total and not self.missing_columns


def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, datetime.datetime):
        return repr(value.isoformat(sep=" "))
    if isinstance(value, datetime.date):
        return repr(value.isoformat())
    if isinstance(value, datetime.timedelta):
        return repr(format_time(value, 6 if value.microseconds else 0))
    if isinstance(value, tuple):
        return repr(",".join(str(member) for member in value))
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def format_key(names: Sequence[str], key: Key) -> str:
    return ", ".join(f"{name}={format_value(value)}" for name, value in zip(names, key, strict=True))


def _rows(count: int | None) -> str:
    if count is None:
        return "-"
    return f"{count} row" if count == 1 else f"{count} rows"


def format_table(report: TableReport, show: int) -> list[str]:
    """One line with counts and the outcome, then the first `show` differing keys."""
    if report.skipped:
        return [f"{report.name}: {report.skipped}"]
    head = f"{report.name}: source {_rows(report.source_rows)}, master {_rows(report.master_rows)}"
    if report.problem:
        return [f"{head}: {report.problem}"]
    if report.equal:
        return [f"{head}: equal"]
    diff = report.diff
    parts = [
        f"{len(keys)} {label}"
        for keys, label in (
            (diff.missing, MISSING),
            (diff.extra, EXTRA),
            (diff.differs, "differ"),
            (diff.duplicated, DUPLICATED),
        )
        if keys
    ]
    noun = "key differs" if diff.total == 1 else "keys differ"
    summary = f"{diff.total} {noun} ({', '.join(parts)})" if diff.total else "no key differs"
    lines = [f"{head}: {summary}"]
    if report.missing_columns:
        lines.append(f"  columns missing in master: {', '.join(report.missing_columns)}")
    for key, what in diff.first(show):
        text = what
        if what == DIFFERS:
            columns = report.column_diffs.get(key)
            text = f"differs in columns {', '.join(columns)}" if columns else "differs (source row not found again)"
        lines.append(f"  {format_key(report.key_columns, key)}: {text}")
    hidden = diff.total - min(max(show, 0), diff.total)
    if hidden:
        lines.append(f"  ... and {hidden} more")
    return lines


def format_report(reports: Sequence[TableReport], show: int) -> list[str]:
    lines = [line for report in reports for line in format_table(report, show)]
    skipped = sum(1 for report in reports if report.skipped)
    equal = sum(1 for report in reports if report.equal)
    differ = len(reports) - skipped - equal
    noun = "table" if len(reports) == 1 else "tables"
    lines.append(f"verify: {len(reports)} {noun}: {equal} equal, {differ} differ, {skipped} skipped")
    return lines
