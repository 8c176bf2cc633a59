"""`<name>-lake`: the data at rest and what reads it. The pipeline's KMS key, the lake bucket, the Glue database and
raw events table the Athena merge queries, and the Athena workgroup."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .config import PipelineConfig
from .names import (
    ATHENA_RESULTS,
    CLAIM_CHECK,
    ERRORS,
    EVENT_COLUMNS,
    EVENTS,
    GLUE_DATABASE,
    PARTITION_COLUMNS,
    RAW_EVENTS_TABLE,
)

PROJECTION_START = "2024-01-01"  # the first dt Athena's partition projection looks at (as the merge's own DDL)
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def raw_events_parameters(events_location: str) -> dict[str, str]:
    """The raw events table's properties: partition projection, as `cdc_lake.athena_sql.raw_events_table_ddl`
    declares it (no crawler, no MSCK REPAIR; database and table injected from the query's WHERE clause)."""
    template = events_location + "".join(f"{column.name}=${{{column.name}}}/" for column in PARTITION_COLUMNS)
    return {
        "EXTERNAL": "TRUE",
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.database.type": "injected",
        "projection.table.type": "injected",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{PROJECTION_START},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": template,
    }


class LakeStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, config: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.name}-pipeline",
            description=f"{config.name} CDC pipeline: Kinesis stream, Aurora exports, alarm topic",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted alarm topic: the service needs the key for that (and only
        # through SNS in this account).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"sns.{self.region}.amazonaws.com",
                        "aws:SourceAccount": self.account,
                    }
                },
            )
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=config.lake_bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=False,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-errors", prefix=ERRORS, expiration=cdk.Duration.days(30)),
                s3.LifecycleRule(id="expire-athena-results", prefix=ATHENA_RESULTS, expiration=cdk.Duration.days(7)),
                # Claim-check objects are read by the transform within the stream's retention; a week is ample.
                s3.LifecycleRule(
                    id="expire-claim-checks",
                    prefix=CLAIM_CHECK,
                    expiration=cdk.Duration.days(max(7, config.stream_retention_hours // 24 + 1)),
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(7)
                ),
            ],
        )
        # The name as a literal when the config gives one (readable templates), else the generated one.
        self.bucket_name = config.lake_bucket_name or self.bucket.bucket_name
        self.lake_uri = f"s3://{self.bucket_name}/"
        self.events_uri = f"s3://{self.bucket_name}/{EVENTS}"
        self.athena_results_uri = f"s3://{self.bucket_name}/{ATHENA_RESULTS}"

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=GLUE_DATABASE,
                description=f"{config.name} CDC lake: raw change events and the merge's own tables",
            ),
        )
        self.raw_events = glue.CfnTable(
            self,
            "RawEventsTable",
            catalog_id=self.account,
            database_name=GLUE_DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name=RAW_EVENTS_TABLE,
                description="Flattened change events delivered by Firehose (cdc_lake.event_schema)",
                table_type="EXTERNAL_TABLE",
                parameters=raw_events_parameters(self.events_uri),
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=column.name, type=column.type, comment=column.doc)
                    for column in PARTITION_COLUMNS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=self.events_uri,
                    input_format=PARQUET_INPUT,
                    output_format=PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name=column.name, type=column.type, comment=column.doc)
                        for column in EVENT_COLUMNS
                    ],
                ),
            ),
        )
        self.raw_events.node.add_dependency(self.database)

        self.workgroup_name = config.name
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description=f"{config.name} CDC lake: the merge, the initial load and queries",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.athena_results_uri,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

        cdk.CfnOutput(self, "LakeBucketName", value=self.bucket.bucket_name)
        cdk.CfnOutput(self, "AthenaWorkGroup", value=self.workgroup_name)
        cdk.CfnOutput(self, "RawEventsTableName", value=f"{GLUE_DATABASE}.{RAW_EVENTS_TABLE}")

    # -- ARNs other stacks scope their policies to ----------------------------------------------------------------

    @property
    def glue_catalog_arn(self) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:catalog"

    def glue_database_arn(self, database: str) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:database/{database}"

    def glue_table_arn(self, database: str, table: str) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.account}:table/{database}/{table}"

    @property
    def workgroup_arn(self) -> str:
        return f"arn:{self.partition}:athena:{self.region}:{self.account}:workgroup/{self.workgroup_name}"

    def objects_arn(self, prefix: str = "") -> str:
        """The ARN of the bucket's objects under `prefix` (all objects when empty)."""
        return str(self.bucket.arn_for_objects(f"{prefix}*"))
