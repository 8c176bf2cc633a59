"""`cdc-lake load-export` on real files: the hand-made Aurora export of tests/aurora_export.py (Aurora's layout and
quirks, not written by our snapshot writer), loaded into a real lake.duckdb and read back with `cdc-lake query`.

The primary keys a real Aurora export does not record come from a fake key source here; the `--mysql-url` path
against a real MariaDB is tests/integration/test_load_export.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdc_lake import load_export as loader
from cdc_lake.cli import main
from cdc_lake.compact import CompactSettings, compact_lake
from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB
from cdc_lake.event_schema import binlog_order
from cdc_lake.load_export import LoadSettings, load_export
from cdc_lake.master_types import SourceColumn
from cdc_lake.merge_sql import MasterTable, duckdb_table_ddl
from cdc_streamer.errors import CdcError, ConfigError
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import TableFilter
from tests.aurora_export import (
    EXPORT_ID,
    KEYS,
    LINES,
    ORDER,
    ORDERS,
    POSITION,
    SNAPSHOT_AT,
    arrow_table,
    edit_tables_info,
    expected_rows,
    write_export,
    write_part,
)
from tests.lake_builder import Lake

AT = f"{POSITION[0]}:{POSITION[1]}"


class FakeKeys:
    """A key source without a server: the keys of KEYS, plus what a test adds; None = no such table."""

    def __init__(self, keys: dict[tuple[str, str], tuple[str, ...]] | None = None) -> None:
        self.keys = dict(KEYS if keys is None else keys)
        self.asked: list[tuple[str, str]] = []

    def primary_key(self, database: str, table: str) -> tuple[str, ...] | None:
        self.asked.append((database, table))
        return self.keys.get((database, table))


def rows(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    with DuckDB(lake / LAKE_DATABASE, read_only=True) as engine:
        return engine.native(sql)


def names(columns: list[Any]) -> str:
    return ", ".join(f'"{column.name}"' for column in columns)


def load(export: Path, lake: Path, keys: FakeKeys | None = None, **options: Any) -> list[str]:
    options.setdefault("position", BinlogPosition(*POSITION))
    settings = LoadSettings(str(export), lake, **options)
    return [item.line() for item in load_export(settings, keys or FakeKeys())]


@pytest.fixture
def aurora(tmp_path: Path) -> Path:
    return write_export(tmp_path / "exports")


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    return write_export(tmp_path / "ours", ours=True)


# -- values -------------------------------------------------------------------------------------------------------


def test_every_aurora_quirk_becomes_the_master_value(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lines = load(aurora, lake)
    assert [line.split(" in ")[0] for line in lines] == [
        "app.orders: loaded 3 rows from 2 files",
        "app.lines: loaded 3 rows from 1 files",
    ]
    assert rows(lake, f"SELECT {names(ORDERS)} FROM app.orders ORDER BY id") == expected_rows(ORDERS)
    assert rows(lake, f"SELECT {names(LINES)} FROM app.lines ORDER BY order_id, sku") == expected_rows(LINES)
    assert rows(lake, "SELECT DISTINCT _cdc_order, _cdc_ts FROM app.orders") == [(ORDER, SNAPSHOT_AT)]


def test_master_columns_and_types_are_exactly_those_of_the_merge(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    sources = [SourceColumn.from_json({"name": c.name, **c.cdc}) for c in ORDERS]
    reference = tmp_path / "reference.duckdb"
    with DuckDB(reference) as engine:
        for statement in duckdb_table_ddl(MasterTable.of("app", "orders", sources, ["id"])):
            engine.native(statement)
    query = (
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'app' AND table_name = 'orders' ORDER BY ordinal_position"
    )
    with DuckDB(reference, read_only=True) as engine:
        expected = engine.native(query)
    assert rows(lake, query) == expected
    assert [name for name, _ in expected][-2:] == ["_cdc_order", "_cdc_ts"]


def test_cdc_lake_query_prints_the_loaded_values(
    ours: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["load-export", "--export", str(ours), "--lake-dir", str(lake)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" in ")[0] for line in out] == [
        "app.orders: loaded 3 rows from 2 files",
        "app.lines: loaded 3 rows from 1 files",
    ]
    sql = (
        "SELECT id, big_u, price, wide, flags, mask, day, moment, created, code, tags, doc, raw, geom, _cdc_order"
        " FROM app.orders ORDER BY id"
    )
    assert main(["query", "--lake-dir", str(lake), "--format", "json", sql]) == 0
    printed = [json.loads(line, parse_float=Decimal) for line in capsys.readouterr().out.splitlines()]
    assert printed[0] == {
        "id": 1,
        "big_u": 18446744073709551615,
        "price": Decimal("1.50"),
        "wide": "12345678901234567890123456789012345.123456789012345678901234567890",
        "flags": 21,
        "mask": 18446744073709551615,
        "day": "2026-11-23",
        "moment": "-838:59:59.000000",
        "created": "2026-11-23 10:00:00.654321",
        "code": "aé",
        "tags": ["gift", "rush"],
        "doc": '{"a": 1.50, "b": [1, "x"]}',
        "raw": "AP8Q",
        "geom": "POINT(1 2)",
        "_cdc_order": ORDER,
    }
    assert (printed[1]["day"], printed[1]["tags"], printed[1]["doc"], printed[1]["mask"]) == (None, [], None, 1)
    assert set(printed[2].values()) == {None, 3, ORDER}


def test_watermark_floor_and_tombstones(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    with DuckDB(lake / LAKE_DATABASE) as engine:
        engine.native("INSERT INTO cdc_lake.tombstones VALUES ('app', 'orders', '7', '0'), ('app', 'other', '7', '0')")
        engine.native("UPDATE cdc_lake.watermarks SET files_since = TIMESTAMP '2026-11-24 00:00:00', max_order = 'z'")
    load(aurora, lake, tables=TableFilter(include=(("app", "orders"),)))
    watermarks = 'SELECT "table", CAST(files_since AS VARCHAR), max_order, floor_order, primary_key'
    assert rows(lake, watermarks + " FROM cdc_lake.watermarks ORDER BY 1") == [
        ("lines", "2026-11-24 00:00:00", "z", ORDER, '["order_id", "sku"]'),  # not loaded this time: untouched
        ("orders", None, ORDER, ORDER, '["id"]'),
    ]
    assert rows(lake, 'SELECT "table" FROM cdc_lake.tombstones') == [("other",)]


def test_a_lake_made_before_floor_order_gets_the_column(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    with DuckDB(lake / LAKE_DATABASE) as engine:
        engine.native("CREATE SCHEMA cdc_lake")
        engine.native(
            'CREATE TABLE cdc_lake.watermarks ("database" VARCHAR, "table" VARCHAR, files_since TIMESTAMP,'
            ' max_order VARCHAR, primary_key VARCHAR, merged_at TIMESTAMP, PRIMARY KEY ("database", "table"))'
        )
        engine.native("INSERT INTO cdc_lake.watermarks VALUES ('crm', 'x', NULL, 'm', '[]', NULL)")
    load(aurora, lake)
    assert rows(lake, "SELECT max_order, floor_order FROM cdc_lake.watermarks ORDER BY 1") == [
        (ORDER, ORDER),
        (ORDER, ORDER),
        ("m", None),
    ]


def test_a_second_load_replaces_the_table(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    other = write_export(tmp_path / "second")
    shutil.rmtree(other / "app" / "app.orders" / "2")
    edit_tables_info(other, lambda doc: doc["perTableStatus"][0]["TableStatistics"].update(partitioningInfo={}))
    load(other, lake, position=BinlogPosition(POSITION[0], 5000))
    assert rows(lake, "SELECT id, _cdc_order FROM app.orders ORDER BY id") == [
        (1, binlog_order(42, 4999, 0)),
        (2, binlog_order(42, 4999, 0)),
    ]


def test_three_part_targets_and_the_position_file(ours: Path, tmp_path: Path) -> None:
    edit_tables_info(ours, lambda doc: doc["perTableStatus"][1].update(target="app.app.lines"))
    lake = tmp_path / "lake"
    settings = LoadSettings(str(ours), lake, tables=TableFilter(include=(("app", "lines"),)))
    keys = FakeKeys({})
    assert [item.table for item in load_export(settings, keys)] == ["lines"]
    assert keys.asked == []  # ours records the key
    assert rows(lake, "SELECT count(*), min(_cdc_order) FROM app.lines") == [(3, ORDER)]


def test_a_given_position_must_agree_with_the_position_file(ours: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(ours, lake, position=BinlogPosition(*POSITION))  # the same: fine
    with pytest.raises(ConfigError, match=r"disagrees with the export's cdc_position.json"):
        load(ours, lake, position=BinlogPosition(POSITION[0], 4))


def test_compaction_after_the_load_keeps_loaded_rows_against_older_events(aurora: Path, tmp_path: Path) -> None:
    """The overlap: events before the snapshot position are already in the export; events after it win."""
    lake_dir = tmp_path / "lake"
    load(aurora, lake_dir)
    lake = Lake(lake_dir)
    lake.schema("lines", [{"name": c.name, **c.cdc} for c in LINES], ["order_id", "sku"])
    before = lake.txn("lines", ("update", {"order_id": 1, "sku": "a", "qty": 100}, {"qty": 0}))
    after = lake.txn("lines", ("update", {"order_id": 1, "sku": "b", "qty": 200}, {"qty": 2}))
    after += lake.txn("lines", ("delete", {"order_id": 2, "sku": "a", "qty": 3}, None))
    for row, offset in zip(before + after, (1000, 2000, 2001), strict=True):
        row["binlog_order"] = binlog_order(42, offset, row["xoffset"])
        row["primary_key"] = json.dumps([json.loads(row["data"])["order_id"], json.loads(row["data"])["sku"]])
        row["primary_key_columns"] = '["order_id", "sku"]'
    lake.write("lines", before + after)
    outcomes = compact_lake(CompactSettings(lake_dir, TableFilter(include=(("app", "lines"),))))
    assert [(o.status, o.events) for o in outcomes] == [("merged", 3)], [o.line() for o in outcomes]
    assert rows(lake_dir, "SELECT order_id, sku, qty FROM app.lines ORDER BY 1, 2") == [(1, "a", 1), (1, "b", 200)]


def test_rows_go_through_in_batches(aurora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    insert = loader.insert_batch

    def counting(engine: DuckDB, sql: str, batch: pa.RecordBatch, *args: Any) -> None:
        sizes.append(batch.num_rows)
        insert(engine, sql, batch, *args)

    monkeypatch.setattr(loader, "BATCH_ROWS", 1)
    monkeypatch.setattr(loader, "insert_batch", counting)
    load(aurora, tmp_path / "lake", tables=TableFilter(include=(("app", "orders"),)))
    assert sizes == [1, 1, 1]


# -- atomic -------------------------------------------------------------------------------------------------------


def test_a_load_killed_half_way_leaves_the_previous_table(
    aurora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    before = rows(lake, "SELECT * FROM app.orders ORDER BY id")
    calls = 0
    insert = loader.insert_batch

    def crash(*args: Any) -> None:
        nonlocal calls
        calls += 1
        insert(*args)
        if calls == 2:
            raise KeyboardInterrupt  # stands in for a kill after rows were inserted inside the transaction

    other = write_export(tmp_path / "second")
    monkeypatch.setattr(loader, "insert_batch", crash)
    with pytest.raises(KeyboardInterrupt):
        load(other, lake, position=BinlogPosition(POSITION[0], 9000))
    assert rows(lake, "SELECT * FROM app.orders ORDER BY id") == before
    assert rows(lake, "SELECT DISTINCT max_order FROM cdc_lake.watermarks") == [(ORDER,)]


def test_a_real_kill_leaves_the_previous_table(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    before = rows(lake, "SELECT * FROM app.orders ORDER BY id")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from cdc_lake import load_export as loader
        from cdc_streamer.position import BinlogPosition
        from tests.unit.test_load_export import FakeKeys

        insert = loader.insert_batch
        def kill(*args):
            insert(*args)
            os.kill(os.getpid(), signal.SIGKILL)
        loader.insert_batch = kill
        loader.load_export(
            loader.LoadSettings({str(aurora)!r}, Path({str(lake)!r}), position=BinlogPosition("binlog.000099", 4)),
            FakeKeys(),
        )
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert rows(lake, "SELECT * FROM app.orders ORDER BY id") == before
    assert rows(lake, "SELECT DISTINCT max_order FROM cdc_lake.watermarks") == [(ORDER,)]


def test_a_bad_table_stops_the_load_before_any_table_is_replaced(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    lines_before = rows(lake, "SELECT * FROM app.lines ORDER BY 1, 2")
    other = write_export(tmp_path / "second")
    # lines comes second in the tables info and is broken; orders, first, must stay as it was
    write_part(other / "app" / "app.lines" / "1", arrow_table(LINES[:2], slice(0, 3)))
    with pytest.raises(ConfigError, match="an export whose schema differs from the source"):
        load(other, lake, position=BinlogPosition(POSITION[0], 9000))
    assert rows(lake, "SELECT DISTINCT _cdc_order FROM app.orders") == [(ORDER,)]
    assert rows(lake, "SELECT * FROM app.lines ORDER BY 1, 2") == lines_before


def test_bad_values_fail_the_table_in_one_line_and_roll_back(aurora: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    load(aurora, lake)
    other = write_export(tmp_path / "second")
    bad = pa.table({c.name: pa.array(c.exported[:1], type=c.arrow) for c in ORDERS})
    bad = bad.set_column(ORDERS.index(next(c for c in ORDERS if c.name == "code")), "code", pa.array([b"\xff"]))
    for path in (other / "app" / "app.orders" / "2").glob("*.parquet"):
        pq.write_table(bad, path, compression="gzip")
    with pytest.raises(CdcError) as raised:
        load(other, lake, position=BinlogPosition(POSITION[0], 9000))
    assert raised.value.exit_code == 1
    assert raised.value.message.startswith("app.orders: app/app.orders/2/part-00000-")
    assert "\n" not in raised.value.message
    assert rows(lake, "SELECT count(*), min(_cdc_order) FROM app.orders") == [(3, ORDER)]


# -- bad input: one line, the exit code, and the previous master table intact -----------------------------------


def remove_export_info(export: Path) -> None:
    (export / f"export_info_{EXPORT_ID}.json").unlink()


def in_progress(export: Path) -> None:
    path = export / f"export_info_{EXPORT_ID}.json"
    info = json.loads(path.read_text())
    info.update(status="IN_PROGRESS", percentProgress=40)
    path.write_text(json.dumps(info))


def table_in_progress(export: Path) -> None:
    edit_tables_info(export, lambda doc: doc["perTableStatus"][1].update(status="IN_PROGRESS"))


def remove_partition_files(export: Path) -> None:
    for path in (export / "app" / "app.orders" / "2").glob("*.parquet"):
        path.unlink()


def remove_partition(export: Path) -> None:
    shutil.rmtree(export / "app" / "app.orders" / "2")


def drop_a_column(export: Path) -> None:
    for path in (export / "app" / "app.orders" / "2").glob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns(["tags"]), path, compression="gzip")


def retype_a_column(export: Path) -> None:
    for path in (export / "app" / "app.orders" / "2").glob("*.parquet"):
        table = pq.read_table(path)
        index = table.schema.get_field_index("day")
        pq.write_table(
            table.set_column(index, "day", pa.array([None], pa.int64())).cast(
                table.schema.set(index, pa.field("day", pa.int64()))
            ),
            path,
        )


def no_primary_key(export: Path) -> None:
    edit_tables_info(export, lambda doc: doc["perTableStatus"][1]["cdc"].update(primaryKey=[]))


def no_position(export: Path) -> None:
    (export / "cdc_position.json").unlink()


BAD: dict[str, tuple[Callable[[Path], object], int, str]] = {
    "missing export": (shutil.rmtree, 2, "does not exist"),
    "missing export_info": (remove_export_info, 2, "no export_info_*.json: the export is unfinished or was"),
    "export in progress": (in_progress, 2, "has status IN_PROGRESS, not COMPLETE"),
    "table in progress": (table_in_progress, 2, "app.lines: its export status is IN_PROGRESS, not COMPLETE"),
    "missing partition files": (remove_partition_files, 2, "app.orders: partitions [2] under app/app.orders/ have no"),
    "missing partition": (remove_partition, 2, "app.orders: partition directories [2] are missing"),
    "a column missing": (drop_a_column, 2, "an export whose schema differs from the source: columns ['tags'] are not"),
    "a column retyped": (retype_a_column, 2, "column 'day' (date) is int64 in the Parquet file"),
    "no primary key": (no_primary_key, 2, "app.lines: has no primary key, so the lake keeps no master table for it"),
    "no position": (no_position, 2, "pass --position FILE:POS"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_changes_nothing(
    case: str, ours: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["load-export", "--export", str(ours), "--lake-dir", str(lake)]) == 0
    before = rows(lake, "SELECT * FROM app.orders ORDER BY id"), rows(lake, "SELECT * FROM cdc_lake.watermarks")
    bad = write_export(tmp_path / "bad", ours=True)
    damage, code, message = BAD[case]
    damage(bad)
    capsys.readouterr()
    assert main(["load-export", "--export", str(bad), "--lake-dir", str(lake)]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("cdc-lake: "), captured.err
    assert message in captured.err
    after = rows(lake, "SELECT * FROM app.orders ORDER BY id"), rows(lake, "SELECT * FROM cdc_lake.watermarks")
    assert after == before


def test_a_real_aurora_export_needs_the_source_for_its_primary_key(
    aurora: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["load-export", "--export", str(aurora), "--lake-dir", str(tmp_path / "lake"), "--position", AT])
    assert code == 2
    assert capsys.readouterr().err == (
        "cdc-lake: app.orders: a real Aurora export records no primary key: pass --mysql-url so load-export can "
        "read it\n"
    )
    assert not (tmp_path / "lake" / LAKE_DATABASE).exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--position", "nonsense"], "--position (CDC_POSITION): expected FILE:POS"),
        (["--tables", "app"], "--tables (CDC_TABLES): expected db.table or db.*"),
        (["--tables", "app.nope"], "--tables (CDC_TABLES): app.nope not in the export"),
        (["--tables", "crm.*"], "the export has no table that --tables (CDC_TABLES) selects"),
        (["--lake-dir", "s3://lake/cdc"], "load-export fills the local lake"),
        (["--mysql-url", "postgres://x@y"], "--mysql-url (CDC_MYSQL_URL): expected mysql://"),
    ],
)
def test_bad_flags_are_usage_errors(
    arguments: list[str], message: str, ours: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["load-export", "--export", str(ours), "--lake-dir", str(tmp_path / "lake")]
    assert main(base + arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_the_source_must_know_the_table(aurora: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"app.orders: not found at the source"):
        load(aurora, tmp_path / "lake", FakeKeys({}))


def test_names_the_lake_cannot_hold_are_refused(ours: Path, tmp_path: Path) -> None:
    def rename(doc: dict[str, Any]) -> None:
        doc["perTableStatus"][1]["cdc"]["columns"][2]["name"] = "_cdc_order"
        doc["perTableStatus"][1]["schemaMetadata"]["originalTypeMappings"][2]["columnName"] = "_cdc_order"

    edit_tables_info(ours, rename)
    for path in (ours / "app" / "app.lines" / "1").glob("*.parquet"):
        pq.write_table(pq.read_table(path).rename_columns(["order_id", "sku", "_cdc_order"]), path)
    with pytest.raises(ConfigError, match=r"column '_cdc_order' clashes with the lake's _cdc_ metadata columns"):
        load(ours, tmp_path / "lake")
    assert not os.path.exists(tmp_path / "lake" / LAKE_DATABASE)
