"""SpillList: a transaction's rows past a limit wait in a temporary file, read back in order."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.spill import SpillList


def test_items_come_back_in_order_across_memory_and_file() -> None:
    items = SpillList[tuple[int, dict[str, object]]](keep=10, batch=4)
    rows = [(n, {"id": n, "amount": Decimal(f"{n}.50"), "note": "é" * n}) for n in range(37)]
    for row in rows:
        items.append(row)
    assert items.spilled and len(items) == 37
    assert list(items) == rows
    assert list(items) == rows  # readable again
    sizes = [len(batch) for batch in items.batches()]
    assert sum(sizes) == 37 and max(sizes[:-1]) == 4  # spilled batches, then what memory kept
    items.close()


def test_small_lists_stay_in_memory() -> None:
    items = SpillList[int](keep=10, batch=4)
    for n in range(9):
        items.append(n)
    assert not items.spilled and list(items) == list(range(9))
    items.close()


def test_close_deletes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    items = SpillList[int](keep=4, batch=2)
    for n in range(10):
        items.append(n)
    assert items._file is not None
    assert os.readlink(f"/proc/self/fd/{items._file.fileno()}").startswith(str(tmp_path)), "spilled to TMPDIR"
    assert list(tmp_path.iterdir()) == []  # unnamed: nothing to clean up after a crash
    items.close()
    assert len(items) == 0 and list(items) == []


def test_an_unwritable_temporary_directory_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", "/proc/no-such-directory")
    items = SpillList[int](keep=2, batch=2)
    items.append(1)
    with pytest.raises(RuntimeFailure, match=r"cannot spill a large transaction.*TMPDIR"):
        items.append(2)
