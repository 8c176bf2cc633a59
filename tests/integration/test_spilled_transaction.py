"""A transaction larger than the reader keeps in memory: its rows wait on disk (`spill.SpillList`) until the commit,
then go to the sink a batch at a time. The events are exactly those of the same transaction held in memory, the
sink is flushed between batches (bounded memory), and the checkpoint never lands inside the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from cdc_streamer import reader
from cdc_streamer.checkpoint import Checkpoint, FileCheckpointStore
from cdc_streamer.encoding import encode_event
from cdc_streamer.event import ChangeEvent, Event
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.settings import TableFilter
from cdc_streamer.sinks import Ack
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.streamer import Streamer

from .support import Database, settings_for, stream_range


class RecordingSink(MemorySink):
    """Records each `send`'s size and each checkpoint saved between them."""

    def __init__(self, store: FileCheckpointStore) -> None:
        super().__init__()
        self.store = store
        self.log: list[tuple[str, object]] = []

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        super().send(events, ack)
        self.log.append(("send", len(events)))

    def flush(self) -> None:
        super().flush()
        saved = self.store.load()
        self.log.append(("flush", saved.position if saved else None))


def test_a_spilled_transaction_gives_the_same_events_in_batches_and_no_checkpoint_inside(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,2), note VARCHAR(40), at DATETIME(3))")
    start = db.position()
    db.execute("INSERT INTO t VALUES (0, 1.00, 'before', '2024-01-01 00:00:00.001')")
    db.execute("INSERT INTO t SELECT seq, seq / 100, CONCAT('row ', seq), NOW(3) FROM seq_1_to_1234")
    db.execute("UPDATE t SET amount = amount + 1, note = CONCAT(note, ' +') WHERE id <= 700")
    db.execute("INSERT INTO t VALUES (5000, 2.00, 'after', '2024-01-01 00:00:00.002')")
    end = db.position()

    held = stream_range(mariadb, start, end, db.name, output_schema=True)
    monkeypatch.setattr(reader, "SPILL_AFTER_ROWS", 100)
    monkeypatch.setattr(reader, "EVENT_BATCH", 64)
    spilled = stream_range(mariadb, start, end, db.name, output_schema=True)
    assert [encode_event(e) for e in spilled] == [encode_event(e) for e in held]
    assert sum(isinstance(e, ChangeEvent) for e in held) == 1 + 1234 + 701 + 1  # ids 0..700 updated

    store = FileCheckpointStore(tmp_path / "checkpoint.json")
    sink = RecordingSink(store)
    settings = settings_for(
        mariadb, start_position=start, end_position=end, filter=TableFilter(include=((db.name, "t"),)),
        position_store=f"file:{tmp_path / 'checkpoint.json'}", max_inflight_rows=300, output_schema=False,
    )  # fmt: skip
    Streamer(settings, sink=sink, store=store).run()
    sends = [size for kind, size in sink.log if kind == "send"]
    assert sends == [1, *[64] * 19, 18, *[64] * 10, 61, 1], sends  # 1234 = 19 * 64 + 18, 701 = 10 * 64 + 61
    transaction_ends = {e.position for e in held}
    inside = [
        where for kind, where in sink.log if kind == "flush" and where not in transaction_ends | {start, end, None}
    ]
    assert inside == [], "a checkpoint inside a transaction would skip its unsent rows after a restart"
    flushes_in_big_one = sum(1 for kind, _ in sink.log[2:21] if kind == "flush")
    assert flushes_in_big_one >= 3, sink.log[:25]  # --max-inflight-rows 300: the sink flushed part-way
    final = store.load()
    assert isinstance(final, Checkpoint) and final.position == end
