"""Where to resume when the server behind the endpoint changed (a failover), and how far the reader has read:
`StartPoint.on_server`, the start-up decision (`resolve_start`), the reader following a session to another server,
the rotation's own events and --end-position, the 1236 refusal's message. Pure or with fakes; no server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pymysql
import pytest

from cdc_streamer.checkpoint import Checkpoint
from cdc_streamer.errors import ConnectionLost, SourceUnusable
from cdc_streamer.position import BinlogPosition, StartPoint
from cdc_streamer.reader import BinlogReader, ReaderOptions, Transaction
from cdc_streamer.replication import OtherEvent, ReplicationSession, SessionOptions, _classify
from cdc_streamer.settings import MySQLUrl, StreamerSettings
from cdc_streamer.source import Source
from cdc_streamer.streamer import resolve_start

OLD = BinlogPosition("binlog.000042", 1876)
URL = MySQLUrl.parse("mysql://cdc:x@127.0.0.1:3306")


# --- StartPoint.on_server ------------------------------------------------------------------------------------


def test_on_its_own_server_the_position_is_kept() -> None:
    start = StartPoint(OLD, "0-1-42", 1)
    assert start.on_server(1) == start


def test_a_position_of_an_unknown_server_is_taken_for_this_servers() -> None:
    """Checkpoints saved before server ids were recorded; --start-position is the operator's word."""
    assert StartPoint(OLD, "0-1-42").on_server(7) == StartPoint(OLD, "0-1-42", 7)


def test_on_another_server_the_gtid_state_is_used_never_the_position() -> None:
    assert StartPoint(OLD, "0-1-42,1-5-9", 1).on_server(2) == StartPoint(None, "0-1-42,1-5-9", 2)


def test_a_gtid_start_goes_to_any_server() -> None:
    assert StartPoint(None, "0-1-42", 1).on_server(2) == StartPoint(None, "0-1-42", 2)


@pytest.mark.parametrize("gtid", [None, ""])
def test_on_another_server_without_a_gtid_state_it_is_refused_in_one_line(gtid: str | None) -> None:
    with pytest.raises(SourceUnusable) as raised:
        StartPoint(OLD, gtid, 1).on_server(2)
    message = raised.value.message
    assert raised.value.exit_code == 3
    assert "\n" not in message
    for fragment in ("server_id 2", "server_id 1", str(OLD), "--start-gtid", "snapshot"):
        assert fragment in message


def test_a_transactions_resume_point_names_its_server() -> None:
    txn = Transaction([], OLD, BinlogPosition("binlog.000042", 2000), "0-2-43", "0-2-43", server_id=2)
    assert txn.resume_point == StartPoint(BinlogPosition("binlog.000042", 2000), "0-2-43", 2)


# --- at start-up -----------------------------------------------------------------------------------------------


class FakeSource:
    def __init__(self, server_id: int) -> None:
        self._server_id = server_id

    def server_id(self) -> int:
        return self._server_id

    def gtid_at(self, position: BinlogPosition) -> str:
        return f"0-{self._server_id}-{position.offset}"

    def current_position(self) -> BinlogPosition:
        return BinlogPosition("binlog.000007", 99)


def start_on(server_id: int, stored: Checkpoint | None, **settings: Any) -> StartPoint:
    return resolve_start(StreamerSettings(URL, 4242, **settings), stored, cast(Source, FakeSource(server_id)))


def test_a_checkpoint_of_this_server_resumes_at_its_position() -> None:
    assert start_on(1, Checkpoint(OLD, "0-1-42", 1)) == StartPoint(OLD, "0-1-42", 1)


def test_a_checkpoint_of_another_server_resumes_by_its_gtid_state(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert start_on(2, Checkpoint(OLD, "0-1-42", 1)) == StartPoint(None, "0-1-42", 2)
    assert "server_id 1" in caplog.text and "server_id 2" in caplog.text


def test_a_checkpoint_of_another_server_without_a_gtid_state_is_refused() -> None:
    with pytest.raises(SourceUnusable, match=r"now server_id 2, .* of server_id 1 .*--start-gtid"):
        start_on(2, Checkpoint(OLD, None, 1))


def test_explicit_starts_and_the_first_start_belong_to_the_server_at_hand() -> None:
    assert start_on(2, Checkpoint(OLD, None, 1), start_position=OLD) == StartPoint(OLD, "0-2-1876", 2)
    assert start_on(2, Checkpoint(OLD, None, 1), start_gtid="0-1-5") == StartPoint(None, "0-1-5", 2)
    assert start_on(3, None) == StartPoint(BinlogPosition("binlog.000007", 99), "0-3-99", 3)


# --- the reader ------------------------------------------------------------------------------------------------


@dataclass
class FakeSession:
    """What the reader uses of a ReplicationSession: the start it asked for, the server, the events."""

    start: StartPoint
    server_id: int
    items: list[Any] = field(default_factory=list)
    closed: bool = False

    def events(self) -> Iterator[Any]:
        yield from self.items
        raise ConnectionLost("the fake session ends")

    def close(self) -> None:
        self.closed = True


def other(end: int, size: int = 40) -> OtherEvent:
    return OtherEvent(SimpleNamespace(log_pos=end, event_size=size, event_type=0xA1), 1700000000)


def reader_over(sessions: list[FakeSession], start: StartPoint, **options: Any) -> BinlogReader:
    def factory(url: MySQLUrl, at: StartPoint, session_options: SessionOptions) -> ReplicationSession:
        session = sessions.pop(0)
        session.start = at.on_server(session.server_id)
        return cast(ReplicationSession, session)

    reader_options = ReaderOptions(session=SessionOptions(server_id=99, flavor="mariadb"), max_reconnects=0, **options)
    return BinlogReader(URL, start, reader_options, session_factory=factory)


def test_the_reader_follows_a_session_to_another_server_by_gtid(caplog: pytest.LogCaptureFixture) -> None:
    reader = reader_over([FakeSession(StartPoint(), 2)], StartPoint(OLD, "0-1-42", 1))
    with caplog.at_level(logging.WARNING), pytest.raises(Exception, match="gave up after 0 reconnects"):
        list(reader.transactions())
    assert reader.resume == StartPoint(None, "0-1-42", 2)
    assert reader.server_id == 2
    assert "now server_id 2, not 1" in caplog.text and "resuming from gtid 0-1-42" in caplog.text


def test_an_end_position_of_the_old_server_is_refused_on_another() -> None:
    end = BinlogPosition("binlog.000050", 4)
    session = FakeSession(StartPoint(), 2)
    reader = reader_over([session], StartPoint(OLD, "0-1-42", 1), end_position=end)
    with pytest.raises(SourceUnusable, match=r"--end-position binlog.000050:4 is a position of server_id 1"):
        list(reader.transactions())
    assert session.closed


def test_events_between_transactions_count_as_read_and_reach_an_end_position() -> None:
    """A rotation's format description, GTID list and binlog checkpoints: the server's end of binlog is past
    them, so an idle streamer must be there too, and an --end-position there is reached."""
    file = "binlog.000043"
    events = [other(256), other(315), other(355), other(395), other(435)]
    session = FakeSession(StartPoint(), 1, events)
    reader = reader_over([session], StartPoint(BinlogPosition(file, 4), "0-1-42", 1),
                         end_position=BinlogPosition(file, 395))  # fmt: skip
    assert list(reader.transactions()) == []  # ended: no ConnectionLost from the fake, no reconnect
    assert reader.read_at == (file, 395)

    session = FakeSession(StartPoint(), 1, events)
    reader = reader_over([session], StartPoint(BinlogPosition(file, 4), "0-1-42", 1))
    with pytest.raises(Exception, match="gave up"):
        list(reader.transactions())
    assert reader.read_at == (file, 435)


# --- the server cannot send from a GTID state -------------------------------------------------------------------


def test_error_1236_from_a_gtid_state_says_what_it_means_and_what_to_do() -> None:
    text = "Error: connecting slave requested to start from GTID 0-1-19, which is not in the master's binlog"
    error = _classify(pymysql.err.OperationalError(1236, text), StartPoint(None, "0-1-19", 2))
    assert isinstance(error, SourceUnusable)
    for fragment in ("server_id 2", "gtid 0-1-19", text, "not replicated", "snapshot"):
        assert fragment in error.message


def test_error_1236_from_a_position_keeps_the_servers_words() -> None:
    error = _classify(pymysql.err.OperationalError(1236, "could not find next log"), StartPoint(OLD, None, 1))
    assert isinstance(error, SourceUnusable)
    assert error.message == f"the server cannot send the binlog from {OLD}: could not find next log"
