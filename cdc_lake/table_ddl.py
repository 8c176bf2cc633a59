"""TRUNCATE, DROP and RENAME at the source, applied to the local master tables (docs/lake.md, "Schema changes").

None of them writes row events: the binlog has the statement only. The streamer emits it as a DDL event
(`--output-ddl`), which lands in its database's `_ddl` partition; a table's merge reads only that table's own row
events, so without this step a master table would keep every row of a truncated or dropped table, and a renamed
table's rows would stay under its old name. By binlog order (C = the DDL event's `binlog_order`):

- **cut** (`TRUNCATE TABLE t`, `DROP TABLE t`, `CREATE OR REPLACE TABLE t`; `DROP DATABASE d` for every table of
  d): master t keeps only the rows whose change came after C (`_cdc_order > C`).
- **move** (`RENAME TABLE a TO b`, each pair, `ALTER TABLE a RENAME TO b`, across databases too): master a's rows
  written before C become master b's rows, unless b has a newer row or a newer delete (tombstone) of the key; a's
  deletes before C become b's too; then a is cut at C. So b holds a's history plus its own changes after the
  rename, and a holds only what a new table of that name wrote after it.

Every step runs after each merge, in binlog order, in one transaction; each is idempotent. A change written before
a cut or a rename but delivered after it (Firehose writes partitions in no particular order) is merged into the
old name by its table's merge, then cut or moved by the same step on the next run. The steps read the DDL events of
the whole lake at each run (they are few).

Pure planning (`plan`) plus the DuckDB shell (`apply_table_ddl`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from cdc_streamer.ddl import classify_ddl, is_temporary, replaces_table
from cdc_streamer.settings import TableFilter

from .athena_sql import quote_identifier, sql_string
from .compact import event_files, source_tables
from .duckdb_engine import LAKE_DATABASE, DuckDB
from .event_schema import DDL_TABLE
from .master_types import MasterType
from .merge_sql import META_SCHEMA, ORDER, TOMBSTONES, WATERMARKS, MasterColumn, MasterTable, key_text

log = logging.getLogger(__name__)

CUT_KINDS = frozenset({"table-truncate", "table-drop"})
_STATEMENT = {
    "table-truncate": "TRUNCATE",
    "table-drop": "DROP TABLE",
    "table-create": "CREATE OR REPLACE TABLE",
    "database-drop": "DROP DATABASE",
    "table-rename": "RENAME",
}

TableKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class DdlRow:
    """One DDL event of the lake's `_ddl` partitions."""

    database: str
    order: str  # binlog_order
    kind: str
    table: str | None
    sql: str
    position: str  # FILE:OFFSET of its binlog group, for messages


@dataclass(frozen=True, slots=True)
class Cut:
    """Rows of `table` (None: every table of the database) whose change is before `order` are gone."""

    database: str
    table: str | None
    order: str
    statement: str
    position: str


@dataclass(frozen=True, slots=True)
class Move:
    """The rows of `source` before `order` belong to `target` (a rename); then they leave `source`."""

    source: TableKey
    target: TableKey
    order: str
    position: str


Step = Cut | Move


# -- reading and planning (pure but for reading the files) -------------------------------------------------------


def ddl_rows(lake: Path) -> list[DdlRow]:
    """Every DDL event in a local lake, once each (a repeated delivery has the same `binlog_order`)."""
    found: dict[tuple[str, str], DdlRow] = {}
    for (database, table), directory in source_tables(lake).items():
        if table != DDL_TABLE:
            continue
        for file in event_files(directory):
            columns = ["type", "binlog_order", "data", "binlog_file", "binlog_position"]
            read = pq.read_table(file.path, columns=columns).to_pylist()
            for row in read:
                data = json.loads(row["data"] or "{}")
                found[(database, row["binlog_order"])] = DdlRow(
                    database,
                    row["binlog_order"],
                    row["type"],
                    data.get("table"),
                    data.get("sql") or "",
                    f"{row['binlog_file']}:{row['binlog_position']}",
                )
    return sorted(found.values(), key=lambda r: (r.order, r.database))


def plan(rows: Iterable[DdlRow]) -> list[Step]:
    """The steps of DDL events, in binlog order. A rename's new name is read from its statement (the event names
    the old one): the first rename of that old name in the statement not taken by an earlier event of the same
    statement."""
    steps: list[Step] = []
    taken: dict[tuple[str, str, str], int] = {}  # (database, statement's order, old name) -> its renames used
    for row in sorted(rows, key=lambda r: (r.order, r.database)):
        if is_temporary(row.sql):
            continue
        drops = row.kind in CUT_KINDS or (row.kind == "table-create" and replaces_table(row.sql))
        if drops and row.table:
            steps.append(Cut(row.database, row.table, row.order, _STATEMENT[row.kind], row.position))
        elif row.kind == "database-drop":
            steps.append(Cut(row.database, None, row.order, _STATEMENT[row.kind], row.position))
        elif row.kind == "table-rename" and row.table:
            statement = (row.database, row.order.rsplit(":", 1)[0])
            renames = [
                change
                for change in classify_ddl(row.sql, row.database)
                if change.kind == "table-rename" and (change.database, change.table) == (row.database, row.table)
            ]
            index = taken.get((*statement, row.table), 0)
            if index >= len(renames) or renames[index].new_table is None:
                log.warning(
                    "cannot read the new name of %s.%s from %r: rename not applied", row.database, row.table, row.sql
                )
                continue
            taken[(*statement, row.table)] = index + 1
            change = renames[index]
            target = (change.new_database or row.database, str(change.new_table))
            steps.append(Move((row.database, row.table), target, row.order, row.position))
    return _latest_cuts(steps)


def _latest_cuts(steps: list[Step]) -> list[Step]:
    """Without the cuts a later cut of the same table makes redundant (no rename of it in between): a table
    truncated every night would otherwise be cut once per night at every run."""
    kept: list[Step] = []
    cut_later: set[TableKey] = set()
    for step in reversed(steps):
        if isinstance(step, Move):
            cut_later -= {step.source, step.target}
        elif step.table is not None:
            key = (step.database, step.table)
            if key in cut_later:
                continue
            cut_later.add(key)
        kept.append(step)
    return kept[::-1]


# -- applying them to the DuckDB master tables -------------------------------------------------------------------


def apply_table_ddl(lake: Path, tables: TableFilter | None = None) -> list[str]:
    """Apply every cut and move of the lake's DDL events to its master tables (one transaction); one line per step
    that changed rows. With `tables`, a cut applies to a selected table, a move when both names are selected."""
    steps = plan(ddl_rows(lake))
    if not steps or not (lake / LAKE_DATABASE).exists():
        return []
    wanted = tables or TableFilter()
    lines: list[str] = []
    with DuckDB(lake / LAKE_DATABASE) as engine:
        engine.native("BEGIN TRANSACTION")
        try:
            for step in steps:
                masters = _masters(engine)
                if isinstance(step, Move):
                    if wanted.wants(*step.source) and wanted.wants(*step.target) and step.source in masters:
                        lines += _move(engine, step, masters)
                    continue
                for (database, table), columns in sorted(masters.items()):
                    if database == step.database and step.table in (None, table) and wanted.wants(database, table):
                        lines += _cut(engine, step, (database, table), columns)
            engine.native("COMMIT")
        except BaseException:
            engine.native("ROLLBACK")
            raise
    return lines


def _masters(engine: DuckDB) -> dict[TableKey, list[tuple[str, str]]]:
    """Master table -> its (column, DuckDB type) in order."""
    rows = engine.native(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c"
        " JOIN information_schema.tables AS t USING (table_catalog, table_schema, table_name)"
        " WHERE t.table_type = 'BASE TABLE' AND c.table_schema <> ? AND c.table_catalog = current_database()"
        " ORDER BY c.table_schema, c.table_name, c.ordinal_position",
        [META_SCHEMA],
    )
    masters: dict[TableKey, list[tuple[str, str]]] = {}
    for database, table, column, kind in rows:
        masters.setdefault((str(database), str(table)), []).append((str(column), str(kind)))
    return masters


def _name(key: TableKey) -> str:
    return f"{quote_identifier(key[0])}.{quote_identifier(key[1])}"


def _cut(engine: DuckDB, step: Cut, table: TableKey, columns: Sequence[tuple[str, str]]) -> list[str]:
    """Delete the rows written before the cut, and leave a tombstone for each at the cut's order, so the next
    merge's lookback cannot bring them back."""
    key = _primary_key(engine, table)
    if key:
        database, name, key_column = (quote_identifier(n) for n in ("database", "table", "key"))
        engine.run(
            f"MERGE INTO {quote_identifier(META_SCHEMA)}.{quote_identifier(TOMBSTONES)} AS t\n"
            f"USING (SELECT DISTINCT {key_text('m', keyed(table, columns, key))} AS {key_column} FROM {_name(table)}"
            f" AS m WHERE m.{ORDER} < {sql_string(step.order)}) AS c\n"
            f"ON t.{database} = {sql_string(table[0])} AND t.{name} = {sql_string(table[1])}"
            f" AND t.{key_column} = c.{key_column}\n"
            f"WHEN MATCHED AND t.{ORDER} < {sql_string(step.order)}"
            f" THEN UPDATE SET {ORDER} = {sql_string(step.order)}\n"
            f"WHEN NOT MATCHED THEN INSERT ({database}, {name}, {key_column}, {ORDER}) VALUES"
            f" ({sql_string(table[0])}, {sql_string(table[1])}, c.{key_column}, {sql_string(step.order)})"
        )
    count = _delete_before(engine, table, step.order)
    if not count:
        return []
    return [f"{table[0]}.{table[1]}: {step.statement} at {step.position}: {count} rows written before it removed"]


def _delete_before(engine: DuckDB, table: TableKey, order: str) -> int:
    removed = engine.native(f"DELETE FROM {_name(table)} WHERE {ORDER} < ?", [order])
    return int(removed[0][0]) if removed else 0


def _primary_key(engine: DuckDB, table: TableKey) -> list[str]:
    found = engine.native(
        f'SELECT primary_key FROM "{META_SCHEMA}"."{WATERMARKS}" WHERE "database" = ? AND "table" = ?', list(table)
    )
    return list(json.loads(found[0][0] or "[]")) if found else []


def keyed(table: TableKey, columns: Sequence[tuple[str, str]], primary_key: Sequence[str]) -> MasterTable:
    """A MasterTable good for `key_text` (the tombstones' key text) from the DuckDB column types."""
    typed = tuple(
        MasterColumn(name, MasterType("", kind, kind, "base64" if kind == "BLOB" else "text"))
        for name, kind in columns
        if name in primary_key
    )
    return MasterTable(table[0], table[1], typed, tuple(primary_key))


def _move(engine: DuckDB, step: Move, masters: dict[TableKey, list[tuple[str, str]]]) -> list[str]:
    source, target = step.source, step.target
    key = _primary_key(engine, source)
    if not key:
        log.warning("%s.%s has no primary key recorded: its rename to %s.%s is not applied", *source, *target)
        return []
    columns = masters[source]
    if target not in masters:
        engine.native(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(target[0])}")
        engine.native(f"CREATE TABLE {_name(target)} AS SELECT * FROM {_name(source)} LIMIT 0")
        engine.native(
            f'INSERT INTO "{META_SCHEMA}"."{WATERMARKS}" ("database", "table", primary_key) VALUES (?, ?, ?)'
            " ON CONFLICT DO NOTHING",
            [target[0], target[1], json.dumps(key, ensure_ascii=False)],
        )
    else:
        present = {name for name, _ in masters[target]}
        for name, kind in columns:
            if name not in present:
                engine.native(f"ALTER TABLE {_name(target)} ADD COLUMN {quote_identifier(name)} {kind}")
    source_key = keyed(source, columns, key)
    target_key = keyed(target, columns, key)
    on = " AND ".join(f"t.{quote_identifier(name)} = s.{quote_identifier(name)}" for name in key)
    names = [quote_identifier(name) for name, _ in columns]
    tombstones = f'"{META_SCHEMA}"."{TOMBSTONES}"'
    moved = engine.run(
        f"MERGE INTO {_name(target)} AS t\n"
        "USING (\n"
        f"  SELECT s.* FROM {_name(source)} AS s\n"
        f"  LEFT JOIN {tombstones} AS d ON d.{quote_identifier('database')} = {sql_string(target[0])}"
        f" AND d.{quote_identifier('table')} = {sql_string(target[1])} AND d.{quote_identifier('key')} = "
        f"{key_text('s', source_key)}\n"
        f"  WHERE s.{ORDER} < {sql_string(step.order)} AND (d.{ORDER} IS NULL OR d.{ORDER} < s.{ORDER})\n"
        ") AS s\n"
        f"ON {on}\n"
        f"WHEN MATCHED AND s.{ORDER} > t.{ORDER} THEN UPDATE SET "
        + ", ".join(f"{name} = s.{name}" for name in names)
        + "\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join(f's.{n}' for n in names)})"
    )
    count = int(moved[0][0]) if moved else 0
    # The source's deletes before the rename are the target's: rows they delete go, and they become its tombstones.
    deleted = engine.run(
        f"DELETE FROM {_name(target)} AS t WHERE EXISTS (SELECT 1 FROM {tombstones} AS d"
        f" WHERE d.{quote_identifier('database')} = {sql_string(source[0])}"
        f" AND d.{quote_identifier('table')} = {sql_string(source[1])}"
        f" AND d.{ORDER} < {sql_string(step.order)} AND d.{ORDER} > t.{ORDER}"
        f" AND d.{quote_identifier('key')} = {key_text('t', target_key)})"
    )
    engine.native(
        f'INSERT INTO {tombstones} SELECT ?, ?, d."key", d.{ORDER} FROM {tombstones} AS d'
        f' WHERE d."database" = ? AND d."table" = ? AND d.{ORDER} < ?'
        f" ON CONFLICT DO UPDATE SET {ORDER} = greatest({ORDER}, excluded.{ORDER})",
        [target[0], target[1], source[0], source[1], step.order],
    )
    count += int(deleted[0][0]) if deleted else 0
    # No tombstones for the rows leaving the old name: a late delete under it must still be merged there, so that
    # the next run can carry it over. Rows the merge's lookback brings back to the old name are carried (a no-op)
    # and removed again.
    _delete_before(engine, source, step.order)
    if not count:
        return []
    return [
        f"{source[0]}.{source[1]} -> {target[0]}.{target[1]}: RENAME at {step.position}: {count} rows written "
        "before it moved"
    ]
