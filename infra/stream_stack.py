"""`<name>-stream`: the moving data. The Kinesis stream the streamer writes, the transform Lambda, and the Firehose
delivery stream that calls it, converts its rows to Parquet with the Glue table's schema and writes them under
`events/database=D/table=T/dt=YYYY-MM-DD/hour=HH/` (dynamic partitioning on the transform's partition keys).

Firehose is the L1 resource with a hand-written role: the L2 `S3Bucket` destination grants read-write on the whole
bucket (master tables included), where Firehose needs to write `events/` and `errors/` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .assets import stage_transform
from .config import PipelineConfig
from .lake_stack import LakeStack
from .names import (
    CLAIM_CHECK,
    ERRORS,
    EVENTS,
    FIREHOSE_ERROR_PREFIX,
    FIREHOSE_PREFIX,
    GLUE_DATABASE,
    RAW_EVENTS_TABLE,
    TRANSFORM_HANDLER,
)
from .retention import log_retention

# Firehose's buffer in front of the transform Lambda: 1 MB of input keeps the response (flattened rows are larger
# than the events) far below Lambda's 6 MB response limit.
PROCESSOR_BUFFER_MIB = 1
PROCESSOR_BUFFER_SECONDS = 60
PROCESSOR_RETRIES = 3
DYNAMIC_PARTITIONING_RETRY_SECONDS = 300


class StreamStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: LakeStack,
        transform_asset_dir: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        retention = log_retention(config.log_retention_days)

        on_demand = config.shard_mode == "on-demand"
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=f"{config.name}-events",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=lake.key,
            stream_mode=kinesis.StreamMode.ON_DEMAND if on_demand else kinesis.StreamMode.PROVISIONED,
            shard_count=None if on_demand else config.shard_count,
            retention_period=cdk.Duration.hours(config.stream_retention_hours),
        )

        self.transform_log_group = logs.LogGroup(
            self, "TransformLogs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        self.transform = lambda_.Function(
            self,
            "Transform",
            function_name=f"{config.name}-transform",
            description="Firehose transform: change events -> flattened rows + partition keys (firehose_transform)",
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.X86_64,
            handler=TRANSFORM_HANDLER,
            code=lambda_.Code.from_asset(str(stage_transform(transform_asset_dir))),
            memory_size=512,
            timeout=cdk.Duration.minutes(5),
            log_group=self.transform_log_group,
        )
        # Claim-check pointer events name an object the streamer wrote; the role is what keeps the transform from
        # reading anything else (firehose_transform.claim_check).
        self.transform.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[lake.objects_arn(CLAIM_CHECK)])
        )

        self.delivery_log_group = logs.LogGroup(
            self, "DeliveryLogs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        delivery_log_stream = logs.LogStream(
            self, "DeliveryLogStream", log_group=self.delivery_log_group, log_stream_name="DestinationDelivery"
        )

        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": self.account}}
            ),
            description="Firehose: read the stream, call the transform, read the Glue schema, write events/ errors/",
        )
        policy = iam.Policy(
            self,
            "DeliveryPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheStream",
                    actions=[
                        "kinesis:DescribeStream",
                        "kinesis:DescribeStreamSummary",
                        "kinesis:GetRecords",
                        "kinesis:GetShardIterator",
                        "kinesis:ListShards",
                    ],
                    resources=[self.stream.stream_arn],
                ),
                iam.PolicyStatement(sid="DecryptTheStream", actions=["kms:Decrypt"], resources=[lake.key.key_arn]),
                iam.PolicyStatement(
                    sid="CallTheTransform",
                    actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                    resources=[self.transform.function_arn, f"{self.transform.function_arn}:*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheSchema",
                    actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                    resources=[
                        lake.glue_catalog_arn,
                        lake.glue_database_arn(GLUE_DATABASE),
                        lake.glue_table_arn(GLUE_DATABASE, RAW_EVENTS_TABLE),
                    ],
                ),
                iam.PolicyStatement(
                    sid="LocateTheBucket",
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[lake.bucket.bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="WriteEventsAndErrors",
                    actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    resources=[lake.objects_arn(EVENTS), lake.objects_arn(ERRORS)],
                ),
                iam.PolicyStatement(
                    sid="LogDeliveryErrors",
                    actions=["logs:PutLogEvents"],
                    resources=[
                        self.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{self.delivery_log_group.log_group_name}:log-stream:*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )

        prefix = FIREHOSE_PREFIX
        cfn = firehose.CfnDeliveryStream
        self.delivery = cfn(
            self,
            "Delivery",
            delivery_stream_name=f"{config.name}-events",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=cfn.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=self.stream.stream_arn, role_arn=role.role_arn
            ),
            extended_s3_destination_configuration=cfn.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=lake.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=prefix,
                error_output_prefix=FIREHOSE_ERROR_PREFIX,
                file_extension=".parquet",  # the merge reads *.parquet under events/
                compression_format="UNCOMPRESSED",  # Parquet compresses its pages itself (SNAPPY below)
                buffering_hints=cfn.BufferingHintsProperty(
                    interval_in_seconds=config.firehose_buffer_seconds, size_in_m_bs=config.firehose_buffer_mib
                ),
                cloud_watch_logging_options=cfn.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.delivery_log_group.log_group_name,
                    log_stream_name=delivery_log_stream.log_stream_name,
                ),
                processing_configuration=cfn.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        cfn.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                cfn.ProcessorParameterProperty(
                                    parameter_name="LambdaArn", parameter_value=self.transform.function_arn
                                ),
                                cfn.ProcessorParameterProperty(
                                    parameter_name="BufferSizeInMBs", parameter_value=str(PROCESSOR_BUFFER_MIB)
                                ),
                                cfn.ProcessorParameterProperty(
                                    parameter_name="BufferIntervalInSeconds",
                                    parameter_value=str(PROCESSOR_BUFFER_SECONDS),
                                ),
                                cfn.ProcessorParameterProperty(
                                    parameter_name="NumberOfRetries", parameter_value=str(PROCESSOR_RETRIES)
                                ),
                            ],
                        )
                    ],
                ),
                dynamic_partitioning_configuration=cfn.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=cfn.RetryOptionsProperty(duration_in_seconds=DYNAMIC_PARTITIONING_RETRY_SECONDS),
                ),
                data_format_conversion_configuration=cfn.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=cfn.InputFormatConfigurationProperty(
                        deserializer=cfn.DeserializerProperty(open_x_json_ser_de=cfn.OpenXJsonSerDeProperty())
                    ),
                    output_format_configuration=cfn.OutputFormatConfigurationProperty(
                        serializer=cfn.SerializerProperty(parquet_ser_de=cfn.ParquetSerDeProperty(compression="SNAPPY"))
                    ),
                    schema_configuration=cfn.SchemaConfigurationProperty(
                        catalog_id=self.account,
                        database_name=GLUE_DATABASE,
                        table_name=RAW_EVENTS_TABLE,
                        region=self.region,
                        role_arn=role.role_arn,
                        version_id="LATEST",
                    ),
                ),
                s3_backup_mode="Disabled",
            ),
        )
        # Firehose checks its role's permissions when the delivery stream is created.
        self.delivery.node.add_dependency(policy)
        self.delivery_stream_name = f"{config.name}-events"

        cdk.CfnOutput(self, "StreamName", value=self.stream.stream_name)
        cdk.CfnOutput(self, "DeliveryStreamName", value=self.delivery_stream_name)
