"""The local engine: DuckDB running the Athena (Trino) SQL of `merge_sql`, transpiled by sqlglot.

`to_duckdb(sql)` is `sqlglot.transpile(sql, read="trino", write="duckdb")` with every identifier quoted, plus one
rewrite: DuckDB's JSON functions read a number with a fraction through a double (`1.50` becomes `1.5`, and
`12345678901234567890.123456789` loses digits), where Trino's `json_extract_scalar` returns the number's text as
written. So `json_extract_scalar(x, '$["k"]')` becomes `struct_extract(json_transform(x, '{"k": "VARCHAR",
"k#": "DECIMAL(1,0)"}'), 'k')`, which keeps the text (a DECIMAL in the structure makes DuckDB read numbers as raw
text), and `json_extract(x, '$["k"]')` the same with `JSON`, which keeps the nested value's text. tests pin it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from cdc_streamer.errors import RuntimeFailure

LAKE_DATABASE = "lake.duckdb"
LOCK_WAIT_SECONDS = 30.0


def to_duckdb(sql: str) -> str:
    """Trino SQL text -> DuckDB SQL text."""
    tree = sqlglot.parse_one(sql, read="trino")
    tree = tree.transform(_exact_json)
    return tree.sql(dialect="duckdb", identify=True)


def _exact_json(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JSONFormat) and isinstance(node.this, exp.JSONExtract):
        # json_format(json_extract(...)): DuckDB's to_json would print numbers through a double again
        return exp.cast(_exact_json(node.this), "VARCHAR")
    if not isinstance(node, exp.JSONExtractScalar | exp.JSONExtract):
        return node
    key = _top_level_key(node.expression)
    if key is None:
        return node
    kind = "VARCHAR" if isinstance(node, exp.JSONExtractScalar) else "JSON"
    # With a DECIMAL anywhere in the structure DuckDB reads numbers as raw text; without one it reads them as
    # doubles, even into VARCHAR. The second key only switches that on (a distinct name; its value is unused).
    structure = json.dumps({key: kind, key + "#": "DECIMAL(1,0)"}, ensure_ascii=False)
    transformed = exp.Anonymous(this="json_transform", expressions=[node.this, exp.Literal.string(structure)])
    return exp.Anonymous(this="struct_extract", expressions=[transformed, exp.Literal.string(key)])


def _top_level_key(path: exp.Expression) -> str | None:
    """The key of a `$["key"]` path as sqlglot parsed it (it unescapes `\\"` but keeps `\\\\`)."""
    if not isinstance(path, exp.JSONPath):
        return None
    parts = path.expressions
    if len(parts) != 2 or not isinstance(parts[0], exp.JSONPathRoot) or not isinstance(parts[1], exp.JSONPathKey):
        return None
    key = parts[1].this
    return key.replace("\\\\", "\\") if isinstance(key, str) else None


def create_database(path: Path) -> None:
    """Create an empty DuckDB file at `path` all at once, unless one is there. DuckDB creates a new file, then
    writes its headers: a process killed in between leaves a file that no one can open again ("not a valid DuckDB
    database file"). So it is made under a hidden temp name and linked into place (never over a file another
    process created meanwhile)."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        duckdb.connect(str(temp)).close()
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    except (duckdb.Error, OSError) as error:
        detail = " ".join(str(error).replace(str(temp), str(path)).split())
        raise RuntimeFailure(f"cannot create {path}: {detail}") from None
    finally:
        temp.unlink(missing_ok=True)


class DuckDB:
    """A connection to the lake's DuckDB file. A second writer waits for the lock (a compaction in progress),
    up to LOCK_WAIT_SECONDS, then fails with one line."""

    def __init__(self, path: Path, *, read_only: bool = False, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path = path
        if not read_only and not str(path).startswith(":memory:") and not path.exists():
            create_database(path)
        deadline = time.monotonic() + wait
        while True:
            try:
                self.connection = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                    raise RuntimeFailure(f"cannot open {path}: {' '.join(str(error).split())}") from None
                time.sleep(0.2)
        self.connection.execute("SET TimeZone = 'UTC'")

    def run(self, trino_sql: str) -> list[tuple[Any, ...]]:
        """Run Trino SQL (transpiled); the rows it returns."""
        return self.native(to_duckdb(trino_sql))

    def native(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run DuckDB SQL as is."""
        cursor = self.connection.execute(sql, parameters or [])
        try:
            return cursor.fetchall()
        except duckdb.InvalidInputException:  # a statement without a result set
            return []

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> DuckDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
