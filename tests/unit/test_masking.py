"""`--mask-columns`: the HMAC, the canonical text of each value, events masked before any sink sees them, and the
start-up refusals (a column that does not exist, a type that cannot be masked the same way by snapshot and stream,
a missing or short key)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from decimal import Decimal
from typing import Any

import pytest

from cdc_streamer.errors import ConfigError
from cdc_streamer.event import ChangeEvent, ColumnDefinition, DdlEvent, Operation, SchemaEvent
from cdc_streamer.masking import Masker, MaskPattern, canonical_text, parse_mask_columns
from cdc_streamer.masking_setup import check_mask_columns, load_masker
from cdc_streamer.position import BinlogPosition
from cdc_streamer.sinks.masking import MaskingSink
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.snapshot import Masking, exported_columns, masked_positions
from cdc_streamer.snapshot_source import TableFacts
from cdc_streamer.snapshot_types import ColumnInfo, arrow_schema, schema_column, type_mapping

KEY = b"0123456789abcdef-test-key"
POSITION = BinlogPosition("binlog.000001", 4)


def hmac_hex(text: str, key: bytes = KEY) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def masker(*patterns: str) -> Masker:
    return Masker(KEY, parse_mask_columns(",".join(patterns)))


def change(
    data: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    table: str = "customers",
    key_columns: tuple[str, ...] = ("id",),
    query: str | None = "INSERT INTO customers VALUES (1, 'ann@example.com')",
) -> ChangeEvent:
    return ChangeEvent(
        database="shop",
        table=table,
        type=Operation.UPDATE if old is not None else Operation.INSERT,
        ts=1,
        xid=7,
        xoffset=0,
        commit=True,
        position=POSITION,
        gtid=None,
        server_id=1,
        thread_id=3,
        primary_key=tuple(data[name] for name in key_columns),
        primary_key_columns=key_columns,
        data=data,
        old=old,
        query=query,
    )


def test_the_mask_is_rfc_4231_hmac_sha256_in_lowercase_hex() -> None:
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
    digest = Masker(b"Jefe", ()).mask_value("what do ya want for nothing?")
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Zoë 🙂", "Zoë 🙂"),
        ("", ""),
        (b"\x00\xff", "AP8="),  # bytes as the events print them: base64
        (-42, "-42"),
        (18446744073709551615, "18446744073709551615"),
        (datetime.date(2024, 2, 29), "2024-02-29"),
        ("0000-00-00", "0000-00-00"),
        (Decimal("12.50"), "12.50"),
        (["a", "b"], "a,b"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
    ],
)
def test_canonical_text_is_the_value_as_events_print_it(value: Any, text: str) -> None:
    assert canonical_text(value) == text


def test_a_snapshot_value_and_a_stream_value_of_the_same_cell_mask_alike() -> None:
    m = masker("shop.customers.email")
    # the stream has base64 text for binary and ISO text for dates; the snapshot/verify have bytes and dates
    assert m.mask_value(b"\x01\x02") == m.mask_value("AQI=")
    assert m.mask_value(datetime.date(1990, 5, 17)) == m.mask_value("1990-05-17")
    assert m.mask_value(5551234) == m.mask_value("5551234")


def test_change_events_are_masked_in_data_old_and_primary_key_and_lose_their_query() -> None:
    m = masker("shop.customers.email", "shop.customers.id")
    event = change({"id": 1, "email": "new@example.com", "plan": "gold"}, {"email": "ann@example.com"})
    [masked] = m.apply([event])
    assert isinstance(masked, ChangeEvent)
    assert masked.data == {"id": hmac_hex("1"), "email": hmac_hex("new@example.com"), "plan": "gold"}
    assert masked.old == {"email": hmac_hex("ann@example.com")}
    assert masked.primary_key == (hmac_hex("1"),)
    assert masked.query is None  # the SQL text holds the unmasked values
    assert masked.type is Operation.UPDATE and masked.position == POSITION and masked.xoffset == 0


def test_null_stays_null_and_other_tables_are_untouched() -> None:
    m = masker("shop.customers.email")
    [masked, other] = m.apply([change({"id": 2, "email": None}), change({"id": 3, "email": "x@y"}, table="orders")])
    assert isinstance(masked, ChangeEvent) and masked.data == {"id": 2, "email": None}
    assert masked.primary_key == (2,) and masked.query is None
    assert isinstance(other, ChangeEvent) and other.data == {"id": 3, "email": "x@y"}
    assert other.query is not None


def test_column_names_match_case_insensitively_and_a_star_matches_every_table() -> None:
    m = masker("shop.*.EMAIL")
    [a, b] = m.apply([change({"id": 1, "Email": "a@b"}), change({"id": 1, "email": "c@d"}, table="leads")])
    assert isinstance(a, ChangeEvent) and a.data["Email"] == hmac_hex("a@b")
    assert isinstance(b, ChangeEvent) and b.data["email"] == hmac_hex("c@d")


def test_schema_events_declare_masked_columns_as_varchar() -> None:
    m = masker("shop.customers.email")
    schema = SchemaEvent(
        database="shop",
        table="customers",
        ts=1,
        xoffset=0,
        position=POSITION,
        gtid=None,
        server_id=1,
        thread_id=None,
        columns=(ColumnDefinition("id", "int", unsigned=False), ColumnDefinition("email", "text")),
        primary_key_columns=("id",),
    )
    ddl = DdlEvent("shop", "customers", "table-alter", 1, POSITION, None, 1, None, "ALTER TABLE customers ...")
    [masked, same] = m.apply([schema, ddl])
    assert isinstance(masked, SchemaEvent)
    assert masked.columns == (ColumnDefinition("id", "int", unsigned=False), ColumnDefinition("email", "varchar"))
    assert same is ddl


def test_the_masking_sink_hands_the_real_sink_only_masked_events() -> None:
    inner = MemorySink()
    acks: list[int] = []
    sink = MaskingSink(inner, masker("shop.customers.email"))
    sink.send([change({"id": 1, "email": "ann@example.com"})], lambda: acks.append(1))
    sink.flush()
    sink.close()
    [event] = inner.events
    assert isinstance(event, ChangeEvent) and event.data["email"] == hmac_hex("ann@example.com")
    assert acks == [1]
    assert "ann@example.com" not in repr(inner.events)


def test_snapshot_rows_are_masked_after_the_keyset_position_is_taken() -> None:
    columns = (
        ColumnInfo("id", "int", "int(11)"),
        ColumnInfo("email", "varchar", "varchar(80)", char_max_length=80),
        ColumnInfo("photo", "blob", "blob"),
    )
    facts = TableFacts("shop", "customers", columns, ("id",), 2)
    m = masker("shop.customers.email", "shop.customers.photo")
    positions = masked_positions(m, facts)
    assert positions == frozenset({1, 2})
    exported = exported_columns(columns, positions)
    assert [schema_column(c) for c in exported] == [
        ColumnDefinition("id", "int", unsigned=False),
        ColumnDefinition("email", "varchar"),
        ColumnDefinition("photo", "varchar"),
    ]
    assert str(arrow_schema(exported)) == "id: int32\nemail: string\nphoto: string"
    assert type_mapping(exported[1])["originalType"] == "varchar"
    rows = Masking(m, positions).rows([(1, "ann@example.com", b"\x89PNG"), (2, None, None)])
    assert rows == [(1, hmac_hex("ann@example.com"), hmac_hex("iVBORw==")), (2, None, None)]


def test_patterns_must_be_db_table_column() -> None:
    assert parse_mask_columns(" shop.customers.email , shop.*.phone ") == (
        MaskPattern("shop", "customers", "email"),
        MaskPattern("shop", "*", "phone"),
    )
    for bad in ("shop.email", "shop.customers.email.x", "*.customers.email", "shop.customers.*", "shop..email"):
        with pytest.raises(ConfigError, match=r"^--mask-columns \(CDC_MASK_COLUMNS\): expected db.table.column"):
            parse_mask_columns(bad)


def test_the_key_comes_from_the_environment_and_must_be_long_enough() -> None:
    assert load_masker(None, None, {}) is None
    loaded = load_masker("shop.customers.email", None, {"CDC_MASK_KEY": KEY.decode()})
    assert loaded is not None and loaded.mask_value("x") == hmac_hex("x")
    assert KEY.decode() not in repr(loaded)
    with pytest.raises(ConfigError, match="needs a key: set CDC_MASK_KEY or --mask-key-secret-arn"):
        load_masker("shop.customers.email", None, {})
    with pytest.raises(ConfigError, match="CDC_MASK_KEY: the masking key must be at least 16 bytes, got 5"):
        load_masker("shop.customers.email", None, {"CDC_MASK_KEY": "short"})
    with pytest.raises(ConfigError, match="names no column to mask"):
        load_masker(None, "arn:aws:secretsmanager:us-east-1:123456789012:secret:k", {})


COLUMNS = {
    "shop": [
        ("customers", "id", "int"),
        ("customers", "email", "varchar"),
        ("customers", "score", "double"),
        ("customers", "profile", "longtext"),
        ("leads", "email", "varchar"),
    ]
}


def check(*patterns: str) -> None:
    check_mask_columns(
        parse_mask_columns(",".join(patterns)),
        lambda database: COLUMNS.get(database, []),
        lambda database, table: frozenset({"profile"}) if table == "customers" else frozenset(),
    )


def test_every_declared_column_must_exist_and_be_maskable() -> None:
    check("shop.customers.email", "shop.*.email", "shop.customers.ID")
    with pytest.raises(ConfigError, match=r"no column shop.customers.emial on the source \(a misspelt name"):
        check("shop.customers.emial")
    with pytest.raises(ConfigError, match=r"no column other\.t\.c on the source"):
        check("other.t.c")
    with pytest.raises(ConfigError, match=r"shop.customers.score is double; only string, binary, integer and date"):
        check("shop.customers.score")
    with pytest.raises(ConfigError, match=r"shop\.customers\.profile is json"):
        check("shop.customers.profile")
