"""Log output: one line per record, as JSON objects with stable field names or as text, and never a secret.

    configure_logging(level, fmt) -> Redactor    one handler on the root logger (stderr), replaced on a second call
    JsonFormatter   {"ts": "2026-11-23T10:00:00.123Z", "level": "info", "logger": "...", "message": "...",
                     ...fields, "error": "ExcType: message", "traceback": "..."}
    TextFormatter   2026-11-23T10:00:00.123Z info cdc_streamer.streamer message key=value ...
    Redactor        the handler's filter: masks every registered secret (`redactor().add(password)`), URL
                    passwords (scheme://user:***@), password=*** / "password": "***" and IDENTIFIED BY '***'

Structured fields go with the call: `log.info("caught up", extra={"fields": {"lag_seconds": 0.2}})`. A field named
like a reserved key (ts, level, logger, message, error, traceback, stack) is written as `field_<name>`.

The Redactor runs before any formatter: it formats the message and the traceback itself and leaves only masked
text on the record (msg, args=None, fields, exc_text, stack_info), so every handler after it sees masked text.
It masks any non-empty registered string, however short: a one-letter password masks that letter everywhere,
which is ugly but never leaks. Each secret is also masked in its URL-quoted and escaped forms.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from .errors import ConfigError

MASK = "***"
RESERVED = frozenset({"ts", "level", "logger", "message", "error", "traceback", "stack"})
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# Libraries whose debug output is noise or, for botocore, whole response bodies (a GetSecretValue answer).
QUIET_LIBRARIES = ("pymysqlreplication", "botocore", "boto3", "urllib3", "s3transfer")
ERROR_ATTRIBUTE = "cdc_error"  # the record attribute where the Redactor leaves the masked "ExcType: message"
MAX_DEPTH = 20


def timestamp(created: float) -> str:
    """ISO-8601 UTC with milliseconds and Z: 2026-11-23T10:00:00.123Z."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def error_summary(error: BaseException) -> str:
    """`ExcType: message`, or `ExcType` when the message is empty."""
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break logging
        text = "<unprintable>"
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def _fields(record: logging.LogRecord) -> Mapping[Any, Any]:
    fields = record.__dict__.get("fields")
    return fields if isinstance(fields, Mapping) else {}


def _exception(record: logging.LogRecord) -> BaseException | None:
    return record.exc_info[1] if record.exc_info else None


def _plain(value: Any, depth: int = 0) -> Any:
    """Something json.dumps takes whole: string keys, lists, finite numbers; anything else as str."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, depth + 1) for item in value]
    return str(value)


class _Base(logging.Formatter):
    def _traceback(self, record: logging.LogRecord) -> str | None:
        """The record's traceback text; the Redactor's masked one when it ran (Formatter.format caches it too)."""
        if record.exc_info and record.exc_info[1] is None:
            return None  # exc_info=True outside an except block (another formatter may have cached "NoneType: None")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return record.exc_text or None

    @staticmethod
    def _error(record: logging.LogRecord) -> str | None:
        masked = record.__dict__.get(ERROR_ATTRIBUTE)
        if isinstance(masked, str):
            return masked
        error = _exception(record)
        return error_summary(error) if error is not None else None


class JsonFormatter(_Base):
    """One JSON object per line: ts, level, logger, message, the record's fields, error and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            name = str(key)
            while name in RESERVED or name in payload:
                name = f"field_{name}"
            payload[name] = value
        error = self._error(record)
        if error is not None:
            payload["error"] = error
        traceback = self._traceback(record)
        if traceback is not None:
            payload["traceback"] = traceback
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_plain(payload), default=str, ensure_ascii=False)


class TextFormatter(_Base):
    """`ts level logger message key=value ...`, then the traceback on the lines below."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [timestamp(record.created), record.levelname.lower(), record.name, record.getMessage()]
        parts.extend(f"{key}={_text_value(value)}" for key, value in _fields(record).items())
        text = " ".join(parts)
        traceback = self._traceback(record)
        if traceback is not None:
            text += "\n" + traceback
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        if value and not re.search(r"[\s\"'=]", value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | Mapping | list | tuple | set | frozenset):
        return json.dumps(_plain(value), default=str, ensure_ascii=False)
    return str(value)


# scheme://user:PASSWORD@ (the password up to the first @, never across whitespace or a quote)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"'<>]*:)[^\s@\"<>]+@")
_KEY = r"[\w.\-]*?(?:pass(?:word|wd)|pwd|secret_?string)"
_VALUE = r"""(?P<value>\\"(?:(?!\\").)*\\"|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&)}\]'"]+)"""
# "password": "x", 'password': 'x', \"password\":\"x\" (JSON inside JSON)
_QUOTED_KEY = re.compile(rf"""(?P<head>\\?["']{_KEY}\\?["']\s*:\s*){_VALUE}""", re.IGNORECASE)
# password=x, MYSQL_PWD='x'
_ASSIGNED_KEY = re.compile(rf"(?P<head>\b{_KEY}\s*=\s*){_VALUE}", re.IGNORECASE)
# IDENTIFIED BY 'x' (SQL)
_IDENTIFIED_BY = re.compile(r"""(?P<head>\bidentified\s+by\s+)(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.I)


def _mask_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote_mark = next((mark for mark in ('\\"', '"', "'") if value.startswith(mark) and len(value) > 1), "")
    return f"{match['head']}{quote_mark}{MASK}{quote_mark}"


class Redactor(logging.Filter):
    """A handler filter that masks secrets in the message, args, fields, traceback and stack of every record.

    `add()` registers a secret (empty strings are ignored); thread-safe, effective for the next record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._plain_formatter = logging.Formatter()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        forms = {
            secret,
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
            json.dumps(secret, ensure_ascii=False)[1:-1],
            repr(secret)[1:-1],
        }
        with self._lock:
            known = self._secrets | forms
            if known == self._secrets:
                return
            self._secrets = known
            self._pattern = None  # compiled again on the next use, once however many were added

    def _compiled(self) -> re.Pattern[str] | None:
        pattern = self._pattern  # a consistent snapshot, without the lock on the common path
        if pattern is None and self._secrets:
            with self._lock:
                if self._pattern is None:
                    alternatives = sorted(self._secrets, key=len, reverse=True)  # longest first: nested secrets
                    self._pattern = re.compile("|".join(re.escape(text) for text in alternatives))
                pattern = self._pattern
        return pattern

    def __len__(self) -> int:
        return len(self._secrets)

    def clear(self) -> None:
        """Forget every registered secret (tests that run many commands in one process start clean)."""
        with self._lock:
            self._secrets = frozenset()
            self._pattern = None

    def redact(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
        text = _QUOTED_KEY.sub(_mask_value, text)
        text = _ASSIGNED_KEY.sub(_mask_value, text)
        return _IDENTIFIED_BY.sub(_mask_value, text)

    def redact_value(self, value: Any, depth: int = 0) -> Any:
        """Strings masked, recursively in mappings and sequences; other objects become masked strings."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.redact(value)
        if depth < MAX_DEPTH and isinstance(value, Mapping):
            return {
                self.redact_value(key, depth + 1): self.redact_value(item, depth + 1) for key, item in value.items()
            }
        if depth < MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(item, depth + 1) for item in value]
        return self.redact(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must neither raise in the caller nor leak args
            message = f"{record.msg} (unformattable arguments: {record.args!r})"
        record.msg = self.redact(message)
        record.args = None
        if "fields" in record.__dict__:
            record.__dict__["fields"] = self.redact_value(record.__dict__["fields"])
        error = _exception(record)
        if error is not None:
            if not record.exc_text:
                assert record.exc_info is not None
                record.exc_text = self._plain_formatter.formatException(record.exc_info)
            record.__dict__[ERROR_ATTRIBUTE] = self.redact(error_summary(error))
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}

_redactor = Redactor()
_configure_lock = threading.Lock()


class OutputHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs (found again by its class to be replaced). Without a stream it
    writes to whatever `sys.stderr` is at the time, as logging's last-resort handler does."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.follows_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self.follows_stderr:
            self.stream = sys.stderr
        super().emit(record)

    def flush(self) -> None:
        with suppress(ValueError, OSError):  # a stream closed under us (a test's captured stderr)
            super().flush()


def redactor() -> Redactor:
    """The process's Redactor (the one `configure_logging` installs; it exists before that call too)."""
    return _redactor


def configure_logging(level: str = "info", fmt: str = "text", *, stream: TextIO | None = None) -> Redactor:
    """Log `level` and up from every logger to `stream` (stderr) as `fmt` ("text" or "json"), through the
    Redactor. A second call replaces the handler of the first. Handlers others put on the root logger stay,
    and get the Redactor too, so none of them prints a secret."""
    number = LEVELS.get(level.strip().lower())
    if number is None:
        raise ConfigError(f"--log-level (CDC_LOG_LEVEL): one of {' | '.join(LEVELS)}, got {level!r}")
    formatter = FORMATTERS.get(fmt.strip().lower())
    if formatter is None:
        raise ConfigError(f"--log-format (CDC_LOG_FORMAT): one of {' | '.join(FORMATTERS)}, got {fmt!r}")
    handler = OutputHandler(stream)
    handler.setFormatter(formatter())
    handler.addFilter(_redactor)
    root = logging.getLogger()
    with _configure_lock:
        for other in list(root.handlers):
            if isinstance(other, OutputHandler):
                root.removeHandler(other)
                other.flush()
            else:
                other.addFilter(_redactor)
        root.addHandler(handler)
        root.setLevel(number)
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(max(number, logging.WARNING))
    return _redactor


def configure_lambda_logging(level: str = "info") -> Redactor:
    """In a Lambda function: JSON lines through our handler (and its Redactor) only. The runtime installs its own
    root handler, which would print every record a second time as text: it is removed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, OutputHandler):
            root.removeHandler(handler)
    return configure_logging(level, "json")
