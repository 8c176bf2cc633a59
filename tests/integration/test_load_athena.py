"""`cdc-lake load-export --athena` (cdc_lake.load_athena) against moto's S3 and Athena (real HTTP). moto's Athena runs
no SQL: these tests check the conversation — which statements are sent, in which order, to which workgroup — and
that a bad export sends none. The SQL itself is checked in tests/unit/test_load_sql.py (golden files, sqlglot,
DuckDB); the statements sent here must be those golden files, byte for byte.

Every test runs in an Athena workgroup and buckets of its own (tests/integration/athena_moto.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from cdc_lake.compact_athena import Athena
from cdc_lake.load_athena import AthenaLoadSettings, load_export_athena
from cdc_streamer.errors import ConfigError, RuntimeFailure
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import TableFilter
from tests.aurora_export import EXPORT_ID, KEYS, POSITION, edit_tables_info, write_export, write_part

from .athena_moto import own_athena, sent, upload
from .support import run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "athena" / "load"
META = ["CREATE DATABASE IF", "CREATE TABLE IF", "CREATE TABLE IF"]
STEPS = [  # the first words of load_sql.load_statements, in order
    "DROP TABLE IF",
    "CREATE EXTERNAL TABLE",
    "CREATE TABLE IF",
    "DELETE FROM app.{t}",
    "INSERT INTO app.{t}",
    "MERGE INTO cdc_lake.watermarks",
    "DELETE FROM cdc_lake.tombstones",
    "DROP TABLE IF",
]


class Keys:
    """The source's primary keys, as `--mysql-url` would read them."""

    def primary_key(self, database: str, table: str) -> tuple[str, ...] | None:
        return KEYS.get((database, table))


@pytest.fixture
def names(aws: str) -> Iterator[dict[str, str]]:
    """A workgroup, an export bucket and a lake bucket of this test's own."""
    with own_athena(aws, "exports", "lake") as names:
        yield names


def kinds(statements: list[str]) -> list[str]:
    return [" ".join(statement.split()[:3]) for statement in statements]


def golden(name: str, export: str, lake: str) -> list[str]:
    """tests/golden/athena/load/<name>.sql as statements, with this test's locations."""
    text = (GOLDEN / f"{name}.sql").read_text(encoding="utf-8")
    text = text.replace(f"s3://exports/{EXPORT_ID}/", f"{export}/").replace("s3://lake/", f"{lake}/")
    return [statement.removesuffix(";\n") for statement in text.split(";\n\n")]


def settings(names: dict[str, str], export: str, endpoint: str, **extra: Any) -> AthenaLoadSettings:
    return AthenaLoadSettings(
        export=export,
        lake=f"s3://{names['lake']}",
        workgroup=names["workgroup"],
        output=f"s3://{names['lake']}/athena-results/",
        endpoint_url=endpoint,
        region="us-east-1",
        poll_seconds=0.01,
        **extra,
    )


def test_a_real_aurora_export_sends_the_golden_statements_table_by_table(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    export = upload(write_export(tmp_path), names["exports"], EXPORT_ID, aws)
    at = BinlogPosition(*POSITION)
    loaded = load_export_athena(settings(names, export, aws, position=at), keys=Keys())
    assert [(item.database, item.table, item.files, item.rows, item.statements) for item in loaded] == [
        ("app", "orders", 2, None, 8),
        ("app", "lines", 1, None, 8),
    ]
    assert loaded[0].line().startswith("app.orders: loaded the rows from 2 files on Athena (8 statements) in ")
    statements = sent(aws, names["workgroup"])
    assert kinds(statements) == [*META, "CREATE DATABASE IF"] + [
        step.format(t=table) for table in ("orders", "lines") for step in STEPS
    ]
    lake = f"s3://{names['lake']}"
    assert f"LOCATION '{lake}/meta/watermarks/'" in statements[2]
    assert statements[3] == "CREATE DATABASE IF NOT EXISTS app"
    assert statements[4:12] == golden("load_orders", export, lake)
    assert statements[12:] == golden("load_lines", export, lake)


def test_our_export_loads_with_its_own_position_key_and_row_counts(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    root = write_export(tmp_path, ours=True)
    write_part(root / "app" / "app.empty" / "1", pa.table({"id": pa.array([], type=pa.int32())}))  # no rows
    edit_tables_info(root, add_table("empty", rows=0))
    export = upload(root, names["exports"], f"snapshots/{EXPORT_ID}", aws)
    loaded = load_export_athena(settings(names, export + "/", aws))  # a trailing slash is fine
    assert [(item.table, item.rows, item.statements) for item in loaded] == [
        ("orders", 3, 8),
        ("lines", 3, 8),
        ("empty", 0, 8),
    ]
    statements = sent(aws, names["workgroup"])
    assert f"LOCATION '{export}/app/app.orders/'" in statements[5]
    assert "'0000000042:00000000000000001875:0000000000' AS _cdc_order" in statements[8]


def add_table(name: str, *, rows: int, key: list[str] | None = None, partitions: int = 1) -> Callable[[Any], None]:
    """An edit of the tables info: one more table `app.<name>` with an int column `id` (ours: cdc extras)."""

    def edit(document: dict[str, Any]) -> None:
        document["perTableStatus"].append(
            {
                "target": f"app.{name}",
                "status": "COMPLETE",
                "TableStatistics": {
                    "partitioningInfo": {"numberOfPartitions": partitions, "numberOfCompletedPartitions": partitions}
                },
                "schemaMetadata": {
                    "originalTypeMappings": [
                        {"columnName": "id", "originalType": "int", "expectedExportedType": "int32"}
                    ]
                },
                "cdc": {
                    "rows": rows,
                    "primaryKey": ["id"] if key is None else key,
                    "columns": [{"name": "id", "type": "int"}],
                },
            }
        )

    return edit


def test_a_table_without_files_gets_its_master_table_without_a_staging_table(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    root = write_export(tmp_path, ours=True)
    edit_tables_info(root, add_table("nothing", rows=0, partitions=0))
    export = upload(root, names["exports"], EXPORT_ID, aws)
    loaded = load_export_athena(settings(names, export, aws, tables=_tables("app.nothing")))
    assert [(item.table, item.files, item.rows, item.statements) for item in loaded] == [("nothing", 0, 0, 4)]
    assert kinds(sent(aws, names["workgroup"])) == [
        *META,
        "CREATE DATABASE IF",
        "CREATE TABLE IF",
        "DELETE FROM app.nothing",
        "MERGE INTO cdc_lake.watermarks",
        "DELETE FROM cdc_lake.tombstones",
    ]


def _tables(text: str) -> TableFilter:
    return TableFilter(include=TableFilter.parse_patterns(text, "--tables"))


def _remove_export_info(root: Path) -> None:
    (root / f"export_info_{EXPORT_ID}.json").unlink()


def _drop_partition(root: Path) -> None:
    for path in (root / "app" / "app.orders" / "2").iterdir():
        path.unlink()
    (root / "app" / "app.orders" / "2").rmdir()


def _in_progress(root: Path) -> None:
    edit_tables_info(root, lambda doc: doc["perTableStatus"][1].update(status="IN_PROGRESS"))


def _lines_without_key(root: Path) -> None:
    edit_tables_info(root, lambda doc: doc["perTableStatus"][1]["cdc"].update(primaryKey=[]))


def _types_disagree(root: Path) -> None:
    lines = root / "app" / "app.lines"
    write_part(
        lines / "2", pa.table({"order_id": pa.array([9], pa.int64()), "sku": ["z"], "qty": pa.array([1], pa.int64())})
    )
    edit_tables_info(root, lambda doc: doc["perTableStatus"][1]["TableStatistics"].update(
        partitioningInfo={"numberOfPartitions": 2, "numberOfCompletedPartitions": 2}))  # fmt: skip
    edit_tables_info(root, lambda doc: doc["perTableStatus"][1]["cdc"].update(rows=4))


def _stray_file(root: Path) -> None:
    (root / "app" / "app.lines" / "notes.txt").write_text("not a row")


def _rows_missing(root: Path) -> None:
    edit_tables_info(root, lambda doc: doc["perTableStatus"][1]["cdc"].update(rows=4))


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "no export_info": (_remove_export_info, r"no export_info_\*\.json: the export is unfinished"),
    "a partition missing": (_drop_partition, r"app\.orders: partition directories \[2\] are missing"),
    "a table in progress": (_in_progress, r"app\.lines: its export status is IN_PROGRESS, not COMPLETE"),
    "a table without a primary key": (_lines_without_key, r"app\.lines: has no primary key"),
    "types that differ between files": (_types_disagree, r"app\.lines: column 'order_id' is int32 in .* but int64"),
    "a file Athena would read too": (_stray_file, r"app\.lines: app/app\.lines/notes\.txt is not a Parquet file"),
    "fewer rows than the export says": (_rows_missing, r"app\.lines: the export says 4 rows, its files hold 3"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_export_sends_no_statement(case: str, aws: str, tmp_path: Path, names: dict[str, str]) -> None:
    """Every table is checked first: app.orders (listed first, and fine unless the case breaks it) is not loaded
    when app.lines is bad."""
    root = write_export(tmp_path, ours=True)
    damage, message = BAD[case]
    damage(root)
    export = upload(root, names["exports"], EXPORT_ID, aws)
    with pytest.raises(ConfigError, match=message):
        load_export_athena(settings(names, export, aws))
    assert sent(aws, names["workgroup"]) == []


def test_an_export_or_lake_that_is_not_on_s3_is_refused(aws: str, tmp_path: Path, names: dict[str, str]) -> None:
    local = write_export(tmp_path, ours=True)
    with pytest.raises(ConfigError, match=r"--export \(CDC_EXPORT\): with --athena the export is s3://"):
        load_export_athena(settings(names, str(local), aws))
    with pytest.raises(ConfigError, match=r"--lake-dir \(CDC_LAKE_DIR\): with --athena the lake is s3://"):
        load_export_athena(
            AthenaLoadSettings(export=f"s3://{names['exports']}/{EXPORT_ID}", lake=str(tmp_path), endpoint_url=aws)
        )
    with pytest.raises(ConfigError, match=r"--export \(CDC_EXPORT\): s3://.* does not exist"):
        load_export_athena(settings(names, f"s3://{names['exports']}/nope", aws))
    assert sent(aws, names["workgroup"]) == []


class FaultyAthena:
    """A real boto3 Athena client whose chosen statements fail, as Athena reports a failed query."""

    def __init__(self, client: Any, fail: Callable[[str], bool]) -> None:
        self.client = client
        self.fail = fail
        self.failed: set[str] = set()

    def start_query_execution(self, **request: Any) -> Any:
        response = self.client.start_query_execution(**request)
        if self.fail(request["QueryString"]):
            self.failed.add(response["QueryExecutionId"])
        return response

    def get_query_execution(self, *, QueryExecutionId: str) -> Any:
        response = self.client.get_query_execution(QueryExecutionId=QueryExecutionId)
        if QueryExecutionId in self.failed:
            response["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "injected\nfailure"}
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def faulty(aws: str, names: dict[str, str], fail: Callable[[str], bool]) -> Athena:
    client = FaultyAthena(boto3.client("athena", endpoint_url=aws), fail)
    return Athena(client, names["workgroup"], "", poll=0.01)


def test_a_failed_insert_drops_the_staging_table_and_says_what_is_left(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    export = upload(write_export(tmp_path, ours=True), names["exports"], EXPORT_ID, aws)
    athena = faulty(aws, names, lambda sql: sql.startswith("INSERT INTO app.lines"))
    with pytest.raises(RuntimeFailure) as raised:
        load_export_athena(settings(names, export, aws), athena=athena)
    message = raised.value.message
    assert "\n" not in message
    assert message.startswith("app.lines: statement 5 of 8 failed: Athena query ")
    assert "failed: injected failure: INSERT INTO app.lines" in message
    assert (
        "its master table is EMPTY (the DELETE ran, the INSERT did not) and its watermark is the old one; its staging "
        "table cdc_lake.load_export__app__lines was dropped; loaded before it: app.orders; not started: none; run the "
        "load again (every statement is idempotent) and do not compact app.lines before it completed"
    ) in message
    statements = sent(aws, names["workgroup"])
    assert kinds(statements)[-3:] == ["DELETE FROM app.lines", "INSERT INTO app.lines", "DROP TABLE IF"]
    assert statements[-1] == "DROP TABLE IF EXISTS cdc_lake.load_export__app__lines"


def test_a_failure_before_the_master_table_changed_leaves_it_as_it_was(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    export = upload(write_export(tmp_path, ours=True), names["exports"], EXPORT_ID, aws)
    calls = {"drops": 0}

    def fail(sql: str) -> bool:  # the staging table of app.orders cannot be created, nor dropped afterwards
        calls["drops"] += sql.startswith("DROP TABLE IF EXISTS cdc_lake.load_export__app__orders")
        return sql.startswith("CREATE EXTERNAL TABLE") or calls["drops"] > 1

    with pytest.raises(RuntimeFailure) as raised:
        load_export_athena(settings(names, export, aws), athena=faulty(aws, names, fail))
    message = raised.value.message
    assert message.startswith("app.orders: statement 2 of 8 failed: ")
    assert "its master table and watermark are as they were; dropping its staging table" in message
    assert "failed too (Athena query " in message
    assert message.endswith(
        "drop it by hand; loaded before it: none; not started: app.lines; run the load again (every statement is "
        "idempotent)"
    )


def test_the_cli_loads_on_athena_with_cdc_variables_and_aws_endpoint_url(
    aws: str, tmp_path: Path, names: dict[str, str]
) -> None:
    """Flags from CDC_* variables; the endpoint only from AWS_ENDPOINT_URL (boto3 reads it, and load_athena hands it
    to pyarrow's S3 filesystem, which does not)."""
    export = upload(write_export(tmp_path, ours=True), names["exports"], EXPORT_ID, aws)
    env = {
        "AWS_ENDPOINT_URL": aws,
        "CDC_ATHENA": "true",
        "CDC_EXPORT": export,
        "CDC_WORKGROUP": names["workgroup"],
        "CDC_OUTPUT": f"s3://{names['lake']}/results/",
    }
    done = run_cli("load-export", "--lake-dir", f"s3://{names['lake']}/cdc", "--tables", "app.lines", env=env,
                   cli="cdc_lake")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("app.lines: loaded 3 rows from 1 files on Athena (8 statements) in ")
    assert len(done.stdout.splitlines()) == 1
    statements = sent(aws, names["workgroup"])
    assert kinds(statements) == [*META, "CREATE DATABASE IF"] + [step.format(t="lines") for step in STEPS]
    assert f"LOCATION 's3://{names['lake']}/cdc/master/app/lines/'" in statements[6]
    athena = boto3.client("athena", endpoint_url=aws)
    ids = athena.list_query_executions(WorkGroup=names["workgroup"])["QueryExecutionIds"]
    output = athena.get_query_execution(QueryExecutionId=ids[0])["QueryExecution"]["ResultConfiguration"]
    assert output["OutputLocation"].startswith(f"s3://{names['lake']}/results/")


def test_the_cli_reports_a_bad_export_in_one_line_and_exit_2(aws: str, tmp_path: Path, names: dict[str, str]) -> None:
    root = write_export(tmp_path, ours=True)
    _lines_without_key(root)
    export = upload(root, names["exports"], EXPORT_ID, aws)
    common = ["load-export", "--athena", "--workgroup", names["workgroup"], "--endpoint-url", aws]
    bad = run_cli(*common, "--export", export, "--lake-dir", f"s3://{names['lake']}", cli="cdc_lake")
    assert bad.returncode == 2
    assert bad.stderr.startswith("cdc-lake: app.lines: has no primary key")
    assert len(bad.stderr.splitlines()) == 1
    local = run_cli(*common, "--export", str(root), "--lake-dir", f"s3://{names['lake']}", cli="cdc_lake")
    assert local.returncode == 2
    assert local.stderr.startswith("cdc-lake: --export (CDC_EXPORT): with --athena the export is s3://")
    output = run_cli(*common, "--export", export, "--lake-dir", f"s3://{names['lake']}", "--output", "/tmp/x",
                     cli="cdc_lake")  # fmt: skip
    assert (output.returncode, output.stderr) == (
        2,
        "cdc-lake: --output (CDC_OUTPUT): expected s3://bucket/prefix/ for Athena's query results\n",
    )
    assert sent(aws, names["workgroup"]) == []


def test_without_athena_an_s3_lake_is_refused(tmp_path: Path) -> None:
    root = write_export(tmp_path, ours=True)
    done = run_cli("load-export", "--export", str(root), "--lake-dir", "s3://lake/cdc", cli="cdc_lake")
    assert done.returncode == 2
    assert "add --athena (CDC_ATHENA) to load an s3:// lake with Athena" in done.stderr
    assert len(done.stderr.splitlines()) == 1
