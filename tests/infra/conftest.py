"""Infra fixtures: the CDK app synthesized ONCE per session for two configs, and its templates.

- `default`: the defaults (placeholder account, a new VPC, images built from a Dockerfile, on-demand stream).
- `production`: what a real deployment looks like: an imported VPC and security groups, ECR images, a provisioned
  stream, a tables filter, a named bucket, an alarm email, a secret with its own KMS key.

Images are built from a stub Dockerfile in a temporary directory: at synth CDK only copies the build context and
hashes it (Docker runs at deploy time), so the real Dockerfile is not needed here; tests/infra/test_assets.py
checks the real build context's exclusions. CDK's own synth-time validation is off: test_cfn_lint.py runs cfn-lint.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # the machine's Node 20 banner

import aws_cdk as cdk
from aws_cdk import assertions

from infra.app import Pipeline, build_pipeline
from infra.config import PipelineConfig

PRODUCTION = PipelineConfig(
    name="shop-cdc",
    account="210987654321",
    region="eu-west-1",
    aurora_cluster_identifier="shop-db",
    aurora_endpoint="shop-db.cluster-cxyz12345678.eu-west-1.rds.amazonaws.com",
    aurora_secret_arn="arn:aws:secretsmanager:eu-west-1:210987654321:secret:shop/cdc-AbCdEf",
    aurora_secret_kms_key_arn="arn:aws:kms:eu-west-1:210987654321:key/12345678-1234-1234-1234-123456789012",
    aurora_security_group_id="sg-0123456789abcdef0",
    tables="shop.*,crm.customers",
    heartbeat_table="cdc_meta.heartbeat",
    vpc_id="vpc-0123456789abcdef0",
    private_subnet_ids=("subnet-0123456789abcdef0", "subnet-0123456789abcdef1"),
    availability_zones=("eu-west-1a", "eu-west-1b"),
    streamer_security_group_id="sg-0fedcba9876543210",
    lake_bucket_name="shop-cdc-lake-test",
    shard_mode="provisioned",
    shard_count=4,
    firehose_buffer_seconds=120,
    firehose_buffer_mib=64,
    merge_schedule="cron(0/10 * * * ? *)",
    streamer_image="210987654321.dkr.ecr.eu-west-1.amazonaws.com/cdc:1.0.0",
    lambda_image="210987654321.dkr.ecr.eu-west-1.amazonaws.com/cdc-lambda:1.0.0",
    streamer_desired_count=1,
    alarm_email="ops@example.com",
)
STUB_DOCKERFILE = "FROM python:3.11-slim AS runtime\nFROM runtime AS lambda\n"


@dataclass
class Synth:
    """One synthesized app: the config, its stacks, their templates (assertions and raw JSON) and the outdir."""

    config: PipelineConfig
    pipeline: Pipeline
    outdir: Path
    transform_dir: Path
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[str, assertions.Template] = field(default_factory=dict)

    def template(self, suffix: str) -> assertions.Template:
        return self.templates[f"{self.config.name}-{suffix}"]

    def resources(self, suffix: str, kind: str) -> dict[str, dict[str, Any]]:
        """The resources of type `kind` in stack `<name>-<suffix>`, by logical id (raw template JSON)."""
        template = self.raw[f"{self.config.name}-{suffix}"]
        return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}

    def only(self, suffix: str, kind: str) -> dict[str, Any]:
        found = self.resources(suffix, kind)
        assert len(found) == 1, f"expected one {kind} in {suffix}, found {sorted(found)}"
        return next(iter(found.values()))


def synthesize(config: PipelineConfig, base: Path) -> Synth:
    context = base / "docker-context"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(STUB_DOCKERFILE)
    outdir = base / "cdk.out"
    transform_dir = base / "transform"
    app = cdk.App(outdir=str(outdir), builtin_cloud_formation_validation=False)
    pipeline = build_pipeline(app, config, docker_context=context, transform_asset_dir=transform_dir)
    assembly = app.synth()
    synth = Synth(config, pipeline, outdir, transform_dir)
    for stack in pipeline.stacks:
        artifact = assembly.get_stack_by_name(stack.stack_name)
        synth.raw[stack.stack_name] = json.loads(json.dumps(artifact.template))
        synth.templates[stack.stack_name] = assertions.Template.from_json(
            synth.raw[stack.stack_name], skip_cyclical_dependencies_check=True
        )
    return synth


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(PipelineConfig(), tmp_path_factory.mktemp("infra-default"))


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(PRODUCTION, tmp_path_factory.mktemp("infra-production"))


@pytest.fixture(scope="session")
def both(default: Synth, production: Synth) -> tuple[Synth, Synth]:
    return default, production
