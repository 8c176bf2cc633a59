"""What a SIGKILL of `cdc-lake deliver` or `cdc-lake compact` leaves in a local lake, and that the next run copes
(found by tests/integration/test_faults_lake.py).

- deliver: LakeStore writes `.<uuid>.tmp` beside the final name and renames it once durable; a kill before the
  rename leaves the partition directories and that hidden temp file. When that was a table's (or the lake's)
  first file, the directories exist with no events file in them: compact and load-export must take them for no
  events. Before the fix, compact failed ("No files found that match the pattern") until the next delivery.
- compact: DuckDB creates a new database file, then writes its headers; a kill in between left an empty
  lake.duckdb that no later compact, query or verify could open ("not a valid DuckDB database file"), for good.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cdc_lake.compact import CompactSettings, compact_lake, source_tables
from cdc_lake.duckdb_engine import LAKE_DATABASE, DuckDB, create_database
from cdc_lake.load_export import prepare_lake
from cdc_streamer.errors import RuntimeFailure
from tests.lake_builder import ORDERS, Lake


def killed_write(lake: Path, table: str, database: str = "app") -> Path:
    """The leftovers of a write killed before its rename: the partition directories and a half temp file."""
    directory = lake / f"events/database={database}/table={table}/dt=2026-11-23/hour=10"
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / f".{uuid.uuid4().hex}.tmp"
    temp.write_bytes(b"PAR1\x15\x00")  # the start of a Parquet file, nothing more
    return temp


def query(lake: Path, sql: str) -> list[tuple[Any, ...]]:
    with DuckDB(lake / LAKE_DATABASE, read_only=True) as engine:
        return engine.native(sql)


def test_partition_directories_with_only_a_temp_file_are_not_a_table(tmp_path: Path) -> None:
    killed_write(tmp_path, "_schema")
    killed_write(tmp_path, "orders")
    assert source_tables(tmp_path) == {}
    lake = Lake(tmp_path)
    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    assert list(source_tables(tmp_path)) == [("app", "orders")]


def test_compact_after_the_first_delivery_was_killed_mid_write(tmp_path: Path) -> None:
    killed_write(tmp_path, "_schema")
    assert compact_lake(CompactSettings(tmp_path)) == []  # before the fix: IOException, no files match the pattern
    assert query(tmp_path, "SELECT count(*) FROM cdc_lake.watermarks") == [(0,)]

    lake = Lake(tmp_path)  # the next delivery: the schema durable, the table's first file killed mid-write
    lake.schema("orders", ORDERS, ["id"])
    killed_write(tmp_path, "orders")
    [outcome] = compact_lake(CompactSettings(tmp_path))
    assert (outcome.status, outcome.events, outcome.files) == ("merged", 0, 0)

    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))  # its re-run
    [outcome] = compact_lake(CompactSettings(tmp_path))
    assert (outcome.status, outcome.events, outcome.files) == ("merged", 1, 1)
    assert query(tmp_path, "SELECT id, price FROM app.orders_live") == [(1, Decimal("1.00"))]


def test_load_export_prepares_a_lake_whose_first_delivery_was_killed_mid_write(tmp_path: Path) -> None:
    killed_write(tmp_path, "_schema")
    with DuckDB(tmp_path / LAKE_DATABASE) as engine:
        prepare_lake(engine, tmp_path)  # before the fix: IOException, no files match the pattern
        views = engine.native("SELECT view_name FROM duckdb_views() WHERE schema_name = 'cdc_lake'")
    assert views == []


def test_a_kill_while_the_lake_file_is_created_leaves_no_unusable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / LAKE_DATABASE

    def killed(database: str, *args: Any, **kwargs: Any) -> None:
        Path(database).touch()  # DuckDB created the file; the kill comes before it wrote the headers
        raise KeyboardInterrupt  # stands in for the kill

    monkeypatch.setattr(duckdb, "connect", killed)
    with pytest.raises(KeyboardInterrupt):
        DuckDB(path)
    monkeypatch.undo()
    assert not path.exists()  # before the fix: an empty lake.duckdb, refused by every later open
    with DuckDB(path) as engine:
        engine.native("CREATE TABLE t AS SELECT 42 AS answer")
    assert query(tmp_path, "SELECT answer FROM t") == [(42,)]
    assert [p.name for p in tmp_path.iterdir()] == [LAKE_DATABASE]


def test_creating_the_lake_file_never_replaces_one_another_process_made(tmp_path: Path) -> None:
    path = tmp_path / LAKE_DATABASE
    with DuckDB(path) as engine:  # another process got there first
        engine.native("CREATE TABLE t AS SELECT 1 AS kept")
    create_database(path)
    assert query(tmp_path, "SELECT kept FROM t") == [(1,)]
    assert [p.name for p in tmp_path.iterdir()] == [LAKE_DATABASE]


def test_in_memory_databases_create_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with DuckDB(Path(":memory:")) as engine:
        assert engine.native("SELECT 1") == [(1,)]
    assert list(tmp_path.iterdir()) == []


def test_a_lake_file_that_cannot_be_created_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / LAKE_DATABASE
    with pytest.raises(RuntimeFailure) as failure:
        DuckDB(path)
    assert failure.value.message.startswith(f"cannot create {path}: ") and ".tmp" not in failure.value.message
    assert not path.parent.exists()
