"""Helpers for tests that talk to moto's Athena (the session's `aws` server): a workgroup and buckets of a test's
own, the statements Athena received, and cleanup.

moto's server lives for the whole session and its Athena keeps every query execution, while
tests/integration/test_compact_athena.py reads all of them (ListQueryExecutions without a workgroup). So each test
here runs in a workgroup of its own, reads only that one, and forgets its executions afterwards (`forget`: moto's
server runs in this process, so its backend is at hand)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
from moto.athena.models import athena_backends
from moto.core.models import DEFAULT_ACCOUNT_ID


@contextmanager
def own_athena(endpoint: str, *buckets: str) -> Iterator[dict[str, str]]:
    """`{"workgroup": ..., <bucket>: <name>...}`: a new workgroup and a new bucket per name in `buckets`."""
    tag = uuid.uuid4().hex[:10]
    names = {"workgroup": f"wg-{tag}", **{bucket: f"{bucket}-{tag}" for bucket in buckets}}
    boto3.client("athena", endpoint_url=endpoint).create_work_group(Name=names["workgroup"])
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for bucket in buckets:
        s3.create_bucket(Bucket=names[bucket])
    try:
        yield names
    finally:
        forget(names["workgroup"])


def forget(workgroup: str, region: str = "us-east-1") -> None:
    """Drop moto's record of the query executions in `workgroup`."""
    executions = athena_backends[DEFAULT_ACCOUNT_ID][region].executions
    for key, execution in list(executions.items()):
        if execution.workgroup is not None and execution.workgroup.name == workgroup:
            del executions[key]


def sent(endpoint: str, workgroup: str) -> list[str]:
    """The statements Athena received in `workgroup`, in order."""
    athena = boto3.client("athena", endpoint_url=endpoint)
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def upload(directory: Path, bucket: str, prefix: str, endpoint: str) -> str:
    """Every file under `directory` to `s3://bucket/prefix/...`; returns `s3://bucket/prefix`."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(directory).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return f"s3://{bucket}/{prefix}"
