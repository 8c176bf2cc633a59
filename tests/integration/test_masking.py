"""`--mask-columns` end to end on a real MariaDB: a snapshot and a stream with masked personal data, loaded,
delivered, merged — no masked value leaves a process unmasked (export Parquet, events, query text, lake Parquet,
master tables, logs), the masked values of snapshot and stream agree (so the merge and keys work), and
`cdc-lake verify` with the same mask finds master == source."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow.parquet as pq

from cdc_streamer.local_mariadb import LocalMariaDB

from .support import Database, file_sink_run, run_cli

KEY = "integration-masking-key-0123456789"
MASK_ENV = {"CDC_MASK_KEY": KEY}


def hmac_hex(text: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def create_tables(db: Database) -> None:
    db.execute(
        "CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(80), name TEXT, ssn CHAR(11), photo BLOB,"
        " birth DATE, phone BIGINT, plan VARCHAR(10)) DEFAULT CHARSET = utf8mb4"
    )
    db.execute("CREATE TABLE leads (email VARCHAR(80) PRIMARY KEY, origin VARCHAR(20), phone BIGINT)")


def customer(n: int) -> tuple[Any, ...]:
    return (n, f"pii{n}@example.com", f"PIIname {n} Zoë", f"PII-{n:07d}", b"PIIphoto" + bytes([n % 256]),
            f"1971-03-{n % 28 + 1:02d}", 987_654_321_000 + n, "free")  # fmt: skip


def masked_columns(database: str) -> str:
    return ",".join(
        [f"{database}.customers.{c}" for c in ("email", "name", "ssn", "photo", "birth")]
        + [f"{database}.*.phone", f"{database}.leads.email"]
    )


def assert_no_personal_data(text: str, where: str) -> None:
    for marker in ("pii", "PII", "987654321", "1971-03-"):
        assert marker not in text, f"{marker!r} found in {where}"


def parquet_text(root: Path) -> str:
    return "\n".join(repr(pq.read_table(path).to_pylist()) for path in sorted(root.rglob("*.parquet")))


def test_masked_columns_never_leave_the_process_and_the_lake_still_verifies(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    create_tables(db)
    db.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", [customer(n) for n in range(1, 41)])
    db.executemany("INSERT INTO leads VALUES (%s, %s, %s)", [(f"pii-lead{n}@x.org", "web", 987_654_321_500 + n)
                                                            for n in range(1, 11)])  # fmt: skip
    masks = masked_columns(db.name)
    exports = tmp_path / "exports"
    snapshot = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(exports), "--tables", f"{db.name}.*",
                       "--mask-columns", masks, env=MASK_ENV)  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    [export] = [path for path in exports.iterdir() if path.is_dir()]
    exported = parquet_text(export)
    assert_no_personal_data(exported, "the snapshot's Parquet")
    assert hmac_hex("pii7@example.com") in exported and hmac_hex("1971-03-08") in exported
    assert hmac_hex(repr(987_654_321_007)) in exported
    info = "\n".join(path.read_text() for path in export.glob("*.json"))
    assert '"columnName": "email"' in info and '"originalType": "varchar"' in info

    # Changes after the snapshot: inserts, updates of masked and unmasked columns, deletes, a masked key changed.
    db.execute("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", customer(41))
    db.execute("UPDATE customers SET email = 'pii-changed@example.com', plan = 'gold' WHERE id = 3")
    db.execute("UPDATE customers SET plan = 'pro' WHERE id = 4")
    db.execute("UPDATE customers SET name = NULL, photo = x'00ff' WHERE id = 5")
    db.execute("DELETE FROM customers WHERE id = 6")
    db.execute("UPDATE leads SET email = 'pii-lead-moved@x.org' WHERE email = 'pii-lead1@x.org'")
    db.execute("DELETE FROM leads WHERE email = 'pii-lead2@x.org'")
    db.execute("INSERT INTO leads VALUES ('pii-lead-new@x.org', 'ads', 987654321999)")

    lake, events = tmp_path / "lake", tmp_path / "events.jsonl"
    loaded = run_cli("load-export", "--export", str(export), "--lake-dir", str(lake), cli="cdc_lake")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    streamed = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--from-snapshot", str(export),
                                      "--stop-when-caught-up", "--replay", "--output-query", "--output-ddl",
                                      "--mask-columns", masks, "--log-level", "debug"), env=MASK_ENV)  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    lines = events.read_text()
    assert_no_personal_data(lines, "the streamed events")
    changes = [json.loads(line) for line in lines.splitlines()]
    rows = [event for event in changes if event["type"] in ("insert", "update", "delete")]
    assert len(rows) == 8  # 5 customers + 3 leads
    assert all("query" not in event for event in rows)
    moved = next(e for e in rows if e["table"] == "leads" and e["type"] == "update")
    assert moved["data"]["email"] == hmac_hex("pii-lead-moved@x.org")
    assert moved["old"]["email"] == hmac_hex("pii-lead1@x.org")
    assert moved["primary_key"] == [hmac_hex("pii-lead-moved@x.org")]
    schemas = [event for event in changes if event["type"] == "table-schema" and event["table"] == "customers"]
    assert schemas and {c["name"]: c["type"] for c in schemas[0]["columns"]}["ssn"] == "varchar"
    for output in (snapshot.stderr, streamed.stderr):
        assert KEY not in output
        assert_no_personal_data(output, "the logs")

    for step in (
        ("deliver", "--from-file", str(events), "--lake-dir", str(lake)),
        ("compact", "--lake-dir", str(lake)),
    ):
        done = run_cli(*step, cli="cdc_lake")
        assert done.returncode == 0, done.stdout + done.stderr
    assert_no_personal_data(parquet_text(lake), "the lake's Parquet")
    with duckdb.connect(str(lake / "lake.duckdb"), read_only=True) as conn:
        master = conn.execute(f'SELECT * FROM "{db.name}"."customers" ORDER BY id').fetchall()
        leads = conn.execute(f'SELECT email FROM "{db.name}"."leads"').fetchall()
    assert_no_personal_data(repr(master), "the master table")
    assert master[2][1] == hmac_hex("pii-changed@example.com")  # id 3: the stream's mask over the snapshot's
    assert hmac_hex("pii-lead-moved@x.org") in {row[0] for row in leads}
    assert hmac_hex("pii-lead1@x.org") not in {row[0] for row in leads}  # the masked key change moved the row

    verified = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables", f"{db.name}.*",
                       "--mask-columns", masks, env=MASK_ENV, cli="cdc_lake")  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": equal") == 2, verified.stdout
    unmasked = run_cli("verify", "--mysql-url", mariadb.url(), "--lake-dir", str(lake), "--tables",
                       f"{db.name}.customers", cli="cdc_lake")  # fmt: skip
    assert unmasked.returncode == 1, unmasked.stdout + unmasked.stderr
    assert "differs in columns email, name, ssn, photo, birth, phone" in unmasked.stdout


def test_a_misspelt_or_unmaskable_column_stops_before_anything_is_written(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    create_tables(db)
    db.execute("CREATE TABLE scores (id INT PRIMARY KEY, score DOUBLE, profile JSON)")
    events = tmp_path / "events.jsonl"
    cases = {
        f"{db.name}.customers.emial": f"no column {db.name}.customers.emial on the source",
        f"{db.name}.scores.score": f"{db.name}.scores.score is double; only string, binary, integer and date",
        f"{db.name}.scores.profile": f"{db.name}.scores.profile is json",
    }
    for masks, message in cases.items():
        run = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--stop-when-caught-up", "--replay",
                                     "--mask-columns", masks), env=MASK_ENV)  # fmt: skip
        assert run.returncode == 2, run.stderr
        [line] = run.stderr.strip().splitlines()
        assert message in line, run.stderr
        assert "Traceback" not in run.stderr
        snapshot = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(tmp_path / "exports"),
                           "--tables", f"{db.name}.*", "--mask-columns", masks, env=MASK_ENV)  # fmt: skip
        assert snapshot.returncode == 2 and message in snapshot.stderr, snapshot.stderr
    assert not events.exists() or not events.read_text()
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())
    no_key = run_cli(*file_sink_run(mariadb, events, f"{db.name}.*", "--stop-when-caught-up", "--mask-columns",
                                    f"{db.name}.customers.email"), env={"CDC_MASK_KEY": ""})  # fmt: skip
    assert no_key.returncode == 2
    assert "needs a key: set CDC_MASK_KEY or --mask-key-secret-arn" in no_key.stderr


def test_the_key_can_come_from_secrets_manager(mariadb: LocalMariaDB, db: Database, tmp_path: Path, aws: str) -> None:
    create_tables(db)
    db.execute("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", customer(1))
    secret_key = "from-secrets-manager-" + uuid.uuid4().hex
    client = boto3.client("secretsmanager", endpoint_url=aws, region_name="us-east-1")
    arn = client.create_secret(Name=f"cdc/mask-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"key": secret_key}))[
        "ARN"
    ]
    exports = tmp_path / "exports"
    snapshot = run_cli("snapshot", "--mysql-url", mariadb.url(), "--out", str(exports), "--tables",
                       f"{db.name}.customers", "--mask-columns", f"{db.name}.customers.email",
                       "--mask-key-secret-arn", arn, env={"AWS_ENDPOINT_URL": aws})  # fmt: skip
    assert snapshot.returncode == 0, snapshot.stderr
    [export] = [path for path in exports.iterdir() if path.is_dir()]
    [row] = pq.read_table(next(export.rglob("*.parquet"))).to_pylist()
    assert row["email"] == hmac_hex("pii1@example.com", secret_key)
    assert secret_key not in snapshot.stderr + snapshot.stdout
