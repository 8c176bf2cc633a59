"""Least privilege across every template: no wildcard actions, and `Resource: "*"` only for actions AWS offers on
nothing narrower. docs/deploy.md ("IAM: what is allowed on every resource") mirrors this list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Synth

# Actions that AWS only authorizes on "*" (no resource-level permissions), each with the reason it is needed.
STAR_RESOURCE_ALLOWED: dict[str, str] = {
    # The ECS task execution role logs in to ECR before pulling the streamer image (CDK adds it with the image).
    "ecr:GetAuthorizationToken": "ECR registry login has no resource-level permissions",
    # The initial-load state machine polls the export it started.
    "rds:DescribeExportTasks": "DescribeExportTasks has no resource-level permissions",
}

# AWS managed policies a role may carry (everything else is an inline policy scoped here).
MANAGED_POLICIES_ALLOWED: dict[str, str] = {
    # Lambda: create its log streams and put log events (logs:CreateLogGroup/CreateLogStream/PutLogEvents).
    "service-role/AWSLambdaBasicExecutionRole": "Lambda logging",
    # VPC Lambdas (record-position, load-export): manage their network interfaces (ec2:*NetworkInterface* on "*").
    "service-role/AWSLambdaVPCAccessExecutionRole": "ENIs of VPC Lambdas",
}


def statements(synth: Synth) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(stack, resource logical id, statement) for every statement of every identity policy in every template:
    AWS::IAM::Policy, AWS::IAM::ManagedPolicy, and the inline policies of AWS::IAM::Role."""
    for stack, template in synth.raw.items():
        for key, resource in template["Resources"].items():
            kind, properties = resource["Type"], resource.get("Properties", {})
            documents = []
            if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                documents.append(properties["PolicyDocument"])
            elif kind == "AWS::IAM::Role":
                documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
            for document in documents:
                for statement in document["Statement"]:
                    yield stack, key, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("variant", ["default", "production"])
def test_there_are_policies_to_check(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    assert sum(1 for _ in statements(synth)) >= 30


@pytest.mark.parametrize("variant", ["default", "production"])
def test_no_wildcard_actions(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    wild = [
        (stack, key, action)
        for stack, key, statement in statements(synth)
        if statement["Effect"] == "Allow"
        for action in as_list(statement.get("Action", []))
        if "*" in action
    ]
    assert "NotAction" not in str([s for _, _, s in statements(synth)])
    assert wild == []


@pytest.mark.parametrize("variant", ["default", "production"])
def test_star_resource_only_for_actions_without_resource_level_permissions(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    offenders = []
    used = set()
    for stack, key, statement in statements(synth):
        assert "NotResource" not in statement, (stack, key)
        if statement["Effect"] != "Allow" or "*" not in as_list(statement["Resource"]):
            continue
        actions = as_list(statement["Action"])
        used.update(actions)
        if any("*" in action for action in actions) or not set(actions) <= set(STAR_RESOURCE_ALLOWED):
            offenders.append((stack, key, actions))
        # A "*" statement holds nothing but allowed actions, never mixed with scoped resources.
        assert as_list(statement["Resource"]) == ["*"], (stack, key)
    assert offenders == []
    assert used == set(STAR_RESOURCE_ALLOWED) if variant == "default" else used <= set(STAR_RESOURCE_ALLOWED)


@pytest.mark.parametrize("variant", ["default", "production"])
def test_only_allowed_managed_policies(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    attached = set()
    for template in synth.raw.values():
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for arn in resource["Properties"].get("ManagedPolicyArns", []):
                parts = arn["Fn::Join"][1] if isinstance(arn, dict) else [arn]
                attached.add(str(parts[-1]).removeprefix(":iam::aws:policy/"))
    assert attached <= set(MANAGED_POLICIES_ALLOWED), attached - set(MANAGED_POLICIES_ALLOWED)
    assert "service-role/AWSLambdaBasicExecutionRole" in attached


def test_every_role_is_assumed_by_one_service(default: Synth) -> None:
    services = set()
    for template in default.raw.values():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Role":
                [trust] = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
                assert trust["Action"] == "sts:AssumeRole"
                services.add(trust["Principal"]["Service"])
    assert services == {
        "ecs-tasks.amazonaws.com",
        "export.rds.amazonaws.com",
        "firehose.amazonaws.com",
        "lambda.amazonaws.com",
        "scheduler.amazonaws.com",
        "states.amazonaws.com",
    }
