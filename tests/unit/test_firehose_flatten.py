"""flatten / parse_event: the lake row of each golden event, exact numbers, dt/hour, binlog order, DDL and schema
event routing and one precise reason per kind of invalid event."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdc_lake.event_schema import COLUMN_NAMES, DDL_TABLE, PARTITION_COLUMNS, SCHEMA_TABLE, binlog_order
from cdc_streamer.encoding import RawJson, encode_value
from firehose_transform.flatten import DDL_TYPES, InvalidEvent, flatten, parse_event
from tests.unit.test_firehose_transform import BASE_TS, golden_events, row_event, wire, without


def flat(event: dict[str, Any]) -> dict[str, Any]:
    return flatten(parse_event(wire(event))).row


def test_every_golden_event_flattens_to_the_schema_columns_in_order() -> None:
    for name, event in golden_events():
        result = flatten(parse_event(wire(event)))
        assert tuple(result.row) == COLUMN_NAMES, name
        assert tuple(result.partition_keys) == tuple(column.name for column in PARTITION_COLUMNS)
        row = result.row
        assert (row["ts"], row["gtid"], row["server_id"]) == (event["ts"], event["gtid"], 1)
        assert row["binlog_file"] == "binlog.000042"
        assert row["binlog_position"] == int(event["position"].split(":")[1])
        if "sql" in event or "columns" in event:
            continue
        text = wire(event).decode()
        assert f'"data":{row["data"]}' in text  # the exact text of the row image
        assert row["primary_key"] == encode_value(event["primary_key"])
        assert row["primary_key_columns"] == encode_value(event["primary_key_columns"])
        assert row["old"] == (encode_value(event["old"]) if "old" in event else None)
        assert (row["xid"], row["xoffset"]) == (event["xid"], event["xoffset"])


def test_row_columns_of_an_update() -> None:
    event = row_event(type="update", xoffset=3, commit=True, old={"qty": 10, "price": RawJson("1.50")})
    event["data"] = {"id": 1, "price": RawJson("1.50"), "tags": ["a"], "j": {"list": [1, RawJson("2.50"), None]}}
    result = flatten(parse_event(wire(event)))
    assert result.row == {
        "type": "update",
        "ts": BASE_TS,
        "xid": 1207,
        "xoffset": 3,
        "commit": True,
        "binlog_file": "binlog.000042",
        "binlog_position": 1876,
        "binlog_order": "0000000042:00000000000000001876:0000000003",
        "gtid": "0-1-317",
        "server_id": 1,
        "thread_id": None,
        "primary_key": "[4]",
        "primary_key_columns": '["id"]',
        "data": '{"id":1,"price":1.50,"tags":["a"],"j":{"list":[1,2.50,null]}}',
        "old": '{"qty":10,"price":1.50}',
    }
    assert result.partition_keys == {"database": "app", "table": "ops", "dt": "2024-05-01", "hour": "10"}


def test_numbers_keep_their_exact_text() -> None:
    d65 = "12345678901234567890123456789012345.123456789012345678901234567890"
    payload = (
        '{"database":"app","table":"num","type":"insert","ts":1,"xoffset":0,"position":"binlog.000001:4",'
        f'"primary_key":[18446744073709551615],"data":{{"d65":{d65},"d10":0.00,"ub":18446744073709551615,'
        '"neg":-0.50,"f":-3.40282e+38,"e":1E+2,"big":123456789012345678901234567890}}'
    )
    row = flatten(parse_event(payload.encode())).row
    assert row["data"] == (
        f'{{"d65":{d65},"d10":0.00,"ub":18446744073709551615,"neg":-0.50,"f":-3.40282e+38,"e":1E+2,'
        '"big":123456789012345678901234567890}'
    )
    assert row["primary_key"] == "[18446744073709551615]"


def test_text_comes_out_as_utf8_not_escaped() -> None:
    row = flat(row_event(data={"s": "Zoë 😀", "q": 'multi\nline\t"quoted" \\ back', "e": "\u00e9"}))
    assert row["data"] == '{"s":"Zoë 😀","q":"multi\\nline\\t\\"quoted\\" \\\\ back","e":"é"}'


@given(st.integers(min_value=0, max_value=253_402_300_799))
def test_dt_and_hour_are_the_utc_date_and_hour_of_ts(ts: int) -> None:
    keys = flatten(row_event(ts=ts)).partition_keys
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    assert (keys["dt"], keys["hour"]) == (moment.strftime("%Y-%m-%d"), moment.strftime("%H"))


@pytest.mark.parametrize(
    ("ts", "dt", "hour"),
    [
        (0, "1970-01-01", "00"),
        (3599, "1970-01-01", "00"),
        (3600, "1970-01-01", "01"),
        (1709251199, "2024-02-29", "23"),
        (1709251200, "2024-03-01", "00"),
        (253_402_300_799, "9999-12-31", "23"),
    ],
)
def test_dt_hour_edges(ts: int, dt: str, hour: str) -> None:
    keys = flatten(row_event(ts=ts)).partition_keys
    assert (keys["dt"], keys["hour"]) == (dt, hour)


def test_commit_absent_is_false_and_old_absent_is_null() -> None:
    row = flat(row_event())
    assert row["commit"] is False and row["old"] is None
    assert flat(row_event(commit=True))["commit"] is True
    assert flat(row_event(type="update", old={}))["old"] == "{}"
    assert flat(row_event(old=None))["old"] is None


def test_optional_fields_may_be_absent_or_null() -> None:
    event = {k: v for k, v in row_event().items() if k not in ("xid", "gtid", "server_id", "thread_id", "primary_key")}
    row = flat(event)
    assert [row[k] for k in ("xid", "gtid", "server_id", "thread_id", "primary_key")] == [None] * 5
    assert row["primary_key_columns"] == '["id"]'


@given(
    st.lists(
        st.tuples(st.integers(0, 10**7), st.integers(0, 2**63 - 1), st.integers(0, 2**31 - 1)), min_size=2, max_size=8
    )
)
def test_binlog_order_sorts_like_file_number_offset_xoffset(coordinates: list[tuple[int, int, int]]) -> None:
    rows = [
        flatten(row_event(position=f"mysql-bin-changelog.{n:06d}:{offset}", xoffset=x)).row
        for n, offset, x in coordinates
    ]
    assert sorted(r["binlog_order"] for r in rows) == [binlog_order(*c) for c in sorted(coordinates)]


def test_ddl_events_go_to_the_ddl_table_of_their_database() -> None:
    ddl = [e for _, e in golden_events() if "sql" in e]
    assert {e["type"] for e in ddl} >= {"table-create", "table-alter", "table-rename", "table-truncate", "table-drop"}
    for event in ddl:
        result = flatten(parse_event(wire(event)))
        assert result.partition_keys["table"] == DDL_TABLE
        assert result.partition_keys["database"] == "app"
        row = result.row
        assert row["type"] == event["type"]
        assert json.loads(row["data"]) == {"table": event["table"], "sql": event["sql"]}
        assert row["data"].startswith('{"table":')
        assert (row["xid"], row["xoffset"], row["commit"], row["old"]) == (None, 0, False, None)
        assert (row["primary_key"], row["primary_key_columns"], row["thread_id"]) == (None, None, 27)
    database_level = {"database": "shop", "table": None, "type": "database-create", "ts": 5, "position": "b.000001:4",
                      "gtid": None, "server_id": 1, "thread_id": 3, "sql": "CREATE DATABASE shop"}  # fmt: skip
    result = flatten(database_level)
    assert result.partition_keys["database"] == "shop" and result.partition_keys["table"] == DDL_TABLE
    assert result.row["data"] == '{"table":null,"sql":"CREATE DATABASE shop"}'
    assert len(DDL_TYPES) == 8


def test_schema_events_go_to_the_schema_table_of_their_database() -> None:
    schemas = [e for _, e in golden_events() if e["type"] == "table-schema"]
    assert len(schemas) >= 6 and any(e["xoffset"] > 0 for e in schemas)
    for event in schemas:
        result = flatten(parse_event(wire(event)))
        assert result.partition_keys["table"] == SCHEMA_TABLE
        assert result.partition_keys["database"] == "app"
        row = result.row
        assert row["type"] == "table-schema"
        assert row["data"] == encode_value({"table": event["table"], "columns": event["columns"]})
        assert f'"columns":{encode_value(event["columns"])}' in wire(event).decode()  # the text as received
        assert row["primary_key_columns"] == encode_value(event["primary_key_columns"])
        assert (row["xid"], row["old"], row["primary_key"], row["commit"]) == (None, None, None, False)
        assert row["xoffset"] == event["xoffset"]
        assert row["binlog_order"].endswith(f":{event['xoffset']:010d}")


def test_schema_event_columns_are_kept_exactly_as_received() -> None:
    event = SCHEMA | {
        "columns": [{"name": "p", "type": "decimal", "precision": 10, "scale": 2, "extra": RawJson("1.50")}]
    }
    assert flat(event)["data"] == (
        '{"table":"t","columns":[{"name":"p","type":"decimal","precision":10,"scale":2,"extra":1.50}]}'
    )
    assert flat(SCHEMA | {"columns": [], "primary_key_columns": []})["data"] == '{"table":"t","columns":[]}'


DDL = {"database": "app", "table": "t", "type": "table-alter", "ts": 5, "position": "b.000001:4", "sql": "ALTER ..."}
SCHEMA = {"database": "app", "table": "t", "type": "table-schema", "ts": 5, "xoffset": 2, "commit": False,
          "position": "b.000001:4", "gtid": "0-1-3", "server_id": 1, "thread_id": None,
          "columns": [{"name": "id", "type": "int", "unsigned": False}], "primary_key_columns": ["id"]}  # fmt: skip
INVALID: list[tuple[Any, str]] = [
    ([1], "event must be a JSON object, got array"),
    (without("database"), "missing field 'database'"),
    (without("table"), "missing field 'table'"),
    (without("type"), "missing field 'type'"),
    (without("ts"), "missing field 'ts'"),
    (without("position"), "missing field 'position'"),
    (without("xoffset"), "missing field 'xoffset'"),
    (without("data"), "missing field 'data'"),
    (row_event(database=None), "field 'database' must be a string, got null"),
    (row_event(database=""), "field 'database' must be a non-empty name, got ''"),
    (row_event(table=""), "field 'table' must be a non-empty name, got ''"),
    (row_event(table=7), "field 'table' must be a string, got integer"),
    (row_event(table="t\ud800"), "field 'table' is not valid Unicode: 't\\ud800'"),
    (row_event(type=1), "field 'type' must be a string, got integer"),
    (row_event(ts="1714558500"), "field 'ts' must be an integer, got string"),
    (row_event(ts=RawJson("1714558500.5")), "field 'ts' must be an integer, got number"),
    (row_event(ts=True), "field 'ts' must be an integer, got boolean"),
    (row_event(ts=-1), "field 'ts' is out of range (Unix seconds from 1970 to 9999): -1"),
    (row_event(ts=253_402_300_800), "field 'ts' is out of range (Unix seconds from 1970 to 9999): 253402300800"),
    (row_event(xoffset=None), "field 'xoffset' must be an integer, got null"),
    (row_event(xoffset=-1), "field 'xoffset' is out of range (0 to 2147483647): -1"),
    (row_event(xoffset=2**31), "field 'xoffset' is out of range (0 to 2147483647): 2147483648"),
    (row_event(data=[1]), "field 'data' must be an object, got array"),
    (row_event(old=[1]), "field 'old' must be an object or null, got array"),
    (row_event(primary_key={"id": 1}), "field 'primary_key' must be an array or null, got object"),
    (row_event(primary_key_columns="id"), "field 'primary_key_columns' must be an array or null, got string"),
    (row_event(commit="yes"), "field 'commit' must be a boolean or null, got string"),
    (row_event(xid="1207"), "field 'xid' must be an integer or null, got string"),
    (row_event(gtid=317), "field 'gtid' must be a string or null, got integer"),
    (row_event(server_id=2**64 - 1), "field 'server_id' is out of the signed 64-bit range: 18446744073709551615"),
    (row_event(thread_id=RawJson("1.0")), "field 'thread_id' must be an integer or null, got number"),
    (row_event(position=42), "field 'position' must be a string, got integer"),
    (row_event(type="upsert"), "unknown type 'upsert' for a row event (expected insert, update or delete)"),
    (row_event(type="table-alter"), "unknown type 'table-alter' for a row event (expected insert, update or delete)"),
    (DDL | {"type": "view-create"}, "unknown type 'view-create' for a DDL event (expected one of database-alter, "
     "database-create, database-drop, table-alter, table-create, table-drop, table-rename, table-truncate)"),
    (DDL | {"sql": None}, "field 'sql' must be a string, got null"),
    (DDL | {"table": 3}, "field 'table' must be a string or null, got integer"),
    (DDL | {"xoffset": "0"}, "field 'xoffset' must be an integer or null, got string"),
    ({k: v for k, v in SCHEMA.items() if k != "columns"}, "missing field 'columns'"),
    (SCHEMA | {"columns": {"id": "int"}}, "field 'columns' must be an array, got object"),
    (SCHEMA | {"columns": [{"name": "a", "type": "int"}, "b"]}, "field 'columns[1]' must be an object, got string"),
    (SCHEMA | {"columns": [{"type": "int"}]}, "missing field 'columns[0].name'"),
    (SCHEMA | {"columns": [{"name": "a"}]}, "missing field 'columns[0].type'"),
    (SCHEMA | {"columns": [{"name": None, "type": "int"}]}, "field 'columns[0].name' must be a string, got null"),
    (SCHEMA | {"columns": [{"name": "a", "type": 3}]}, "field 'columns[0].type' must be a string, got integer"),
    ({k: v for k, v in SCHEMA.items() if k != "xoffset"}, "missing field 'xoffset'"),
    ({k: v for k, v in SCHEMA.items() if k != "table"}, "missing field 'table'"),
    ({k: v for k, v in SCHEMA.items() if k != "primary_key_columns"}, "missing field 'primary_key_columns'"),
    (SCHEMA | {"primary_key_columns": None}, "field 'primary_key_columns' must be an array, got null"),
    (SCHEMA | {"type": "insert"}, "unknown type 'insert' for a schema event (expected table-schema)"),
]  # fmt: skip


@pytest.mark.parametrize(("event", "reason"), INVALID, ids=[reason for _, reason in INVALID])
def test_invalid_events_raise_with_a_precise_reason(event: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        flatten(event)
    assert raised.value.reason == reason
    assert str(raised.value) == reason


@pytest.mark.parametrize(
    "position",
    ["binlog.000042", "binlog:12", "binlog.x:1", "binlog.000042:-1", " binlog.000042:1", "binlog.000042:1 ",
     "binlog.000042:", ":12", "binlog.٤٢:1", "binlog.000042:1:2", "binlog.000042:99999999999999999999",
     "binlog.12345678901:4"],
)  # fmt: skip
def test_malformed_positions(position: str) -> None:
    with pytest.raises(InvalidEvent, match=r"^malformed position .*"):
        flatten(row_event(position=position))


def test_a_ddl_event_has_sql_and_no_data_anything_else_is_a_row_event() -> None:
    assert flatten(DDL).partition_keys["table"] == DDL_TABLE
    with pytest.raises(InvalidEvent, match="unknown type 'table-alter' for a row event"):
        flatten(DDL | {"data": {}, "xoffset": 0})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff{}", "payload is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        (b"", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"a":1', "invalid JSON: Expecting ',' delimiter: line 1 column 7 (char 6)"),
        (b'{"a": NaN}', "invalid JSON: NaN is not a JSON value"),
        (b'{"a": -Infinity}', "invalid JSON: -Infinity is not a JSON value"),
        (b"\xef\xbb\xbf{}", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'"text"', "event must be a JSON object, got string"),
        (b"null", "event must be a JSON object, got null"),
        (b"1.5", "event must be a JSON object, got number"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_parse_event_failures(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        parse_event(payload)
    assert raised.value.reason == reason


def test_huge_integers_and_deep_row_images_are_reasons_not_crashes() -> None:
    with pytest.raises(InvalidEvent, match=r"^invalid JSON: Exceeds the limit"):
        parse_event(b'{"a": ' + b"9" * 5000 + b"}")
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    event = row_event()
    event["data"] = {"deep": deep}
    with pytest.raises(InvalidEvent, match=r"^field 'data' is nested too deeply$"):
        flatten(event)


def test_reasons_stay_short_whatever_the_bad_value() -> None:
    with pytest.raises(InvalidEvent) as raised:
        flatten(row_event(position="binlog" * 100_000))
    assert raised.value.reason.startswith("malformed position 'binlogbinlog")
    assert len(raised.value.reason) < 200
    with pytest.raises(InvalidEvent) as raised:
        flatten(row_event(server_id=10**5000))
    assert raised.value.reason == "field 'server_id' is out of the signed 64-bit range: <int too long to show>"
    with pytest.raises(InvalidEvent) as raised:
        flatten(row_event(ts=10**100))
    assert len(raised.value.reason) < 200 and raised.value.reason.endswith("...")
