"""Source names in file and object paths: a database or table name becomes one path segment (a `key=value`
partition value in the lake, a directory in a snapshot export) whatever it holds — `/`, `=`, `%`, `..`, quotes.

The escaping is Hive's `escapePathName` (what Hive, Spark and Trino/Athena write in partition paths): control
characters and `" # % ' * / : = ? \\ DEL { [ ] ^` become `%XX`; everything else, Unicode included, stays. DuckDB's
`hive_partitioning` decodes it again. Pure."""

from __future__ import annotations

from urllib.parse import unquote

_ESCAPED = frozenset(
    [*map(chr, range(1, 32)), '"', "#", "%", "'", "*", "/", ":", "=", "?", "\\", "\x7f", "{", "[", "]", "^"]
)


def path_value(name: str) -> str:
    """`a/b=c` -> `a%2Fb%3Dc`; a name without those characters is returned as is."""
    if not any(char in _ESCAPED for char in name):
        return name
    return "".join(f"%{ord(char):02X}" if char in _ESCAPED else char for char in name)


def name_from_path(value: str) -> str:
    """The inverse of `path_value`."""
    return unquote(value) if "%" in value else value
