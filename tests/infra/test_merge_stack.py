"""`<name>-merge`: the scheduled, single-concurrency merge Lambda."""

from __future__ import annotations

import json
from typing import Any

from .conftest import Synth


def merge_function(synth: Synth) -> dict[str, Any]:
    result: dict[str, Any] = synth.only("merge", "AWS::Lambda::Function")["Properties"]
    return result


def test_merge_lambda(default: Synth) -> None:
    function = merge_function(default)
    assert function["FunctionName"] == "cdc-merge"
    assert function["PackageType"] == "Image"
    assert function["ImageConfig"] == {"Command": ["cdc_lake.lambda_handlers.merge"]}
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Timeout"] == 900
    assert function["MemorySize"] == 1024
    assert function["Architectures"] == ["x86_64"]
    assert list(function["DeadLetterConfig"]["TargetArn"]) == ["Fn::GetAtt"]
    env = function["Environment"]["Variables"]
    assert env["CDC_ATHENA_WORKGROUP"] == "cdc"
    assert env["CDC_REGION"] == "us-east-1"
    assert env["CDC_LAKE_DIR"]["Fn::Join"][1][-1] == "/"
    assert env["CDC_ATHENA_OUTPUT"]["Fn::Join"][1][-1] == "/athena-results/"
    assert "CDC_TABLES" not in env


def test_merge_environment_with_a_filter(production: Synth) -> None:
    env = merge_function(production)["Environment"]["Variables"]
    assert env == {
        "CDC_LAKE_DIR": "s3://shop-cdc-lake-test/",
        "CDC_ATHENA_WORKGROUP": "shop-cdc",
        "CDC_ATHENA_OUTPUT": "s3://shop-cdc-lake-test/athena-results/",
        "CDC_REGION": "eu-west-1",
        "CDC_TABLES": "shop.*,crm.customers",
    }


def test_merge_image_is_the_lambda_target(default: Synth, production: Synth) -> None:
    digest = merge_function(default)["Code"]["ImageUri"]["Fn::Sub"].rsplit(":", 1)[1]
    manifest = json.loads((default.outdir / "cdc-merge.assets.json").read_text())
    assert manifest["dockerImages"][digest]["source"]["dockerBuildTarget"] == "lambda"
    assert merge_function(production)["Code"]["ImageUri"] == {
        "Fn::Join": ["", ["210987654321.dkr.ecr.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/cdc-lambda:1.0.0"]]
    }


def test_async_invocations_do_not_pile_up(default: Synth) -> None:
    default.template("merge").has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 3600}
    )


def test_dead_letter_queue_is_encrypted(default: Synth) -> None:
    queue = default.only("merge", "AWS::SQS::Queue")["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    [policy] = default.resources("merge", "AWS::SQS::QueuePolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_schedule(default: Synth, production: Synth) -> None:
    schedule = default.only("merge", "AWS::Scheduler::Schedule")["Properties"]
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    [function_key] = default.resources("merge", "AWS::Lambda::Function")
    assert target["Arn"] == {"Fn::GetAtt": [function_key, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 2}
    # The scheduler's role may invoke this function and nothing else.
    role_key = target["RoleArn"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in default.resources("merge", "AWS::IAM::Policy").values()
        if {"Ref": role_key} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [function_key, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [function_key, "Arn"]}, ":*"]]},
            ],
        }
    ]
    role = default.resources("merge", "AWS::IAM::Role")[role_key]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert production.only("merge", "AWS::Scheduler::Schedule")["Properties"]["ScheduleExpression"] == (
        "cron(0/10 * * * ? *)"
    )


def test_merge_role_is_scoped_to_the_lake(default: Synth, production: Synth) -> None:
    [policy] = [
        p for key, p in default.resources("merge", "AWS::IAM::Policy").items() if key.startswith("MergeServiceRole")
    ]
    statements = {s.get("Sid", "DeadLetters"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert set(statements) == {"DeadLetters", "RunAthenaQueries", "LakeCatalog", "LakeBucket", "LakeObjects"}
    assert statements["DeadLetters"]["Action"] == "sqs:SendMessage"
    athena = json.dumps(statements["RunAthenaQueries"]["Resource"])
    assert ":athena:us-east-1:123456789012:workgroup/cdc" in athena
    glue = json.dumps(statements["LakeCatalog"]["Resource"])
    for arn in (":catalog", "database/cdc_lake", "table/cdc_lake/*", "database/default", "database/*", "table/*/*"):
        assert arn in glue
    # With a tables filter, only the databases it names (master tables are named after them).
    [prod] = [
        p for key, p in production.resources("merge", "AWS::IAM::Policy").items() if key.startswith("MergeServiceRole")
    ]
    [catalog] = [s for s in prod["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "LakeCatalog"]
    arns = [part for r in catalog["Resource"] for part in r["Fn::Join"][1] if isinstance(part, str)]
    databases = sorted(a.rsplit("database/", 1)[1] for a in arns if "database/" in a)
    tables = sorted(a.rsplit("table/", 1)[1] for a in arns if "table/" in a)
    assert databases == ["cdc_lake", "crm", "default", "shop"]
    assert tables == ["cdc_lake/*", "crm/*", "default/*", "shop/*"]
