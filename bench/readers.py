"""Rows/s of our streamer reading a binlog, next to other binlog readers on the same binlog and the same machine.

    .venv/bin/python bench/readers.py [--runs R] [--scale S] [--tables narrow,wide,json_heavy]
                                      [--rows-per-txn 1,50,1000] [--results-dir DIR] [--docs DIR] [--no-docs]

What is measured. A private MariaDB (cdc_streamer.local_mariadb: ROW format, FULL row image and row metadata) is
started in a temporary directory and fills nine binlog segments: three tables x three transaction sizes.

- `narrow`: 6 columns (INT key, VARCHAR, BIGINT, DECIMAL(12,2), DATETIME(3), DOUBLE);
- `wide`: 30 columns of a business table (every integer size, unsigned too, VARCHARs, CHAR, TEXT, DECIMALs,
  DATETIME(3), TIMESTAMP, DATE, TIME, DOUBLE, FLOAT, flags, ENUM, SET, a small BLOB; some NULLs);
- `json_heavy`: an INT key, a JSON document of ~1-2 KB (nested objects and arrays, decimals, unicode) and three
  small columns.

Each segment is one whole binlog file (`FLUSH BINARY LOGS` first; `SHOW MASTER STATUS` before and after give its
range) holding N inserts, then N updates of those rows (a few columns each), then N deletes, in transactions of
1, 50 or 1,000 rows (multi-row INSERT, `UPDATE/DELETE ... WHERE id BETWEEN`): 3N row changes. Values come from a
`random.Random` seeded by the segment's name, so every run writes the same rows. `--scale` multiplies N.

Then each reader reads each segment in a child process of its own, `--runs` times (default 3; the readers take
turns within each repetition), and must report exactly the segment's row changes (a miss exits 1):

- `library`: the plain python-mysql-replication loop (`BinLogStreamReader`, row events only, `for row in
  event.rows`, stop at the segment's end), bench/library_loop.py: what decoding costs in the library our streamer
  is built on, without anything of ours;
- `streamer`: `cdc-streamer run --sink file --position-store none --start-position ... --end-position ...
  --stop-when-caught-up --no-output-schema`: the real command, writing Maxwell JSON lines to a file; the row
  events in the file are counted (per type) after each run;
- `zongji`: `@vlasky/zongji` (Node.js), installed by this script with `npm ci` under build/bench-node/ from
  bench/zongji/ (pinned in package-lock.json); bench/zongji/read.js counts rows (an update pair counts one). If
  node or npm are missing or the install fails, it is recorded as skipped;
- `mariadb_binlog`: `mariadb-binlog --base64-output=DECODE-ROWS -v` on the binlog file itself (no network), its
  text thrown away; its rows are counted once from the `### INSERT/UPDATE/DELETE` lines of a first run.

For each reader and segment: wall seconds from the child's start to its exit (interpreter start-up, imports and
connecting included), rows/s = row changes / wall seconds (min and median over the runs), CPU seconds of the child
(user + system, `os.wait4`, median) and its peak RSS (`ru_maxrss`, max). The server's own work (sending the
binlog) is in neither, and it shares the machine's cores with the reader. Each reader also reads a start-up
segment (one row inserted, updated and deleted) in every repetition; `rows_per_s_after_startup` subtracts that
median from the segment's median wall time: the steady decoding speed, without the fixed cost.

The readers are started by a small helper process (`python -I -S`, see SPAWNER), not by this one: on Linux a
child's `ru_maxrss` is at least the RSS of the process it was forked from, so peak RSS below the helper's own
(~11 MiB, recorded as `rss_floor_mib`) cannot be told apart.

Results go to bench/results/<UTC date>.json (key `readers`; other keys of an existing file are kept) and, through
bench/report.py, to docs/performance.md and docs/images/performance.png.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from results_file import read_results, results_path, update  # bench/, this script's directory, is on sys.path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
ZONGJI_SOURCE = BENCH / "zongji"
ZONGJI_BUILD = ROOT / "build" / "bench-node"
ZONGJI_FILES = ("package.json", "package-lock.json", "read.js")
CLI = Path(sys.executable).with_name("cdc-streamer")
DATABASE = "bench"
USER, PASSWORD = "cdc", "cdc-secret"
READERS = ("library", "streamer", "zongji", "mariadb_binlog")
LABELS = {"library": "library", "streamer": "streamer", "zongji": "zongji", "mariadb_binlog": "mariadb-binlog"}
SERVER_IDS = {"library": 101, "streamer": 102, "zongji": 103}
TXN_SIZES = (1, 50, 1000)
# Rows (N) per segment at --scale 1; the segment holds 3N row changes. Sized for a 2-core machine so that the
# whole script (generation included) takes about 4 minutes with 3 runs.
SIZES: dict[str, dict[int, int]] = {
    "narrow": {1: 1_500, 50: 10_000, 1000: 24_000},
    "wide": {1: 1_000, 50: 4_000, 1000: 8_000},
    "json_heavy": {1: 800, 50: 2_000, 1000: 3_000},
}
CHILD_TIMEOUT = 600.0
BASE_TIME = datetime.datetime(2024, 1, 1)


class BenchFailure(RuntimeError):
    """A reader failed or reported the wrong number of rows, or the environment cannot run the benchmark."""


# ---------------------------------------------------------------------------------------------------- the data

WORDS = (
    "alpha", "bravo", "cable", "delta", "engine", "filter", "gasket", "harbor", "index", "jacket", "kettle",
    "ladder", "magnet", "needle", "orbit", "pocket", "quartz", "rocket", "saddle", "tablet", "umbrella", "valve",
    "wallet", "yarn", "zipper", "blue", "green", "large", "small", "steel", "oak", "cotton", "premium", "classic",
)  # fmt: skip
UNICODE_WORDS = (
    "Zoë", "Müller", "Łukasz", "José", "Søren", "François", "Ángel", "Çağla", "Nguyễn", "Дмитрий", "Ελένη",
    "北京", "東京", "서울", "café", "naïve", "Straße", "🙂", "€", "Ñandú",
)  # fmt: skip
CITIES = ("Berlin", "São Paulo", "Zürich", "Kraków", "Montréal", "Tokyo", "Reykjavík", "Lyon", "Austin", "Köln")
COUNTRIES = ("DE", "BR", "CH", "PL", "CA", "JP", "IS", "FR", "US", "NL")


def words(rng: random.Random, count: int, pool: Sequence[str] = WORDS) -> str:
    return " ".join(rng.choice(pool) for _ in range(count))


def money(rng: random.Random, cents_max: int) -> Decimal:
    return Decimal(rng.randrange(1, cents_max)).scaleb(-2)


def moment(rng: random.Random, span_days: int = 700) -> datetime.datetime:
    return BASE_TIME + datetime.timedelta(seconds=rng.randrange(span_days * 86_400), milliseconds=rng.randrange(1000))


def narrow_row(rng: random.Random, key: int) -> tuple[Any, ...]:
    name = f"{rng.choice(WORDS)}-{rng.randrange(1_000_000):06d}@example.com"
    return (key, name, rng.randrange(-(10**9), 10**12), money(rng, 10**9), moment(rng), rng.uniform(-1e4, 1e4))


def wide_row(rng: random.Random, key: int) -> tuple[Any, ...]:
    created = moment(rng)
    unit_price = money(rng, 10**6)
    tax_rate = Decimal(rng.randrange(0, 2500)).scaleb(-4)
    quantity = rng.randrange(1, 20)
    return (
        key,
        rng.randrange(1, 65_536),  # tenant_id SMALLINT UNSIGNED
        rng.randrange(0, 5),  # status TINYINT
        rng.random() < 0.9,  # is_active TINYINT(1)
        rng.random() < 0.02,  # is_deleted TINYINT(1)
        rng.randrange(-8_388_608, 8_388_608) if rng.random() < 0.8 else None,  # priority MEDIUMINT
        rng.randrange(1, 2**64),  # customer_id BIGINT UNSIGNED (half of them above 2^63)
        rng.randrange(-(2**63), 2**63) if rng.random() < 0.5 else None,  # external_ref BIGINT
        f"SKU-{rng.randrange(10**8):08d}",
        words(rng, rng.randrange(2, 8)).title(),
        f"{rng.choice(WORDS)}.{rng.randrange(10**5)}@example.org" if rng.random() < 0.85 else None,
        rng.choice(CITIES),
        rng.choice(COUNTRIES),
        words(rng, rng.randrange(8, 40)) if rng.random() < 0.4 else None,  # notes TEXT
        unit_price,
        tax_rate,
        (unit_price * quantity * (1 + tax_rate)).quantize(Decimal("0.01")),
        created,
        created.replace(microsecond=0) + datetime.timedelta(days=rng.randrange(30)),  # updated_at TIMESTAMP
        (created + datetime.timedelta(days=rng.randrange(1, 14))).date() if rng.random() < 0.7 else None,
        datetime.timedelta(hours=rng.randrange(24), minutes=rng.randrange(0, 60, 15)),  # ship_window TIME
        round(rng.uniform(0.05, 250.0), 3),
        round(rng.uniform(0, 5), 1),  # rating FLOAT
        rng.choice(("web", "mobile", "store", "partner")),
        ",".join(sorted(rng.sample(("gift", "express", "fragile", "bulk", "promo"), rng.randrange(0, 3)))),
        rng.randbytes(rng.randrange(16, 160)) if rng.random() < 0.3 else None,  # thumbnail BLOB
        1,  # version INT UNSIGNED
        rng.randrange(0, 60) if rng.random() < 0.5 else None,  # discount_pct TINYINT UNSIGNED
        f"WH-{rng.randrange(100):03d}",
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    )


def document(rng: random.Random, key: int) -> dict[str, Any]:
    """An order as a document store would keep it: ~1-2 KB of JSON."""
    items: list[dict[str, Any]] = [
        {
            "sku": f"SKU-{rng.randrange(10**8):08d}",
            "name": words(rng, 3).title(),
            "qty": rng.randrange(1, 6),
            "price": float(money(rng, 50_000)),
            "attributes": {
                "color": rng.choice(WORDS),
                "size": rng.choice(("S", "M", "L", "XL")),
                "gift": rng.random() < 0.1,
            },
        }
        for _ in range(rng.randrange(2, 7))
    ]
    subtotal = round(sum(item["price"] * item["qty"] for item in items), 2)
    return {
        "order_id": key,
        "status": "new",
        "version": 1,
        "customer": {
            "id": rng.randrange(10**9),
            "name": f"{rng.choice(UNICODE_WORDS)} {rng.choice(UNICODE_WORDS)}",
            "email": f"{rng.choice(WORDS)}{rng.randrange(1000)}@example.com",
            "address": {
                "street": f"{rng.randrange(1, 300)} {words(rng, 2).title()} Street",
                "city": rng.choice(CITIES),
                "country": rng.choice(COUNTRIES),
                "geo": {"lat": round(rng.uniform(-90, 90), 6), "lon": round(rng.uniform(-180, 180), 6)},
            },
        },
        "items": items,
        "totals": {"subtotal": subtotal, "tax": round(subtotal * 0.19, 2), "shipping": 4.95, "currency": "EUR"},
        "tags": rng.sample(WORDS, rng.randrange(0, 5)),
        "note": words(rng, rng.randrange(3, 12), UNICODE_WORDS + WORDS),
        "history": [
            {"at": moment(rng).isoformat(timespec="milliseconds"), "event": rng.choice(("created", "paid", "packed"))}
            for _ in range(rng.randrange(1, 4))
        ],
    }


def json_row(rng: random.Random, key: int) -> tuple[Any, ...]:
    doc = json.dumps(document(rng, key), ensure_ascii=False)
    return (key, doc, rng.choice(("order", "return", "quote")), 1, moment(rng))


@dataclass(frozen=True)
class TableKind:
    name: str
    columns_sql: str  # the CREATE TABLE column list
    make_row: Callable[[random.Random, int], tuple[Any, ...]]
    update_set: str  # the SET clause of the updates: a few columns change

    @property
    def columns(self) -> int:
        return self.columns_sql.count("\n") + 1

    def create_sql(self) -> str:
        return f"CREATE TABLE {DATABASE}.{self.name} ({self.columns_sql}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"


TABLES: dict[str, TableKind] = {
    "narrow": TableKind(
        "narrow",
        "id INT PRIMARY KEY,\nname VARCHAR(64),\nqty BIGINT,\namount DECIMAL(12,2),\nat DATETIME(3),\nscore DOUBLE",
        narrow_row,
        "qty = qty + 1, amount = amount + 0.01, at = at + INTERVAL 1 SECOND",
    ),
    "wide": TableKind(
        "wide",
        "id INT PRIMARY KEY,\ntenant_id SMALLINT UNSIGNED NOT NULL,\nstatus TINYINT NOT NULL,\n"
        "is_active TINYINT(1) NOT NULL,\nis_deleted TINYINT(1) NOT NULL,\npriority MEDIUMINT,\n"
        "customer_id BIGINT UNSIGNED NOT NULL,\nexternal_ref BIGINT,\nsku VARCHAR(32) NOT NULL,\n"
        "title VARCHAR(200) NOT NULL,\nemail VARCHAR(120),\ncity VARCHAR(64),\ncountry CHAR(2) NOT NULL,\n"
        "notes TEXT,\nunit_price DECIMAL(10,2) NOT NULL,\ntax_rate DECIMAL(5,4) NOT NULL,\n"
        "total DECIMAL(14,2) NOT NULL,\ncreated_at DATETIME(3) NOT NULL,\nupdated_at TIMESTAMP NULL,\n"
        "ship_date DATE,\nship_window TIME,\nweight_kg DOUBLE,\nrating FLOAT,\n"
        "channel ENUM('web','mobile','store','partner') NOT NULL,\n"
        "tags SET('gift','express','fragile','bulk','promo'),\nthumbnail BLOB,\nversion INT UNSIGNED NOT NULL,\n"
        "discount_pct TINYINT UNSIGNED,\nwarehouse_code VARCHAR(16),\nlast_ip VARCHAR(45)",
        wide_row,
        "status = MOD(status + 1, 5), version = version + 1, total = total + 1.00, "
        "updated_at = updated_at + INTERVAL 1 HOUR, city = UPPER(city)",
    ),
    "json_heavy": TableKind(
        "json_heavy",
        "id INT PRIMARY KEY,\ndoc JSON NOT NULL,\nkind VARCHAR(16) NOT NULL,\nrevision INT NOT NULL,\n"
        "updated_at DATETIME(3) NOT NULL",
        json_row,
        "doc = JSON_SET(doc, '$.status', 'shipped', '$.version', revision + 1), revision = revision + 1, "
        "updated_at = updated_at + INTERVAL 1 SECOND",
    ),
}


@dataclass(frozen=True)
class Segment:
    kind: TableKind
    rows_per_txn: int
    rows: int  # N: inserted, updated, deleted
    file: str
    start: int
    end: int
    generate_seconds: float
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or f"{self.kind.name} {self.rows_per_txn}/txn"

    @property
    def row_changes(self) -> int:
        return 3 * self.rows

    @property
    def binlog_bytes(self) -> int:
        return self.end - self.start


def segment_rows(table: str, rows_per_txn: int, scale: float) -> int:
    transactions = max(1, round(SIZES[table][rows_per_txn] * scale / rows_per_txn))
    return transactions * rows_per_txn


def master_status(cursor: Any) -> tuple[str, int]:
    cursor.execute("SHOW MASTER STATUS")
    file, position = cursor.fetchone()[:2]
    return str(file), int(position)


def generate(server: Any, kind: TableKind, rows_per_txn: int, rows: int, label: str = "") -> Segment:
    """One segment in a binlog file of its own: N inserts, N updates, N deletes, `rows_per_txn` rows a commit."""
    rng = random.Random(f"{kind.name}/{rows_per_txn}")
    names = ", ".join(line.split()[0] for line in kind.columns_sql.splitlines())
    insert = f"INSERT INTO {DATABASE}.{kind.name} ({names}) VALUES ({', '.join(['%s'] * kind.columns)})"
    update = f"UPDATE {DATABASE}.{kind.name} SET {kind.update_set}"
    delete = f"DELETE FROM {DATABASE}.{kind.name}"
    began = time.monotonic()
    with server.root_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("FLUSH BINARY LOGS")
        file, start = master_status(cursor)
        for first in range(1, rows + 1, rows_per_txn):
            batch = [kind.make_row(rng, key) for key in range(first, first + rows_per_txn)]
            if rows_per_txn == 1:
                cursor.execute(insert, batch[0])
            else:
                cursor.execute("BEGIN")
                cursor.executemany(insert, batch)  # multi-row INSERTs (pymysql splits them at ~1 MB)
                cursor.execute("COMMIT")
        for statement in (update, delete):
            for first in range(1, rows + 1, rows_per_txn):
                if rows_per_txn == 1:
                    cursor.execute(f"{statement} WHERE id = %s", (first,))
                else:
                    cursor.execute(f"{statement} WHERE id BETWEEN %s AND %s", (first, first + rows_per_txn - 1))
                if cursor.rowcount != rows_per_txn:
                    raise BenchFailure(f"{statement[:30]}... changed {cursor.rowcount} rows, not {rows_per_txn}")
        end_file, end = master_status(cursor)
    if end_file != file:
        raise BenchFailure(f"segment {kind.name} {rows_per_txn}/txn spans {file} and {end_file}")
    return Segment(kind, rows_per_txn, rows, file, start, end, time.monotonic() - began, label)


# ---------------------------------------------------------------------------------------------- the children


@dataclass(frozen=True)
class Child:
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    stdout: str
    stderr: str


def child_env() -> dict[str, str]:
    """This environment without CDC_* settings (they would change what the streamer does)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("CDC_")}


# The process that starts the measured readers. Linux counts the RSS of the process that forked a child in the
# child's ru_maxrss (exec keeps the high-water mark of the forked copy), so a reader started by this process, tens of
# MiB by now, could never show less. The readers are started by a small helper instead (a bare `python -I -S`, ~10
# MiB); its own high-water mark is recorded as the floor under which peak RSS cannot be told.
SPAWNER = """
import json, os, signal, subprocess, sys, time

def hwm():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def kill(*_):
    if child is not None and child.returncode is None:
        child.kill()

child = None
signal.signal(signal.SIGALRM, kill)
print(json.dumps({"floor_kib": hwm()}), flush=True)
try:
    for line in sys.stdin:
        request = json.loads(line)
        with open(request["stdout"] or os.devnull, "wb") as out, open(request["stderr"], "wb") as err:
            began = time.perf_counter()
            try:
                child = subprocess.Popen(request["command"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as error:
                print(json.dumps({"error": str(error)}), flush=True)
                continue
            signal.alarm(request["timeout"])
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - began
            signal.alarm(0)
            child.returncode = os.waitstatus_to_exitcode(status)
        reply = {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                 "returncode": child.returncode, "floor_kib": hwm()}
        child = None
        print(json.dumps(reply), flush=True)
except KeyboardInterrupt:
    kill()
"""


class Spawner:
    """The helper process that runs each measured command (see SPAWNER): wall, CPU and peak RSS by os.wait4."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPAWNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
            text=True,
        )
        self.floor_kib = int(self._reply()["floor_kib"])

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BenchFailure(f"the measuring helper process exited (status {self.process.poll()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, command: list[str], stdout: Path | None, stderr: Path, timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"command": command, "stdout": str(stdout) if stdout else None, "stderr": str(stderr)}
        self.process.stdin.write(json.dumps({**request, "timeout": max(1, round(timeout))}) + "\n")
        self.process.stdin.flush()
        reply = self._reply()
        self.floor_kib = max(self.floor_kib, int(reply.get("floor_kib", 0)))
        return reply

    def close(self) -> None:
        """Let it exit; if a reader is still running (we were interrupted), SIGINT makes it kill that one first."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        for signum in (None, signal.SIGINT, signal.SIGKILL):
            if signum is not None:
                self.process.send_signal(signum)
            try:
                self.process.wait(2)
                return
            except subprocess.TimeoutExpired:
                continue


def run_child(
    spawner: Spawner, work: Path, command: list[str], *, discard_stdout: bool = False, timeout: float = CHILD_TIMEOUT
) -> Child:
    """Run `command` to its exit: wall seconds, its own CPU seconds and peak RSS (os.wait4), its output."""
    out, err = work / "child.stdout", work / "child.stderr"
    reply = spawner.run(command, None if discard_stdout else out, err, timeout)
    if "error" in reply:
        raise BenchFailure(f"cannot start {command[0]}: {reply['error']}")
    stdout = "" if discard_stdout else out.read_text(errors="replace")
    stderr = err.read_text(errors="replace")
    seconds, returncode = float(reply["seconds"]), int(reply["returncode"])
    if returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        why = f"killed after {timeout:.0f}s" if returncode == -9 and seconds >= timeout else f"exit {returncode}"
        program = Path(command[1] if command[0] == sys.executable else command[0]).name
        raise BenchFailure(f"{program} failed ({why}): {tail}")
    return Child(seconds, float(reply["cpu_seconds"]), int(reply["maxrss_kib"]) / 1024, stdout, stderr)


def printed_rows(child: Child, reader: str) -> int:
    for line in reversed(child.stdout.splitlines()):
        if line.startswith("{"):
            return int(json.loads(line)["rows"])
    raise BenchFailure(f"{reader} printed no row count: {child.stdout[-200:]!r} {child.stderr[-300:]!r}")


@dataclass
class Context:
    server: Any  # LocalMariaDB
    work: Path
    spawner: Spawner
    zongji_skipped: str | None = None


def library_command(ctx: Context, seg: Segment) -> list[str]:
    return [
        sys.executable, str(BENCH / "library_loop.py"), str(ctx.server.port), str(SERVER_IDS["library"]),
        seg.file, str(seg.start), str(seg.end), USER, PASSWORD,
    ]  # fmt: skip


def streamer_command(ctx: Context, seg: Segment, out: Path) -> list[str]:
    return [
        str(CLI), "run", "--mysql-url", ctx.server.url(USER, PASSWORD), "--server-id", str(SERVER_IDS["streamer"]),
        "--sink", "file", "--file", str(out), "--position-store", "none",
        "--start-position", f"{seg.file}:{seg.start}", "--end-position", f"{seg.file}:{seg.end}",
        "--stop-when-caught-up", "--no-output-schema", "--log-level", "warning",
    ]  # fmt: skip


def zongji_command(ctx: Context, seg: Segment) -> list[str]:
    return [
        shutil.which("node") or "node", str(ZONGJI_BUILD / "read.js"), "127.0.0.1", str(ctx.server.port),
        USER, PASSWORD, seg.file, str(seg.start), seg.file, str(seg.end), str(SERVER_IDS["zongji"]),
    ]  # fmt: skip


def mariadb_binlog_command(ctx: Context, seg: Segment) -> list[str]:
    return [
        mariadb_binlog_binary(), "--no-defaults", "--base64-output=DECODE-ROWS", "-v",
        f"--start-position={seg.start}", f"--stop-position={seg.end}", str(ctx.server.data_dir / seg.file),
    ]  # fmt: skip


def mariadb_binlog_binary() -> str:
    for name in ("mariadb-binlog", "mysqlbinlog"):
        found = shutil.which(name)
        if found:
            return found
    raise BenchFailure("mariadb-binlog not found: install MariaDB's client tools (apt-get install mariadb-client)")


def count_streamer_events(out: Path) -> dict[str, int]:
    counts = {"insert": 0, "update": 0, "delete": 0}
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            kind = json.loads(line).get("type")
            if kind in counts:
                counts[kind] += 1
    return counts


def count_mariadb_binlog_rows(ctx: Context, seg: Segment) -> None:
    """Once per segment: the rows in mariadb-binlog's text (`### INSERT INTO`, `### UPDATE`, `### DELETE FROM`)."""
    counts = {"insert": 0, "update": 0, "delete": 0}
    prefixes = (("### INSERT INTO", "insert"), ("### UPDATE", "update"), ("### DELETE FROM", "delete"))
    with (
        tempfile.TemporaryFile() as err,
        subprocess.Popen(
            mariadb_binlog_command(ctx, seg), stdout=subprocess.PIPE, stderr=err, env=child_env()
        ) as child,
    ):
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(b"### "):
                for prefix, kind in prefixes:
                    if line.startswith(prefix.encode()):
                        counts[kind] += 1
        child.wait()
        err.seek(0)
        error = err.read().decode(errors="replace")
    if child.returncode != 0:
        raise BenchFailure(f"mariadb-binlog failed (exit {child.returncode}): {error.strip()[-300:]}")
    check_counts("mariadb-binlog", seg, counts)


def check_counts(reader: str, seg: Segment, counts: dict[str, int]) -> None:
    expected = {"insert": seg.rows, "update": seg.rows, "delete": seg.rows}
    if counts != expected:
        raise BenchFailure(f"{reader} read {counts} in {seg.name}, expected {expected}")


def check_rows(reader: str, seg: Segment, rows: int) -> None:
    if rows != seg.row_changes:
        raise BenchFailure(f"{reader} read {rows:,} row changes in {seg.name}, expected {seg.row_changes:,}")


def measure(ctx: Context, reader: str, seg: Segment) -> Child:
    """One timed run of one reader over one segment, its row count verified."""
    if reader == "library":
        child = run_child(ctx.spawner, ctx.work, library_command(ctx, seg))
        check_rows(LABELS[reader], seg, printed_rows(child, reader))
    elif reader == "streamer":
        out = ctx.work / "streamer-out.jsonl"
        out.unlink(missing_ok=True)
        child = run_child(ctx.spawner, ctx.work, streamer_command(ctx, seg, out))
        if not out.exists():
            raise BenchFailure(f"the streamer wrote no {out.name} for {seg.name}: {child.stderr[-300:]}")
        check_counts(LABELS[reader], seg, count_streamer_events(out))
        out.unlink()
    elif reader == "zongji":
        child = run_child(ctx.spawner, ctx.work, zongji_command(ctx, seg))
        check_rows(LABELS[reader], seg, printed_rows(child, reader))
    else:
        child = run_child(ctx.spawner, ctx.work, mariadb_binlog_command(ctx, seg), discard_stdout=True)
    return child


# --------------------------------------------------------------------------------------------------- zongji


def prepare_zongji() -> str | None:
    """Install @vlasky/zongji under build/bench-node/ (`npm ci`, when missing or stale). None, or why it is skipped."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return f"{'node' if node is None else 'npm'} not found on PATH"
    ZONGJI_BUILD.mkdir(parents=True, exist_ok=True)
    for name in ZONGJI_FILES:
        source, target = ZONGJI_SOURCE / name, ZONGJI_BUILD / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    digest = hashlib.sha256(b"".join((ZONGJI_SOURCE / name).read_bytes() for name in ZONGJI_FILES[:2])).hexdigest()
    stamp = ZONGJI_BUILD / "node_modules" / ".bench-installed"
    if not stamp.exists() or stamp.read_text() != digest:
        print("installing @vlasky/zongji with npm ci under build/bench-node/ ...", flush=True)
        try:
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=ZONGJI_BUILD,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"npm ci failed: {error}"
        if result.returncode != 0:
            return f"npm ci failed (exit {result.returncode}): {npm_error(result.stderr)}"
        stamp.write_text(digest)
    return None


def npm_error(stderr: str) -> str:
    """The informative part of npm's error output (it ends with usage text and a log file's name)."""
    boilerplate = ("code ", "A complete log", 'Run "npm help', "Usage:", "Clean install", "npm ci", "aliases:")
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines() if line.startswith("npm error")]
    useful = [line for line in lines if line and not line.startswith(boilerplate)]
    return "; ".join(useful[:2])[:300] or (stderr.strip().splitlines() or ["no output"])[-1]


def zongji_version() -> str | None:
    try:
        manifest = json.loads((ZONGJI_BUILD / "node_modules/@vlasky/zongji/package.json").read_text())
    except (OSError, ValueError):
        return None
    return str(manifest.get("version"))


# -------------------------------------------------------------------------------------------------- the machine


def command_output(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def compiled_decoder() -> bool:
    """Whether the streamer's compiled decoder (cdc_streamer._fastpath) imports in this Python."""
    command = [sys.executable, "-c", "import cdc_streamer._fastpath"]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def source_state() -> dict[str, Any]:
    """The commit measured, and whether cdc_streamer/ differs from it (work in progress is measured as it is)."""
    commit = command_output(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    changes = command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "cdc_streamer"])
    digest = hashlib.sha256()
    for path in sorted((ROOT / "cdc_streamer").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".c", ".so", ".pyx"}:
            digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return {
        "commit": commit,
        "cdc_streamer_modified": bool(changes) if changes is not None else None,
        "cdc_streamer_sha256": digest.hexdigest()[:16],  # of its sources and compiled modules, as measured
    }


def machine(server_version: str, compiled: bool) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_gib: float | None = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    binlog_tool = command_output([mariadb_binlog_binary(), "--no-defaults", "--version"])
    try:
        from importlib.metadata import version

        library_version: str | None = version("mysql-replication")
    except ImportError:
        library_version = None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": memory_gib,
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": command_output([shutil.which("node") or "node", "--version"]),
        "mariadb": server_version,
        "compiled_decoder": compiled,
        "versions": {
            "python-mysql-replication": library_version,
            "zongji": zongji_version(),
            "mariadb-binlog": binlog_tool.split(" ", 1)[-1] if binlog_tool else None,
        },
    }


# ------------------------------------------------------------------------------------------------- the results


def spread(values: list[float], digits: int) -> dict[str, float]:
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def summarise(seg: Segment, runs: list[Child]) -> dict[str, Any]:
    return {
        "rows_per_s": spread([seg.row_changes / run.seconds for run in runs], 0),
        "seconds": spread([run.seconds for run in runs], 3),
        "cpu_seconds": round(statistics.median(run.cpu_seconds for run in runs), 3),
        "peak_rss_mib": round(max(run.peak_rss_mib for run in runs), 1),
        "runs": [
            {
                "seconds": round(r.seconds, 3),
                "cpu_seconds": round(r.cpu_seconds, 3),
                "peak_rss_mib": round(r.peak_rss_mib, 1),
            }
            for r in runs
        ],
    }


def ratio(results: dict[str, Any], reader: str) -> float | None:
    ours, theirs = results.get("streamer", {}), results.get(reader, {})
    if "rows_per_s" not in ours or "rows_per_s" not in theirs:
        return None
    return round(float(ours["rows_per_s"]["median"]) / float(theirs["rows_per_s"]["median"]), 3)


def startup_result(runs: dict[str, list[Child]]) -> dict[str, Any]:
    return {
        reader: {
            "seconds": spread([run.seconds for run in measured], 3),
            "cpu_seconds": round(statistics.median(run.cpu_seconds for run in measured), 3),
            "peak_rss_mib": round(max(run.peak_rss_mib for run in measured), 1),
        }
        for reader, measured in runs.items()
    }


def segment_result(
    seg: Segment, runs: dict[str, list[Child]], skipped: dict[str, str], startup: dict[str, Any]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for reader in READERS:
        if reader in skipped:
            results[reader] = {"skipped": skipped[reader]}
        elif runs.get(reader):
            results[reader] = summarise(seg, runs[reader])
            net = results[reader]["seconds"]["median"] - startup[reader]["seconds"]["median"]
            # rows/s once started: the median wall time less the reader's median start-up time
            results[reader]["rows_per_s_after_startup"] = round(seg.row_changes / net) if net > 0.01 else None
    return {
        "table": seg.kind.name,
        "columns": seg.kind.columns,
        "rows_per_txn": seg.rows_per_txn,
        "rows": seg.rows,
        "row_changes": seg.row_changes,
        "binlog_bytes": seg.binlog_bytes,
        "binlog_file": seg.file,
        "generate_seconds": round(seg.generate_seconds, 2),
        "results": results,
        "ratios": {f"streamer/{reader}": ratio(results, reader) for reader in READERS if reader != "streamer"},
    }


def fmt_rate(result: dict[str, Any]) -> str:
    if "rows_per_s" not in result:
        return "skipped"
    return f"{result['rows_per_s']['median']:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_table(segments: list[dict[str, Any]], startup: dict[str, Any]) -> None:
    others = [reader for reader in READERS if reader != "streamer"]
    header = ["segment", "row changes", *(f"{LABELS[r]} rows/s" for r in READERS), *(f"s/{LABELS[r]}" for r in others)]
    lines = [header]
    for seg in segments:
        results = seg["results"]
        lines.append([
            f"{seg['table']} {seg['rows_per_txn']}/txn",
            f"{seg['row_changes']:,}",
            *(fmt_rate(results.get(reader, {})) for reader in READERS),
            *(fmt_ratio(seg["ratios"][f"streamer/{reader}"]) for reader in others),
        ])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if number == 0:
            print("  ".join("-" * w for w in widths))
    print("rows/s: median over the runs, wall clock of each reader's own process (start-up included)")
    print(
        "start-up (median seconds to read a 3-row segment): "
        + ", ".join(f"{LABELS[reader]} {figures['seconds']['median']:.2f}s" for reader, figures in startup.items())
    )


# ------------------------------------------------------------------------------------------------------ main


@contextmanager
def private_server(base: Path) -> Iterator[Any]:
    from cdc_streamer.local_mariadb import LocalMariaDB, free_port

    server = LocalMariaDB(base / "server", port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


def parse_list(text: str, allowed: Sequence[str]) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
    return items


def generate_all(ctx: Context, tables: list[str], sizes: list[int], scale: float) -> tuple[Segment, list[Segment]]:
    """The start-up segment (one row inserted, updated, deleted) and the measured segments."""
    server = ctx.server
    server.create_cdc_user(USER, PASSWORD)
    server.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 2")  # durability only: the binlog is the same
    server.execute("SET GLOBAL sync_binlog = 0")
    server.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    for kind in TABLES.values():
        server.execute(kind.create_sql())
    startup = generate(server, TABLES["narrow"], 1, 1, label="start-up")
    count_mariadb_binlog_rows(ctx, startup)
    segments: list[Segment] = []
    for table in tables:
        for size in sizes:
            seg = generate(server, TABLES[table], size, segment_rows(table, size, scale))
            count_mariadb_binlog_rows(ctx, seg)
            print(
                f"generated {seg.name:<20} {seg.rows:>7,} rows, {seg.row_changes:>7,} row changes, "
                f"{seg.binlog_bytes / 2**20:5.1f} MiB of binlog in {seg.generate_seconds:4.1f}s",
                flush=True,
            )
            segments.append(seg)
    return startup, segments


def measure_all(
    ctx: Context, segments: list[Segment], readers: list[str], runs: int, began: float
) -> dict[str, dict[str, list[Child]]]:
    """`runs` repetitions; in each, every segment is read by every reader (the readers' order rotates)."""
    measured: dict[str, dict[str, list[Child]]] = {seg.name: {reader: [] for reader in readers} for seg in segments}
    for repetition in range(runs):
        order = readers[repetition % len(readers) :] + readers[: repetition % len(readers)]
        for seg in segments:
            for reader in order:
                measured[seg.name][reader].append(measure(ctx, reader, seg))
        print(f"run {repetition + 1}/{runs} done ({time.monotonic() - began:.0f}s so far)", flush=True)
    return measured


def on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwind: stop the server, remove the temporary directory


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    signal.signal(signal.SIGTERM, on_sigterm)
    mariadb_binlog_binary()  # fail early, with one line
    zongji_skipped = prepare_zongji()
    if zongji_skipped:
        print(f"zongji: skipped ({zongji_skipped})", flush=True)
    readers = [reader for reader in READERS if not (reader == "zongji" and zongji_skipped)]
    base = Path(tempfile.mkdtemp(prefix="cdc-bench-readers-"))
    spawner: Spawner | None = None
    try:
        with private_server(base) as server:
            spawner = Spawner()
            ctx = Context(server, base, spawner, zongji_skipped)
            startup, segments = generate_all(ctx, args.tables, [int(size) for size in args.rows_per_txn], args.scale)
            compiled, source = compiled_decoder(), source_state()
            measured = measure_all(ctx, [startup, *segments], readers, args.runs, began)
            info = machine(str(server.execute("SELECT VERSION()")[0][0]), compiled)
            if compiled_decoder() != compiled or source_state() != source:
                print("warning: the streamer's code changed during the run; its figures mix both", file=sys.stderr)
                source["changed_during_run"] = True
            floor_mib = round(spawner.floor_kib / 1024, 1)
    finally:
        if spawner is not None:
            spawner.close()
        shutil.rmtree(base, ignore_errors=True)

    skipped = {"zongji": zongji_skipped} if zongji_skipped else {}
    startup_figures = startup_result(measured[startup.name])
    results = [segment_result(seg, measured[seg.name], skipped, startup_figures) for seg in segments]
    print()
    print_table(results, startup_figures)
    wall = time.monotonic() - began
    command = "python bench/readers.py" + "".join(f" {arg}" for arg in sys.argv[1:])
    readers_result = {
        "runs": args.runs,
        "scale": args.scale,
        "command": "make bench" if os.environ.get("MAKELEVEL") else command,
        "wall_seconds": round(wall, 1),
        "rss_floor_mib": floor_mib,
        "source": source,
        "startup": {"row_changes": startup.row_changes, "results": startup_figures},
        "segments": results,
    }
    previous = read_results(results_path(args.results_dir)).get("machine", {})
    path, data = update({"machine": {**previous, **info}, "readers": readers_result}, args.results_dir)
    print(f"peak RSS under {floor_mib} MiB cannot be measured (the helper process that starts the readers)")
    print(f"results in {path} (total {wall:.0f}s)")
    if not args.no_docs:
        from report import render  # bench/, this script's directory, is on sys.path

        for written in render(data, args.docs):
            print(f"wrote {written.relative_to(ROOT) if written.is_relative_to(ROOT) else written}")
    return 0


def one_line(error: BaseException) -> str:
    """The first line of an error; for a server that did not start, with the server log's first [ERROR] line (the
    log itself is removed with the temporary directory)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    first = lines[0].split("; see ")[0]
    logged = [line.split("[ERROR]", 1)[1].strip() for line in lines[1:] if "[ERROR]" in line]
    return f"{first}: {logged[0]}" if logged else first


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each reader on each segment (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the rows of every segment (default 1)")
    parser.add_argument(
        "--tables", type=lambda text: parse_list(text, tuple(TABLES)), default=list(TABLES), help="default: all"
    )
    parser.add_argument(
        "--rows-per-txn",
        type=lambda text: parse_list(text, tuple(str(size) for size in TXN_SIZES)),
        default=[str(size) for size in TXN_SIZES],
        help="transaction sizes, default 1,50,1000",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where performance.md and images/ are")
    parser.add_argument("--no-docs", action="store_true", help="write the results JSON only")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be >= 1 and --scale > 0")
    try:
        return run(args)
    except BenchFailure as error:
        print(f"readers.py: benchmark failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("readers.py: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as error:  # no server binary, port in use, server did not start, ...
        print(f"readers.py: cannot run the benchmark: {one_line(error)}", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - e.g. pymysql errors from the server: one line, no traceback
        print(f"readers.py: failed: {type(error).__name__}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
