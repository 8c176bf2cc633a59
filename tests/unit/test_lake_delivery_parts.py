"""Local delivery's pure and local-disk parts: layout, the Parquet schema, atomic writes, the file source."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cdc_lake.event_schema import COLUMN_NAMES, binlog_order
from cdc_lake.layout import checkpoint_path, errors_dir, object_name, partition_dir
from cdc_lake.parquet_schema import EVENT_SCHEMA
from cdc_lake.sources import FileSource
from cdc_lake.storage import LakeStore
from cdc_streamer.errors import ConfigError

NOW = datetime.datetime(2026, 11, 23, 8, 5, 9, tzinfo=datetime.UTC)


def test_layout_matches_the_lake_contract() -> None:
    assert (
        partition_dir("shop", "orders", "2026-11-23", "08") == "events/database=shop/table=orders/dt=2026-11-23/hour=08"
    )
    name = object_name("cdc", NOW)
    assert name.startswith("cdc-2026-11-23-08-05-09-") and name.endswith(".parquet")
    assert errors_dir(NOW) == "errors/processing-failed/2026/11/23/08"
    assert checkpoint_path("cdc") == "_checkpoints/deliver-cdc.json"


def test_binlog_order_sorts_as_text_in_binlog_order() -> None:
    keys = [binlog_order(9, 4, 0), binlog_order(9, 4, 1), binlog_order(9, 120, 0), binlog_order(10, 4, 0)]
    assert sorted(keys) == keys


def test_parquet_schema_is_the_event_schema() -> None:
    assert tuple(EVENT_SCHEMA.names) == COLUMN_NAMES


def test_parquet_writes_are_atomic_and_leave_no_temp_files(tmp_path: Path) -> None:
    store = LakeStore.open(str(tmp_path / "lake"))
    table = EVENT_SCHEMA.empty_table()
    store.write_parquet("events/x/part.parquet", table)
    assert pq.read_table(tmp_path / "lake/events/x/part.parquet").schema.equals(EVENT_SCHEMA)
    assert [p.name for p in (tmp_path / "lake/events/x").iterdir()] == ["part.parquet"]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    store = LakeStore.open(str(tmp_path / "lake"))

    def explode(sink: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store._atomic("events/y/part.parquet", explode)
    assert list((tmp_path / "lake/events/y").iterdir()) == []


def test_an_unwritable_lake_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="--lake-dir"):
        LakeStore.open(str(blocker / "lake"))
    with pytest.raises(ConfigError, match="bucket"):
        LakeStore.open("s3://")


def test_file_source_reads_complete_lines_and_resumes_from_its_cursor(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":')
    source = FileSource(path, None)
    batch = source.read(1 << 20)
    assert [json.loads(base64.b64decode(r["data"])) for r in batch.records] == [{"a": 1}, {"a": 2}]
    assert batch.cursor["offset"] == 16
    assert source.read(1 << 20).records == []  # the partial line waits for its newline
    with path.open("ab") as handle:
        handle.write(b"3}\n")
    resumed = FileSource(path, batch.cursor)
    assert [json.loads(base64.b64decode(r["data"])) for r in resumed.read(1 << 20).records] == [{"a": 3}]


def test_file_source_reads_a_line_longer_than_the_buffer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"long":"' + b"x" * 1000 + b'"}\n{"b":1}\n')
    source = FileSource(path, None)
    first = source.read(100)
    assert len(first.records) == 1 and len(base64.b64decode(first.records[0]["data"])) == 1011
    assert len(source.read(100).records) == 1


def test_file_source_refuses_a_checkpoint_past_the_end_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"{}\n")
    with pytest.raises(ConfigError, match="shorter"):
        FileSource(path, {"offset": 999})
    with pytest.raises(ConfigError, match="does not exist"):
        FileSource(tmp_path / "missing.jsonl", None)


@pytest.mark.parametrize("events", [0, 1, 3, 7, 9])
def test_a_partition_converted_to_arrow_in_batches_is_the_same_table(
    events: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from cdc_lake import deliver
    from cdc_lake.storage import LakeStore
    from cdc_streamer.encoding import encode_event
    from cdc_streamer.event import ChangeEvent, Operation
    from cdc_streamer.position import BinlogPosition

    at = BinlogPosition("binlog.000003", 4)
    payloads = [
        encode_event(
            ChangeEvent("shop", "orders", Operation.UPDATE, 1714558500, 9, n, n == events - 1, at, "0-1-9", 1, None,
                        (n,), ("id",), {"id": n, "amount": Decimal(f"{n}.50"), "note": "é" * n}, old={"note": ""})
        ).encode()
        for n in range(events)
    ]  # fmt: skip
    now = datetime.datetime(2024, 5, 1, 10, 15, tzinfo=datetime.UTC)
    whole, batched = LakeStore.open(str(tmp_path / "whole")), LakeStore.open(str(tmp_path / "batched"))
    deliver.deliver_payloads(whole, payloads, "one", now=now)
    monkeypatch.setattr(deliver, "ARROW_BATCH", 3)
    stats = deliver.deliver_payloads(batched, payloads, "one", now=now)
    assert stats.rows == events and stats.files == (1 if events else 0)

    def tables(root: Path) -> dict[Path, object]:  # object names carry a random part: keyed by partition
        return {f.parent.relative_to(root): pq.read_table(f) for f in root.rglob("*.parquet")}

    expected, got = tables(tmp_path / "whole"), tables(tmp_path / "batched")
    assert expected.keys() == got.keys()
    for partition, table in expected.items():
        assert table.equals(got[partition])  # type: ignore[attr-defined]
