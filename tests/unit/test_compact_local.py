"""Local compaction on a real lake directory: real Parquet files in the lake layout, the real DuckDB file.

The rows are the transform's flattened rows (tests/lake_builder.py); the end-to-end path from MariaDB through the
streamer, delivery and compaction is tests/integration/test_master_tables.py.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cdc_lake.compact import CompactSettings, Outcome, compact_lake
from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB
from cdc_lake.event_schema import binlog_order
from cdc_streamer.settings import TableFilter
from tests.lake_builder import ORDERS, Lake


def rows(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    with DuckDB(lake / LAKE_DATABASE, read_only=True) as engine:
        return engine.native(sql)


def run(lake: Path, **options: Any) -> list[Outcome]:
    return compact_lake(CompactSettings(lake, **options))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    made = Lake(tmp_path)
    made.schema("orders", ORDERS, ["id"])
    return made


def test_insert_update_delete_and_primary_key_change(lake: Lake) -> None:
    lake.write(
        "orders",
        lake.txn(
            "orders",
            ("insert", {"id": 1, "price": 1.5, "note": "a"}, None),
            ("insert", {"id": 2, "price": 2, "note": "b"}, None),
            ("insert", {"id": 3, "price": 3, "note": "c"}, None),
        )
        + lake.txn(
            "orders",
            ("update", {"id": 10, "price": 1.5, "note": "a"}, {"id": 1}),  # the key changed: 1 is gone, 10 is new
            ("update", {"id": 2, "price": 2.25, "note": "b"}, {"price": 2}),
            ("delete", {"id": 3, "price": 3, "note": "c"}, None),
        ),
    )
    [outcome] = run(lake.root)
    assert (outcome.status, outcome.events, outcome.files) == ("merged", 6, 1)
    assert rows(lake.root, "SELECT id, price, note FROM app.orders ORDER BY id") == [
        (2, Decimal("2.25"), "b"),
        (10, Decimal("1.50"), "a"),
    ]


def test_many_changes_to_one_key_in_one_batch_latest_wins(lake: Lake) -> None:
    batch = lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "v1"}, None))
    batch += lake.txn("orders", ("update", {"id": 1, "price": 1, "note": "v2"}, {"note": "v1"}))
    batch += lake.txn("orders", ("delete", {"id": 1, "price": 1, "note": "v2"}, None))
    batch += lake.txn("orders", ("insert", {"id": 1, "price": 9, "note": "v3"}, None))
    lake.write("orders", list(reversed(batch)))  # file order is not binlog order
    run(lake.root)
    assert rows(lake.root, "SELECT id, price, note FROM app.orders") == [(1, Decimal("9.00"), "v3")]


def test_replayed_and_late_events_change_nothing(lake: Lake) -> None:
    insert = lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None))
    update = lake.txn("orders", ("update", {"id": 1, "price": 2, "note": "a"}, {"price": 1}))
    delete_2 = lake.txn("orders", ("insert", {"id": 2, "price": 1, "note": "b"}, None))
    delete_2 += lake.txn("orders", ("delete", {"id": 2, "price": 1, "note": "b"}, None))
    lake.write("orders", insert + update + delete_2)
    run(lake.root)
    before = rows(lake.root, "SELECT * FROM app.orders ORDER BY id")
    lake.write("orders", insert + delete_2[:1])  # redelivered: the old insert of 1, the insert of deleted key 2
    lake.write("orders", update)  # and a duplicate of the update
    [outcome] = run(lake.root)
    assert outcome.status == "merged"
    assert rows(lake.root, "SELECT * FROM app.orders ORDER BY id") == before
    assert rows(lake.root, "SELECT id, price FROM app.orders") == [(1, Decimal("2.00"))]


def test_the_live_view_shows_changes_before_they_are_merged(lake: Lake) -> None:
    lake.write(
        "orders",
        lake.txn(
            "orders",
            ("insert", {"id": 1, "price": 1, "note": "a"}, None),
            ("insert", {"id": 2, "price": 2, "note": "b"}, None),
        ),
    )
    run(lake.root)
    lake.write(
        "orders",
        lake.txn(
            "orders",
            ("update", {"id": 1, "price": 5, "note": "a"}, {"price": 1}),
            ("delete", {"id": 2, "price": 2, "note": "b"}, None),
            ("insert", {"id": 3, "price": 3, "note": "c"}, None),
        ),
    )
    assert rows(lake.root, "SELECT id, price FROM app.orders ORDER BY id") == [
        (1, Decimal("1.00")),
        (2, Decimal("2.00")),
    ]
    live = "SELECT id, price FROM app.orders_live ORDER BY id"
    assert rows(lake.root, live) == [(1, Decimal("5.00")), (3, Decimal("3.00"))]
    run(lake.root)
    assert rows(lake.root, "SELECT id, price FROM app.orders ORDER BY id") == rows(lake.root, live)


def test_a_merge_killed_half_way_leaves_nothing_and_the_rerun_completes(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    run(lake.root)
    watermark = rows(lake.root, "SELECT files_since, max_order FROM cdc_lake.watermarks")
    lake.write(
        "orders",
        lake.txn(
            "orders",
            ("insert", {"id": 2, "price": 2, "note": "b"}, None),
            ("delete", {"id": 1, "price": 1, "note": "a"}, None),
        ),
    )

    def crash(*args: Any) -> str:
        raise KeyboardInterrupt  # stands in for a kill after the master MERGE ran inside the transaction

    monkeypatch.setattr("cdc_lake.compact.merge_tombstones", crash)
    with pytest.raises(KeyboardInterrupt):
        run(lake.root)
    assert rows(lake.root, "SELECT id FROM app.orders") == [(1,)]
    assert rows(lake.root, "SELECT files_since, max_order FROM cdc_lake.watermarks") == watermark
    monkeypatch.undo()
    run(lake.root)
    assert rows(lake.root, "SELECT id FROM app.orders") == [(2,)]
    assert rows(lake.root, "SELECT key FROM cdc_lake.tombstones") == [("1",)]


def test_the_watermark_skips_old_files_but_not_late_ones(lake: Lake) -> None:
    first = lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    old = time.time() - 7200
    os.utime(first, (old, old))
    run(lake.root, lookback_seconds=60)
    [outcome] = run(lake.root, lookback_seconds=60)
    assert outcome.files == 0  # nothing new
    late = lake.txn("orders", ("insert", {"id": 0, "price": 0, "note": "late"}, None))
    late[0]["binlog_order"] = binlog_order(0, 1, 0)  # written long ago in the binlog, delivered now
    lake.write("orders", late)
    [outcome] = run(lake.root, lookback_seconds=60)
    assert (outcome.files, outcome.events) == (1, 1)
    assert rows(lake.root, "SELECT id FROM app.orders ORDER BY id") == [(0,), (1,)]


def test_schema_evolution_adds_columns_and_widens_types(lake: Lake) -> None:
    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    run(lake.root)
    wider = [{"name": "id", "type": "bigint", "unsigned": False}, ORDERS[1], {"name": "qty", "type": "int"}]
    lake.schema("orders", wider, ["id"])  # note dropped, qty added, id widened
    lake.write("orders", lake.txn("orders", ("insert", {"id": 2**40, "price": 2, "qty": 7}, None)))
    [outcome] = run(lake.root)
    assert outcome.status == "merged", outcome.line()
    columns = rows(
        lake.root,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'app' AND table_name = 'orders' ORDER BY ordinal_position",
    )
    assert [name for name, _ in columns] == ["id", "price", "note", "_cdc_order", "_cdc_ts", "qty"]
    assert dict(columns)["id"] == "BIGINT"
    assert rows(lake.root, "SELECT id, note, qty FROM app.orders ORDER BY id") == [(1, "a", None), (2**40, None, 7)]


def test_an_incompatible_type_change_asks_for_a_rebuild(lake: Lake) -> None:
    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    run(lake.root)
    lake.schema("orders", [ORDERS[0], {"name": "price", "type": "varchar"}, ORDERS[2]], ["id"])
    lake.write("orders", lake.txn("orders", ("insert", {"id": 2, "price": "cheap", "note": "b"}, None)))
    [outcome] = run(lake.root)
    assert outcome.status == "failed"
    assert "--rebuild --tables app.orders" in outcome.message
    [outcome] = run(lake.root, rebuild=True)
    assert outcome.status == "merged"
    assert rows(lake.root, "SELECT id, price FROM app.orders ORDER BY id") == [(1, "1"), (2, "cheap")]


def test_rebuild_equals_the_incremental_result(lake: Lake) -> None:
    for step in range(5):
        lake.write(
            "orders",
            lake.txn(
                "orders",
                ("insert", {"id": 100 + step, "price": step, "note": "n"}, None),
                ("update", {"id": 100, "price": step, "note": f"s{step}"}, {"note": "n"}),
            ),
        )
        run(lake.root)
    incremental = rows(lake.root, "SELECT * FROM app.orders ORDER BY id")
    run(lake.root, rebuild=True)
    assert rows(lake.root, "SELECT * FROM app.orders ORDER BY id") == incremental


def test_tables_without_primary_key_or_schema_get_a_clear_outcome(lake: Lake) -> None:
    lake.schema("log", [{"name": "line", "type": "text"}], [])
    lake.write("log", lake.txn("log", ("insert", {"line": "x"}, None)))
    lake.write("ghost", lake.txn("ghost", ("insert", {"id": 1}, None)))
    outcomes = {o.table: o for o in run(lake.root)}
    assert outcomes["log"].status == "skipped"
    assert "no primary key" in outcomes["log"].message
    assert outcomes["ghost"].status == "failed"
    assert "no schema event" in outcomes["ghost"].message
    assert "orders" not in outcomes or outcomes["orders"].status == "merged"


def test_table_selection(lake: Lake) -> None:
    lake.schema("other", ORDERS, ["id"])
    lake.write("other", lake.txn("other", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    outcomes = run(lake.root, tables=TableFilter(include=(("app", "other"),)))
    assert [(o.database, o.table) for o in outcomes] == [("app", "other")]


def test_names_that_differ_only_by_case_are_refused(lake: Lake) -> None:
    for table in ("Orders", "orders"):
        lake.schema(table, ORDERS, ["id"])
        lake.write(table, lake.txn(table, ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    outcomes = run(lake.root)
    assert {o.status for o in outcomes} == {"failed"}
    assert all("differ only by case" in o.message for o in outcomes)


@pytest.mark.parametrize("table", ['a"b', "x; DROP TABLE y", "select", "Ünïcode", "it's"])
def test_hostile_table_and_column_names_work_locally(tmp_path: Path, table: str) -> None:
    lake = Lake(tmp_path, database='d"b; --')
    columns = [{"name": "id", "type": "int"}, {"name": table, "type": "varchar"}]
    lake.schema(table, columns, ["id"])
    lake.write(table, lake.txn(table, ("insert", {"id": 1, table: "v"}, None)))
    [outcome] = run(lake.root)
    assert outcome.status == "merged", outcome.line()
    quoted = '"' + table.replace('"', '""') + '"'
    assert rows(lake.root, f'SELECT id, {quoted} FROM "d""b; --".{quoted}') == [(1, "v")]


def test_events_at_or_before_an_export_floor_are_ignored(lake: Lake) -> None:
    old = lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "before the export"}, None))
    lake.write("orders", old)
    run(lake.root)
    floor = binlog_order(1, lake.position + 5, 0)  # as load-export records it: just before the export's position
    with DuckDB(lake.root / LAKE_DATABASE) as engine:
        engine.native("DELETE FROM app.orders")
        engine.native("UPDATE cdc_lake.watermarks SET floor_order = ?, files_since = NULL", [floor])
    lake.write("orders", lake.txn("orders", ("insert", {"id": 2, "price": 2, "note": "after"}, None)))
    [outcome] = run(lake.root)
    assert (outcome.status, outcome.events) == ("merged", 2)  # both files read, the old event ignored
    assert rows(lake.root, "SELECT id, note FROM app.orders") == [(2, "after")]
    [outcome] = run(lake.root, rebuild=True)
    assert outcome.status == "failed"
    assert "loaded from an export" in outcome.message
