"""Tests for cdc_streamer.position (binlog coordinates) and cdc_streamer.gtid_state (restart-by-GTID state)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer.errors import ConfigError
from cdc_streamer.gtid_state import GtidState
from cdc_streamer.position import BinlogPosition, file_number

UUID_A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
UUID_B = "8a94f357-aab4-11df-86ab-c80aa9429563"


# --- BinlogPosition ------------------------------------------------------------------------------------------


def test_parse_file_and_offset() -> None:
    assert BinlogPosition.parse("binlog.000042:4") == BinlogPosition("binlog.000042", 4)


def test_parse_strips_whitespace() -> None:
    assert BinlogPosition.parse("  mysql-bin.000001:120\n") == BinlogPosition("mysql-bin.000001", 120)


def test_parse_keeps_dotted_base_names() -> None:
    assert BinlogPosition.parse("host.example-bin.000007:99") == BinlogPosition("host.example-bin.000007", 99)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "binlog.000042",
        "binlog.000042:",
        ":4",
        "binlog:4",
        "binlog.abc:4",
        "binlog.000042:-1",
        "binlog.000042:4x",
        "binlog.000042:4:5",
        "bin log.000042:4",
    ],
)
def test_parse_malformed_raises_config_error_naming_the_flag(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BinlogPosition.parse(text, flag="--start-position")
    assert caught.value.message.startswith("--start-position: ")
    assert repr(text) in caught.value.message


def test_parse_default_flag_name() -> None:
    with pytest.raises(ConfigError, match=r"^position: expected FILE:POS"):
        BinlogPosition.parse("nonsense")


def test_str_is_file_colon_offset() -> None:
    assert str(BinlogPosition("binlog.000042", 4)) == "binlog.000042:4"


@given(
    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=2**64),
)
def test_str_and_parse_round_trip(base: str, number: int, offset: int) -> None:
    position = BinlogPosition(f"{base}.{number:06d}", offset)
    assert BinlogPosition.parse(str(position)) == position


@pytest.mark.parametrize(
    ("name", "number"), [("binlog.000123", 123), ("binlog.1000000", 1000000), ("binlog", -1), ("binlog.x", -1)]
)
def test_file_number(name: str, number: int) -> None:
    assert file_number(name) == number


def test_ordering_within_a_file_is_by_offset() -> None:
    assert BinlogPosition("binlog.000001", 4) < BinlogPosition("binlog.000001", 5)
    assert not BinlogPosition("binlog.000001", 5) < BinlogPosition("binlog.000001", 4)


def test_ordering_across_files_is_by_file_number() -> None:
    assert BinlogPosition("binlog.000001", 999999) < BinlogPosition("binlog.000002", 4)


def test_ordering_past_binlog_999999() -> None:
    old = BinlogPosition("binlog.999999", 500)
    new = BinlogPosition("binlog.1000000", 4)
    assert old < new
    assert old <= new
    assert new > old
    assert new >= old
    assert not new < old
    assert str(old) > str(new)  # why string ordering would be wrong


def test_sorting_uses_binlog_order() -> None:
    positions = [
        BinlogPosition("binlog.1000001", 4),
        BinlogPosition("binlog.999999", 8),
        BinlogPosition("binlog.1000000", 4),
        BinlogPosition("binlog.999999", 4),
    ]
    assert [str(p) for p in sorted(positions)] == [
        "binlog.999999:4",
        "binlog.999999:8",
        "binlog.1000000:4",
        "binlog.1000001:4",
    ]


def test_less_or_equal_includes_equal() -> None:
    assert BinlogPosition("binlog.000001", 4) <= BinlogPosition("binlog.000001", 4)


def test_equal_positions_are_equal_and_hash_alike() -> None:
    assert BinlogPosition("binlog.000001", 4) == BinlogPosition.parse("binlog.000001:4")
    assert len({BinlogPosition("binlog.000001", 4), BinlogPosition("binlog.000001", 4)}) == 1


def test_sort_key() -> None:
    assert BinlogPosition("binlog.000010", 77).sort_key == (10, 77)


# --- GtidState: MariaDB --------------------------------------------------------------------------------------


def test_mariadb_parse_keeps_one_gtid_per_domain() -> None:
    state = GtidState.parse("0-1-5,1-2-3", "mariadb")
    assert state.mariadb == ((0, "0-1-5"), (1, "1-2-3"))
    assert str(state) == "0-1-5,1-2-3"


def test_mariadb_parse_tolerates_spaces_and_newlines() -> None:
    assert str(GtidState.parse(" 1-2-3 ,\n0-1-5 ", "mariadb")) == "0-1-5,1-2-3"


def test_mariadb_str_is_sorted_numerically_by_domain() -> None:
    assert str(GtidState.parse("10-1-1,2-1-1,0-1-1", "mariadb")) == "0-1-1,2-1-1,10-1-1"


def test_mariadb_add_replaces_the_domain() -> None:
    state = GtidState.parse("0-1-5,1-2-3", "mariadb").add("0-3-9")
    assert str(state) == "0-3-9,1-2-3"


def test_mariadb_add_new_domain_is_inserted_in_order() -> None:
    assert str(GtidState.parse("0-1-5,2-1-1", "mariadb").add("1-1-7")) == "0-1-5,1-1-7,2-1-1"


def test_mariadb_add_to_empty_state() -> None:
    assert str(GtidState("mariadb").add("0-1-1")) == "0-1-1"


def test_add_returns_a_new_state() -> None:
    state = GtidState.parse("0-1-5", "mariadb")
    state.add("0-1-6")
    assert str(state) == "0-1-5"


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_text_is_an_empty_state(text: str | None) -> None:
    assert str(GtidState.parse(text, "mariadb")) == ""
    assert str(GtidState.parse(text, "mysql")) == ""


@pytest.mark.parametrize("text", ["0-1", "0-1-x", "a-b-c", "0-1-2-3", "0:1:2", f"{UUID_A}:1-5"])
def test_mariadb_malformed_raises_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GtidState.parse(text, "mariadb")
    assert caught.value.message.startswith("--start-gtid: ")
    assert "0-1-42" in caught.value.message


# --- GtidState: MySQL ----------------------------------------------------------------------------------------


def test_mysql_parse_intervals_and_single_numbers() -> None:
    state = GtidState.parse(f"{UUID_A}:1-5:7", "mysql")
    assert state.mysql == ((UUID_A, ((1, 5), (7, 7))),)
    assert str(state) == f"{UUID_A}:1-5:7"


def test_mysql_parse_several_uuids_sorted() -> None:
    state = GtidState.parse(f"{UUID_B}:1-3,\n{UUID_A}:4", "mysql")
    assert str(state) == f"{UUID_A}:4,{UUID_B}:1-3"


def test_mysql_parse_lowercases_uuids_and_merges_duplicates() -> None:
    state = GtidState.parse(f"{UUID_A.upper()}:1-3,{UUID_A}:4-6:10", "mysql")
    assert str(state) == f"{UUID_A}:1-6:10"


def test_mysql_parse_merges_overlapping_intervals() -> None:
    assert str(GtidState.parse(f"{UUID_A}:5-9:1-6", "mysql")) == f"{UUID_A}:1-9"


def test_mysql_add_merges_adjacent_interval() -> None:
    state = GtidState.parse(f"{UUID_A}:1-5", "mysql").add(f"{UUID_A}:6")
    assert str(state) == f"{UUID_A}:1-6"


def test_mysql_add_fills_a_gap() -> None:
    state = GtidState.parse(f"{UUID_A}:1-5:7", "mysql").add(f"{UUID_A}:6")
    assert str(state) == f"{UUID_A}:1-7"


def test_mysql_add_non_adjacent_opens_an_interval() -> None:
    state = GtidState.parse(f"{UUID_A}:1-5", "mysql").add(f"{UUID_A}:9")
    assert str(state) == f"{UUID_A}:1-5:9"


def test_mysql_add_already_contained_changes_nothing() -> None:
    assert str(GtidState.parse(f"{UUID_A}:1-5", "mysql").add(f"{UUID_A}:3")) == f"{UUID_A}:1-5"


def test_mysql_add_new_uuid() -> None:
    state = GtidState.parse(f"{UUID_B}:1-5", "mysql").add(f"{UUID_A.upper()}:1")
    assert str(state) == f"{UUID_A}:1,{UUID_B}:1-5"


def test_mysql_add_to_empty_state() -> None:
    assert str(GtidState("mysql").add(f"{UUID_A}:1")) == f"{UUID_A}:1"


@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=40))
def test_mysql_adding_transactions_one_by_one_gives_merged_intervals(numbers: list[int]) -> None:
    state = GtidState("mysql")
    for number in numbers:
        state = state.add(f"{UUID_A}:{number}")
    ((uuid, ranges),) = state.mysql
    assert uuid == UUID_A
    covered = {n for low, high in ranges for n in range(low, high + 1)}
    assert covered == set(numbers)
    for (_, high), (low, _) in itertools.pairwise(ranges):
        assert low > high + 1  # disjoint and not adjacent
    assert GtidState.parse(str(state), "mysql") == state


@pytest.mark.parametrize("text", [f"{UUID_A}:abc", f"{UUID_A}:", f"{UUID_A}:1-x", f"{UUID_A}:1-2-3", f"{UUID_A}::1"])
def test_mysql_malformed_raises_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        GtidState.parse(text, "mysql")
    assert caught.value.message.startswith("--start-gtid: ")
    assert UUID_A in caught.value.message


@pytest.mark.parametrize("text", [UUID_A, "0-1-5"])
def test_mysql_parse_rejects_entries_without_intervals(text: str) -> None:
    with pytest.raises(ConfigError):
        GtidState.parse(text, "mysql")
