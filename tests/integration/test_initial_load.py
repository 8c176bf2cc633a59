"""The initial load, end to end: a snapshot taken while the source keeps changing, loaded into master tables, then
the binlog from the snapshot's position on top of it — `cdc-lake verify` must find master == source: no change
lost at the handoff, none applied twice."""

from __future__ import annotations

import json
import random
import threading
import time
from decimal import Decimal
from pathlib import Path

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli


def writer(server: LocalMariaDB, database: str, stop: threading.Event, seed: int) -> int:
    """Inserts, updates and deletes in small transactions until `stop`; the number of transactions."""
    db = Database(server, database)
    db.execute(f"USE `{database}`")
    rng = random.Random(seed)
    count = 0
    try:
        while not stop.is_set():
            key = rng.randint(1, 6_000)
            action = rng.random()
            db.execute("BEGIN")
            if action < 0.4:
                db.execute(
                    "INSERT INTO orders (id, note, amount) VALUES (%s, 'w', %s)"
                    " ON DUPLICATE KEY UPDATE note = 'upsert', amount = amount + 1",
                    (key, Decimal(rng.randint(0, 10**6)) / 100),
                )
            elif action < 0.8:
                db.execute("UPDATE orders SET note = %s, amount = amount * 2 WHERE id = %s", (f"u{count}", key))
                db.execute("UPDATE order_lines SET qty = qty + 1 WHERE order_id = %s", (key,))
            else:
                db.execute("DELETE FROM order_lines WHERE order_id = %s", (key,))
                db.execute("DELETE FROM orders WHERE id = %s", (key,))
            db.execute("COMMIT")
            count += 1
            time.sleep(0.002)
    finally:
        db.close()
    return count


def test_snapshot_while_writing_then_stream_from_its_position(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40), amount DECIMAL(14,2), at DATETIME(6))"
        " DEFAULT CHARSET = utf8mb4"
    )
    db.execute("CREATE TABLE order_lines (order_id INT, line INT, qty INT, PRIMARY KEY (order_id, line))")
    db.execute(
        "INSERT INTO orders SELECT seq, concat('n', seq), seq / 100, '2026-01-01 00:00:00.000001' FROM seq_1_to_5000"
    )
    db.execute("INSERT INTO order_lines SELECT seq DIV 3 + 1, seq MOD 3, seq FROM seq_0_to_8999")
    stop = threading.Event()
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(writer(mariadb, db.name, stop, 7)))
    thread.start()
    try:
        time.sleep(0.3)
        snapshot = run_cli(
            "snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path / "exports"),
            "--tables", f"{db.name}.*", "--chunk-rows", "500",
        )  # fmt: skip
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert snapshot.returncode == 0, snapshot.stderr
    assert counts and counts[0] > 10, "the writer must have been busy during the snapshot"
    [export] = [path for path in (tmp_path / "exports").iterdir() if path.is_dir()]
    position = json.loads((export / "cdc_position.json").read_text())
    assert position["file"].startswith("binlog.")

    lake, events = tmp_path / "lake", tmp_path / "events.jsonl"
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), cli="cdc_lake")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    streamed = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--from-snapshot", str(export),
                                      "--stop-when-caught-up", "--replay"))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    for step in (
        ("deliver", "--from-file", str(events), "--lake-dir", str(lake)),
        ("compact", "--lake-dir", str(lake)),
    ):
        done = run_cli(*step, cli="cdc_lake")
        assert done.returncode == 0, done.stdout + done.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables",
                       f"{db.name}.*", cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": equal") == 2, verified.stdout


def test_an_export_without_a_position_and_the_overlap_procedure(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    """A real Aurora export records no binlog position. The documented procedure: record the position BEFORE the
    export starts, load the export with `--position` of it, stream from it; the changes between the recorded
    position and the export are applied a second time and the latest-wins merge absorbs them."""
    db.execute(
        "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40), amount DECIMAL(14,2)) DEFAULT CHARSET = utf8mb4"
    )
    db.execute("INSERT INTO orders SELECT seq, concat('n', seq), seq / 100 FROM seq_1_to_2000")
    recorded = db.position()  # before the export starts
    db.execute("UPDATE orders SET note = 'overlap' WHERE id <= 100")
    db.execute("DELETE FROM orders WHERE id BETWEEN 101 AND 150")
    db.execute("INSERT INTO orders VALUES (5000, 'new in the overlap', 1.50)")
    db.execute("INSERT INTO orders VALUES (5001, 'inserted and deleted in the overlap', 1)")
    db.execute("DELETE FROM orders WHERE id = 5001")
    snapshot = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path / "exports"),
                       "--tables", f"{db.name}.orders")  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    [export] = [path for path in (tmp_path / "exports").iterdir() if path.is_dir()]
    (export / "cdc_position.json").unlink()  # as Aurora's export: no position
    db.execute("UPDATE orders SET amount = amount + 1 WHERE id BETWEEN 1 AND 10")  # after the export
    db.execute("DELETE FROM orders WHERE id = 2000")

    lake, events = tmp_path / "lake", tmp_path / "events.jsonl"
    refused = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), cli="cdc_lake")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--position" in refused.stderr
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), "--position", str(recorded),
                     cli="cdc_lake")  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    streamed = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--start-position", str(recorded),
                                      "--stop-when-caught-up", "--replay"))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    for step in (
        ("deliver", "--from-file", str(events), "--lake-dir", str(lake)),
        ("compact", "--lake-dir", str(lake)),
    ):
        done = run_cli(*step, cli="cdc_lake")
        assert done.returncode == 0, done.stdout + done.stderr
    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables",
                       f"{db.name}.orders", cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
