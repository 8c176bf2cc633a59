"""Classify the SQL text of a binlog QUERY event into schema changes.

``classify_ddl(sql, default_database)`` names the change the way Maxwell's Daemon names DDL events
(``database-create``, ``table-alter``, ...). It is a small tokenizer (words, quoted identifiers,
strings, punctuation; comments dropped, the content of ``/*! ... */`` and ``/*M! ... */`` kept) plus
keyword matching on the leading tokens. It only reads the statement's head: it does not validate the
rest of the SQL. Anything it does not recognise as a table or database change gives ``[]``.

An ``ALTER TABLE a ... RENAME TO b`` that also changes something else gives a ``table-rename``
followed by a ``table-alter`` of the new name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DdlChange:
    """One schema change: a Maxwell DDL event type and the objects it applies to."""

    kind: str
    database: str
    table: str | None
    new_database: str | None = None
    new_table: str | None = None


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word" (keyword or bare identifier), "ident" (`x` or "x"), "string" ('x'), "punct"
    text: str


# ALTER DATABASE options; a reserved one can never be the (optional) database name.
_RESERVED_DB_OPTIONS = frozenset({"CHARACTER", "COLLATE", "DEFAULT", "READ"})
_DB_OPTIONS = _RESERVED_DB_OPTIONS | {"CHARSET", "COMMENT", "ENCRYPTION"}
# ALTER TABLE ... RENAME {COLUMN|INDEX|KEY|CONSTRAINT} renames something inside the table.
_NOT_TABLE_RENAME = ("COLUMN", "INDEX", "KEY", "CONSTRAINT")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) > 0x7F


def _skip_comment(sql: str, i: int) -> int:
    """Return the index just past a plain comment starting at ``i``, or ``i`` if there is none."""
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    if sql.startswith("#", i) or (sql.startswith("--", i) and (i + 2 == len(sql) or sql[i + 2].isspace())):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    return i


def _read_quoted(sql: str, start: int) -> tuple[str, int]:
    """Read the quoted text at ``start``; return its unescaped content and the index past it."""
    quote, i = sql[start], start + 1
    parts: list[str] = []
    while i < len(sql):
        ch = sql[i]
        if ch == quote and not sql.startswith(quote, i + 1):
            return "".join(parts), i + 1
        if (ch == quote or (ch == "\\" and quote != "`")) and i + 1 < len(sql):
            ch, i = sql[i + 1], i + 1  # a doubled quote, or a backslash escape in a string
        parts.append(ch)
        i += 1
    return "".join(parts), i


def _tokenize(sql: str) -> Iterator[_Token]:
    """Yield the tokens of ``sql`` lazily: most statements are decided by their first word."""
    i, in_executable = 0, False
    while i < len(sql):
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif in_executable and sql.startswith("*/", i):
            i, in_executable = i + 2, False
        elif sql.startswith(("/*!", "/*M!"), i):
            i = sql.index("!", i) + 1
            while i < len(sql) and sql[i].isdigit():
                i += 1
            in_executable = True
        elif (after := _skip_comment(sql, i)) != i:
            i = after
        elif ch in "`\"'":
            text, i = _read_quoted(sql, i)
            yield _Token("string" if ch == "'" else "ident", text)
        elif _is_word_char(ch):
            start = i
            while i < len(sql) and _is_word_char(sql[i]):
                i += 1
            yield _Token("word", sql[start:i])
        else:
            yield _Token("punct", ch)
            i += 1


class _Cursor:
    """A position in a lazily read token stream, with the keyword and name matchers the statement parsers use."""

    def __init__(self, tokens: Iterable[_Token], default_database: str) -> None:
        self._source = iter(tokens)
        self._read: list[_Token] = []
        self.pos = 0
        self.default_database = default_database

    def at(self, offset: int = 0) -> _Token | None:
        """The token ``offset`` tokens ahead, or None past the end."""
        while len(self._read) <= self.pos + offset:
            token = next(self._source, None)
            if token is None:
                return None
            self._read.append(token)
        return self._read[self.pos + offset]

    def rest(self) -> list[_Token]:
        self._read.extend(self._source)
        return self._read[self.pos :]

    def word(self, offset: int = 0) -> str | None:
        """The upper-cased bare word ``offset`` tokens ahead, or None if that is not a bare word."""
        token = self.at(offset)
        return token.text.upper() if token is not None and token.kind == "word" else None

    def keywords(self, *sequence: str) -> bool:
        """Consume ``sequence`` of keywords if the input continues with all of them."""
        if all(self.word(k) == keyword for k, keyword in enumerate(sequence)):
            self.pos += len(sequence)
            return True
        return False

    def one_of(self, *choices: str) -> str | None:
        """Consume and return the next keyword if it is one of ``choices``."""
        found = self.word()
        if found in choices:
            self.pos += 1
            return found
        return None

    def punct(self, ch: str) -> bool:
        if self.at() == _Token("punct", ch):
            self.pos += 1
            return True
        return False

    def name(self) -> str | None:
        """Consume an identifier, bare or quoted."""
        token = self.at()
        if token is None or token.kind not in ("word", "ident"):
            return None
        self.pos += 1
        return token.text or None

    def table(self) -> tuple[str, str] | None:
        """Consume ``name`` or ``db.name``; return ``(database, table)``."""
        first = self.name()
        if first is None or not self.punct("."):
            return None if first is None else (self.default_database, first)
        second = self.name()
        return None if second is None else (first, second)

    def skip_wait(self) -> None:
        """Skip MariaDB's ``WAIT n`` / ``NOWAIT`` lock-timeout clause."""
        if self.keywords("WAIT"):
            self.pos += 1
        else:
            self.keywords("NOWAIT")

    def skip_to(self, keyword: str) -> None:
        while self.at() is not None and self.word() != keyword:
            self.pos += 1
        self.keywords(keyword)


def _table_change(kind: str, target: tuple[str, str] | None) -> list[DdlChange]:
    return [] if target is None else [DdlChange(kind, target[0], target[1])]


def _database_change(kind: str, database: str | None) -> list[DdlChange]:
    return [] if database is None else [DdlChange(kind, database, None)]


def _index_change(cur: _Cursor) -> list[DdlChange]:
    """``{CREATE|DROP} [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL] INDEX ... ON t`` alters ``t``."""
    cur.one_of("ONLINE", "OFFLINE")
    cur.one_of("UNIQUE", "FULLTEXT", "SPATIAL")
    if not cur.keywords("INDEX"):
        return []
    cur.skip_to("ON")
    return _table_change("table-alter", cur.table())


def _create(cur: _Cursor) -> list[DdlChange]:
    cur.keywords("OR", "REPLACE")
    if cur.one_of("DATABASE", "SCHEMA"):
        cur.keywords("IF", "NOT", "EXISTS")
        return _database_change("database-create", cur.name())
    cur.keywords("TEMPORARY")
    if cur.keywords("TABLE"):
        cur.keywords("IF", "NOT", "EXISTS")
        return _table_change("table-create", cur.table())
    return _index_change(cur)


def _alter_database_name(cur: _Cursor) -> str | None:
    """The database name is optional in ALTER DATABASE: without it, the default database is altered."""
    first = cur.word()
    if first in _RESERVED_DB_OPTIONS or (first in _DB_OPTIONS and cur.word(1) not in _DB_OPTIONS):
        return cur.default_database
    return cur.name()


def _split_top_level(tokens: Sequence[_Token]) -> list[list[_Token]]:
    """Split ALTER TABLE specifications at commas outside parentheses."""
    segments: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
        if token == _Token("punct", ",") and depth <= 0:
            segments.append([])
        else:
            segments[-1].append(token)
    return segments


def _alter_table(cur: _Cursor, target: tuple[str, str]) -> list[DdlChange]:
    cur.skip_wait()
    segments = _split_top_level(cur.rest())
    new_name: tuple[str, str] | None = None
    for segment in segments:
        spec = _Cursor(segment, cur.default_database)
        if spec.keywords("RENAME") and spec.word() not in _NOT_TABLE_RENAME:
            spec.one_of("TO", "AS")
            new_name = spec.table() or new_name
    if new_name is None:
        return _table_change("table-alter", target)
    rename = DdlChange("table-rename", target[0], target[1], new_name[0], new_name[1])
    return [rename] if len(segments) == 1 else [rename, *_table_change("table-alter", new_name)]


def _alter(cur: _Cursor) -> list[DdlChange]:
    if cur.one_of("DATABASE", "SCHEMA"):
        cur.keywords("IF", "EXISTS")
        return _database_change("database-alter", _alter_database_name(cur))
    cur.one_of("ONLINE", "OFFLINE")
    cur.keywords("IGNORE")
    if not cur.keywords("TABLE"):
        return []
    cur.keywords("IF", "EXISTS")
    target = cur.table()
    return [] if target is None else _alter_table(cur, target)


def _drop(cur: _Cursor) -> list[DdlChange]:
    if cur.one_of("DATABASE", "SCHEMA"):
        cur.keywords("IF", "EXISTS")
        return _database_change("database-drop", cur.name())
    cur.keywords("TEMPORARY")
    if not cur.one_of("TABLE", "TABLES"):
        return _index_change(cur)
    cur.keywords("IF", "EXISTS")
    changes: list[DdlChange] = []
    while (target := cur.table()) is not None:
        changes.append(DdlChange("table-drop", target[0], target[1]))
        if not cur.punct(","):
            return changes
    return []


def _rename(cur: _Cursor) -> list[DdlChange]:
    if not cur.one_of("TABLE", "TABLES"):
        return []
    cur.keywords("IF", "EXISTS")
    changes: list[DdlChange] = []
    while (old := cur.table()) is not None:
        cur.skip_wait()
        new = cur.table() if cur.keywords("TO") else None
        if new is None:
            return []
        changes.append(DdlChange("table-rename", old[0], old[1], new[0], new[1]))
        if not cur.punct(","):
            return changes
    return []


def _truncate(cur: _Cursor) -> list[DdlChange]:
    cur.keywords("TABLE")
    return _table_change("table-truncate", cur.table())


_STATEMENTS: dict[str, Callable[[_Cursor], list[DdlChange]]] = {
    "CREATE": _create,
    "ALTER": _alter,
    "DROP": _drop,
    "RENAME": _rename,
    "TRUNCATE": _truncate,
}


def classify_ddl(sql: str, default_database: str) -> list[DdlChange]:
    """Classify one binlog QUERY statement; ``[]`` if it changes no table or database definition.

    ``default_database`` is the session's database when the statement ran; a qualified name wins.
    """
    cur = _Cursor(_tokenize(sql), default_database)
    verb = cur.one_of(*_STATEMENTS)
    return [] if verb is None else _STATEMENTS[verb](cur)


def replaces_table(sql: str) -> bool:
    """Whether a statement is ``CREATE OR REPLACE TABLE``: it drops the table of that name first, so the lake treats
    it like ``DROP TABLE`` (docs/lake.md, "Schema changes"). A TEMPORARY table replaces nothing."""
    cur = _Cursor(_tokenize(sql), "")
    return cur.keywords("CREATE", "OR", "REPLACE", "TABLE")


def is_temporary(sql: str) -> bool:
    """Whether a statement creates or drops a TEMPORARY table (which shadows, never changes, a base table)."""
    cur = _Cursor(_tokenize(sql), "")
    if cur.one_of("CREATE"):
        cur.keywords("OR", "REPLACE")
    elif not cur.one_of("DROP"):
        return False
    return cur.keywords("TEMPORARY")
