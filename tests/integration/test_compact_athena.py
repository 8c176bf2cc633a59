"""`cdc-lake compact --athena` against moto's Athena, Glue and S3 (real HTTP). moto's Athena executes no SQL, so
this checks the API conversation: which statements are sent, in which order, to which workgroup and output
location, and that every one of them is SQL Athena's dialect parses. The SQL's behaviour is checked on DuckDB
(tests/unit/test_merge_sql.py, test_compact_local.py)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import sqlglot

from cdc_lake.cli import main
from tests.lake_builder import ORDERS, Lake


def upload(lake: Path, bucket: str, prefix: str, endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    for path in lake.rglob("*.parquet"):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(lake).as_posix()}")


def sent_queries(endpoint: str) -> list[tuple[str, str, str]]:
    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    return [
        (e["Query"], e.get("WorkGroup", ""), e.get("ResultConfiguration", {}).get("OutputLocation", ""))
        for e in executions
    ]


def test_compact_on_athena_sends_the_merge_statements(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = Lake(tmp_path / "lake", database="shop")
    lake.schema("orders", ORDERS, ["id"])
    lake.write("orders", lake.txn("orders", ("insert", {"id": 1, "price": 1, "note": "a"}, None)))
    lake.schema("log", [{"name": "line", "type": "text"}], [])
    lake.write("log", lake.txn("log", ("insert", {"line": "x"}, None)))
    upload(lake.root, "athena-lake", "cdc", aws)
    code = main([
        "compact", "--athena", "--lake-dir", "s3://athena-lake/cdc", "--output", "s3://athena-lake/results/",
        "--workgroup", "primary", "--endpoint-url", aws, "--region", "us-east-1", "--maintenance",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "shop.orders: merged" in out
    assert "shop.log: skipped: no primary key" in out
    queries = sent_queries(aws)
    texts = [text for text, _, _ in queries]
    kinds = [" ".join(text.split()[:3]) for text in texts]
    assert kinds == [
        "CREATE DATABASE IF",
        "CREATE TABLE IF",
        "CREATE TABLE IF",
        "CREATE EXTERNAL TABLE",
        "SELECT floor_order FROM",
        "CREATE DATABASE IF",
        "CREATE TABLE IF",
        "SELECT CAST(files_since AS",
        "MERGE INTO shop.orders",
        "MERGE INTO cdc_lake.tombstones",
        "MERGE INTO cdc_lake.watermarks",
        "CREATE OR REPLACE",
        "OPTIMIZE shop.orders REWRITE",
        "VACUUM shop.orders",
    ], kinds
    assert {workgroup for _, workgroup, _ in queries} == {"primary"}
    assert all(output.startswith("s3://athena-lake/results/") for _, _, output in queries)  # + <query id>.csv
    assert "LOCATION 's3://athena-lake/cdc/master/shop/orders/'" in texts[6]
    assert "'table_type'='ICEBERG'" in texts[6]
    for text in texts:
        if not text.startswith(("OPTIMIZE", "VACUUM")):  # Athena-only statements sqlglot does not know
            assert len(sqlglot.parse(text, read="athena")) == 1, text


def test_compact_on_athena_refuses_a_local_lake(aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compact", "--athena", "--lake-dir", str(tmp_path), "--endpoint-url", aws])
    assert code == 2
    assert "with --athena the lake is s3://bucket/prefix" in capsys.readouterr().err
