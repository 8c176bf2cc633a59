"""PipelineConfig: defaults, JSON loading, and one clear message per invalid value."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from cdc_streamer.errors import ConfigError
from cdc_streamer.settings import TableFilter
from infra.config import (
    ENV_VAR,
    EcrImage,
    PipelineConfig,
    config_from_mapping,
    config_problems,
    example_config,
    load_config,
)

from .conftest import PRODUCTION


def test_defaults_are_valid_and_synthesizable_offline() -> None:
    config = load_config(None)
    assert config == PipelineConfig()
    assert config.name == "cdc"
    assert config.merge_schedule == "rate(15 minutes)"
    assert config.athena_bytes_scanned_cutoff == 10 * 1024**3
    assert config.zones == ("us-east-1a", "us-east-1b")
    assert config_problems(PRODUCTION) == []


def test_load_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.json"
    values: dict[str, Any] = {
        **example_config(),
        "name": "shop",
        "vpc_id": "vpc-0123456789abcdef0",
        "private_subnet_ids": ["subnet-0123456789abcdef0"],
        "availability_zones": ["us-east-1a"],
        "tables": "shop.*",
        "alarm_email": "ops@example.com",
    }
    path.write_text(json.dumps(values))
    config = load_config(path)
    assert config.name == "shop"
    assert config.private_subnet_ids == ("subnet-0123456789abcdef0",)
    assert config.source_databases == ("shop",)


def test_example_config_round_trips() -> None:
    assert config_from_mapping(example_config()) == PipelineConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"nmae": "x"}', "unknown field(s) nmae"),
        ('{"shard_count": "4"}', "shard_count: an integer"),
        ('{"shard_count": true}', "shard_count: unexpected boolean"),
        ('{"private_subnet_ids": "subnet-1"}', "private_subnet_ids: a list of strings"),
        ('{"name": null}', "name: required, got null"),
        ('{"aurora_endpoint": 5}', "aurora_endpoint: a string"),
    ],
)
def test_load_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pipeline.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"pipeline\.json") as caught:
        load_config(path)
    assert message in str(caught.value)
    assert ENV_VAR in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the config file"):
        load_config(tmp_path / "absent.json")


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"name": "CDC"}, "name:"),
    ({"name": "a"}, "name:"),
    ({"name": "x" * 21}, "name:"),
    ({"name": "cdc-"}, "name:"),
    ({"account": "12345"}, "account:"),
    ({"region": "mars"}, "region:"),
    ({"aurora_cluster_identifier": "1db"}, "aurora_cluster_identifier:"),
    ({"aurora_endpoint": "mysql://host:3306"}, "aurora_endpoint:"),
    ({"aurora_port": 0}, "aurora_port:"),
    ({"aurora_secret_arn": "my-secret"}, "aurora_secret_arn:"),
    (
        {"aurora_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"},
        "aurora_secret_arn: the secret must be in the pipeline's account and region",
    ),
    ({"aurora_secret_kms_key_arn": "alias/aws/secretsmanager"}, "aurora_secret_kms_key_arn:"),
    ({"aurora_security_group_id": "default"}, "aurora_security_group_id:"),
    ({"tables": "shop"}, "tables: expected db.table or db.* entries"),
    ({"tables": "shop.orders.id"}, "tables: expected db.table or db.* entries"),
    ({"server_id": 0}, "server_id:"),
    ({"heartbeat_table": "cdc_meta.*"}, "heartbeat_table: one table as db.table"),
    ({"heartbeat_table": "heartbeat"}, "heartbeat_table: one table as db.table"),
    ({"availability_zones": ("eu-west-1a",)}, "availability_zones: zones of us-east-1"),
    ({"private_subnet_ids": ("subnet-0123456789abcdef0",)}, "private_subnet_ids: only with vpc_id"),
    ({"streamer_security_group_id": "sg-0123456789abcdef0"}, "streamer_security_group_id: only with vpc_id"),
    ({"vpc_id": "vpc-0123456789abcdef0"}, "private_subnet_ids: with vpc_id"),
    ({"vpc_id": "my-vpc", "private_subnet_ids": ("subnet-0123456789abcdef0",)}, "vpc_id:"),
    (
        {"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": ("subnet-0123456789abcdef0",)},
        "availability_zones: with vpc_id, one zone per private subnet",
    ),
    (
        {"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": ("sn-1",), "availability_zones": ("us-east-1a",)},
        "private_subnet_ids: subnet ids",
    ),
    ({"lake_bucket_name": "My_Bucket"}, "lake_bucket_name:"),
    ({"lake_bucket_name": "a..b"}, "lake_bucket_name:"),
    ({"export_prefix": "/exports/"}, "export_prefix:"),
    ({"export_prefix": "events"}, "export_prefix:"),
    ({"athena_bytes_scanned_cutoff": 1024}, "athena_bytes_scanned_cutoff: at least 10485760"),
    ({"shard_mode": "auto"}, "shard_mode: on-demand or provisioned"),
    ({"shard_count": 0}, "shard_count:"),
    ({"stream_retention_hours": 12}, "stream_retention_hours:"),
    ({"firehose_buffer_seconds": 30}, "firehose_buffer_seconds: 60 to 900"),
    ({"firehose_buffer_seconds": 901}, "firehose_buffer_seconds: 60 to 900"),
    ({"firehose_buffer_mib": 5}, "firehose_buffer_mib: 64 to 128"),
    ({"firehose_buffer_mib": 129}, "firehose_buffer_mib: 64 to 128"),
    ({"merge_schedule": "every 15 minutes"}, "merge_schedule:"),
    ({"streamer_cpu": 300}, "streamer_cpu:"),
    ({"streamer_cpu": 256, "streamer_memory_mib": 4096}, "streamer_memory_mib: with streamer_cpu 256"),
    ({"streamer_desired_count": 2}, "streamer_desired_count: 0 (before the initial load) or 1"),
    ({"streamer_image": "cdc:latest"}, "streamer_image: an ECR image"),
    (
        {"lambda_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/cdc:1"},
        "lambda_image: the image must be in the pipeline's region",
    ),
    ({"alarm_email": "ops"}, "alarm_email:"),
    ({"lag_alarm_seconds": 0}, "lag_alarm_seconds:"),
    ({"freshness_alarm_seconds": 300}, "freshness_alarm_seconds: more than firehose_buffer_seconds"),
    ({"log_retention_days": 31}, "log_retention_days:"),
]


@pytest.mark.parametrize(("changes", "message"), INVALID, ids=[message for _, message in INVALID])
def test_each_invalid_value_is_named(changes: dict[str, Any], message: str) -> None:
    config = dataclasses.replace(PipelineConfig(), **changes)
    with pytest.raises(ValueError, match="invalid pipeline config") as caught:
        config.validate()
    assert message in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    config = dataclasses.replace(PipelineConfig(), name="X", shard_mode="auto", firehose_buffer_mib=1)
    problems = config_problems(config)
    assert [problem.split(":")[0] for problem in problems] == ["name", "shard_mode", "firehose_buffer_mib"]


@pytest.mark.parametrize(("cpu", "memory"), [(256, 512), (512, 4096), (1024, 8192), (4096, 30720)])
def test_fargate_sizes_accepted(cpu: int, memory: int) -> None:
    dataclasses.replace(PipelineConfig(), streamer_cpu=cpu, streamer_memory_mib=memory).validate()


@pytest.mark.parametrize(
    "tables", ["", "shop.*", "shop.orders", "shop.*, crm.customers", "Shop.Orders,crm.*", "a.b,c.d,e.*"]
)
def test_tables_filter_agrees_with_the_streamer(tables: str) -> None:
    """The config accepts what `--include-tables` accepts, and reads it the same way."""
    config = dataclasses.replace(PipelineConfig(), tables=tables).validate()
    assert config.table_patterns == TableFilter.parse_patterns(tables, "--include-tables")


@pytest.mark.parametrize("tables", ["shop", "shop.", ".orders", "shop.orders.id"])
def test_tables_filter_rejects_what_the_streamer_rejects(tables: str) -> None:
    with pytest.raises(ConfigError):
        TableFilter.parse_patterns(tables, "--include-tables")
    with pytest.raises(ValueError, match="tables:"):
        dataclasses.replace(PipelineConfig(), tables=tables).validate()


def test_derived_values() -> None:
    config = dataclasses.replace(PipelineConfig(), tables="Shop.*,crm.customers,crm.orders")
    assert config.source_databases == ("crm", "shop")
    assert config.export_only == ("Shop", "crm.customers", "crm.orders")
    assert PipelineConfig().source_databases is None
    assert PipelineConfig().export_only == ()


def test_ecr_image_uri() -> None:
    image = EcrImage.parse("210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/cdc:1.2.3")
    assert image == EcrImage("210987654321", "eu-west-1", "team/cdc", "1.2.3")
    digest = "sha256:" + "a" * 64
    parsed = EcrImage.parse(f"210987654321.dkr.ecr.eu-west-1.amazonaws.com/cdc@{digest}")
    assert parsed is not None
    assert parsed.tag_or_digest == digest
    assert EcrImage.parse("docker.io/library/python:3.11") is None
    assert EcrImage.parse("210987654321.dkr.ecr.eu-west-1.amazonaws.com/cdc") is None  # no tag
