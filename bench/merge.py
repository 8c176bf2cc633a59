"""Seconds and events/s of the local merge (`cdc_lake.compact.compact_lake`) into a DuckDB master table.

    .venv/bin/python bench/merge.py [--rows N] [--changes C] [--repeat R] [--lake-dir DIR] [--json]

Three steps, timed one by one, on a lake of table `bench.orders` (id INT primary key, customer VARCHAR,
amount DECIMAL(12,2), qty BIGINT, placed_at DATETIME(3), score DOUBLE):

1. initial merge: N insert events (ids 1..N) into an empty master table;
2. C change events against the N-row master table (with `lookback_seconds=0`, so only the new files are read):
   ~80% updates (`old` holds the changed columns), ~10% deletes, ~10% inserts of new keys, uniformly random keys
   plus 5% of the updates on 0.1% hot keys, so many keys change several times in the batch;
3. full rebuild (`--rebuild`) of the same table from all N + C events.

The events are flattened rows of the raw events schema (`cdc_lake.parquet_schema.EVENT_SCHEMA`), `data`/`old`
encoded by the streamer's `encode_value` (DECIMALs exact), in the lake layout
`events/database=bench/table=orders/dt=YYYY-MM-DD/hour=HH/`, 100,000 events per file (one file per hour), plus
one schema event in `table=_schema`. They are generated once, before any timing, into a staging directory and
copied into a fresh lake for each repetition (copying is not timed either).

Checks (a mismatch exits non-zero): each step merges exactly its files and events; after steps 1 and 2 the master
table's row count, sum(qty) and sum(amount) equal what the generator computed; after step 3 the table is identical
to the one after step 2 (row count, and the md5 of the md5s of every row's text, all columns, in id order).

Peak RSS is `getrusage(RUSAGE_SELF).ru_maxrss`, a high-water mark of the whole process (the generator, DuckDB and
pyarrow included), read right after each step of the first repetition. The lake is in a temporary directory unless
`--lake-dir` (empty or absent; kept afterwards, reset between repetitions).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from results_file import store  # bench/, this script's directory, is on sys.path

from cdc_lake.compact import CompactSettings, compact_lake
from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB
from cdc_lake.event_schema import SCHEMA_TABLE, binlog_order
from cdc_lake.layout import object_name, partition_dir
from cdc_lake.parquet_schema import EVENT_SCHEMA
from cdc_lake.storage import LakeStore
from cdc_streamer.encoding import encode_value
from cdc_streamer.values import format_datetime

DATABASE = "bench"
TABLE = "orders"
COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "int", "unsigned": False},
    {"name": "customer", "type": "varchar"},
    {"name": "amount", "type": "decimal", "precision": 12, "scale": 2},
    {"name": "qty", "type": "bigint", "unsigned": False},
    {"name": "placed_at", "type": "datetime", "fsp": 3},
    {"name": "score", "type": "double"},
]
ROWS_PER_FILE = 100_000
ROWS_PER_TRANSACTION = 50
TRANSACTIONS_PER_FILE = ROWS_PER_FILE // ROWS_PER_TRANSACTION
BASE_TS = 1_714_521_600  # 2024-05-01 00:00:00 UTC; the events of file k are in hour k after it
BINLOG_FILE_NUMBER = 42
BINLOG_FILE = f"binlog.{BINLOG_FILE_NUMBER:06d}"
SCHEMA_POSITION = 4
PLACED_BASE = datetime.datetime(2024, 1, 1)
PLACED_BASE_MS = int(PLACED_BASE.replace(tzinfo=datetime.UTC).timestamp() * 1_000)
SEED = 20240501
INSERT_SHARE, DELETE_SHARE, HOT_SHARE, HOT_KEYS = 0.10, 0.10, 0.05, 0.001
MIB = 1024 * 1024

Change = tuple[str, int, int]  # (type, key, version of the row image in `data`)


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


# -- the rows -------------------------------------------------------------------------------------------------


def amount_cents(key: int, version: int) -> int:
    return ((key * 7 + version * 13) % 100_000) * 100 + (key + version) % 100


def qty(key: int, version: int) -> int:
    return key * 1_000 + version


def placed_ms(key: int, version: int) -> int:
    """`placed_at`, milliseconds after PLACED_BASE."""
    return key * 1_000 + version * 60_000 + (key * 37 + version) % 1_000


def image(key: int, version: int) -> dict[str, Any]:
    """Row `key` after its `version`-th change (0 = as inserted): every column a pure function of both;
    `customer` changes every third version only, so `old` does not always have the same columns. The reference
    that `column_texts` is checked against."""
    return {
        "id": key,
        "customer": f"customer-{key:08d}.{version // 3}@example.com",
        "amount": Decimal(amount_cents(key, version)).scaleb(-2),  # exact: Decimal("12.30")
        "qty": qty(key, version),
        "placed_at": format_datetime(PLACED_BASE + datetime.timedelta(milliseconds=placed_ms(key, version)), 3),
        "score": key % 977 / 7 + version,
    }


def column_texts(keys: Sequence[int], versions: Sequence[int]) -> dict[str, pa.Array]:
    """Column by column, the JSON text (`encode_value`) of each value of the rows `image(key, version)`.
    DATETIME(3) text is formatted by Arrow (`format_datetime` per row would double the generating time)."""
    pairs = list(zip(keys, versions, strict=True))
    milliseconds = pa.array([PLACED_BASE_MS + placed_ms(k, v) for k, v in pairs], pa.int64())
    placed = pc.strftime(milliseconds.cast(pa.timestamp("ms", tz="UTC")), format="%Y-%m-%d %H:%M:%S")
    values: dict[str, list[Any]] = {
        "id": list(keys),
        "customer": [f"customer-{k:08d}.{v // 3}@example.com" for k, v in pairs],
        "amount": [Decimal(amount_cents(k, v)).scaleb(-2) for k, v in pairs],
        "qty": [qty(k, v) for k, v in pairs],
        "placed_at": placed.to_pylist(),
        "score": [k % 977 / 7 + v for k, v in pairs],
    }
    return {name: pa.array(map(encode_value, column), pa.string()) for name, column in values.items()}


def json_object(texts: dict[str, pa.Array], start: pa.Array | str = "{") -> pa.Array:
    """`{"name":text,...}` row by row, as `encode_value` writes a dict (the texts are JSON already); `start` is
    the text up to the first of them (`{`, or `{` and members before them)."""
    parts: list[pa.Array | str] = [start]
    for index, (name, text) in enumerate(texts.items()):
        parts += [("" if index == 0 else ",") + encode_value(name) + ":", text]
    return pc.binary_join_element_wise(*parts, "}", "")


def images(changes: Sequence[Change]) -> tuple[pa.Array, pa.Array]:
    """`data` (each change's row image) and `old` (updates only: the previous values of the changed columns)."""
    keys = [key for _, key, _ in changes]
    after = column_texts(keys, [version for _, _, version in changes])
    updates = pa.array([kind == "update" for kind, _, _ in changes])
    if not pc.any(updates).as_py():
        return json_object(after), pa.nulls(len(changes), pa.string())
    before = column_texts(keys, [max(0, version - 1) for _, _, version in changes])
    customer_changed = pa.array([version % 3 == 0 for _, _, version in changes])
    start = pc.if_else(customer_changed, pc.binary_join_element_wise('{"customer":', before["customer"], ",", ""), "{")
    old = json_object({name: before[name] for name in ("amount", "qty", "placed_at", "score")}, start)
    return json_object(after), pc.if_else(updates, old, pa.scalar(None, pa.string()))


def check_images(changes: Sequence[Change], data: pa.Array, old: pa.Array, sample: int = 200) -> None:
    """The column-wise texts equal `encode_value` of `image(...)` and of its changed columns (`sample` rows spread
    over the file)."""
    for index in range(0, len(changes), max(1, len(changes) // sample)):
        kind, key, version = changes[index]
        after = image(key, version)
        expected = None
        if kind == "update":
            before = image(key, version - 1)
            expected = encode_value({name: value for name, value in before.items() if after[name] != value})
        if (data[index].as_py(), old[index].as_py()) != (encode_value(after), expected):
            raise SystemExit(f"generator bug: the texts of {kind} {key} v{version} differ from encode_value's")


@dataclass(slots=True)
class Keys:
    """The source table while the changes are planned: the live keys (for random picks) and each key's version
    (-1 = absent)."""

    version: array[int]
    alive: array[int]
    slot: array[int]  # key -> its index in `alive`
    changed: array[int]  # key -> number of changes in the batch
    next_key: int
    mix: dict[str, int] = field(default_factory=lambda: {"insert": 0, "update": 0, "delete": 0})

    @classmethod
    def of(cls, rows: int, capacity: int) -> Keys:
        size = rows + capacity + 1
        version = array("q", [-1]) * size
        slot = array("q", [-1]) * size
        for key in range(1, rows + 1):
            version[key] = 0
            slot[key] = key - 1
        return cls(version, array("q", range(1, rows + 1)), slot, array("l", [0]) * size, rows + 1)

    def add(self, key: int) -> None:
        self.version[key] = 0
        self.slot[key] = len(self.alive)
        self.alive.append(key)

    def remove(self, key: int) -> None:
        index, last = self.slot[key], self.alive[-1]
        self.alive[index] = last
        self.slot[last] = index
        self.alive.pop()
        self.version[key] = -1
        self.slot[key] = -1

    def expected(self) -> tuple[int, int, Decimal]:
        """(row count, sum of qty, sum of amount) of the master table once every change is merged."""
        versions = [(key, self.version[key]) for key in self.alive]
        return (
            len(versions),
            sum(qty(key, version) for key, version in versions),
            Decimal(sum(amount_cents(key, version) for key, version in versions)).scaleb(-2),
        )


def plan_changes(keys: Keys, count: int, rng: random.Random) -> Iterator[list[Change]]:
    """`count` changes in chunks of a file each, applied to `keys` as they are planned."""
    chunk: list[Change] = []
    for _ in range(count):
        draw = rng.random()
        if draw < INSERT_SHARE or not keys.alive:
            key = keys.next_key
            keys.next_key += 1
            keys.add(key)
            change: Change = ("insert", key, 0)
        else:
            hot = rng.random() < HOT_SHARE
            span = max(1, int(len(keys.alive) * HOT_KEYS)) if hot else len(keys.alive)
            key = keys.alive[rng.randrange(span)]
            if draw < INSERT_SHARE + DELETE_SHARE:
                change = ("delete", key, keys.version[key])
                keys.remove(key)
            else:
                keys.version[key] += 1
                change = ("update", key, keys.version[key])
        keys.mix[change[0]] += 1
        keys.changed[change[1]] += 1
        chunk.append(change)
        if len(chunk) == ROWS_PER_FILE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def events_table(changes: Sequence[Change], first: int, last: int) -> pa.Table:
    """The flattened events of `changes`, the first at global event index `first`; `last` is the index of the
    step's last event (its transaction commits there). 50 events per transaction, positions increasing."""
    indexes = range(first, first + len(changes))
    transactions = [index // ROWS_PER_TRANSACTION for index in indexes]
    xoffsets = [index % ROWS_PER_TRANSACTION for index in indexes]
    positions = [1_024 + transaction * 2_048 for transaction in transactions]
    data, old = images(changes)
    check_images(changes, data, old)
    columns: dict[str, list[Any] | pa.Array] = {
        "type": [kind for kind, _, _ in changes],
        "ts": [BASE_TS + transaction * 3_600 // TRANSACTIONS_PER_FILE for transaction in transactions],
        "xid": [1_000_000 + transaction for transaction in transactions],
        "xoffset": xoffsets,
        "commit": [x == ROWS_PER_TRANSACTION - 1 or i == last for x, i in zip(xoffsets, indexes, strict=True)],
        "binlog_file": [BINLOG_FILE] * len(changes),
        "binlog_position": positions,
        "binlog_order": [binlog_order(BINLOG_FILE_NUMBER, p, x) for p, x in zip(positions, xoffsets, strict=True)],
        "gtid": [f"0-1-{transaction + 1}" for transaction in transactions],
        "server_id": [1] * len(changes),
        "thread_id": [None] * len(changes),
        "primary_key": [encode_value([key]) for _, key, _ in changes],
        "primary_key_columns": ['["id"]'] * len(changes),
        "data": data,
        "old": old,
    }
    return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


def schema_table() -> pa.Table:
    row: dict[str, Any] = {name: None for name in EVENT_SCHEMA.names}
    row.update(
        type="table-schema",
        ts=BASE_TS,
        xoffset=0,
        commit=False,
        binlog_file=BINLOG_FILE,
        binlog_position=SCHEMA_POSITION,
        binlog_order=binlog_order(BINLOG_FILE_NUMBER, SCHEMA_POSITION, 0),
        server_id=1,
        primary_key_columns=encode_value(["id"]),
        data=encode_value({"table": TABLE, "columns": COLUMNS}),
    )
    return pa.Table.from_pylist([row], schema=EVENT_SCHEMA)


def hour_dir(table: str, ts: int) -> str:
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return partition_dir(DATABASE, table, moment.date().isoformat(), f"{moment.hour:02d}")


# -- generating the lake's files ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Staged:
    """The generated files (paths relative to the staging directory) and what merging them must give."""

    initial: list[str]
    changes: list[str]
    initial_expected: tuple[int, int, Decimal]
    final_expected: tuple[int, int, Decimal]
    mix: dict[str, int]
    multi_changed: int  # keys changed more than once in step 2
    most_changes: int
    bytes_initial: int
    bytes_changes: int
    seconds: float
    peak_rss_mib: float  # after generating


def write_chunk(store: LakeStore, changes: Sequence[Change], first: int, last: int) -> str:
    hour = first // ROWS_PER_FILE
    ts = BASE_TS + hour * 3_600
    relative = f"{hour_dir(TABLE, ts)}/{object_name('bench', datetime.datetime.fromtimestamp(ts, datetime.UTC))}"
    store.write_parquet(relative, events_table(changes, first, last))
    return relative


def stage(directory: Path, rows: int, changes: int) -> Staged:
    began = time.perf_counter()
    store = LakeStore.open(str(directory))
    keys = Keys.of(rows, changes)
    schema = f"{hour_dir(SCHEMA_TABLE, BASE_TS)}/{object_name('bench', datetime.datetime.now(datetime.UTC))}"
    store.write_parquet(schema, schema_table())
    initial = [schema]
    for start in range(0, rows, ROWS_PER_FILE):
        chunk = [("insert", key, 0) for key in range(start + 1, min(rows, start + ROWS_PER_FILE) + 1)]
        initial.append(write_chunk(store, chunk, start, rows - 1))
    initial_expected = keys.expected()
    first = -(-rows // ROWS_PER_FILE) * ROWS_PER_FILE  # step 2 starts a new file, hour and transaction
    written = []
    for chunk in plan_changes(keys, changes, random.Random(SEED)):
        written.append(write_chunk(store, chunk, first, first + changes - 1))
        first += len(chunk)
    counts = [count for count in keys.changed if count > 1]
    return Staged(
        initial=initial,
        changes=written,
        initial_expected=initial_expected,
        final_expected=keys.expected(),
        mix=dict(keys.mix),
        multi_changed=len(counts),
        most_changes=max(counts, default=1 if changes else 0),
        bytes_initial=sum((directory / path).stat().st_size for path in initial),
        bytes_changes=sum((directory / path).stat().st_size for path in written),
        seconds=time.perf_counter() - began,
        peak_rss_mib=peak_rss_mib(),
    )


def copy_into(staging: Path, lake: Path, relatives: list[str]) -> None:
    """Copy staged files into the lake: new files, so their mtime is now (after any earlier watermark)."""
    for relative in relatives:
        target = lake / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staging / relative, target)


# -- the steps ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    label: str
    events: int
    files: int
    rows_before: int
    rows_after: int


@dataclass(slots=True)
class Measured:
    step: Step
    seconds: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0  # after the step's first run


def run_step(settings: CompactSettings, step: Step) -> float:
    began = time.perf_counter()
    outcomes = compact_lake(settings)
    seconds = time.perf_counter() - began
    expected = [(DATABASE, TABLE, "merged", step.events, step.files)]
    got = [(o.database, o.table, o.status, o.events, o.files) for o in outcomes]
    if got != expected:
        lines = "; ".join(outcome.line() for outcome in outcomes)
        raise SystemExit(
            f"{step.key}: expected (database, table, status, events, files) {expected}, got {got}: {lines}"
        )
    return seconds


FINGERPRINT = (
    "SELECT count(*), count(DISTINCT id), sum(qty), sum(amount),"
    f' md5(string_agg(md5(CAST(o AS VARCHAR)), \'\' ORDER BY id)) FROM "{DATABASE}"."{TABLE}" AS o'
)


def fingerprint(database: Path) -> tuple[Any, ...]:
    """(rows, distinct ids, sum(qty), sum(amount), md5 of the rows' md5s in id order) of the master table: the
    `SELECT * ... ORDER BY id` of two tables is the same when their fingerprints are."""
    with DuckDB(database, read_only=True) as engine:
        return engine.native(FINGERPRINT)[0]


def snapshot(lake: Path, target: Path) -> Path:
    """A copy of the lake's DuckDB file (compact_lake has closed it), to check after the timed steps."""
    for suffix in ("", ".wal"):
        source = lake / (LAKE_DATABASE + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))
    return target


def verify(after_initial: Path, after_changes: Path, after_rebuild: Path, staged: Staged) -> None:
    for name, path, expected in (
        ("initial merge", after_initial, staged.initial_expected),
        ("merge of the changes", after_changes, staged.final_expected),
    ):
        rows, distinct, qty_sum, amount_sum, _ = fingerprint(path)
        got = (rows, qty_sum or 0, amount_sum if amount_sum is not None else Decimal(0))
        if got != expected or distinct != rows:
            raise SystemExit(
                f"after the {name}: (rows, sum(qty), sum(amount)) is {got} with {distinct} distinct ids,"
                f" expected {expected}"
            )
    merged, rebuilt = fingerprint(after_changes), fingerprint(after_rebuild)
    if merged != rebuilt:
        raise SystemExit(f"the rebuilt master table differs from the merged one: {rebuilt} != {merged}")


def reset(lake: Path) -> None:
    shutil.rmtree(lake / "events", ignore_errors=True)
    for suffix in ("", ".wal"):
        (lake / (LAKE_DATABASE + suffix)).unlink(missing_ok=True)


def run_once(lake: Path, staging: Path, checks: Path, staged: Staged, steps: list[Step]) -> list[tuple[float, float]]:
    """The three steps on a fresh lake, then the checks; (seconds, peak RSS MiB right after) per step."""
    reset(lake)
    initial, changes, rebuild = steps
    copy_into(staging, lake, staged.initial)
    results = [(run_step(CompactSettings(lake, lookback_seconds=0), initial), peak_rss_mib())]
    after_initial = snapshot(lake, checks / "after-initial.duckdb")
    copy_into(staging, lake, staged.changes)
    results.append((run_step(CompactSettings(lake, lookback_seconds=0), changes), peak_rss_mib()))
    after_changes = snapshot(lake, checks / "after-changes.duckdb")
    results.append((run_step(CompactSettings(lake, lookback_seconds=0, rebuild=True), rebuild), peak_rss_mib()))
    verify(after_initial, after_changes, lake / LAKE_DATABASE, staged)
    return results


# -- report -------------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, staged: Staged, measured: list[Measured]) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "cpus": os.cpu_count(),
        "rows": args.rows,
        "changes": args.changes,
        "change_mix": staged.mix,
        "keys_changed_more_than_once": staged.multi_changed,
        "most_changes_of_one_key": staged.most_changes,
        "files": {"initial": len(staged.initial) - 1, "changes": len(staged.changes)},
        "parquet_mib": {
            "initial": round(staged.bytes_initial / MIB, 1),
            "changes": round(staged.bytes_changes / MIB, 1),
        },
        "generate_seconds": round(staged.seconds, 2),
        "peak_rss_mib_after_generating": round(staged.peak_rss_mib),
        "repeat": args.repeat,
        "steps": [
            {
                "step": m.step.key,
                "label": m.step.label,
                "events": m.step.events,
                "files": m.step.files,
                "rows_before": m.step.rows_before,
                "rows_after": m.step.rows_after,
                "seconds": [round(s, 3) for s in m.seconds],
                "seconds_min": round(min(m.seconds), 3),
                "seconds_median": round(statistics.median(m.seconds), 3),
                "events_per_s_median": round(m.step.events / statistics.median(m.seconds)),
                "events_per_s_max": round(m.step.events / min(m.seconds)),
                "peak_rss_mib_after_step": round(m.peak_rss_mib),
            }
            for m in measured
        ],
        "peak_rss_mib": round(peak_rss_mib()),
        "peak_rss_note": "getrusage ru_maxrss: high-water mark of the whole process (generator, pyarrow, DuckDB)",
        "verified": True,
    }


def print_table(result: dict[str, Any]) -> None:
    mix = result["change_mix"]
    print(
        f"python {result['python']}, duckdb {result['duckdb']}, pyarrow {result['pyarrow']}, {result['cpus']} CPUs;"
        f" repeat {result['repeat']}"
    )
    print(
        f"events: {result['rows']:,} inserts in {result['files']['initial']} files"
        f" ({result['parquet_mib']['initial']} MiB), then {result['changes']:,} changes in {result['files']['changes']}"
        f" files ({result['parquet_mib']['changes']} MiB): {mix['update']:,} updates, {mix['delete']:,} deletes,"
        f" {mix['insert']:,} inserts; {result['keys_changed_more_than_once']:,} keys changed more than once"
        f" (up to {result['most_changes_of_one_key']} times)"
    )
    print(
        f"generated in {result['generate_seconds']:.1f} s, not timed (peak RSS then"
        f" {result['peak_rss_mib_after_generating']:,} MiB)"
    )
    header = f"{'step':<54} {'rows before':>11} {'rows after':>11} {'events':>10} {'s median':>9} {'s min':>8}"
    print(f"{header} {'events/s':>10} {'peak RSS MiB':>12}")
    for step in result["steps"]:
        print(
            f"{step['label']:<54} {step['rows_before']:>11,} {step['rows_after']:>11,} {step['events']:>10,}"
            f" {step['seconds_median']:>9.2f} {step['seconds_min']:>8.2f} {step['events_per_s_median']:>10,}"
            f" {step['peak_rss_mib_after_step']:>12,}"
        )
    print(
        "peak RSS: high-water mark of the whole process (generator, pyarrow, DuckDB), read after each step of the"
        f" first run; at exit {result['peak_rss_mib']:,} MiB.\nverified: merged table == rebuilt table (md5 of all"
        " rows), row counts and sums as generated"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="insert events of step 1 (ids 1..N)")
    parser.add_argument("--changes", type=int, default=1_000_000, help="change events of step 2")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the three steps; min and median reported")
    parser.add_argument("--lake-dir", type=Path, help="build the lake here (empty or absent; kept afterwards)")
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON object")
    parser.add_argument("--no-save", action="store_true", help="do not update bench/results/<date>.json")
    args = parser.parse_args()
    if args.rows < 1 or args.changes < 1 or args.repeat < 1:
        parser.error("--rows, --changes and --repeat must be at least 1")
    if args.lake_dir is not None and args.lake_dir.exists() and any(args.lake_dir.iterdir()):
        parser.error(f"--lake-dir {args.lake_dir} is not empty")
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as temp:
        work = Path(temp)
        lake = args.lake_dir.resolve() if args.lake_dir is not None else work / "lake"
        lake.mkdir(parents=True, exist_ok=True)
        (work / "checks").mkdir()
        staged = stage(work / "staging", args.rows, args.changes)
        rows, changed = staged.initial_expected[0], staged.final_expected[0]
        steps = [
            Step("initial", f"initial merge: {args.rows:,} events into an empty table", args.rows,
                 len(staged.initial) - 1, 0, rows),
            Step("changes", f"{args.changes:,} events into a {rows:,}-row master table", args.changes,
                 len(staged.changes), rows, changed),
            Step("rebuild", f"full rebuild from all {args.rows + args.changes:,} events", args.rows + args.changes,
                 len(staged.initial) - 1 + len(staged.changes), changed, changed),
        ]  # fmt: skip
        measured = [Measured(step) for step in steps]
        for run in range(args.repeat):
            timings = run_once(lake, work / "staging", work / "checks", staged, steps)
            for one, (seconds, rss) in zip(measured, timings, strict=True):
                one.seconds.append(seconds)
                if run == 0:
                    one.peak_rss_mib = rss
        result = report(args, staged, measured)
    print_table(result)
    if args.json:
        print(json.dumps(result))
    if not args.no_save:
        store("merge", result)


if __name__ == "__main__":
    main()
