"""Tests for streamer.Inflight: the checkpoint only moves over the acknowledged prefix of transactions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer.event import ChangeEvent, Event, Operation
from cdc_streamer.position import BinlogPosition
from cdc_streamer.reader import Transaction
from cdc_streamer.streamer import Inflight


def row(index: int, start: BinlogPosition) -> ChangeEvent:
    return ChangeEvent(
        database="shop",
        table="orders",
        type=Operation.INSERT,
        ts=1700000000,
        xid=index,
        xoffset=0,
        commit=True,
        position=start,
        gtid=None,
        server_id=1,
        thread_id=1,
        primary_key=(index,),
        primary_key_columns=("id",),
        data={"id": index},
    )


def txn(number: int, rows: int = 1) -> Transaction:
    start = BinlogPosition("binlog.000001", 100 * number)
    events: list[Event] = [row(number, start) for _ in range(rows)]
    return Transaction(events, start, BinlogPosition("binlog.000001", 100 * number + 99), None, f"0-1-{number}")


def test_empty_inflight() -> None:
    inflight = Inflight()
    assert len(inflight) == 0
    assert inflight.rows == 0
    assert inflight.pop_acknowledged() is None


def test_unacknowledged_transaction_does_not_move_the_checkpoint() -> None:
    inflight = Inflight()
    inflight.add(txn(1), 1)
    assert inflight.pop_acknowledged() is None
    assert len(inflight) == 1


def test_acknowledged_transaction_is_the_new_checkpoint() -> None:
    inflight = Inflight()
    first = txn(1)
    Inflight.ack(inflight.add(first, 1))
    assert inflight.pop_acknowledged() is first
    assert len(inflight) == 0


def test_pop_returns_the_last_of_the_acknowledged_prefix() -> None:
    inflight = Inflight()
    transactions = [txn(n) for n in range(1, 4)]
    for transaction in transactions:
        Inflight.ack(inflight.add(transaction, 1))
    assert inflight.pop_acknowledged() is transactions[-1]
    assert len(inflight) == 0


def test_later_acknowledgements_wait_for_earlier_ones() -> None:
    inflight = Inflight()
    first, second, third = txn(1), txn(2), txn(3)
    entries = [inflight.add(first, 1), inflight.add(second, 1), inflight.add(third, 1)]
    Inflight.ack(entries[2])
    Inflight.ack(entries[1])
    assert inflight.pop_acknowledged() is None
    assert len(inflight) == 3
    Inflight.ack(entries[0])
    assert inflight.pop_acknowledged() is third
    assert len(inflight) == 0


def test_pop_stops_at_the_first_unacknowledged_transaction() -> None:
    inflight = Inflight()
    first, second, third = txn(1), txn(2), txn(3)
    entries = [inflight.add(first, 1), inflight.add(second, 1), inflight.add(third, 1)]
    Inflight.ack(entries[0])
    Inflight.ack(entries[2])
    assert inflight.pop_acknowledged() is first
    assert len(inflight) == 2
    assert inflight.pop_acknowledged() is None
    Inflight.ack(entries[1])
    assert inflight.pop_acknowledged() is third


def test_empty_transaction_is_acknowledged_immediately() -> None:
    inflight = Inflight()
    empty = txn(1, rows=0)
    inflight.add(empty, 0)
    assert inflight.pop_acknowledged() is empty


def test_empty_transaction_behind_an_unacknowledged_one_waits() -> None:
    inflight = Inflight()
    busy, empty = txn(1), txn(2, rows=0)
    entry = inflight.add(busy, 1)
    inflight.add(empty, 0)
    assert inflight.pop_acknowledged() is None
    Inflight.ack(entry)
    assert inflight.pop_acknowledged() is empty


def test_empty_transactions_after_an_acknowledged_one_are_included() -> None:
    inflight = Inflight()
    busy, empty = txn(1), txn(2, rows=0)
    Inflight.ack(inflight.add(busy, 1))
    inflight.add(empty, 0)
    assert inflight.pop_acknowledged() is empty


def test_rows_counts_rows_still_in_flight() -> None:
    inflight = Inflight()
    first = inflight.add(txn(1, rows=3), 3)
    inflight.add(txn(2, rows=0), 0)
    third = inflight.add(txn(3, rows=5), 5)
    assert inflight.rows == 8
    Inflight.ack(third)
    inflight.pop_acknowledged()
    assert inflight.rows == 8
    Inflight.ack(first)
    inflight.pop_acknowledged()
    assert inflight.rows == 0
    assert len(inflight) == 0


def test_acknowledging_twice_is_harmless() -> None:
    inflight = Inflight()
    transaction = txn(1)
    entry = inflight.add(transaction, 1)
    Inflight.ack(entry)
    Inflight.ack(entry)
    assert inflight.pop_acknowledged() is transaction
    Inflight.ack(entry)
    assert inflight.pop_acknowledged() is None
    assert inflight.rows == 0


@given(
    st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=12).flatmap(
        lambda sizes: st.tuples(st.just(sizes), st.permutations(range(len(sizes))))
    )
)
def test_checkpoint_is_always_the_end_of_the_acknowledged_prefix(case: tuple[list[int], list[int]]) -> None:
    sizes, ack_order = case
    inflight = Inflight()
    transactions = [txn(n + 1, rows=size) for n, size in enumerate(sizes)]
    entries = [inflight.add(t, size) for t, size in zip(transactions, sizes, strict=True)]
    acknowledged = {n for n, size in enumerate(sizes) if size == 0}
    checkpoint: Transaction | None = None
    for index in [*ack_order, None]:
        if index is not None:
            Inflight.ack(entries[index])
            acknowledged.add(index)
        done = inflight.pop_acknowledged()
        if done is not None:
            assert checkpoint is None or checkpoint.end < done.end
            checkpoint = done
        prefix = 0
        while prefix < len(sizes) and prefix in acknowledged:
            prefix += 1
        expected = transactions[prefix - 1] if prefix else None
        assert checkpoint is expected
        assert len(inflight) == len(sizes) - prefix
        assert inflight.rows == sum(sizes[prefix:])
