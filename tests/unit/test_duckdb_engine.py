"""Unit tests for cdc_lake.duckdb_engine, and the merge SQL of cdc_lake.merge_sql run on it: the Athena (Trino) text,
transpiled by `to_duckdb`, merging raw change events into master tables of a real in-memory DuckDB."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from cdc_lake.athena_sql import sql_string
from cdc_lake.duckdb_engine import DuckDB, to_duckdb
from cdc_lake.event_schema import EVENT_COLUMNS, binlog_order
from cdc_lake.master_types import SourceColumn
from cdc_lake.merge_sql import (
    MasterTable,
    changes_select,
    duckdb_meta_ddl,
    duckdb_table_ddl,
    json_path,
    live_view,
    merge_master,
    merge_tombstones,
    merge_watermark,
    meta_table,
)

RAW = meta_table("raw_events")
TS = 1714558500  # 2024-05-01 10:15:00 UTC
AT_TS = datetime.datetime(2024, 5, 1, 10, 15)
FILES_SINCE = "2026-11-23T10:00:00Z"
MONDAY = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.UTC)
COLUMN_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN"}


def j(value: Any) -> str:
    """Compact JSON text, as the streamer writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- to_duckdb -------------------------------------------------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[DuckDB]:
    with DuckDB(Path(":memory:")) as db:
        yield db


def scalar(engine: DuckDB, sql: str) -> Any:
    (row,) = engine.run(sql)
    (value,) = row
    return value


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("1.50", "1.50"),
        ("-0.50", "-0.50"),
        ("18446744073709551615", "18446744073709551615"),
        ("12345678901234567890123456789.123456789", "12345678901234567890123456789.123456789"),
        (
            "12345678901234567890123456789012345.123456789012345678901234567890",
            "12345678901234567890123456789012345.123456789012345678901234567890",
        ),
        ("1e+20", "1e+20"),
        ('"text"', "text"),
        ("true", "true"),
        ("null", None),
    ],
)
def test_json_extract_scalar_keeps_the_text_as_written(engine: DuckDB, number: str, text: str | None) -> None:
    document = '{"k":' + number + ',"k2":0.1}'
    assert scalar(engine, f"SELECT json_extract_scalar({sql_string(document)}, {json_path('k')})") == text


def test_json_extract_keeps_nested_json_text(engine: DuckDB) -> None:
    document = '{"k":{"list":[1,2.50,-300,null,true],"s":"x\\"y"},"n":null}'
    nested = scalar(engine, f"SELECT json_extract({sql_string(document)}, {json_path('k')})")
    assert nested == '{"list":[1,2.50,-300,null,true],"s":"x\\"y"}'
    assert json.loads(nested, parse_float=Decimal) == {"list": [1, Decimal("2.50"), -300, None, True], "s": 'x"y'}
    assert scalar(engine, f"SELECT json_extract({sql_string(document)}, {json_path('missing')})") is None


HOSTILE_KEYS = [
    'a"b',
    "x; DROP TABLE y",
    "select",
    "Ünïcode",
    "it's",
    "a\\b",
    "a.b",
    "with space",
    'a\\"b',
    "\\",
    "\\\\",
    '"',
    "'",
    "k#",
    "$",
    "[0]",
    "*",
    'k"]',
    "line\nbreak",
    "tab\t",
    "😀",
    "a'b\"c\\d",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_json_keys_reach_the_right_value(engine: DuckDB, key: str) -> None:
    # Decoys: a key that differs only by case, the key with the `#` the rewrite adds, a key with the escapes undone.
    decoys = {key.upper(): "upper", key.lower(): "lower", key + "#": "hash", key.replace("\\", ""): "unescaped"}
    document = j(decoys | {key: "right"})
    sql = f"SELECT json_extract_scalar({sql_string(document)}, {json_path(key)})"
    assert scalar(engine, sql) == "right"
    sql = f"SELECT json_extract({sql_string(document)}, {json_path(key)})"
    assert scalar(engine, sql) == '"right"'


def test_to_duckdb_rewrites_only_top_level_keys(engine: DuckDB) -> None:
    document = sql_string('{"a":{"b":1.50},"c":[10,20]}')
    rewritten = to_duckdb(f"SELECT json_extract_scalar({document}, '$[\"a\"]') AS a")
    assert "JSON_TRANSFORM" in rewritten
    for path, value in (("$.a.b", "1.5"), ("$.c[1]", "20")):
        sql = to_duckdb(f"SELECT json_extract_scalar({document}, '{path}')")
        assert "JSON_TRANSFORM" not in sql  # a nested path is left to DuckDB's own JSON functions
        assert str(engine.native(sql)[0][0]) == value


def test_to_duckdb_quotes_every_identifier() -> None:
    sql = to_duckdb('SELECT e.binlog_order, "select" FROM cdc_lake.raw_events AS e')
    assert sql == 'SELECT "e"."binlog_order", "select" FROM "cdc_lake"."raw_events" AS "e"'
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert all(identifier.quoted for identifier in tree.find_all(exp.Identifier))


def test_duckdb_run_and_native(engine: DuckDB) -> None:
    assert engine.native("CREATE TABLE t (x INTEGER)") == []
    assert engine.native("INSERT INTO t VALUES (?), (?)", [1, 2]) == [(2,)]
    assert engine.run("SELECT CAST(max(x) AS VARCHAR) FROM t") == [("2",)]
    assert engine.run("SELECT CAST(from_unixtime(1714558500) AS TIMESTAMP(6))") == [(AT_TS,)]  # the session is UTC


# --- the lake: raw events, meta tables, a master table ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One raw change event. `at` is (binlog file number, offset, xoffset)."""

    kind: str
    at: tuple[int, int, int]
    data: str
    old: str | None = None
    modified: datetime.datetime = MONDAY
    ts: int = TS
    database: str = "shop"
    table: str = "orders"

    @property
    def order(self) -> str:
        return binlog_order(*self.at)

    def row(self) -> tuple[Any, ...]:
        file, offset, xoffset = self.at
        values: dict[str, Any] = {
            "type": self.kind,
            "ts": self.ts,
            "xid": 7,
            "xoffset": xoffset,
            "commit": True,
            "binlog_file": f"binlog.{file:06d}",
            "binlog_position": offset,
            "binlog_order": self.order,
            "gtid": "0-1-317",
            "server_id": 1,
            "thread_id": None,
            "primary_key": "[]",
            "primary_key_columns": "[]",
            "data": self.data,
            "old": self.old,
        }
        return (*(values[column.name] for column in EVENT_COLUMNS), self.database, self.table, self.modified)


def since(moment: datetime.datetime) -> str:
    """The batch condition `cdc-lake compact` writes: files modified at or after `moment`."""
    text = moment.isoformat().replace("+00:00", "Z")
    return f'e."$file_modified_time" >= from_iso8601_timestamp({sql_string(text)})'


class Lake:
    """An in-memory DuckDB with the raw events table, the lake's meta tables and one master table, merged like
    `cdc-lake compact --athena` does (the changes as a subquery in every statement) or like the local compaction
    (the changes materialized once)."""

    def __init__(self, engine: DuckDB, master: MasterTable, *, materialized: bool) -> None:
        self.engine = engine
        self.master = master
        self.materialized = materialized
        for statement in duckdb_meta_ddl() + duckdb_table_ddl(master):
            engine.native(statement)
        columns = [f"{quoted(c.name)} {COLUMN_TYPES[c.type]}" for c in EVENT_COLUMNS]
        columns += ['"database" VARCHAR', '"table" VARCHAR', '"$file_modified_time" TIMESTAMPTZ']
        engine.native(f"CREATE TABLE IF NOT EXISTS cdc_lake.raw_events ({', '.join(columns)})")

    def add(self, *changes: Change) -> None:
        placeholders = ", ".join("?" for _ in range(len(EVENT_COLUMNS) + 3))
        for change in changes:
            self.engine.native(f"INSERT INTO cdc_lake.raw_events VALUES ({placeholders})", list(change.row()))

    def merge(self, where: str = "true") -> None:
        changes = changes_select(RAW, self.master, where)
        if self.materialized:
            self.engine.native(f"CREATE OR REPLACE TEMP TABLE cdc_test_changes AS {to_duckdb(changes)}")
            changes = "cdc_test_changes"
        self.engine.run(merge_master(self.master, changes))
        self.engine.run(merge_tombstones(self.master, changes))
        self.engine.run(merge_watermark(self.master, FILES_SINCE, changes))

    @property
    def name(self) -> str:
        return f"{quoted(self.master.database)}.{quoted(self.master.table)}"

    def rows(self, *columns: str) -> list[tuple[Any, ...]]:
        selected = ", ".join(quoted(c) for c in columns) if columns else "*"
        keys = ", ".join(quoted(k) for k in self.master.primary_key)
        return self.engine.native(f"SELECT {selected} FROM {self.name} ORDER BY {keys}")

    def tombstones(self) -> list[tuple[Any, ...]]:
        return self.engine.native(
            'SELECT "key", _cdc_order FROM cdc_lake.tombstones WHERE "database" = ? AND "table" = ? ORDER BY "key"',
            [self.master.database, self.master.table],
        )

    def watermark(self) -> list[tuple[Any, ...]]:
        return self.engine.native(
            'SELECT files_since, max_order, primary_key FROM cdc_lake.watermarks WHERE "database" = ? AND "table" = ?',
            [self.master.database, self.master.table],
        )

    def state(self) -> tuple[list[tuple[Any, ...]], ...]:
        return self.rows(), self.tombstones(), self.watermark()


ORDERS = MasterTable.of(
    "shop",
    "orders",
    [
        SourceColumn("id", "int"),
        SourceColumn("customer_id", "bigint", unsigned=True),
        SourceColumn("total", "decimal", precision=12, scale=2),
        SourceColumn("placed_at", "datetime", fsp=6),
        SourceColumn("note", "varchar"),
        SourceColumn("tags", "set", values=("gift", "rush")),
        SourceColumn("payload", "json"),
        SourceColumn("photo", "blob"),
    ],
    ["id"],
)


def order_data(id: int, note: str) -> str:
    return (
        f'{{"id":{id},"customer_id":42,"total":10.00,"placed_at":"2024-05-01 10:15:00.000001",'
        f'"note":{j(note)},"tags":["gift"],"payload":{{"n":1}},"photo":"AP8="}}'
    )


def insert(id: int, note: str, at: tuple[int, int, int], **options: Any) -> Change:
    return Change("insert", at, order_data(id, note), **options)


def update(id: int, note: str, at: tuple[int, int, int], old: dict[str, Any], **options: Any) -> Change:
    return Change("update", at, order_data(id, note), j(old), **options)


def delete(id: int, note: str, at: tuple[int, int, int], **options: Any) -> Change:
    return Change("delete", at, order_data(id, note), **options)


@pytest.fixture(params=["inline", "materialized"])
def lake(request: pytest.FixtureRequest, engine: DuckDB) -> Lake:
    return Lake(engine, ORDERS, materialized=request.param == "materialized")


def notes(lake: Lake) -> list[tuple[Any, ...]]:
    return lake.rows("id", "note", "_cdc_order")


# --- merging ---------------------------------------------------------------------------------------------------------


def test_insert_update_delete(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), insert(2, "two", (9, 100, 1)), insert(3, "three", (9, 100, 2)))
    lake.merge()
    assert lake.rows() == [
        (
            id,
            Decimal(42),
            Decimal("10.00"),
            datetime.datetime(2024, 5, 1, 10, 15, 0, 1),
            note,
            ["gift"],
            '{"n":1}',
            b"\x00\xff",
            binlog_order(9, 100, id - 1),
            AT_TS,
        )
        for id, note in ((1, "one"), (2, "two"), (3, "three"))
    ]
    assert lake.tombstones() == []
    assert lake.watermark() == [(datetime.datetime(2026, 11, 23, 10, 0), binlog_order(9, 100, 2), '["id"]')]

    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(
        update(1, "uno", (10, 4, 0), {"note": "one"}, modified=later, ts=TS + 60),
        delete(2, "two", (10, 4, 1), modified=later),
    )
    lake.merge(since(later))
    assert notes(lake) == [(1, "uno", binlog_order(10, 4, 0)), (3, "three", binlog_order(9, 100, 2))]
    assert lake.rows("id", "_cdc_ts")[0] == (1, AT_TS + datetime.timedelta(minutes=1))
    assert lake.tombstones() == [("2", binlog_order(10, 4, 1))]
    assert lake.watermark()[0][1] == binlog_order(10, 4, 1)


def test_primary_key_change_deletes_the_old_key(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), insert(2, "two", (9, 100, 1)))
    lake.merge()
    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(update(5, "five", (9, 200, 0), {"id": 1, "note": "one"}, modified=later))
    lake.merge(since(later))
    assert notes(lake) == [(2, "two", binlog_order(9, 100, 1)), (5, "five", binlog_order(9, 200, 0))]
    assert lake.tombstones() == [("1", binlog_order(9, 200, 0))]


def test_primary_key_change_within_one_batch(lake: Lake) -> None:
    lake.add(
        insert(1, "one", (9, 100, 0)),
        update(5, "five", (9, 200, 0), {"id": 1}),
        update(1, "one again", (9, 300, 0), {"id": 5}),  # and back: key 5 deleted, key 1 lives
    )
    lake.merge()
    assert notes(lake) == [(1, "one again", binlog_order(9, 300, 0))]
    assert lake.tombstones() == [("5", binlog_order(9, 300, 0))]


def test_latest_change_per_key_wins_whatever_the_arrival_order(lake: Lake) -> None:
    lake.add(
        update(1, "third", (10, 4, 0), {"note": "second"}),
        insert(1, "first", (9, 100, 0)),
        update(1, "second", (9, 100, 1), {"note": "first"}),  # file 9 < file 10, though "9" > "10" as text
        insert(2, "gone", (9, 100, 2)),
        delete(2, "gone", (9, 200, 0)),
        delete(3, "back", (9, 300, 0)),
        insert(3, "back", (9, 300, 1)),
    )
    lake.merge()
    assert notes(lake) == [(1, "third", binlog_order(10, 4, 0)), (3, "back", binlog_order(9, 300, 1))]
    assert lake.tombstones() == [("2", binlog_order(9, 200, 0))]  # 3's delete was superseded in the batch
    assert lake.watermark()[0][1] == binlog_order(10, 4, 0)


def test_replaying_a_batch_changes_nothing(lake: Lake) -> None:
    lake.add(
        insert(1, "one", (9, 100, 0)),
        insert(2, "two", (9, 100, 1)),
        update(3, "three", (9, 200, 0), {"id": 2}),
        delete(1, "one", (9, 300, 0)),
        insert(4, "four", (9, 400, 0)),
    )
    lake.merge()
    first = lake.state()
    assert notes(lake) == [(3, "three", binlog_order(9, 200, 0)), (4, "four", binlog_order(9, 400, 0))]
    lake.merge()
    lake.merge()
    assert lake.state() == first


def test_a_late_duplicate_does_not_resurrect_a_deleted_key(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), insert(2, "two", (9, 100, 1)), delete(1, "one", (9, 200, 0)))
    lake.merge()
    assert notes(lake) == [(2, "two", binlog_order(9, 100, 1))]
    # The same insert delivered again (a retried Firehose batch), in a file that turns up later.
    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(insert(1, "one", (9, 100, 0), modified=later))
    lake.merge(since(later))
    assert notes(lake) == [(2, "two", binlog_order(9, 100, 1))]
    # A real re-insert, after the delete, does come back.
    even_later = later + datetime.timedelta(hours=1)
    lake.add(insert(1, "one again", (9, 300, 0), modified=even_later))
    lake.merge(since(even_later))
    assert notes(lake) == [(1, "one again", binlog_order(9, 300, 0)), (2, "two", binlog_order(9, 100, 1))]


def test_a_late_duplicate_does_not_resurrect_an_old_primary_key(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), update(5, "five", (9, 200, 0), {"id": 1}))
    lake.merge()
    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(insert(1, "one", (9, 100, 0), modified=later))
    lake.merge(since(later))
    assert notes(lake) == [(5, "five", binlog_order(9, 200, 0))]


def test_a_change_older_than_the_stored_row_is_ignored(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), update(1, "newest", (9, 300, 0), {"note": "one"}))
    lake.merge()
    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(
        update(1, "stale", (9, 200, 0), {"note": "one"}, modified=later),
        insert(1, "stale insert", (9, 100, 0), modified=later),
    )
    lake.merge(since(later))
    assert notes(lake) == [(1, "newest", binlog_order(9, 300, 0))]
    lake.add(delete(1, "stale delete", (9, 250, 0), modified=later))
    lake.merge(since(later))
    assert notes(lake) == [(1, "newest", binlog_order(9, 300, 0))]


def test_other_tables_and_non_change_events_are_left_out(lake: Lake) -> None:
    lake.add(
        insert(1, "one", (9, 100, 0)),
        insert(2, "other table", (9, 100, 1), table="customers"),
        insert(3, "other database", (9, 100, 2), database="crm"),
        Change("table-schema", (9, 100, 3), '{"table":"orders","columns":[]}'),
    )
    lake.merge()
    assert notes(lake) == [(1, "one", binlog_order(9, 100, 0))]


def test_merge_without_changes_keeps_the_newest_order(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)))
    lake.merge()
    lake.engine.run(merge_watermark(ORDERS, "2026-11-24T00:00:00Z", None))
    assert lake.watermark() == [(datetime.datetime(2026, 11, 24), binlog_order(9, 100, 0), '["id"]')]
    lake.merge(since(MONDAY + datetime.timedelta(days=7)))  # an empty batch
    assert lake.watermark()[0][1] == binlog_order(9, 100, 0)


def test_live_view_shows_pending_changes(lake: Lake) -> None:
    lake.add(insert(1, "one", (9, 100, 0)), insert(2, "two", (9, 100, 1)), insert(3, "three", (9, 100, 2)))
    lake.merge()
    lake.add(
        update(1, "uno", (9, 200, 0), {"note": "one"}),
        delete(2, "two", (9, 200, 1)),
        update(7, "seven", (9, 200, 2), {"id": 3}),
        insert(4, "four", (9, 200, 3)),
    )
    lake.engine.run(live_view(ORDERS, RAW))
    live = lake.engine.native("SELECT id, note, _cdc_order FROM shop.orders_live ORDER BY id")
    assert live == [
        (1, "uno", binlog_order(9, 200, 0)),
        (4, "four", binlog_order(9, 200, 3)),
        (7, "seven", binlog_order(9, 200, 2)),
    ]
    lake.merge()
    assert lake.engine.native("SELECT id, note, _cdc_order FROM shop.orders_live ORDER BY id") == notes(lake) == live


def test_a_delete_arriving_between_the_athena_statements_is_still_applied(engine: DuckDB) -> None:
    lake = Lake(engine, ORDERS, materialized=False)
    lake.add(insert(1, "one", (9, 100, 0)), insert(2, "two", (9, 100, 1)))
    lake.merge()
    # The next run, statement by statement as compact_athena runs them, with a file landing in between.
    changes = changes_select(RAW, ORDERS, "true")
    engine.run(merge_master(ORDERS, changes))
    lake.add(delete(1, "one", (9, 200, 0), modified=MONDAY + datetime.timedelta(minutes=1)))
    engine.run(merge_tombstones(ORDERS, changes))
    engine.run(merge_watermark(ORDERS, FILES_SINCE, changes))
    # The run after re-reads that file (lookback) and must apply the delete.
    lake.merge()
    assert notes(lake) == [(2, "two", binlog_order(9, 100, 1))]


# --- values ----------------------------------------------------------------------------------------------------------

TYPES = MasterTable.of(
    "shop",
    "types",
    [
        SourceColumn("id", "int"),
        SourceColumn("d38", "decimal", precision=38, scale=9),
        SourceColumn("d65", "decimal", precision=65, scale=30),
        SourceColumn("ubig", "bigint", unsigned=True),
        SourceColumn("price", "decimal", precision=12, scale=2),
        SourceColumn("born", "date"),
        SourceColumn("seen", "datetime", fsp=6),
        SourceColumn("stamp", "timestamp"),
        SourceColumn("tags", "set", values=("red", "green", "blue")),
        SourceColumn("photo", "blob"),
        SourceColumn("doc", "json"),
        SourceColumn("ratio", "double"),
        SourceColumn("span", "time"),
        SourceColumn("year", "year"),
    ],
    ["id"],
)
D38 = "12345678901234567890123456789.123456789"
D65 = "12345678901234567890123456789012345.123456789012345678901234567890"
DOC = '{"list":[1,2.50,-300,null,true],"name":"é \\"q\\"","nested":{"deep":[{}]}}'
TYPE_EVENTS = [
    (
        f'{{"id":1,"d38":{D38},"d65":{D65},"ubig":18446744073709551615,"price":1.50,"born":"2024-02-29",'
        '"seen":"2024-02-29 23:59:59.123456","stamp":"2023-12-31 23:30:00","tags":["red","blue"],'
        f'"photo":"AP+Aww==","doc":{DOC},"ratio":0.1,"span":"838:59:59","year":2155}}'
    ),
    (
        '{"id":2,"d38":-99999999999999999999999999999.999999999,"d65":-0.500000000000000000000000000000,'
        '"ubig":0,"price":-0.50,"born":"0000-00-00","seen":"0000-00-00 00:00:00.000000",'
        '"stamp":"0000-00-00 00:00:00","tags":[],"photo":"","doc":[],"ratio":1e+20,"span":"-00:00:01","year":0}'
    ),
    (
        '{"id":3,"d38":null,"d65":null,"ubig":null,"price":null,"born":null,"seen":null,"stamp":null,"tags":null,'
        '"photo":null,"doc":null,"ratio":null,"span":null,"year":null}'
    ),
    ('{"id":4,"doc":"just text","price":0.00}'),
]


def merged_types(engine: DuckDB, *events: str) -> list[tuple[Any, ...]]:
    lake = Lake(engine, TYPES, materialized=False)
    lake.add(*(Change("insert", (9, 100, n), data, table="types") for n, data in enumerate(events)))
    lake.merge()
    return lake.rows(*(column.name for column in TYPES.columns))


DOC_INDEX = [column.name for column in TYPES.columns].index("doc")


def test_values_are_typed_exactly(engine: DuckDB) -> None:
    rows = merged_types(engine, *TYPE_EVENTS)
    documents = [row[DOC_INDEX] for row in rows]
    assert [row[:DOC_INDEX] + row[DOC_INDEX + 1 :] for row in rows] == [
        (
            1,
            Decimal(D38),
            D65,
            Decimal("18446744073709551615"),
            Decimal("1.50"),
            datetime.date(2024, 2, 29),
            datetime.datetime(2024, 2, 29, 23, 59, 59, 123456),
            datetime.datetime(2023, 12, 31, 23, 30),
            ["red", "blue"],
            b"\x00\xff\x80\xc3",
            0.1,
            "838:59:59",
            2155,
        ),
        (
            2,
            Decimal("-99999999999999999999999999999.999999999"),
            "-0.500000000000000000000000000000",
            Decimal(0),
            Decimal("-0.50"),
            None,  # zero dates have no SQL value
            None,
            None,
            [],
            b"",
            1e20,
            "-00:00:01",
            0,
        ),
        (3, None, None, None, None, None, None, None, None, None, None, None, None),  # JSON null -> NULL
        (4, None, None, None, Decimal("0.00"), None, None, None, None, None, None, None, None),
    ]
    assert str(rows[0][4]) == "1.50"
    # A JSON column holds JSON text of the same value (json_format: compact, numbers as DuckDB prints them).
    assert documents[2] is None
    assert [json.loads(text) for text in documents if text is not None] == [json.loads(DOC), [], "just text"]
    described = dict(
        engine.native("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'types'")
    )
    assert described["d38"] == "DECIMAL(38,9)"
    assert described["d65"] == "VARCHAR"
    assert described["ubig"] == "DECIMAL(20,0)"
    assert described["tags"] == "VARCHAR[]"
    assert described["photo"] == "BLOB"


def test_json_column_keeps_numbers_as_written(engine: DuckDB) -> None:
    doc = '{"price":2.50,"exact":12345678901234567890.123456789}'
    (row,) = merged_types(engine, '{"id":1,"doc":' + doc + "}")
    assert row[DOC_INDEX] == doc


ORDER_LINES = MasterTable.of(
    "shop",
    "order_lines",
    [
        SourceColumn("order_id", "int"),
        SourceColumn("sku", "varchar"),
        SourceColumn("qty", "int", unsigned=True),
    ],
    ["order_id", "sku"],
)


def test_composite_key(engine: DuckDB) -> None:
    lake = Lake(engine, ORDER_LINES, materialized=True)

    def line(
        kind: str, at: int, key: tuple[int, str], qty: int, old: dict[str, Any] | None = None, **options: Any
    ) -> Change:
        data = j({"order_id": key[0], "sku": key[1], "qty": qty})
        return Change(kind, (9, at, 0), data, None if old is None else j(old), table="order_lines", **options)

    lake.add(
        line("insert", 100, (1, "a,b"), 1),
        line("insert", 101, (1, "a"), 2),
        line("insert", 102, (12, "x"), 3),
        line("update", 200, (1, "c"), 4, {"sku": "a"}),  # one key column changes
        line("delete", 300, (12, "x"), 3),
        line("insert", 400, (1, "2,x"), 5),  # (1, "2,x") and (12, "x") must stay different keys
    )
    lake.merge()
    assert lake.rows("order_id", "sku", "qty") == [(1, "2,x", 5), (1, "a,b", 1), (1, "c", 4)]
    assert lake.tombstones() == [("1:1,1:a", binlog_order(9, 200, 0)), ("2:12,1:x", binlog_order(9, 300, 0))]
    later = MONDAY + datetime.timedelta(hours=1)
    lake.add(line("insert", 101, (1, "a"), 2, modified=later), line("insert", 102, (12, "x"), 3, modified=later))
    lake.merge(since(later))
    assert lake.rows("order_id", "sku", "qty") == [(1, "2,x", 5), (1, "a,b", 1), (1, "c", 4)]


# --- hostile names, end to end ---------------------------------------------------------------------------------------

HOSTILE_COLUMNS = [
    SourceColumn('a"b', "int"),
    SourceColumn("Ünïcode", "varchar"),
    SourceColumn("x; DROP TABLE y", "varchar"),
    SourceColumn("select", "decimal", precision=10, scale=2),
    SourceColumn("it's", "json"),
    SourceColumn("a\\b", "set"),
    SourceColumn("a.b", "blob"),
    SourceColumn("with space", "datetime", fsp=6),
]
HOSTILE_KEY = ['a"b', "Ünïcode"]


def hostile_data(key: tuple[int, str], text: str) -> str:
    return j(
        {
            'a"b': key[0],
            "Ünïcode": key[1],
            "x; DROP TABLE y": text,
            "select": 1.5,
            "it's": {"k'\"\\": [2.5, None]},
            "a\\b": ["r", "g"],
            "a.b": "AP8=",
            "with space": "2024-02-29 23:59:59.123456",
        }
    )


@pytest.mark.parametrize("materialized", [False, True], ids=["inline", "materialized"])
@pytest.mark.parametrize(
    ("database", "table"),
    [("x; DROP TABLE y", 'a"b'), ("it's", "select"), ("a\\b", "a.b"), ("with space", "Ünïcode")],
)
def test_hostile_names_merge_end_to_end(engine: DuckDB, database: str, table: str, materialized: bool) -> None:
    engine.native("CREATE TABLE y (v INTEGER)")
    master = MasterTable.of(database, table, HOSTILE_COLUMNS, HOSTILE_KEY)
    lake = Lake(engine, master, materialized=materialized)

    def change(kind: str, at: int, key: tuple[int, str], text: str, old: dict[str, Any] | None = None) -> Change:
        old_text = None if old is None else j(old)
        return Change(kind, (9, at, 0), hostile_data(key, text), old_text, database=database, table=table)

    lake.add(
        change("insert", 100, (1, "ü"), "v1"),
        change("insert", 101, (2, "x"), "v2"),
        change("update", 200, (3, "x"), "v3", {'a"b': 2}),
        change("update", 201, (1, "ü"), "v1b", {"x; DROP TABLE y": "v1"}),
        change("insert", 300, (4, "y"), "v4"),
        change("delete", 301, (4, "y"), "v4"),
    )
    lake.merge()
    expected = [
        (
            id,
            unicode,
            text,
            Decimal("1.50"),
            ["r", "g"],
            b"\x00\xff",
            datetime.datetime(2024, 2, 29, 23, 59, 59, 123456),
        )
        for id, unicode, text in ((1, "ü", "v1b"), (3, "x", "v3"))
    ]
    names = [column.name for column in HOSTILE_COLUMNS if column.name != "it's"]
    assert lake.rows(*names, "_cdc_order")[0][-1] == binlog_order(9, 201, 0)
    assert lake.rows(*names) == expected
    assert [json.loads(text) for (text,) in lake.rows("it's")] == [{"k'\"\\": [2.5, None]}] * 2
    assert lake.tombstones() == [("1:2,1:x", binlog_order(9, 200, 0)), ("1:4,1:y", binlog_order(9, 301, 0))]
    ((files_since, max_order, primary_key),) = lake.watermark()
    assert (files_since, max_order) == (datetime.datetime(2026, 11, 23, 10, 0), binlog_order(9, 301, 0))
    assert json.loads(primary_key) == HOSTILE_KEY

    later = MONDAY + datetime.timedelta(hours=1)
    late = Change("insert", (9, 101, 0), hostile_data((2, "x"), "v2"), modified=later, database=database, table=table)
    lake.add(late)
    lake.merge(since(later))
    lake.merge(since(later))
    assert lake.rows(*names) == expected

    lake.add(change("update", 400, (1, "ü"), "pending", {"x; DROP TABLE y": "v1b"}))
    engine.run(live_view(master, RAW))
    live = engine.native(
        f"SELECT {quoted('x; DROP TABLE y')} FROM {quoted(database)}.{quoted(table + '_live')} ORDER BY 1"
    )
    assert live == [("pending",), ("v3",)]

    tables = engine.native("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY ALL")
    assert tables == sorted(
        [("cdc_lake", "raw_events"), ("cdc_lake", "tombstones"), ("cdc_lake", "watermarks"), (database, table),
         ("main", "y")]
    )  # fmt: skip
