"""`cdc-lake query`: SQL on the local lake (master tables, `_live` views, `cdc_lake.raw_events`), printed as a
table, CSV or JSON lines. Values print exactly: DECIMAL with all its digits, timestamps in ISO form, bytes base64.
"""

from __future__ import annotations

import base64
import csv
import datetime
import decimal
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlglot.errors import SqlglotError

from cdc_streamer.encoding import encode_value
from cdc_streamer.errors import ConfigError, RuntimeFailure

from .duckdb_engine import LAKE_DATABASE, DuckDB, to_duckdb

FORMATS = ("table", "csv", "json")
DIALECTS = ("duckdb", "athena")


def run_query(lake_dir: Path, sql: str, dialect: str = "duckdb") -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `sql` on the lake's DuckDB file, opened read-only. `dialect` athena: the SQL is
    Athena's (Trino) and is transpiled first, as the merge SQL is."""
    path = lake_dir / LAKE_DATABASE
    if not path.is_file():
        raise ConfigError(f"--lake-dir: {lake_dir} has no {LAKE_DATABASE} yet: run `cdc-lake compact` first")
    if not sql.strip():
        raise ConfigError("query: the SQL is empty")
    with DuckDB(path, read_only=True) as engine:
        try:
            text = to_duckdb(sql) if dialect == "athena" else sql
        except SqlglotError as error:
            raise ConfigError(f"query: {' '.join(str(error).split())}") from None
        try:
            cursor = engine.connection.execute(text)
            names = [column[0] for column in cursor.description or []]
            rows = cursor.fetchall() if cursor.description else []
        except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as error:
            raise ConfigError(f"query: {' '.join(str(error).split())}") from None
        except duckdb.Error as error:
            raise RuntimeFailure(f"query failed: {' '.join(str(error).split())}") from None
    return names, rows


def plain(value: Any) -> Any:
    """A value as JSON can carry it, exactly."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    if value is None:
        return "NULL"
    value = plain(value)
    if isinstance(value, str):
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return encode_value(value)


def render(names: Sequence[str], rows: Sequence[tuple[Any, ...]], output_format: str) -> str:
    if output_format == "json":
        return "".join(encode_value(dict(zip(names, map(plain, row), strict=True))) + "\n" for row in rows)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if value is None else _text(value) for value in row] for row in rows])
        return buffer.getvalue()
    cells = [[_text(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    lines = [
        " | ".join(name.ljust(width) for name, width in zip(names, widths, strict=True)).rstrip(),
        "-+-".join("-" * width for width in widths),
    ]
    lines += [" | ".join(c.ljust(width) for c, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"
