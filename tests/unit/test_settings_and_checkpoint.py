"""Tests for cdc_streamer.settings (URL, table filter) and cdc_streamer.checkpoint (checkpoint stores)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cdc_streamer.checkpoint import Checkpoint, FileCheckpointStore, NoCheckpointStore, open_store
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl, TableFilter, mask_url, split_list

SECRET = "s3cr3tPW"

# --- MySQLUrl ------------------------------------------------------------------------------------------------


def test_parse_full_url() -> None:
    url = MySQLUrl.parse(f"mysql://cdc:{SECRET}@db.example.com:3307")
    assert (url.host, url.port, url.user, url.password) == ("db.example.com", 3307, "cdc", SECRET)
    assert url.address == "db.example.com:3307"


def test_parse_default_port() -> None:
    assert MySQLUrl.parse("mysql://cdc:pw@db").port == 3306


@pytest.mark.parametrize("port", [1, 3306, 65535])
def test_parse_explicit_ports(port: int) -> None:
    assert MySQLUrl.parse(f"mysql://cdc:pw@db:{port}").port == port


@pytest.mark.parametrize("scheme", ["mysql", "mariadb", "aurora-mysql"])
def test_parse_accepted_schemes(scheme: str) -> None:
    assert MySQLUrl.parse(f"{scheme}://cdc:pw@db").host == "db"


def test_parse_strips_whitespace() -> None:
    assert MySQLUrl.parse("  mysql://cdc:pw@db:3307\n").address == "db:3307"


def test_parse_without_password() -> None:
    url = MySQLUrl.parse("mysql://cdc@db")
    assert (url.user, url.password) == ("cdc", "")


def test_parse_ipv6_host() -> None:
    url = MySQLUrl.parse("mysql://cdc:pw@[::1]:3307")
    assert (url.host, url.port) == ("::1", 3307)


@pytest.mark.parametrize(
    ("encoded", "password"),
    [
        ("p%40ss", "p@ss"),
        ("a%3Ab", "a:b"),
        ("a%2Fb", "a/b"),
        ("%40%3A%2F%3F%23%25", "@:/?#%"),
        ("sp%20ace", "sp ace"),
    ],
)
def test_parse_url_encoded_password(encoded: str, password: str) -> None:
    assert MySQLUrl.parse(f"mysql://cdc:{encoded}@db:3306").password == password


def test_parse_raw_at_and_colon_in_password() -> None:
    assert MySQLUrl.parse("mysql://cdc:p@s:s@db:3306").password == "p@s:s"


def test_parse_url_encoded_user() -> None:
    assert MySQLUrl.parse("mysql://us%40er:pw@db").user == "us@er"


@pytest.mark.parametrize("text", [None, ""])
def test_parse_missing_url(text: str | None) -> None:
    with pytest.raises(ConfigError, match=r"^--mysql-url \(CDC_MYSQL_URL\) is required"):
        MySQLUrl.parse(text)


@pytest.mark.parametrize("text", ["mysql://db:3306", f"mysql://:{SECRET}@db:3306"])
def test_parse_missing_user(text: str) -> None:
    with pytest.raises(ConfigError, match="no user name") as caught:
        MySQLUrl.parse(text)
    assert SECRET not in caught.value.message


@pytest.mark.parametrize(
    "text", [f"http://cdc:{SECRET}@db", f"postgres://cdc:{SECRET}@db:5432", f"cdc:{SECRET}@db", "db:3306"]
)
def test_parse_bad_scheme(text: str) -> None:
    with pytest.raises(ConfigError, match="expected mysql://user:password@host:port") as caught:
        MySQLUrl.parse(text)
    assert SECRET not in caught.value.message


def test_parse_bad_scheme_message_shows_the_masked_url() -> None:
    with pytest.raises(ConfigError) as caught:
        MySQLUrl.parse(f"http://cdc:{SECRET}@db")
    assert "'http://cdc:***@db'" in caught.value.message


def test_parse_missing_host() -> None:
    with pytest.raises(ConfigError) as caught:
        MySQLUrl.parse(f"mysql://cdc:{SECRET}@")
    assert SECRET not in caught.value.message


@pytest.mark.parametrize("port", ["abc", "99999", "-1", "33o6"])
def test_parse_bad_port(port: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MySQLUrl.parse(f"mysql://cdc:{SECRET}@db:{port}")
    assert SECRET not in caught.value.message
    assert "expected mysql://user:password@host:port" in caught.value.message


def test_parse_error_names_a_custom_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--target-url: "):
        MySQLUrl.parse("http://db", flag="--target-url")


@pytest.mark.parametrize("separator", ["#", "/", "?"])
def test_parse_error_never_echoes_an_unencoded_password(separator: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MySQLUrl.parse(f"mysql://cdc:{SECRET}{separator}x@db:3306")
    assert SECRET not in caught.value.message


def test_str_and_repr_hide_the_password() -> None:
    url = MySQLUrl.parse(f"mysql://cdc:{SECRET}@db:3307")
    assert str(url) == "mysql://cdc:***@db:3307"
    assert SECRET not in repr(url)
    assert "password" not in repr(url)


@given(st.text(min_size=4, max_size=30))
def test_any_password_round_trips_and_never_shows(password: str) -> None:
    url = MySQLUrl.parse(f"mysql://cdc:{quote(password, safe='')}@db.internal:3307")
    shown = (str(url), repr(url))
    assume(not any(password in text for text in ("mysql://cdc:***@db.internal:3307", repr(url))))
    assert url.password == password
    assert all(password not in text for text in shown)


# --- mask_url ------------------------------------------------------------------------------------------------


def test_mask_url_replaces_the_password() -> None:
    assert mask_url(f"mysql://cdc:{SECRET}@db:3306") == "mysql://cdc:***@db:3306"


def test_mask_url_replaces_an_encoded_password() -> None:
    assert mask_url("mysql://cdc:p%40ss@db") == "mysql://cdc:***@db"


def test_mask_url_without_credentials_is_unchanged() -> None:
    assert mask_url("mysql://db:3306") == "mysql://db:3306"
    assert mask_url("db:3306") == "db:3306"


def test_mask_url_with_user_but_no_password_is_unchanged() -> None:
    assert mask_url("mysql://cdc@db:3306") == "mysql://cdc@db:3306"


def test_mask_url_unparseable_with_credentials_is_hidden() -> None:
    assert mask_url(f"mysql://cdc:{SECRET}@[::1") == "<unparseable URL>"


def test_mask_url_unparseable_without_at_sign_is_unchanged() -> None:
    assert mask_url("mysql://[::1") == "mysql://[::1"


# --- TableFilter ---------------------------------------------------------------------------------------------


def test_split_list_drops_blanks() -> None:
    assert split_list(" a , ,b,, ") == ["a", "b"]
    assert split_list(None) == []


def test_parse_patterns() -> None:
    assert TableFilter.parse_patterns(" shop.orders , logs.* ,", "--include-tables") == (
        ("shop", "orders"),
        ("logs", "*"),
    )


@pytest.mark.parametrize("text", [None, "", " , "])
def test_parse_patterns_empty(text: str | None) -> None:
    assert TableFilter.parse_patterns(text, "--include-tables") == ()


@pytest.mark.parametrize("item", ["shop", "shop.", ".orders", "shop.orders.id", "."])
def test_parse_patterns_rejects_malformed_items(item: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TableFilter.parse_patterns(f"ok.table,{item}", "--exclude-tables")
    assert caught.value.message.startswith("--exclude-tables: ")
    assert repr(item) in caught.value.message


def test_parse_columns() -> None:
    assert TableFilter.parse_columns("shop.users.password, shop.users.ssn", "--exclude-columns") == frozenset(
        {("shop", "users", "password"), ("shop", "users", "ssn")}
    )


def test_parse_columns_empty() -> None:
    assert TableFilter.parse_columns(None, "--exclude-columns") == frozenset()


@pytest.mark.parametrize("item", ["shop.users", "shop..ssn", ".users.ssn", "shop.users.", "a.b.c.d"])
def test_parse_columns_rejects_malformed_items(item: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TableFilter.parse_columns(item, "--exclude-columns")
    assert caught.value.message.startswith("--exclude-columns: ")
    assert repr(item) in caught.value.message


def test_wants_everything_without_patterns() -> None:
    assert TableFilter().wants("any", "table")


def test_wants_only_included_tables() -> None:
    table_filter = TableFilter(include=(("shop", "orders"),))
    assert table_filter.wants("shop", "orders")
    assert not table_filter.wants("shop", "users")
    assert not table_filter.wants("other", "orders")


def test_wants_included_wildcard() -> None:
    table_filter = TableFilter(include=(("shop", "*"),))
    assert table_filter.wants("shop", "orders")
    assert table_filter.wants("shop", "users")
    assert not table_filter.wants("shopx", "orders")


def test_wants_excludes() -> None:
    table_filter = TableFilter(exclude=(("shop", "audit"), ("tmp", "*")))
    assert table_filter.wants("shop", "orders")
    assert not table_filter.wants("shop", "audit")
    assert not table_filter.wants("tmp", "anything")


def test_exclude_wins_over_include() -> None:
    table_filter = TableFilter(include=(("shop", "*"),), exclude=(("shop", "audit"),))
    assert table_filter.wants("shop", "orders")
    assert not table_filter.wants("shop", "audit")


def test_wants_is_case_sensitive() -> None:
    assert not TableFilter(include=(("shop", "orders"),)).wants("Shop", "Orders")


def test_star_is_only_a_table_wildcard() -> None:
    assert not TableFilter(include=(("*", "orders"),)).wants("shop", "orders")


def test_columns_excluded() -> None:
    table_filter = TableFilter(
        excluded_columns=frozenset({("shop", "users", "ssn"), ("shop", "users", "pw"), ("shop", "orders", "x")})
    )
    assert table_filter.columns_excluded("shop", "users") == frozenset({"ssn", "pw"})
    assert table_filter.columns_excluded("shop", "orders") == frozenset({"x"})
    assert table_filter.columns_excluded("other", "users") == frozenset()


# --- Checkpoint ----------------------------------------------------------------------------------------------

CHECKPOINT = Checkpoint(BinlogPosition("binlog.000042", 1234), "0-1-99", 7)


def test_checkpoint_json_round_trip() -> None:
    assert Checkpoint.from_json(CHECKPOINT.to_json(), origin="test") == CHECKPOINT


def test_checkpoint_json_round_trip_without_gtid() -> None:
    checkpoint = Checkpoint(BinlogPosition("binlog.1000000", 4))
    assert Checkpoint.from_json(checkpoint.to_json(), origin="test") == checkpoint


def test_checkpoint_json_fields() -> None:
    data = json.loads(CHECKPOINT.to_json())
    assert data["position"] == "binlog.000042:1234"
    assert (data["file"], data["offset"], data["gtid"], data["server_id"]) == ("binlog.000042", 1234, "0-1-99", 7)
    assert data["saved_at"].endswith("+00:00")


def test_checkpoint_from_minimal_json() -> None:
    checkpoint = Checkpoint.from_json('{"file": "binlog.000001", "offset": "4"}', origin="test")
    assert checkpoint == Checkpoint(BinlogPosition("binlog.000001", 4))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "null",
        "42",
        '"text"',
        '{"file": "binlog.000001"}',
        '{"offset": 4}',
        '{"file": "b", "offset": "x"}',
    ],
)
def test_checkpoint_unreadable_json_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Checkpoint.from_json(text, origin="/var/lib/cdc/pos.json")
    assert "checkpoint /var/lib/cdc/pos.json is unreadable" in caught.value.message


# --- checkpoint stores ---------------------------------------------------------------------------------------


def test_no_store_remembers_nothing() -> None:
    store = NoCheckpointStore()
    store.save(CHECKPOINT)
    assert store.load() is None


def test_file_store_load_without_file_is_none(tmp_path: Path) -> None:
    assert FileCheckpointStore(tmp_path / "pos.json").load() is None


def test_file_store_save_then_load(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "pos.json")
    store.save(CHECKPOINT)
    assert store.load() == CHECKPOINT
    assert FileCheckpointStore(tmp_path / "pos.json").load() == CHECKPOINT


def test_file_store_save_replaces_the_previous_checkpoint(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "pos.json")
    store.save(CHECKPOINT)
    newer = Checkpoint(BinlogPosition("binlog.000043", 4), "0-1-100", 7)
    store.save(newer)
    assert store.load() == newer


def test_file_store_writes_one_json_line(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "pos.json")
    store.save(CHECKPOINT)
    text = (tmp_path / "pos.json").read_text()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert json.loads(text)["position"] == "binlog.000042:1234"


def test_file_store_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "pos.json")
    for offset in range(5):
        store.save(Checkpoint(BinlogPosition("binlog.000001", offset)))
    assert sorted(os.listdir(tmp_path)) == ["pos.json"]


def test_file_store_failed_replace_keeps_the_old_checkpoint_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileCheckpointStore(tmp_path / "pos.json")
    store.save(CHECKPOINT)

    def failing_replace(source: str, target: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(RuntimeFailure, match=r"cannot save checkpoint to .*pos\.json: Input/output error"):
        store.save(Checkpoint(BinlogPosition("binlog.000099", 4)))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["pos.json"]
    assert store.load() == CHECKPOINT


def test_file_store_unreadable_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pos.json"
    path.write_text("{truncated")
    with pytest.raises(ConfigError, match="is unreadable"):
        FileCheckpointStore(path).load()


def test_file_store_path_that_is_a_directory_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "pos.json").mkdir()
    with pytest.raises(ConfigError, match="cannot read checkpoint"):
        FileCheckpointStore(tmp_path / "pos.json").load()


def test_file_store_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as caught:
        FileCheckpointStore(tmp_path / "missing" / "pos.json")
    assert caught.value.message.startswith("--position-store (CDC_POSITION_STORE): cannot write ")


def test_file_store_parent_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ConfigError, match="does not exist"):
        FileCheckpointStore(tmp_path / "plain" / "pos.json")


def test_open_store_file(tmp_path: Path) -> None:
    store = open_store(f"file:{tmp_path / 'pos.json'}")
    assert isinstance(store, FileCheckpointStore)
    assert store.path == tmp_path / "pos.json"


def test_open_store_file_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_store(f"file:{tmp_path / 'missing' / 'pos.json'}")


def test_open_store_none() -> None:
    assert isinstance(open_store("none"), NoCheckpointStore)


@pytest.mark.parametrize("spec", ["", "junk", "file:", "file", "none:x", "dynamodb:", "FILE:/tmp/x"])
def test_open_store_junk_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"expected file:PATH, dynamodb:TABLE\[/KEY\] or none") as caught:
        open_store(spec)
    assert repr(spec) in caught.value.message
