"""Source names in lake and export paths: Hive's escaping, one path segment per name, reversible."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdc_streamer.path_names import name_from_path, path_value
from firehose_transform.flatten import flatten


def test_hive_escaping_of_the_characters_a_path_cannot_hold() -> None:
    assert path_value("orders") == "orders"
    assert path_value("Ünïcode 表 x.y") == "Ünïcode 表 x.y"
    assert path_value("a/b=c") == "a%2Fb%3Dc"
    assert path_value("100%") == "100%25"
    assert path_value("..") == ".."  # harmless: the segment is `table=..`
    assert (
        path_value('it\'s "q" #?*:[]^{}\\\x7f\n') == "it%27s %22q%22 %23%3F%2A%3A%5B%5D%5E%7B}%5C%7F%0A"
    )  # Hive leaves "}"


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"), min_size=1))
def test_every_name_is_one_segment_and_comes_back(name: str) -> None:
    value = path_value(name)
    assert "/" not in value and "=" not in value
    assert name_from_path(value) == name


def test_the_transform_escapes_the_partition_keys() -> None:
    event = {"database": "shop=1", "table": "a/b", "type": "insert", "ts": 1_700_000_000, "xid": 1, "xoffset": 0,
             "position": "binlog.000001:4", "data": {"id": 1}}  # fmt: skip
    keys = flatten(event).partition_keys
    assert (keys["database"], keys["table"]) == ("shop%3D1", "a%2Fb")
