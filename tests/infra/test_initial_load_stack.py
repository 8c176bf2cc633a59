"""`<name>-initial-load`: position, export, wait, load, start the streamer."""

from __future__ import annotations

import itertools
import json
from typing import Any

from .conftest import Synth


def definition(synth: Synth) -> dict[str, Any]:
    """The state machine's definition, with every CloudFormation token replaced by a placeholder."""
    body = synth.only("initial-load", "AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"]
    parts = body["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    result: dict[str, Any] = json.loads(text)
    return result


def functions(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        f["Properties"]["FunctionName"]: f["Properties"]
        for f in synth.resources("initial-load", "AWS::Lambda::Function").values()
    }


def test_states_in_order(default: Synth) -> None:
    states = definition(default)
    assert states["StartAt"] == "ExportId"
    flow = states["States"]
    order = ["ExportId", "RecordPosition", "StartExportTask", "WaitForExport", "DescribeExportTasks", "ExportDone?"]
    for current, following in itertools.pairwise(order):
        assert flow[current]["Next"] == following
    choice = flow["ExportDone?"]
    assert choice["Default"] == "WaitForExport"
    [complete, failed] = choice["Choices"]
    assert complete == {"Variable": "$.export.status", "StringEquals": "COMPLETE", "Next": "LoadExport"}
    assert failed["Next"] == "ExportFailed"
    assert {c["StringEquals"] for c in failed["Or"]} == {"FAILED", "CANCELED"}
    assert flow["LoadExport"]["Next"] == "StartStreamer"
    assert flow["StartStreamer"]["Next"] == "Loaded"
    assert flow["Loaded"]["Type"] == "Succeed"
    assert flow["ExportFailed"]["Type"] == "Fail"
    assert flow["WaitForExport"]["Seconds"] == 60
    assert states["TimeoutSeconds"] == 48 * 3600


def test_export_id_comes_from_the_execution_name(default: Synth) -> None:
    export_id = definition(default)["States"]["ExportId"]
    assert export_id["Parameters"] == {"exportId.$": "States.Format('cdc-load-{}', $$.Execution.Name)"}


def test_export_task_parameters(default: Synth, production: Synth) -> None:
    start = definition(default)["States"]["StartExportTask"]
    assert start["Resource"] == "arn:TOKEN:states:::aws-sdk:rds:startExportTask"
    parameters = start["Parameters"]
    assert parameters["ExportTaskIdentifier.$"] == "$.load.exportId"
    assert parameters["SourceArn"] == "arn:TOKEN:rds:us-east-1:123456789012:cluster:example-aurora"
    assert parameters["S3Prefix"] == "exports"
    assert {"S3BucketName", "IamRoleArn", "KmsKeyId"} <= set(parameters)
    assert "ExportOnly" not in parameters
    prod = definition(production)["States"]["StartExportTask"]["Parameters"]
    assert prod["ExportOnly"] == ["shop", "crm.customers"]
    assert prod["S3BucketName"] == "shop-cdc-lake-test"
    describe = definition(default)["States"]["DescribeExportTasks"]
    assert describe["Resource"] == "arn:TOKEN:states:::aws-sdk:rds:describeExportTasks"
    assert describe["ResultSelector"] == {"status.$": "$.ExportTasks[0].Status"}


def test_load_and_start(default: Synth, production: Synth) -> None:
    flow = definition(production)["States"]
    assert flow["LoadExport"]["Parameters"] == {
        "export.$": "States.Format('s3://{}/exports/{}', 'shop-cdc-lake-test', $.load.exportId)",
        "position.$": "$.recorded.position",
    }
    assert flow["RecordPosition"]["ResultPath"] == "$.recorded"
    start = definition(default)["States"]["StartStreamer"]
    assert start["Resource"] == "arn:TOKEN:states:::aws-sdk:ecs:updateService"
    assert start["Parameters"]["DesiredCount"] == 1


def test_lambdas(default: Synth) -> None:
    found = functions(default)
    record = found["cdc-record-position"]
    load = found["cdc-load-export"]
    assert record["ImageConfig"] == {"Command": ["cdc_streamer.lambda_handlers.record_position"]}
    assert load["ImageConfig"] == {"Command": ["cdc_lake.lambda_handlers.load_export"]}
    for function in (record, load):
        assert function["PackageType"] == "Image"
        assert function["VpcConfig"]["SecurityGroupIds"]
        assert function["Environment"]["Variables"]["CDC_MYSQL_URL"].startswith("mysql://example-aurora.")
        assert function["Environment"]["Variables"]["CDC_MYSQL_SECRET_ARN"] == default.config.aurora_secret_arn
    assert record["Environment"]["Variables"]["CDC_POSITION_STORE"]["Fn::Join"][1][0] == "dynamodb:"
    assert load["Timeout"] == 900
    assert {"CDC_LAKE_DIR", "CDC_ATHENA_WORKGROUP", "CDC_ATHENA_OUTPUT", "CDC_REGION"} <= set(
        load["Environment"]["Variables"]
    )


def test_lambdas_share_the_streamers_network(production: Synth) -> None:
    for function in functions(production).values():
        assert function["VpcConfig"] == {
            "SecurityGroupIds": ["sg-0fedcba9876543210"],
            "SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        }


def test_export_role(default: Synth) -> None:
    roles = default.resources("initial-load", "AWS::IAM::Role")
    [(key, role)] = [(k, r) for k, r in roles.items() if k.startswith("ExportRole")]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "export.rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    [policy] = [
        p
        for p in default.resources("initial-load", "AWS::IAM::Policy").values()
        if {"Ref": key} in p["Properties"]["Roles"]
    ]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert statements["ExportObjects"]["Resource"]["Fn::Join"][1][-1] == "/exports/*"
    assert statements["ExportBucket"]["Action"] == ["s3:GetBucketLocation", "s3:ListBucket"]


def test_state_machine_permissions(default: Synth) -> None:
    [policy] = [
        p
        for key, p in default.resources("initial-load", "AWS::IAM::Policy").items()
        if key.startswith("StateMachineRole")
    ]
    by_action: dict[str, Any] = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action.setdefault(action, []).append(statement["Resource"])
    assert set(by_action) == {
        "lambda:InvokeFunction",
        "rds:StartExportTask",
        "iam:PassRole",
        "kms:CreateGrant",
        "kms:DescribeKey",
        "rds:DescribeExportTasks",
        "ecs:UpdateService",
    }
    assert by_action["rds:StartExportTask"] == [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":rds:us-east-1:123456789012:cluster:example-aurora"]]}
    ]
    assert by_action["rds:DescribeExportTasks"] == ["*"]
    assert by_action["ecs:UpdateService"] == [
        {"Fn::ImportValue": "cdc-streamer:ExportsOutputRefServiceD69D759B66719762"}
    ]
    [pass_role] = by_action["iam:PassRole"]
    assert pass_role["Fn::GetAtt"][0].startswith("ExportRole")
