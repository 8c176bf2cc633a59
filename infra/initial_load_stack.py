"""`<name>-initial-load`: seed the master tables from an Aurora export, then start the streamer.

The state machine (one execution per load; its name becomes the export id):

1. `ExportId`: `<name>-load-<execution name>` (RDS export ids: letters, digits, hyphens, at most 60).
2. `RecordPosition`: a Lambda (`cdc_streamer.lambda_handlers.record_position`, in the VPC) reads the binlog
   position NOW and stores it as the streamer's checkpoint; it returns `{"position": "FILE:POS", ...}`.
3. `StartExportTask`: RDS exports the DB cluster to `s3://<lake>/<export_prefix>/<export id>/` (Parquet, encrypted
   with the pipeline key). The export starts after the position was recorded, so every change after that position
   is either in the export or in the binlog from the position on; the overlap is absorbed by the merge, which is
   latest-wins by binlog position.
4. `WaitForExport` 60 s / `DescribeExportTasks` / `ExportDone?`: COMPLETE -> 5; FAILED or CANCELED -> fail;
   anything else -> wait again.
5. `LoadExport`: a Lambda (`cdc_lake.lambda_handlers.load_export`, in the VPC: it reads primary keys from the
   source, which an Aurora export does not record) loads the export into the master tables.
6. `StartStreamer`: ecs:UpdateService desiredCount 1. The streamer starts at the recorded checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from .assets import lambda_image
from .config import PipelineConfig
from .lake_access import lake_statements
from .lake_stack import LakeStack
from .merge_stack import lake_environment
from .names import LOAD_EXPORT_HANDLER, RECORD_POSITION_HANDLER
from .retention import log_retention
from .streamer_stack import StreamerStack, mysql_url

EXPORT_POLL_SECONDS = 60


class InitialLoadStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: LakeStack,
        streamer: StreamerStack,
        docker_context: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        retention = log_retention(config.log_retention_days)
        export_prefix = config.export_prefix
        self.cluster_arn = self.format_arn(
            service="rds",
            resource="cluster",
            resource_name=config.aurora_cluster_identifier,
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        source = {
            "CDC_MYSQL_URL": mysql_url(config),
            "CDC_MYSQL_SECRET_ARN": config.aurora_secret_arn,
            "CDC_REGION": config.region,
        }
        secret_statements = [
            iam.PolicyStatement(
                sid="ReadTheSourceSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[config.aurora_secret_arn],
            )
        ]
        if config.aurora_secret_kms_key_arn is not None:
            secret_statements.append(
                iam.PolicyStatement(
                    sid="DecryptTheSourceSecret",
                    actions=["kms:Decrypt"],
                    resources=[config.aurora_secret_kms_key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}},
                )
            )

        # -- the export role RDS assumes to write the export ---------------------------------------------------------
        self.export_role = iam.Role(
            self,
            "ExportRole",
            assumed_by=iam.ServicePrincipal(
                "export.rds.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description=f"{config.name}: Aurora export to S3 writes s3://<lake>/{export_prefix}/",
        )
        iam.Policy(
            self,
            "ExportPolicy",
            roles=[self.export_role],
            statements=[
                iam.PolicyStatement(
                    sid="ExportBucket",
                    actions=["s3:GetBucketLocation", "s3:ListBucket"],
                    resources=[lake.bucket.bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="ExportObjects",
                    actions=["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                    resources=[lake.objects_arn(f"{export_prefix}/")],
                ),
                iam.PolicyStatement(
                    sid="ExportEncryption",
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    resources=[lake.key.key_arn],
                ),
            ],
        )

        # -- the Lambdas ---------------------------------------------------------------------------------------------
        self.record_position = lambda_.DockerImageFunction(
            self,
            "RecordPositionFunction",
            function_name=f"{config.name}-record-position",
            description="Record the source's binlog position as the streamer's checkpoint, before the export",
            code=lambda_image(self, config.lambda_image, docker_context, RECORD_POSITION_HANDLER),
            architecture=lambda_.Architecture.X86_64,
            memory_size=512,
            timeout=cdk.Duration.minutes(2),
            vpc=streamer.vpc,
            vpc_subnets=streamer.subnets,
            security_groups=[streamer.security_group],
            environment={**source, "CDC_POSITION_STORE": streamer.position_store},
            log_group=logs.LogGroup(
                self, "RecordPositionLogs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
            ),
        )
        for statement in secret_statements:
            self.record_position.add_to_role_policy(statement)
        self.record_position.add_to_role_policy(
            iam.PolicyStatement(
                sid="Checkpoint",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[streamer.checkpoints.table_arn],
            )
        )

        self.load_export = lambda_.DockerImageFunction(
            self,
            "LoadExportFunction",
            function_name=f"{config.name}-load-export",
            description="cdc-lake load-export on Athena: the Aurora export -> master tables",
            code=lambda_image(self, config.lambda_image, docker_context, LOAD_EXPORT_HANDLER),
            architecture=lambda_.Architecture.X86_64,
            memory_size=2048,
            timeout=cdk.Duration.minutes(15),
            vpc=streamer.vpc,
            vpc_subnets=streamer.subnets,
            security_groups=[streamer.security_group],
            environment={**lake_environment(config, lake), **source},
            log_group=logs.LogGroup(
                self, "LoadExportLogs", retention=retention, removal_policy=cdk.RemovalPolicy.DESTROY
            ),
        )
        for statement in [*lake_statements(config, lake), *secret_statements]:
            self.load_export.add_to_role_policy(statement)
        # The export's objects are encrypted with the pipeline key (Athena reads them with the caller's rights).
        self.load_export.add_to_role_policy(
            iam.PolicyStatement(sid="ReadTheExport", actions=["kms:Decrypt"], resources=[lake.key.key_arn])
        )

        # -- the state machine ---------------------------------------------------------------------------------------
        export_id = sfn.Pass(
            self,
            "ExportId",
            parameters={"exportId": sfn.JsonPath.format(f"{config.name}-load-{{}}", sfn.JsonPath.execution_name)},
            result_path="$.load",
        )
        record = tasks.LambdaInvoke(
            self,
            "RecordPosition",
            lambda_function=self.record_position,
            payload=sfn.TaskInput.from_object({"export_id": sfn.JsonPath.string_at("$.load.exportId")}),
            payload_response_only=True,
            result_path="$.recorded",
        )
        start_export = tasks.CallAwsService(
            self,
            "StartExportTask",
            service="rds",
            action="startExportTask",
            iam_action="rds:StartExportTask",
            iam_resources=[self.cluster_arn],
            parameters={
                "ExportTaskIdentifier": sfn.JsonPath.string_at("$.load.exportId"),
                "SourceArn": self.cluster_arn,
                "S3BucketName": lake.bucket_name,
                "S3Prefix": export_prefix,
                "IamRoleArn": self.export_role.role_arn,
                "KmsKeyId": lake.key.key_arn,
                **({"ExportOnly": list(config.export_only)} if config.export_only else {}),
            },
            additional_iam_statements=[
                iam.PolicyStatement(actions=["iam:PassRole"], resources=[self.export_role.role_arn]),
                # StartExportTask's caller lets RDS use the key through a grant.
                iam.PolicyStatement(actions=["kms:CreateGrant", "kms:DescribeKey"], resources=[lake.key.key_arn]),
            ],
            result_selector={"status": sfn.JsonPath.string_at("$.Status")},
            result_path="$.export",
        )
        wait = sfn.Wait(self, "WaitForExport", time=sfn.WaitTime.duration(cdk.Duration.seconds(EXPORT_POLL_SECONDS)))
        describe = tasks.CallAwsService(
            self,
            "DescribeExportTasks",
            service="rds",
            action="describeExportTasks",
            iam_action="rds:DescribeExportTasks",
            iam_resources=["*"],  # DescribeExportTasks has no resource-level permissions
            parameters={"ExportTaskIdentifier": sfn.JsonPath.string_at("$.load.exportId")},
            result_selector={"status": sfn.JsonPath.string_at("$.ExportTasks[0].Status")},
            result_path="$.export",
        )
        load = tasks.LambdaInvoke(
            self,
            "LoadExport",
            lambda_function=self.load_export,
            payload=sfn.TaskInput.from_object(
                {
                    "export": sfn.JsonPath.format(
                        f"s3://{{}}/{export_prefix}/{{}}", lake.bucket_name, sfn.JsonPath.string_at("$.load.exportId")
                    ),
                    "position": sfn.JsonPath.string_at("$.recorded.position"),
                }
            ),
            payload_response_only=True,
            result_path="$.loaded",
        )
        start_streamer = tasks.CallAwsService(
            self,
            "StartStreamer",
            service="ecs",
            action="updateService",
            iam_action="ecs:UpdateService",
            iam_resources=[streamer.service.service_arn],
            parameters={
                "Cluster": streamer.cluster.cluster_name,
                "Service": streamer.service.service_name,
                "DesiredCount": 1,
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        failed = sfn.Fail(self, "ExportFailed", error="ExportFailed", cause="the Aurora export failed or was canceled")
        done = sfn.Succeed(self, "Loaded")
        check = (
            sfn.Choice(self, "ExportDone?")
            .when(sfn.Condition.string_equals("$.export.status", "COMPLETE"), load.next(start_streamer).next(done))
            .when(
                sfn.Condition.or_(
                    sfn.Condition.string_equals("$.export.status", "FAILED"),
                    sfn.Condition.string_equals("$.export.status", "CANCELED"),
                ),
                failed,
            )
            .otherwise(wait)
        )
        definition = export_id.next(record).next(start_export).next(wait).next(describe).next(check)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=f"{config.name}-initial-load",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=cdk.Duration.hours(48),
            comment="Record the binlog position, export the cluster to S3, load it, start the streamer",
        )

        cdk.CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
