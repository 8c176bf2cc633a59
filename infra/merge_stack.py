"""`<name>-merge`: the scheduled merge. EventBridge Scheduler invokes a Lambda (the repository's `lambda` image,
`cdc_lake.lambda_handlers.merge`) that runs `cdc-lake compact --athena`: the latest change per primary key since
the watermark, MERGE INTO each master table, the `_live` views.

One merge at a time (reserved concurrency 1): a merge is idempotent and re-run whole from its watermark, but two at
once would do the same work twice. A failed asynchronous invocation lands in an encrypted SQS dead-letter queue; the
next scheduled run retries anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .assets import lambda_image
from .config import PipelineConfig
from .lake_access import lake_statements
from .lake_stack import LakeStack
from .names import MERGE_HANDLER
from .retention import log_retention


def lake_environment(config: PipelineConfig, lake: LakeStack) -> dict[str, str]:
    """The variables the lake Lambdas read (cdc_lake.lambda_handlers)."""
    environment = {
        "CDC_LAKE_DIR": lake.lake_uri,
        "CDC_ATHENA_WORKGROUP": lake.workgroup_name,
        "CDC_ATHENA_OUTPUT": lake.athena_results_uri,
        "CDC_REGION": config.region,
    }
    if config.tables:
        environment["CDC_TABLES"] = config.tables
    return environment


class MergeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: LakeStack,
        docker_context: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Merge",
            function_name=f"{config.name}-merge",
            description="cdc-lake compact --athena: merge new change events into the master tables",
            code=lambda_image(self, config.lambda_image, docker_context, MERGE_HANDLER),
            architecture=lambda_.Architecture.X86_64,
            memory_size=1024,
            timeout=cdk.Duration.minutes(15),
            reserved_concurrent_executions=1,
            environment=lake_environment(config, lake),
            dead_letter_queue=self.dead_letters,
            retry_attempts=0,  # the next scheduled run is the retry
            max_event_age=cdk.Duration.hours(1),
            log_group=self.log_group,
        )
        for statement in lake_statements(config, lake):
            self.function.add_to_role_policy(statement)

        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule_name=f"{config.name}-merge",
            description="Run the merge",
            schedule=scheduler.ScheduleExpression.expression(config.merge_schedule.strip()),
            time_window=scheduler.TimeWindow.off(),
            target=targets.LambdaInvoke(
                self.function,
                retry_attempts=2,
                max_event_age=cdk.Duration.minutes(10),
            ),
        )

        cdk.CfnOutput(self, "MergeFunctionName", value=self.function.function_name)
