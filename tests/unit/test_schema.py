"""Schema events: TABLE_MAP column metadata -> column definitions, and when the reader emits a schema event (first
row event of a table, a changed definition, not again for the same one) with which xoffset."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pymysqlreplication.row_event import WriteRowsEvent

from cdc_streamer.errors import RuntimeFailure
from cdc_streamer.event import ChangeEvent, ColumnDefinition, SchemaEvent
from cdc_streamer.position import BinlogPosition
from cdc_streamer.reader import BinlogReader, ReaderOptions, _OpenTransaction
from cdc_streamer.replication import SessionOptions, StartPoint
from cdc_streamer.schema import UnknownColumnType, column_definition, table_definition
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.values import (
    BIT,
    BLOB,
    DATE,
    DATETIME,
    DATETIME2,
    DOUBLE,
    ENUM,
    FLOAT,
    GEOMETRY,
    INT24,
    JSON,
    LONG,
    LONGLONG,
    NEWDATE,
    NEWDECIMAL,
    SET,
    SHORT,
    STRING,
    TIME,
    TIME2,
    TIMESTAMP,
    TIMESTAMP2,
    TINY,
    VAR_STRING,
    VARCHAR,
    YEAR,
)


def column(name: str, code: int, charset: str | None = "utf8", **facts: Any) -> SimpleNamespace:
    """A column as python-mysql-replication describes it."""
    return SimpleNamespace(**{"name": name, "type": code, "unsigned": False, "character_set_name": charset, **facts})


@pytest.mark.parametrize(
    ("col", "expected"),
    [
        (column("a", TINY), ColumnDefinition("a", "tinyint", unsigned=False)),
        (column("a", SHORT, unsigned=True), ColumnDefinition("a", "smallint", unsigned=True)),
        (column("a", INT24), ColumnDefinition("a", "mediumint", unsigned=False)),
        (column("a", LONG, unsigned=True), ColumnDefinition("a", "int", unsigned=True)),
        (column("a", LONGLONG), ColumnDefinition("a", "bigint", unsigned=False)),
        (column("a", NEWDECIMAL, precision=65, decimals=30), ColumnDefinition("a", "decimal", precision=65, scale=30)),
        (column("a", FLOAT), ColumnDefinition("a", "float")),
        (column("a", DOUBLE), ColumnDefinition("a", "double")),
        (column("a", BIT, bits=64), ColumnDefinition("a", "bit", bits=64)),
        (column("a", YEAR), ColumnDefinition("a", "year")),
        (column("a", DATE), ColumnDefinition("a", "date")),
        (column("a", NEWDATE), ColumnDefinition("a", "date")),
        (column("a", TIME2, fsp=3), ColumnDefinition("a", "time", fsp=3)),
        (column("a", DATETIME2, fsp=6), ColumnDefinition("a", "datetime", fsp=6)),
        (column("a", TIMESTAMP2, fsp=0), ColumnDefinition("a", "timestamp", fsp=0)),
        # pre-5.6 temporal types have no fraction (and no fsp attribute)
        (column("a", TIME), ColumnDefinition("a", "time", fsp=0)),
        (column("a", DATETIME), ColumnDefinition("a", "datetime", fsp=0)),
        (column("a", TIMESTAMP), ColumnDefinition("a", "timestamp", fsp=0)),
        (column("a", STRING, max_length=3), ColumnDefinition("a", "char")),
        (column("a", STRING, "binary", max_length=4), ColumnDefinition("a", "binary")),
        (column("a", VARCHAR), ColumnDefinition("a", "varchar")),
        (column("a", VARCHAR, "binary"), ColumnDefinition("a", "varbinary")),
        (column("a", VAR_STRING), ColumnDefinition("a", "varchar")),
        (column("a", BLOB), ColumnDefinition("a", "text")),
        (column("a", BLOB, "binary"), ColumnDefinition("a", "blob")),
        (column("a", BLOB, None), ColumnDefinition("a", "text")),  # no charset metadata: not binary
        (column("a", ENUM, enum_values=["", "s", "m"]), ColumnDefinition("a", "enum", values=("s", "m"))),
        (column("a", SET, set_values=["r", "g"]), ColumnDefinition("a", "set", values=("r", "g"))),
        (column("a", JSON, None), ColumnDefinition("a", "json")),
        (column("a", GEOMETRY, "binary"), ColumnDefinition("a", "geometry")),
    ],
    ids=lambda value: f"{value.type}" if isinstance(value, ColumnDefinition) else "",
)
def test_column_definitions(col: SimpleNamespace, expected: ColumnDefinition) -> None:
    assert column_definition(col) == expected


def test_a_mariadb_json_column_is_json_not_text() -> None:
    assert column_definition(column("doc", BLOB, "utf8mb4"), is_json=True) == ColumnDefinition("doc", "json")


def test_an_unknown_type_code_names_the_column() -> None:
    with pytest.raises(UnknownColumnType, match="column 'v' has binlog type code 242"):
        column_definition(column("v", 242))


def test_table_definition_keeps_table_order_without_excluded_columns() -> None:
    columns = [column("id", LONG), column("secret", VARCHAR), column("doc", BLOB)]
    assert table_definition(columns, {"doc"}.__contains__, frozenset({"secret"})) == (
        ColumnDefinition("id", "int", unsigned=False),
        ColumnDefinition("doc", "json"),
    )


# -- when the reader emits them ----------------------------------------------------------------------------------

START = BinlogPosition("binlog.000001", 4)


@pytest.fixture(autouse=True)
def library_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake events below carry decoded rows and no packet: the reader must take the library's path."""
    monkeypatch.setenv("CDC_PURE_PYTHON", "1")


class Rows(WriteRowsEvent):  # type: ignore[misc]
    """A decoded WRITE_ROWS event, without a packet to decode."""

    def __init__(self, table: str, columns: list[SimpleNamespace], ids: list[int], key: tuple[str, ...] = ("id",)):
        self.schema, self.table, self.columns, self.primary_key = "app", table, columns, key
        self.decoded = [{"values": {"id": i}} for i in ids]
        self.timestamp = 1700000000
        self.packet = SimpleNamespace(server_id=1)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.decoded


def reader(**options: Any) -> BinlogReader:
    return BinlogReader(
        MySQLUrl.parse("mysql://cdc:x@127.0.0.1:3306"),
        StartPoint(START, None),
        ReaderOptions(session=SessionOptions(server_id=99, flavor="mariadb"), **options),
    )


def transaction(source: BinlogReader, *events: Rows, finish: bool = True) -> list[Any]:
    txn = _OpenTransaction(START, "0-1-5", transactional=True)
    for event in events:
        source._on_rows(txn, event)
    return list(source._finish(txn, BinlogPosition("binlog.000001", 500), 7).events) if finish else []


def summary(events: list[Any]) -> list[tuple[str, str, int, bool]]:
    return [
        (e.table, e.type if isinstance(e, SchemaEvent) else e.type.value, e.xoffset, e.commit)
        for e in events
        if isinstance(e, SchemaEvent | ChangeEvent)
    ]


A = [column("id", LONG)]
B = [column("id", LONGLONG, unsigned=True)]


def test_schema_events_come_before_a_tables_first_row_with_its_xoffset() -> None:
    source = reader()
    events = transaction(source, Rows("a", A, [1, 2]), Rows("b", B, [1]), Rows("a", A, [3]))
    assert summary(events) == [
        ("a", "table-schema", 0, False),
        ("a", "insert", 0, False),
        ("a", "insert", 1, False),
        ("b", "table-schema", 2, False),
        ("b", "insert", 2, False),
        ("a", "insert", 3, True),
    ]
    first = events[0]
    assert (first.position, first.gtid, first.ts, first.server_id) == (START, "0-1-5", 1700000000, 1)
    assert first.columns == (ColumnDefinition("id", "int", unsigned=False),) and first.primary_key_columns == ("id",)


def test_the_same_definition_is_not_emitted_again_a_changed_one_is() -> None:
    source = reader()
    transaction(source, Rows("a", A, [1]))
    assert summary(transaction(source, Rows("a", [column("id", LONG)], [2]))) == [("a", "insert", 0, True)]
    grown = [column("id", LONG), column("note", BLOB)]
    events = transaction(source, Rows("a", grown, [3]))
    assert summary(events) == [("a", "table-schema", 0, False), ("a", "insert", 0, True)]
    assert events[0].columns[1] == ColumnDefinition("note", "text")
    rekeyed = transaction(source, Rows("a", grown, [4], key=("id", "note")))
    assert [type(e) for e in rekeyed] == [SchemaEvent, ChangeEvent]  # a new primary key is a new definition


def test_a_transaction_that_never_completed_did_not_emit_its_schema_events() -> None:
    source = reader()
    transaction(source, Rows("a", A, [1]), finish=False)  # e.g. the connection dropped mid-transaction
    assert summary(transaction(source, Rows("a", A, [1]))) == [
        ("a", "table-schema", 0, False),
        ("a", "insert", 0, True),
    ]


def test_filters_apply_to_schema_events() -> None:
    table_filter = TableFilter(exclude=(("app", "b"),), excluded_columns=frozenset({("app", "a", "secret")}))
    source = reader(filter=table_filter)
    events = transaction(source, Rows("a", [column("id", LONG), column("secret", VARCHAR)], [1]), Rows("b", B, [1]))
    assert summary(events) == [("a", "table-schema", 0, False), ("a", "insert", 0, True)]
    assert [c.name for c in events[0].columns] == ["id"]


def test_output_schema_off_emits_rows_only() -> None:
    assert summary(transaction(reader(output_schema=False), Rows("a", A, [1]))) == [("a", "insert", 0, True)]


def test_an_undescribable_column_stops_with_one_line_naming_the_table() -> None:
    with pytest.raises(RuntimeFailure, match=r"cannot describe app\.a at binlog\.000001:4: .*--no-output-schema"):
        transaction(reader(), Rows("a", [column("id", LONG), column("v", 242)], [1]))
