"""`<name>-streamer`: network, checkpoint table, the one-task Fargate service and its environment."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cdc_streamer.cli import build_parser, env_name

from .conftest import Synth


def container(synth: Synth) -> dict[str, Any]:
    task = synth.only("streamer", "AWS::ECS::TaskDefinition")["Properties"]
    [definition] = task["ContainerDefinitions"]
    result: dict[str, Any] = definition
    return result


def environment(synth: Synth) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in container(synth)["Environment"]}


def run_flags() -> set[str]:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    run = commands.choices["run"]
    return {env_name(flag) for action in run._actions for flag in action.option_strings if flag.startswith("--")}


def test_checkpoint_table(default: Synth) -> None:
    streamer = default.template("streamer")
    streamer.resource_count_is("AWS::DynamoDB::Table", 1)
    streamer.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "TableName": "cdc-checkpoints",
                "KeySchema": [{"AttributeName": "pipeline", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pipeline", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "DeletionProtectionEnabled": True,
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_service_runs_at_most_one_task_and_starts_at_zero(default: Synth, production: Synth) -> None:
    default.template("streamer").has_resource_properties(
        "AWS::ECS::Service",
        {
            "ServiceName": "cdc-streamer",
            "DesiredCount": 0,
            "LaunchType": "FARGATE",
            "DeploymentConfiguration": {
                "MaximumPercent": 100,
                "MinimumHealthyPercent": 0,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "DISABLED"}},
            "EnableExecuteCommand": False,
        },
    )
    production.template("streamer").has_resource_properties("AWS::ECS::Service", {"DesiredCount": 1})


def test_task_definition(default: Synth) -> None:
    default.template("streamer").has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "Cpu": "512",
            "Memory": "1024",
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "RuntimePlatform": {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
        },
    )
    definition = container(default)
    assert definition["EntryPoint"] == ["cdc-streamer"]
    assert definition["Command"] == ["run"]
    assert definition["HealthCheck"]["Command"] == ["CMD", "cdc-streamer", "health"]
    assert definition["PortMappings"] == [{"ContainerPort": 9100, "Name": "metrics", "Protocol": "tcp"}]
    assert definition["LinuxParameters"]["InitProcessEnabled"] is True
    assert definition["StopTimeout"] == 60
    log = definition["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert list(log["Options"]["awslogs-group"]) == ["Ref"]
    group = log["Options"]["awslogs-group"]["Ref"]
    assert default.raw["cdc-streamer"]["Resources"][group]["Properties"]["RetentionInDays"] == 30


def test_image_from_the_dockerfile_runtime_target(default: Synth) -> None:
    image = container(default)["Image"]["Fn::Sub"]
    digest = image.rsplit(":", 1)[1]
    manifest = json.loads((default.outdir / "cdc-streamer.assets.json").read_text())
    source = manifest["dockerImages"][digest]["source"]
    assert source["dockerBuildTarget"] == "runtime"
    assert source["platform"] == "linux/amd64"


def test_image_from_ecr(production: Synth) -> None:
    assert container(production)["Image"] == {
        "Fn::Join": ["", ["210987654321.dkr.ecr.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/cdc:1.0.0"]]
    }
    assert not json.loads((production.outdir / "shop-cdc-streamer.assets.json").read_text()).get("dockerImages")


def test_environment(default: Synth, production: Synth) -> None:
    env = environment(default)
    assert env["CDC_SINK"] == "kinesis"
    assert env["CDC_STREAM_NAME"] == {"Fn::ImportValue": "cdc-stream:ExportsOutputRefStream790BDEE48EF430C2"}
    assert env["CDC_REGION"] == "us-east-1"
    assert env["CDC_POSITION_STORE"]["Fn::Join"][1][0] == "dynamodb:"
    assert env["CDC_POSITION_STORE"]["Fn::Join"][1][-1] == "/cdc"
    assert env["CDC_MYSQL_URL"] == "mysql://example-aurora.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com:3306"
    assert env["CDC_MYSQL_SECRET_ARN"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdc/aurora-AbCdEf"
    assert env["CDC_METRICS_PORT"] == "9100"
    assert env["CDC_LOG_FORMAT"] == "json"
    assert env["CDC_SERVER_ID"] == "6379"
    assert env["CDC_OVERSIZE"]["Fn::Join"][1][0] == "claim-check:s3://"
    assert env["CDC_OVERSIZE"]["Fn::Join"][1][-1] == "/claim-check/"
    assert "CDC_INCLUDE_TABLES" not in env
    prod = environment(production)
    assert prod["CDC_INCLUDE_TABLES"] == "shop.*,crm.customers"
    assert prod["CDC_HEARTBEAT_TABLE"] == "cdc_meta.heartbeat"
    assert "CDC_HEARTBEAT_TABLE" not in env
    assert prod["CDC_OVERSIZE"] == "claim-check:s3://shop-cdc-lake-test/claim-check/"
    assert not any("password" in key.lower() for key in env)


def test_environment_names_are_real_streamer_flags(default: Synth, production: Synth) -> None:
    """Every variable set on the container is a flag of `cdc-streamer run` (a typo would be silently ignored)."""
    names = set(environment(default)) | set(environment(production))
    assert names - run_flags() == set()


def test_task_role_has_only_the_named_resources(default: Synth) -> None:
    [policy] = [
        p for key, p in default.resources("streamer", "AWS::IAM::Policy").items() if key.startswith("TaskPolicy")
    ]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    expected_actions = {
        "WriteTheStream": [
            "kinesis:PutRecord",
            "kinesis:PutRecords",
            "kinesis:DescribeStreamSummary",
            "kinesis:ListShards",
        ],
        "EncryptForTheStream": ["kms:GenerateDataKey", "kms:Encrypt"],
        "Checkpoint": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
        "ReadTheSourceSecret": "secretsmanager:GetSecretValue",
        "ClaimChecks": ["s3:PutObject", "s3:GetObject"],
    }
    assert {sid: s["Action"] for sid, s in statements.items()} == expected_actions
    assert statements["WriteTheStream"]["Resource"] == {
        "Fn::ImportValue": "cdc-stream:ExportsOutputFnGetAttStream790BDEE4ArnB60CF6B6"
    }
    assert statements["EncryptForTheStream"]["Resource"]["Fn::ImportValue"].startswith(
        "cdc-lake:ExportsOutputFnGetAttKey"
    )
    assert statements["Checkpoint"]["Resource"] == {"Fn::GetAtt": ["Checkpoints620E2F20", "Arn"]}
    assert statements["ReadTheSourceSecret"]["Resource"] == default.config.aurora_secret_arn
    assert statements["ClaimChecks"]["Resource"]["Fn::Join"][1][-1] == "/claim-check/*"
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements.values())
    # The task role has no other policy, managed or inline.
    [role] = [r for key, r in default.resources("streamer", "AWS::IAM::Role").items() if key.startswith("TaskRole")]
    assert "ManagedPolicyArns" not in role["Properties"] and "Policies" not in role["Properties"]
    [role_key] = [key for key in default.resources("streamer", "AWS::IAM::Role") if key.startswith("TaskRole")]
    attached = [
        p
        for p in default.resources("streamer", "AWS::IAM::Policy").values()
        if {"Ref": role_key} in p["Properties"]["Roles"]
    ]
    assert attached == [policy]


def test_secret_key_decrypt_only_via_secrets_manager(production: Synth) -> None:
    [policy] = [
        p for key, p in production.resources("streamer", "AWS::IAM::Policy").items() if key.startswith("TaskPolicy")
    ]
    [decrypt] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "DecryptTheSourceSecret"]
    assert decrypt["Resource"] == production.config.aurora_secret_kms_key_arn
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}


def test_new_vpc_when_none_is_given(default: Synth, production: Synth) -> None:
    default.template("streamer").resource_count_is("AWS::EC2::VPC", 1)
    default.template("streamer").resource_count_is("AWS::EC2::NatGateway", 1)
    default.template("streamer").resource_count_is("AWS::EC2::SecurityGroup", 1)
    production.template("streamer").resource_count_is("AWS::EC2::VPC", 0)
    production.template("streamer").resource_count_is("AWS::EC2::SecurityGroup", 0)


def test_imported_network(production: Synth) -> None:
    streamer = production.template("streamer")
    streamer.has_resource_properties(
        "AWS::ECS::Service",
        {
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "SecurityGroups": ["sg-0fedcba9876543210"],
                    "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                }
            }
        },
    )
    streamer.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "GroupId": "sg-0123456789abcdef0",
            "SourceSecurityGroupId": "sg-0fedcba9876543210",
            "IpProtocol": "tcp",
            "FromPort": 3306,
            "ToPort": 3306,
        },
    )
