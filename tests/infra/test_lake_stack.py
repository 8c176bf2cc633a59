"""`<name>-lake`: key, bucket, the Glue table the Athena merge reads, the workgroup."""

from __future__ import annotations

import re

from aws_cdk.assertions import Match

from cdc_lake.athena_sql import raw_events_table_ddl
from cdc_lake.compact import RAW_EVENTS
from cdc_lake.event_schema import EVENT_COLUMNS, PARTITION_COLUMNS
from cdc_lake.merge_sql import META_SCHEMA
from infra.names import GLUE_DATABASE, RAW_EVENTS_TABLE

from .conftest import Synth


def test_glue_names_are_the_ones_the_merge_queries() -> None:
    assert (GLUE_DATABASE, RAW_EVENTS_TABLE) == (META_SCHEMA, RAW_EVENTS)


def test_kms_key_rotates_and_is_retained(default: Synth) -> None:
    lake = default.template("lake")
    lake.resource_count_is("AWS::KMS::Key", 1)
    lake.has_resource(
        "AWS::KMS::Key",
        {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"},
    )
    lake.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/cdc-pipeline"})


def test_bucket_is_private_encrypted_tls_only_and_retained(default: Synth) -> None:
    lake = default.template("lake")
    lake.resource_count_is("AWS::S3::Bucket", 1)
    lake.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
            "DeletionPolicy": "Retain",
        },
    )
    policy = default.only("lake", "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    deny_plain = [
        s
        for s in policy
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert deny_plain and deny_plain[0]["Action"] == "s3:*" and deny_plain[0]["Principal"] == {"AWS": "*"}
    old_tls = [s for s in policy if s["Effect"] == "Deny" and "NumericLessThan" in s.get("Condition", {})]
    assert old_tls and old_tls[0]["Condition"]["NumericLessThan"] == {"s3:TlsVersion": 1.2}


def test_bucket_lifecycle(default: Synth) -> None:
    rules = default.only("lake", "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {rule.get("Prefix"): rule for rule in rules}
    assert by_prefix["errors/"]["ExpirationInDays"] == 30
    assert by_prefix["athena-results/"]["ExpirationInDays"] == 7
    assert by_prefix["claim-check/"]["ExpirationInDays"] >= 2
    assert by_prefix[None]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert all(rule["Status"] == "Enabled" for rule in rules)
    # Nothing expires what the lake keeps: raw events, master tables, the merge's meta tables, exports.
    assert not {"events/", "master/", "meta/", "exports/"} & set(by_prefix)


def test_named_bucket(production: Synth) -> None:
    production.template("lake").has_resource_properties("AWS::S3::Bucket", {"BucketName": "shop-cdc-lake-test"})


def test_glue_database_and_raw_events_table(default: Synth) -> None:
    lake = default.template("lake")
    lake.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": "cdc_lake"}})
    table = default.only("lake", "AWS::Glue::Table")["Properties"]
    assert table["DatabaseName"] == "cdc_lake"
    info = table["TableInput"]
    assert info["Name"] == "raw_events"
    assert info["TableType"] == "EXTERNAL_TABLE"
    storage = info["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == [(c.name, c.type) for c in EVENT_COLUMNS]
    assert [(c["Name"], c["Type"]) for c in info["PartitionKeys"]] == [(c.name, c.type) for c in PARTITION_COLUMNS]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    parts = storage["Location"]["Fn::Join"][1]
    assert (parts[0], parts[-1]) == ("s3://", "/events/")
    assert list(parts[1]) == ["Ref"]  # the bucket


def test_glue_table_matches_the_merges_own_ddl(production: Synth) -> None:
    """The merge runs CREATE EXTERNAL TABLE IF NOT EXISTS cdc_lake.raw_events: the deployed table wins, so it must
    declare the same location, columns and partition projection."""
    ddl = raw_events_table_ddl(META_SCHEMA, RAW_EVENTS, "s3://shop-cdc-lake-test/")
    info = production.only("lake", "AWS::Glue::Table")["Properties"]["TableInput"]
    tblproperties = dict(re.findall(r"'([^']*)'='([^']*)'", ddl.split("TBLPROPERTIES", 1)[1]))
    assert tblproperties
    assert {key: info["Parameters"][key] for key in tblproperties} == tblproperties
    location = re.search(r"LOCATION '([^']*)'", ddl)
    assert location is not None
    assert info["StorageDescriptor"]["Location"] == location.group(1) == "s3://shop-cdc-lake-test/events/"
    assert "STORED AS PARQUET" in ddl
    columns = re.findall(r"^  `?(\w+)`? (\w+),?$", ddl.split("PARTITIONED BY")[0], re.MULTILINE)
    assert [(c["Name"], c["Type"]) for c in info["StorageDescriptor"]["Columns"]] == columns


def test_athena_workgroup(default: Synth, production: Synth) -> None:
    default.template("lake").has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "cdc",
            "State": "ENABLED",
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "BytesScannedCutoffPerQuery": 10 * 1024**3,
                "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                "ResultConfiguration": {
                    "OutputLocation": {"Fn::Join": ["", ["s3://", {"Ref": Match.any_value()}, "/athena-results/"]]},
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            },
        },
    )
    production.template("lake").has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "shop-cdc",
            "WorkGroupConfiguration": {
                "ResultConfiguration": {"OutputLocation": "s3://shop-cdc-lake-test/athena-results/"}
            },
        },
    )


def test_key_policy_lets_cloudwatch_publish_to_the_encrypted_topic(default: Synth) -> None:
    statements = default.only("lake", "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1
    assert cloudwatch[0]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch[0]["Condition"]["StringEquals"]["kms:ViaService"] == "sns.us-east-1.amazonaws.com"
