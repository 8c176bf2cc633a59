"""`<name>-stream`: the Kinesis stream, the transform Lambda and its zip, Firehose to partitioned Parquet."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from firehose_transform.handler import handler
from infra.names import FIREHOSE_PREFIX, PARTITION_KEYS

from .conftest import Synth

EVENT = {
    "database": "shop",
    "table": "orders",
    "type": "insert",
    "ts": 1700000000,
    "xid": 7,
    "xoffset": 0,
    "commit": True,
    "position": "binlog.000003:1234",
    "gtid": None,
    "server_id": 1,
    "thread_id": 5,
    "primary_key": [1],
    "primary_key_columns": ["id"],
    "data": {"id": 1, "total": "9.50"},
    "old": None,
}


def firehose_batch() -> dict[str, Any]:
    return {"records": [{"recordId": "1", "data": base64.b64encode(json.dumps(EVENT).encode()).decode()}]}


def test_stream_is_kms_encrypted_on_demand(default: Synth) -> None:
    stream = default.template("stream")
    stream.resource_count_is("AWS::Kinesis::Stream", 1)
    stream.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": "cdc-events",
            "StreamEncryption": {
                "EncryptionType": "KMS",
                "KeyId": {"Fn::ImportValue": Match.string_like_regexp("Key")},
            },
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": 24,
        },
    )
    assert "ShardCount" not in default.only("stream", "AWS::Kinesis::Stream")["Properties"]


def test_provisioned_stream(production: Synth) -> None:
    production.template("stream").has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "ShardCount": 4,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamEncryption": {"EncryptionType": "KMS"},
        },
    )


def test_transform_lambda(default: Synth) -> None:
    default.template("stream").has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "cdc-transform",
            "Runtime": "python3.11",
            "Handler": "firehose_transform.handler.handler",
            "MemorySize": 512,
            "Timeout": 300,
            "LoggingConfig": {"LogGroup": {"Ref": Match.any_value()}},
        },
    )
    default.template("stream").has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_transform_zip_holds_only_the_transform_and_what_it_imports(default: Synth) -> None:
    files = sorted(str(p.relative_to(default.transform_dir)) for p in default.transform_dir.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "cdc_lake/__init__.py",
            "cdc_lake/event_schema.py",
            "cdc_streamer/__init__.py",
            "cdc_streamer/encoding.py",
            "cdc_streamer/errors.py",
            "cdc_streamer/event.py",
            "cdc_streamer/path_names.py",
            "cdc_streamer/position.py",
            "firehose_transform/__init__.py",
            "firehose_transform/claim_check.py",
            "firehose_transform/flatten.py",
            "firehose_transform/handler.py",
            "firehose_transform/kpl.py",
            "firehose_transform/transform.py",
        ]
    )
    key = default.only("stream", "AWS::Lambda::Function")["Properties"]["Code"]["S3Key"]
    manifest = json.loads((default.outdir / "cdc-stream.assets.json").read_text())
    source = manifest["files"][key.removesuffix(".zip")]["source"]
    assert source["packaging"] == "zip"
    staged = default.outdir / source["path"]
    assert sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()) == files


def test_transform_zip_runs_alone_on_the_standard_library(default: Synth) -> None:
    """The staged code imports and handles a batch with nothing but the standard library (as the Lambda runtime:
    boto3 is only needed for claim checks)."""
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(default.transform_dir)!r})\n"
        "from firehose_transform.handler import handler\n"
        "print(json.dumps(handler(json.loads(sys.stdin.read()), None)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(firehose_batch()),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == handler(firehose_batch(), None)


def test_prefix_uses_the_transforms_partition_keys() -> None:
    record = handler(firehose_batch(), None)["records"][0]
    assert record["result"] == "Ok"
    keys = record["metadata"]["partitionKeys"]
    assert tuple(keys) == PARTITION_KEYS
    rendered = FIREHOSE_PREFIX
    for key, value in keys.items():
        rendered = rendered.replace(f"!{{partitionKeyFromLambda:{key}}}", value)
    assert rendered == "events/database=shop/table=orders/dt=2023-11-14/hour=22/"


def destination(synth: Synth) -> dict[str, Any]:
    delivery = synth.only("stream", "AWS::KinesisFirehose::DeliveryStream")["Properties"]
    result: dict[str, Any] = delivery["ExtendedS3DestinationConfiguration"]
    return result


def test_firehose_reads_the_stream(default: Synth) -> None:
    delivery = default.only("stream", "AWS::KinesisFirehose::DeliveryStream")
    assert delivery["Properties"]["DeliveryStreamType"] == "KinesisStreamAsSource"
    source = delivery["Properties"]["KinesisStreamSourceConfiguration"]
    assert list(source["KinesisStreamARN"]) == ["Fn::GetAtt"]
    assert len(delivery["DependsOn"]) == 1  # created after its role's policy: Firehose checks it at creation


def test_firehose_dynamic_partitioning_parquet_and_errors(default: Synth) -> None:
    config = destination(default)
    assert config["Prefix"] == (
        "events/database=!{partitionKeyFromLambda:database}/table=!{partitionKeyFromLambda:table}/"
        "dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/"
    )
    assert config["ErrorOutputPrefix"] == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    assert config["FileExtension"] == ".parquet"
    assert config["CompressionFormat"] == "UNCOMPRESSED"
    assert config["DynamicPartitioningConfiguration"] == {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
    assert config["BufferingHints"] == {"IntervalInSeconds": 300, "SizeInMBs": 128}
    conversion = config["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["InputFormatConfiguration"] == {"Deserializer": {"OpenXJsonSerDe": {}}}
    assert conversion["OutputFormatConfiguration"] == {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}
    schema = conversion["SchemaConfiguration"]
    assert (schema["CatalogId"], schema["DatabaseName"], schema["TableName"], schema["Region"]) == (
        "123456789012",
        "cdc_lake",
        "raw_events",
        "us-east-1",
    )
    assert schema["VersionId"] == "LATEST"
    processors = config["ProcessingConfiguration"]["Processors"]
    assert config["ProcessingConfiguration"]["Enabled"] is True
    assert [p["Type"] for p in processors] == ["Lambda"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processors[0]["Parameters"]}
    assert list(parameters["LambdaArn"]) == ["Fn::GetAtt"]
    assert parameters["BufferSizeInMBs"] == "1"
    assert config["CloudWatchLoggingOptions"]["Enabled"] is True


def test_firehose_buffering_from_config(production: Synth) -> None:
    assert destination(production)["BufferingHints"] == {"IntervalInSeconds": 120, "SizeInMBs": 64}


def policy_of(synth: Synth, suffix: str, logical_prefix: str) -> list[dict[str, Any]]:
    """The statements of the one AWS::IAM::Policy whose logical id starts with `logical_prefix`."""
    found = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for key, policy in synth.resources(suffix, "AWS::IAM::Policy").items()
        if key.startswith(logical_prefix)
    ]
    assert len(found) == 1, f"{logical_prefix}: {len(found)} policies"
    statements: list[dict[str, Any]] = found[0]
    return statements


def test_transform_reads_only_claim_checks(default: Synth) -> None:
    [statement] = policy_of(default, "stream", "TransformServiceRoleDefaultPolicy")
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"]["Fn::Join"][1][-1] == "/claim-check/*"


def test_firehose_role_is_scoped(default: Synth) -> None:
    statements = {s["Sid"]: s for s in policy_of(default, "stream", "DeliveryPolicy")}
    assert set(statements) == {
        "ReadTheStream",
        "DecryptTheStream",
        "CallTheTransform",
        "ReadTheSchema",
        "LocateTheBucket",
        "WriteEventsAndErrors",
        "LogDeliveryErrors",
    }
    writes = statements["WriteEventsAndErrors"]["Resource"]
    assert [r["Fn::Join"][1][-1] for r in writes] == ["/events/*", "/errors/*"]
    glue = json.dumps(statements["ReadTheSchema"]["Resource"])
    assert ":catalog" in glue and "database/cdc_lake" in glue and "table/cdc_lake/raw_events" in glue
    [role] = [
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        for key, role in default.resources("stream", "AWS::IAM::Role").items()
        if key.startswith("DeliveryRole")
    ]
    assert role["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert role["Condition"] == {"StringEquals": {"sts:ExternalId": "123456789012"}}


def test_staging_empties_the_directory_first(tmp_path: Path) -> None:
    from infra.assets import stage_transform

    stale = tmp_path / "stage" / "stale.py"
    stale.parent.mkdir()
    stale.write_text("")
    stage_transform(tmp_path / "stage")
    assert not stale.exists()
    assert (tmp_path / "stage" / "firehose_transform" / "handler.py").is_file()
