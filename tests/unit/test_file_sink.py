"""The file sink: JSON lines, acknowledged only after fsync, and a torn last line repaired on open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdc_streamer.event import DdlEvent
from cdc_streamer.position import BinlogPosition
from cdc_streamer.sinks.file import FileSink, drop_torn_line


def ddl(number: int) -> DdlEvent:
    return DdlEvent("db", "t", "table-alter", 0, BinlogPosition("binlog.000001", number), None, 1, None, "ALTER")


def test_acknowledges_only_on_flush(tmp_path: Path) -> None:
    acked: list[int] = []
    sink = FileSink(tmp_path / "out.jsonl")
    sink.send([ddl(4), ddl(5)], lambda: acked.append(1))
    assert acked == []
    sink.flush()
    assert acked == [1]
    sink.close()
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line)["position"] for line in lines] == ["binlog.000001:4", "binlog.000001:5"]


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b"", b""),
        (b'{"a":1}\n', b'{"a":1}\n'),
        (b'{"a":1}\n{"b":', b'{"a":1}\n'),
        (b'{"b":', b""),
        (b"x" * 200_000 + b"\n" + b"y" * 100_000, b"x" * 200_000 + b"\n"),
    ],
)
def test_a_torn_last_line_is_cut_back_to_the_last_newline(tmp_path: Path, content: bytes, kept: bytes) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(content)
    assert drop_torn_line(path) == len(content) - len(kept)
    assert path.read_bytes() == kept


def test_opening_repairs_the_file_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a":1}\n{"torn')
    sink = FileSink(path)
    sink.send([ddl(9)], lambda: None)
    sink.flush()
    sink.close()
    assert [json.loads(line).get("a", 0) for line in path.read_text().splitlines()] == [1, 0]
