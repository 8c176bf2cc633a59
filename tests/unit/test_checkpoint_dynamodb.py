"""The DynamoDB checkpoint store without a server: the spec, the client's settings, and error mapping.
(Its lease against a real DynamoDB API is in tests/integration/test_checkpoint_dynamodb.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError

from cdc_streamer.checkpoint import open_store
from cdc_streamer.checkpoint_dynamodb import DynamoDBCheckpointStore, owner_id, parse_spec
from cdc_streamer.errors import ConfigError, RuntimeFailure


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[pytest.MonkeyPatch]:
    """No AWS configuration from the machine running the tests."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield monkeypatch


@pytest.mark.parametrize(
    ("argument", "table", "key"),
    [
        ("cdc-checkpoints", "cdc-checkpoints", "default"),
        ("cdc-checkpoints/orders", "cdc-checkpoints", "orders"),
        ("cdc_checkpoints.v2/prod/orders", "cdc_checkpoints.v2", "prod/orders"),
    ],
)
def test_spec_names_table_and_key(argument: str, table: str, key: str) -> None:
    assert parse_spec(argument) == (table, key)


@pytest.mark.parametrize(
    ("argument", "fragment"), [("ab", "TABLE"), ("/k", "TABLE"), ("bad name", "TABLE"), ("t1/", "KEY")]
)
def test_spec_rejects_bad_table_or_empty_key(argument: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        parse_spec(argument)
    assert "--position-store (CDC_POSITION_STORE)" in caught.value.message


def test_open_store_makes_a_dynamodb_store_without_calling_aws() -> None:
    store = open_store("dynamodb:cdc-checkpoints/orders")
    assert isinstance(store, DynamoDBCheckpointStore)
    assert (store.table, store.key, store.name) == ("cdc-checkpoints", "orders", "dynamodb:cdc-checkpoints/orders")
    default = open_store("dynamodb:cdc-checkpoints")
    assert isinstance(default, DynamoDBCheckpointStore)
    assert default.key == "default"


@pytest.mark.parametrize("spec", ["dynamodb:", "dynamodb"])
def test_open_store_rejects_dynamodb_without_a_table(spec: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("expected file:PATH, dynamodb:TABLE[/KEY] or none")):
        open_store(spec)


def test_importing_the_checkpoint_module_does_not_import_boto3() -> None:
    code = "import sys, cdc_streamer.checkpoint; assert 'boto3' not in sys.modules, 'boto3 imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_region_comes_from_aws_region_then_aws_default_region_then_us_east_1(aws_env: pytest.MonkeyPatch) -> None:
    assert DynamoDBCheckpointStore("cdc-checkpoints").region == "us-east-1"
    aws_env.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert DynamoDBCheckpointStore("cdc-checkpoints").region == "ap-south-1"
    aws_env.setenv("AWS_REGION", "eu-west-1")
    store = DynamoDBCheckpointStore("cdc-checkpoints")
    assert store.region == "eu-west-1"
    assert store.client.meta.region_name == "eu-west-1"


def test_endpoint_comes_from_the_service_variable_then_the_global_one(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert DynamoDBCheckpointStore("cdc-checkpoints").client.meta.endpoint_url == "http://127.0.0.1:4566"
    aws_env.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    assert DynamoDBCheckpointStore("cdc-checkpoints").client.meta.endpoint_url == "http://127.0.0.1:8000"


def test_client_has_short_timeouts_and_standard_retries() -> None:
    config = DynamoDBCheckpointStore("cdc-checkpoints").client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (5, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}


def test_owner_ids_name_host_and_pid_and_differ_per_store() -> None:
    first, second = owner_id(), owner_id()
    assert re.fullmatch(r".+:\d+:[0-9a-f]{6}", first)
    assert first.split(":")[1] == str(os.getpid())
    assert first != second
    assert DynamoDBCheckpointStore("cdc-checkpoints").owner != DynamoDBCheckpointStore("cdc-checkpoints").owner


def test_lease_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        DynamoDBCheckpointStore("cdc-checkpoints", lease_seconds=0)


def test_unreachable_endpoint_is_a_one_line_runtime_failure() -> None:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=1, retries={"total_max_attempts": 1}),
    )
    store = DynamoDBCheckpointStore("cdc-checkpoints", "orders", client=client)
    with pytest.raises(RuntimeFailure, match="cannot reach DynamoDB \\(GetItem on table cdc-checkpoints") as caught:
        store.load()
    assert "\n" not in caught.value.message


class RefusingClient:
    """Answers every call with one error, as DynamoDB does when the role lacks a permission."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_item(self, **request: Any) -> dict[str, Any]:
        raise self.error

    def update_item(self, **request: Any) -> dict[str, Any]:
        raise self.error


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, operation)


@pytest.mark.parametrize(
    ("error", "kind", "fragment"),
    [
        (client_error("AccessDeniedException", "GetItem"), ConfigError, "denied dynamodb:GetItem on table t-1"),
        (client_error("UnrecognizedClientException", "GetItem"), ConfigError, "check the credentials"),
        (client_error("ResourceNotFoundException", "GetItem"), ConfigError, "DynamoDB table t-1 not found in region"),
        (client_error("ProvisionedThroughputExceededException", "GetItem"), RuntimeFailure, "GetItem on table t-1"),
        (NoCredentialsError(), ConfigError, "no AWS credentials found for dynamodb:t-1/k"),
    ],
)
def test_errors_become_one_line_cdc_errors(error: Exception, kind: type[Exception], fragment: str) -> None:
    store = DynamoDBCheckpointStore("t-1", "k", client=RefusingClient(error), region="eu-west-1")
    with pytest.raises(kind, match=re.escape(fragment)):
        store.load()


def test_denied_lease_names_the_update_action() -> None:
    error = client_error("AccessDeniedException", "UpdateItem")
    store = DynamoDBCheckpointStore("t-1", "k", client=RefusingClient(error), region="eu-west-1")
    with pytest.raises(ConfigError, match=re.escape("denied dynamodb:UpdateItem on table t-1 in region eu-west-1")):
        store.acquire()
