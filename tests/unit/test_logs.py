"""cdc_streamer.logs: JSON and text lines with stable field names, and secrets masked everywhere a record carries
text (message, arguments, fields, exception, stack)."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from cdc_streamer.errors import ConfigError
from cdc_streamer.logs import (
    QUIET_LIBRARIES,
    JsonFormatter,
    OutputHandler,
    Redactor,
    TextFormatter,
    configure_logging,
    redactor,
    timestamp,
)

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
log = logging.getLogger("cdc_streamer.streamer")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream to configure logging with; the root logger is put back as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield io.StringIO()
    for handler in list(root.handlers):
        if isinstance(handler, OutputHandler):
            root.removeHandler(handler)
    for handler in handlers:
        handler.removeFilter(redactor())
    root.setLevel(level)
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def our_handlers() -> list[logging.Handler]:
    return [handler for handler in logging.getLogger().handlers if isinstance(handler, OutputHandler)]


# --- JSON ------------------------------------------------------------------------------------------------------


def test_json_lines_have_stable_names(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    log.debug("not at info")
    log.info("caught up at %s", "binlog.000001:4")
    log.warning("lagging")
    first, second = json_lines(stream)
    assert list(first) == ["ts", "level", "logger", "message"]
    assert re.fullmatch(TS, first["ts"])
    assert first["level"] == "info"
    assert first["logger"] == "cdc_streamer.streamer"
    assert first["message"] == "caught up at binlog.000001:4"
    assert second["level"] == "warning"


def test_timestamp_is_utc_with_milliseconds() -> None:
    moment = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC).timestamp()
    assert timestamp(moment) == "2026-11-23T10:00:00.123Z"


def test_fields_merge_at_the_top_without_overriding_reserved_keys(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    when = datetime(2026, 1, 2, tzinfo=UTC)
    fields: dict[object, object] = {
        "rows": 3,
        "lag_seconds": 0.25,
        "table": "shop.orders",
        "nested": {"a": [1, None]},
        "when": when,
    }
    conflicting: dict[object, object] = {"message": "mine", "level": "x", "error": "e", 7: "seven"}
    log.info("progress", extra={"fields": {**fields, **conflicting}})
    (line,) = json_lines(stream)
    assert line["message"] == "progress"
    assert line["level"] == "info"
    assert (line["field_message"], line["field_level"], line["field_error"]) == ("mine", "x", "e")
    assert line["rows"] == 3
    assert line["lag_seconds"] == 0.25
    assert line["nested"] == {"a": [1, None]}
    assert line["when"] == str(when)
    assert line["7"] == "seven"
    assert "error" not in line


def test_json_is_one_line_and_keeps_unicode(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    log.info("multi\nline é", extra={"fields": {"value": float("nan"), "text": "a\nb"}})
    assert stream.getvalue().count("\n") == 1
    assert "é" in stream.getvalue()
    (line,) = json_lines(stream)
    assert (line["message"], line["value"], line["text"]) == ("multi\nline é", "nan", "a\nb")


def test_exception_has_error_and_traceback_with_the_secret_masked(stream: io.StringIO) -> None:
    secret = redactor()
    configure_logging("info", "json", stream=stream)
    secret.add("tok-9d1e-secret")
    try:
        raise ValueError("bad login with tok-9d1e-secret")
    except ValueError:
        log.exception("connect failed")
    (line,) = json_lines(stream)
    assert line["message"] == "connect failed"
    assert line["level"] == "error"
    assert line["error"] == "ValueError: bad login with ***"
    assert line["traceback"].startswith("Traceback (most recent call last)")
    assert line["traceback"].endswith("ValueError: bad login with ***")
    assert "tok-9d1e-secret" not in stream.getvalue()


def test_exception_without_message_and_exc_info_without_exception(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    try:
        raise KeyError
    except KeyError:
        log.error("lookup", exc_info=True)
    log.error("no exception here", exc_info=True)
    first, second = json_lines(stream)
    assert first["error"] == "KeyError"
    assert "error" not in second
    assert "traceback" not in second


def test_stack_info_is_included(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    log.info("where", stack_info=True)
    (line,) = json_lines(stream)
    assert line["stack"].startswith("Stack (most recent call last)")


# --- text ------------------------------------------------------------------------------------------------------


def test_text_line(stream: io.StringIO) -> None:
    configure_logging("info", "text", stream=stream)
    fields = {"rows": 3, "table": "shop.orders", "note": "two words", "flag": True, "none": None, "ids": [1, 2]}
    log.info("progress", extra={"fields": fields})
    assert re.fullmatch(
        rf'{TS} info cdc_streamer\.streamer progress rows=3 table=shop\.orders note="two words" flag=true '
        r"none=null ids=\[1, 2\]\n",
        stream.getvalue(),
    )


def test_text_exception_follows_on_the_next_lines(stream: io.StringIO) -> None:
    configure_logging("warning", "text", stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.warning("retrying", exc_info=True)
    first, *rest = stream.getvalue().splitlines()
    assert re.fullmatch(rf"{TS} warning cdc_streamer\.streamer retrying", first)
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: boom"


def test_formatters_work_without_the_redactor() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    record.__dict__["fields"] = {"k": "v"}
    assert json.loads(JsonFormatter().format(record))["k"] == "v"
    assert TextFormatter().format(record).endswith(" info x a b k=v")


# --- configuration ---------------------------------------------------------------------------------------------


def test_configuring_twice_keeps_one_handler(stream: io.StringIO) -> None:
    first = configure_logging("info", "json", stream=stream)
    second_stream = io.StringIO()
    second = configure_logging("info", "text", stream=second_stream)
    assert first is second is redactor()
    assert len(our_handlers()) == 1
    log.info("once")
    assert stream.getvalue() == ""
    assert second_stream.getvalue().count("once") == 1


def test_default_stream_is_stderr_at_the_time_of_writing(
    stream: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "text")
    log.info("to stderr")
    assert "to stderr" in capsys.readouterr().err


def test_reconfiguring_after_the_old_stream_was_closed(stream: io.StringIO) -> None:
    closed = io.StringIO()
    configure_logging("info", "text", stream=closed)
    closed.close()
    configure_logging("info", "text", stream=stream)
    log.info("still logging")
    assert "still logging" in stream.getvalue()


def test_level_and_quiet_libraries(stream: io.StringIO) -> None:
    configure_logging("debug", "text", stream=stream)
    assert logging.getLogger().level == logging.DEBUG
    assert logging.getLogger("botocore").level == logging.WARNING  # its debug output holds response bodies
    log.debug("visible")
    logging.getLogger("botocore.endpoint").debug("Response body: secret")
    assert "visible" in stream.getvalue()
    assert "Response body" not in stream.getvalue()


@pytest.mark.parametrize(("level", "fmt", "flag"), [("loud", "text", "--log-level"), ("info", "xml", "--log-format")])
def test_unknown_level_or_format(level: str, fmt: str, flag: str) -> None:
    with pytest.raises(ConfigError, match=flag) as raised:
        configure_logging(level, fmt, stream=io.StringIO())
    assert raised.value.exit_code == 2


def test_other_root_handlers_get_the_redactor_too(stream: io.StringIO) -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    root = logging.getLogger()
    collect = Collect()
    root.addHandler(collect)  # before ours: it would see the record first
    try:
        configure_logging("info", "text", stream=stream).add("other-handler-secret")
        log.info("pw %s", "other-handler-secret")
    finally:
        root.removeHandler(collect)
    assert seen == ["pw ***"]


# --- redaction -------------------------------------------------------------------------------------------------


def test_secret_added_after_configure_is_masked_everywhere(stream: io.StringIO) -> None:
    configure_logging("info", "json", stream=stream)
    secret = "late-added-4b2f"
    log.info("before %s", secret)
    redactor().add(secret)
    log.info(
        "after %s and %r",
        secret,
        {"pw": secret},
        extra={"fields": {"pw": secret, "list": [f"x{secret}x"], "nested": {"deep": (secret,)}, secret: 1}},
    )
    before, after = json_lines(stream)
    assert before["message"] == f"before {secret}"  # not registered yet
    assert after["message"] == "after *** and {'pw': '***'}"
    assert (after["pw"], after["list"], after["nested"]) == ("***", ["x***x"], {"deep": ["***"]})
    assert after["***"] == 1
    assert secret not in json.dumps(after)


def test_secret_in_its_quoted_and_escaped_forms() -> None:
    redact = Redactor(["p@ss:/w?rd#%", 'quo"te\\back']).redact
    assert redact("url mysql://cdc:" + quote("p@ss:/w?rd#%", safe="") + "@db") == "url mysql://cdc:***@db"
    assert redact("form pw=" + "p%40ss%3A%2Fw%3Frd%23%25") == "form pw=***"
    assert redact(json.dumps({"k": 'quo"te\\back'})) == '{"k": "***"}'
    assert redact(repr(['quo"te\\back'])) == "['***']"


def test_longest_secret_first() -> None:
    assert Redactor(["abcd", "abcdefgh"]).redact("abcdefgh") == "***"


def test_empty_secrets_are_ignored_short_ones_are_not() -> None:
    redactor_ = Redactor()
    redactor_.add("")
    redactor_.add(None)
    assert len(redactor_) == 0
    redactor_.add("xy")
    assert redactor_.redact("axyb") == "a***b"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mysql://cdc:hunter2@db:3306/x", "mysql://cdc:***@db:3306/x"),
        ("connecting to aurora-mysql://cdc:p%40ss@db now", "connecting to aurora-mysql://cdc:***@db now"),
        ("postgresql://:only-pw@db", "postgresql://:***@db"),
        ("password=hunter2 user=cdc", "password=*** user=cdc"),
        ("MYSQL_PWD='hunter 2' next", "MYSQL_PWD='***' next"),
        ("--mysql-password=hunter2,", "--mysql-password=***,"),
        ('{"password": "hun\\"ter2", "user": "cdc"}', '{"password": "***", "user": "cdc"}'),
        ("{'db_password': 'hunter2'}", "{'db_password': '***'}"),
        ('{"SecretString":"{\\"username\\":\\"cdc\\",\\"password\\":\\"hunter2\\"}"}', None),
        ("CREATE USER x IDENTIFIED BY 'hunter2'", "CREATE USER x IDENTIFIED BY '***'"),
        ("check the user and password in --mysql-url", "check the user and password in --mysql-url"),
        ("wrong password: access denied", "wrong password: access denied"),
        ("s3://bucket/prefix/key", "s3://bucket/prefix/key"),
        ("mysql://cdc@db:3306", "mysql://cdc@db:3306"),
        ("cannot connect to 127.0.0.1:3306", "cannot connect to 127.0.0.1:3306"),
        ("mysql://cdc:***@db:3306", "mysql://cdc:***@db:3306"),
        ("password=***", "password=***"),
    ],
)
def test_generic_patterns(text: str, masked: str | None) -> None:
    result = Redactor().redact(text)
    if masked is None:
        assert "hunter2" not in result
    else:
        assert result == masked


def test_unformattable_arguments_do_not_raise(stream: io.StringIO) -> None:
    configure_logging("info", "text", stream=stream)
    redactor().add("arg-secret-31c8")
    log.info("%d rows", "arg-secret-31c8")
    assert "unformattable arguments" in stream.getvalue()
    assert "arg-secret-31c8" not in stream.getvalue()


def test_add_is_thread_safe() -> None:
    shared = Redactor()
    secrets = [[f"thread{t}-secret{i:03d}" for i in range(100)] for t in range(8)]

    def add_all(batch: list[str]) -> None:
        for secret in batch:
            shared.add(secret)

    threads = [threading.Thread(target=add_all, args=(batch,)) for batch in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = " ".join(s for batch in secrets for s in batch)
    assert set(shared.redact(text).split()) == {"***"}
