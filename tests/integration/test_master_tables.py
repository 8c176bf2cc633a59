"""The whole local pipeline, several rounds: a randomized MariaDB workload -> `cdc-streamer run` (file sink, with a
checkpoint) -> `cdc-lake deliver` -> `cdc-lake compact` -> `cdc-lake verify`, which must find every master table
equal to its source table after every round.

The workload has what breaks naive merges: inserts, updates of random columns, deletes, re-inserts of deleted
keys, primary-key changes, many changes to one key inside one transaction, a batch delivered twice (a replay of
the round's binlog into the same events file) and an ALTER TABLE ADD COLUMN half-way. The seed is printed; set
CDC_TEST_SEED to repeat a run.
"""

from __future__ import annotations

import os
import random
from decimal import Decimal
from pathlib import Path

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli

ROUNDS = 4
OPERATIONS_PER_ROUND = 120
COLUMNS = "id, customer, amount, qty, placed, score, tags, note, big, flag, ubig"


class Workload:
    def __init__(self, db: Database, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        self.live: set[int] = set()
        self.deleted: list[int] = []
        self.next_id = 1
        self.extra_column = False

    def create(self) -> None:
        self.db.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(12,2), qty BIGINT,"
            " placed DATETIME(6), score DOUBLE, tags SET('a','b','c'), note TEXT, big DECIMAL(40,10),"
            " flag BIT(1), ubig BIGINT UNSIGNED) DEFAULT CHARSET = utf8mb4"
        )
        self.db.execute(
            "CREATE TABLE order_lines (order_id INT, line INT, sku VARCHAR(12), price DECIMAL(8,2),"
            " PRIMARY KEY (order_id, line)) DEFAULT CHARSET = utf8mb4"
        )

    def row(self, key: int) -> tuple[object, ...]:
        r = self.rng
        return (
            key,
            r.choice(["ann", "bob", "cé", "dan 😀", None]),
            Decimal(r.randint(-(10**9), 10**9)) / 100,
            r.randint(-(2**62), 2**62),
            f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} 12:00:00.{r.randint(0, 999999):06d}",
            r.choice([0.1, 1e300, -2.5, r.random()]),
            r.choice(["", "a", "a,c", "a,b,c"]),
            r.choice(["x" * r.randint(0, 300), None]),
            Decimal(r.randint(0, 10**30)) / 10**10,
            r.randint(0, 1),
            r.choice([0, 2**64 - 1, r.randint(0, 2**64 - 1)]),
        )

    def insert(self, key: int) -> None:
        self.db.execute(f"INSERT INTO orders ({COLUMNS}) VALUES ({', '.join(['%s'] * 11)})", self.row(key))
        for line in range(self.rng.randint(0, 3)):
            self.db.execute(
                "INSERT INTO order_lines VALUES (%s, %s, %s, %s)", (key, line, f"sku-{line}", Decimal(line) + 1)
            )
        self.live.add(key)

    def step(self) -> None:
        r = self.rng
        choice = r.random()
        if choice < 0.3 or len(self.live) < 5:
            if self.deleted and r.random() < 0.3:
                key = self.deleted.pop(r.randrange(len(self.deleted)))  # re-insert a deleted key
            else:
                key, self.next_id = self.next_id, self.next_id + 1
            self.insert(key)
        elif choice < 0.6:
            key = r.choice(sorted(self.live))
            column, value = r.choice([
                ("customer", "upd"), ("amount", Decimal("1.50")), ("qty", r.randint(0, 9)), ("note", None),
                ("tags", "b"), ("score", 3.25), ("ubig", 2**64 - 2),
            ] + ([("extra", r.randint(0, 99))] if self.extra_column else []))  # fmt: skip
            self.db.execute(f"UPDATE orders SET {column} = %s WHERE id = %s", (value, key))
            self.db.execute("UPDATE order_lines SET price = price + 1 WHERE order_id = %s", (key,))
        elif choice < 0.75:
            key = r.choice(sorted(self.live))
            self.db.execute("DELETE FROM order_lines WHERE order_id = %s", (key,))
            self.db.execute("DELETE FROM orders WHERE id = %s", (key,))
            self.live.discard(key)
            self.deleted.append(key)
        elif choice < 0.85:  # a primary-key change
            old = r.choice(sorted(self.live))
            new, self.next_id = self.next_id, self.next_id + 1
            self.db.execute("UPDATE orders SET id = %s WHERE id = %s", (new, old))
            self.db.execute("UPDATE order_lines SET order_id = %s WHERE order_id = %s", (new, old))
            self.live.discard(old)
            self.live.add(new)
        else:  # many changes to one key inside one transaction
            key = r.choice(sorted(self.live))
            self.db.execute("BEGIN")
            for n in range(r.randint(2, 6)):
                self.db.execute("UPDATE orders SET qty = %s, customer = %s WHERE id = %s", (n, f"v{n}", key))
            if r.random() < 0.5:
                self.db.execute("DELETE FROM orders WHERE id = %s", (key,))
                self.db.execute("INSERT INTO orders (id, customer) VALUES (%s, 'again')", (key,))
            self.db.execute("COMMIT")


def test_master_tables_equal_the_source_after_every_round(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    seed = int(os.environ.get("CDC_TEST_SEED", random.randrange(2**32)))
    print(f"seed {seed} (CDC_TEST_SEED={seed} repeats this run)")
    workload = Workload(db, random.Random(seed))
    events, lake, store = tmp_path / "events.jsonl", tmp_path / "lake", tmp_path / "checkpoint.json"
    start = db.position()
    workload.create()
    stream = file_sink_run(mariadb, events, f"{db.name}.*", "--position-store", f"file:{store}",
                           "--stop-when-caught-up", "--flush-interval", "0.2")  # fmt: skip
    for round_number in range(ROUNDS):
        round_start = db.position()
        if round_number == 2:
            db.execute("ALTER TABLE orders ADD COLUMN extra INT")
            workload.extra_column = True
        for _ in range(OPERATIONS_PER_ROUND):
            workload.step()
        if round_number == ROUNDS - 1:
            marker = workload.next_id + 10**6
            db.execute("INSERT INTO orders (id, customer) VALUES (%s, 'marker')", (marker,))
        extra = ("--start-position", str(start)) if round_number == 0 else ()
        streamed = run_cli(*stream, *extra)
        assert streamed.returncode == 0, streamed.stderr
        if round_number == 1:  # the round's changes a second time: a replayed duplicate batch
            replay = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--replay", "--stop-when-caught-up",
                                            "--start-position", str(round_start)))  # fmt: skip
            assert replay.returncode == 0, replay.stderr
        delivered = run_cli("deliver", "--from-file", str(events), "--lake-dir", str(lake), cli="cdc_lake")
        assert delivered.returncode == 0, delivered.stderr
        if round_number == ROUNDS - 1:
            check_live_view_before_the_merge(db, lake, marker)
        compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
        assert compacted.returncode == 0, compacted.stdout + compacted.stderr
        assert f"{db.name}.orders: merged" in compacted.stdout
        verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake),
                           "--tables", f"{db.name}.*", cli="cdc_lake")  # fmt: skip
        assert verified.returncode == 0, f"round {round_number}, seed {seed}:\n{verified.stdout}{verified.stderr}"
    count = db.query("SELECT count(*) FROM orders")[0][0]
    merged = run_cli("query", "--lake-dir", str(lake), "--format", "csv",
                     f'SELECT count(*) AS n FROM "{db.name}".orders', cli="cdc_lake")  # fmt: skip
    assert merged.stdout.splitlines() == ["n", str(count)]


def check_live_view_before_the_merge(db: Database, lake: Path, marker: int) -> None:
    """A change delivered but not merged yet is in `orders_live` and not in `orders`; `orders_live` then equals
    the source row for row (ids), before any merge."""

    def ids(relation: str) -> list[str]:
        result = run_cli("query", "--lake-dir", str(lake), "--format", "csv",
                         f'SELECT id FROM "{db.name}".{relation} ORDER BY id', cli="cdc_lake")  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()[1:]

    assert str(marker) not in ids("orders")
    assert str(marker) in ids("orders_live")
    assert ids("orders_live") == [str(row[0]) for row in db.query("SELECT id FROM orders ORDER BY id")]


def test_every_type_reaches_the_master_table_exactly(mariadb: LocalMariaDB, db: Database, tmp_path: Path) -> None:
    """One table with every type family, edge values included; verify compares each value with the source."""
    start = db.position()
    db.execute("SET SESSION sql_mode = ''")  # allows the zero dates
    db.execute(
        "CREATE TABLE every (id BIGINT UNSIGNED PRIMARY KEY, ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT,"
        " i INT UNSIGNED, d DECIMAL(65,30), d2 DECIMAL(10,2), f FLOAT, dbl DOUBLE, b1 BIT(1), b64 BIT(64), y YEAR,"
        " dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(3) NULL, c CHAR(3), vc VARCHAR(20), tx TEXT,"
        " bn BINARY(4), vb VARBINARY(8), bl BLOB, e ENUM('x','y'), s SET('a','b'), j JSON, g GEOMETRY)"
        " DEFAULT CHARSET = utf8mb4"
    )
    insert = (
        "INSERT INTO every VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " %s, %s, %s, %s, %s, ST_GeomFromText(%s))"
    )
    db.execute(insert, (
        2**64 - 1, -128, 65535, -8388608, 2**32 - 1, Decimal("-" + "9" * 35 + "." + "9" * 30), Decimal("1.50"),
        3.4028235e38, 1e-300, 1, 2**64 - 1, 2155, "0000-00-00", "-838:59:59.000", "9999-12-31 23:59:59.999999",
        "2038-01-19 03:14:07.999", "ab", "ünï 😀", "x" * 1000, b"\x00\x01", b"\xff" * 8, bytes(range(256)), "y",
        "a,b", '{"k": 1.50, "n": [1, {"z": null}]}', "POINT(1 2)",
    ))  # fmt: skip
    db.execute(insert, (1, *([None] * 24), None))
    db.execute(insert, (
        2, 0, 0, 0, 0, Decimal("0." + "0" * 29 + "1"), Decimal("-0.01"), -1.5, 0.1, 0, 0, 1901, "2024-02-29",
        "00:00:00.001", "0000-00-00 00:00:00", "1970-01-01 00:00:01", "", "", "", b"", b"", b"", "x", "", "[]",
        "LINESTRING(0 0,1 1)",
    ))  # fmt: skip
    db.execute("UPDATE every SET d2 = 2.25, j = '{\"a\": 12345678901234567890.123456789}' WHERE id = 2")
    events, lake = tmp_path / "events.jsonl", tmp_path / "lake"
    streamed = run_cli(*file_sink_run(mariadb, events, f"{db.name}.every", "--start-position", str(start),
                                      "--stop-when-caught-up", "--replay"))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    delivered = run_cli("deliver", "--from-file", str(events), "--lake-dir", str(lake), cli="cdc_lake")
    assert delivered.returncode == 0, delivered.stderr
    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, compacted.stdout + compacted.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables",
                       f"{db.name}.every", cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"{db.name}.every: source 3 rows, master 3 rows: equal"), verified.stdout
    exact = run_cli("query", "--lake-dir", str(lake), "--format", "json",
                    f'SELECT id, d, d2, dt, dtm FROM "{db.name}".every ORDER BY id', cli="cdc_lake")  # fmt: skip
    lines = exact.stdout.splitlines()
    assert lines[0] == '{"id":1,"d":null,"d2":null,"dt":null,"dtm":null}'
    assert lines[1] == ('{"id":2,"d":"0.000000000000000000000000000001","d2":2.25,"dt":"2024-02-29","dtm":null}')
    assert lines[2] == (
        '{"id":18446744073709551615,"d":"-' + "9" * 35 + "." + "9" * 30 + '","d2":1.50,"dt":null,'
        '"dtm":"9999-12-31 23:59:59.999999"}'
    )
