"""`<name>-monitoring`: one encrypted SNS topic and the alarms that publish to it, on metrics AWS publishes itself
(Kinesis, Firehose, Lambda, SQS, Step Functions) plus two metrics filtered from the logs: the streamer's replication
lag and the transform's rejected records. docs/deploy.md, "Monitoring", says what each alarm means."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from .config import PipelineConfig
from .initial_load_stack import InitialLoadStack
from .lake_stack import LakeStack
from .merge_stack import MergeStack
from .names import LAG_FIELD, PROGRESS_MESSAGE
from .stream_stack import StreamStack
from .streamer_stack import StreamerStack

STREAM_CONSUMER_LAG_MS = 15 * 60 * 1000


class MonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: PipelineConfig,
        lake: LakeStack,
        stream: StreamStack,
        streamer: StreamerStack,
        merge: MergeStack,
        initial_load: InitialLoadStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        self.topic = sns.Topic(
            self,
            "Alarms",
            topic_name=f"{config.name}-alarms",
            display_name=f"{config.name} CDC pipeline alarms",
            master_key=lake.key,
            enforce_ssl=True,
        )
        if config.alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        namespace = f"CDC/{config.name}"
        five_minutes = cdk.Duration.minutes(5)

        # -- the streamer: lag and liveness from its JSON log lines -------------------------------------------------
        # The streamer's monitor logs `progress: read ..., lag ... s` once a minute with a `lag_seconds` field
        # (null while the lag is unknown); CDC_LOG_FORMAT=json puts both at the top level of the line.
        progress = f'{{ $.message = "{PROGRESS_MESSAGE}*" }}'
        lag = f'{{ ($.message = "{PROGRESS_MESSAGE}*") && ($.{LAG_FIELD} >= 0) }}'
        logs.MetricFilter(
            self,
            "LagFilter",
            log_group=streamer.log_group,
            filter_pattern=logs.FilterPattern.literal(lag),
            metric_namespace=namespace,
            metric_name="ReplicationLagSeconds",
            metric_value=f"$.{LAG_FIELD}",
            unit=cloudwatch.Unit.SECONDS,
        )
        logs.MetricFilter(
            self,
            "ProgressFilter",
            log_group=streamer.log_group,
            filter_pattern=logs.FilterPattern.literal(progress),
            metric_namespace=namespace,
            metric_name="ProgressLines",
            metric_value="1",
            default_value=0,
        )
        self._alarm(
            "StreamerLag",
            cloudwatch.Metric(
                namespace=namespace,
                metric_name="ReplicationLagSeconds",
                statistic="Maximum",
                period=cdk.Duration.minutes(1),
            ),
            threshold=config.lag_alarm_seconds,
            evaluation_periods=5,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=f"the streamer's replication lag stayed above {config.lag_alarm_seconds} s for 5 minutes",
        )
        self._alarm(
            "StreamerNotReporting",
            cloudwatch.Metric(namespace=namespace, metric_name="ProgressLines", statistic="Sum", period=five_minutes),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=2,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="no progress line from the streamer for 10 minutes: not running (expected before the "
            "initial load started it), crash-looping, or stuck",
        )

        # -- Kinesis ---------------------------------------------------------------------------------------------
        self._alarm(
            "StreamThrottled",
            stream.stream.metric_put_records_throttled_records(statistic="Sum", period=five_minutes),
            threshold=0,
            evaluation_periods=3,
            description="PutRecords throttled for 15 minutes: the stream needs more capacity (shards)",
        )
        self._alarm(
            "StreamPutFailures",
            stream.stream.metric_put_records_failed_records(statistic="Sum", period=five_minutes),
            threshold=0,
            evaluation_periods=3,
            description="PutRecords internal failures for 15 minutes (the streamer retries; sustained = a problem)",
        )
        self._alarm(
            "StreamConsumerLag",
            stream.stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=five_minutes),
            threshold=STREAM_CONSUMER_LAG_MS,
            evaluation_periods=3,
            description="Firehose reads records older than 15 minutes: delivery is falling behind the stream",
        )

        # -- Firehose and the transform --------------------------------------------------------------------------
        def delivery_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=name,
                dimensions_map={"DeliveryStreamName": stream.delivery_stream_name},
                statistic=statistic,
                period=five_minutes,
            )

        self._alarm(
            "DeliveryFreshness",
            delivery_metric("DeliveryToS3.DataFreshness", "Maximum"),
            threshold=config.freshness_alarm_seconds,
            evaluation_periods=3,
            description=f"the oldest record in Firehose is older than {config.freshness_alarm_seconds} s",
        )
        self._alarm(
            "DeliveryFailures",
            delivery_metric("DeliveryToS3.Success", "Average"),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=3,
            description="Firehose puts to S3 failed for 15 minutes",
        )
        self._alarm(
            "ConversionFailures",
            delivery_metric("FailedConversion.Records", "Sum"),
            threshold=0,
            evaluation_periods=1,
            description="rows Firehose could not convert to Parquet (under errors/format-conversion-failed/)",
        )
        self._alarm(
            "TransformErrors",
            stream.transform.metric_errors(statistic="Sum", period=five_minutes),
            threshold=0,
            evaluation_periods=1,
            description="the transform Lambda failed whole invocations (Firehose retries, then errors/)",
        )
        logs.MetricFilter(
            self,
            "RejectedFilter",
            log_group=stream.transform_log_group,
            filter_pattern=logs.FilterPattern.literal('"ProcessingFailed"'),
            metric_namespace=namespace,
            metric_name="TransformRejectedRecords",
            metric_value="1",
        )
        self._alarm(
            "TransformRejectedRecords",
            cloudwatch.Metric(
                namespace=namespace, metric_name="TransformRejectedRecords", statistic="Sum", period=five_minutes
            ),
            threshold=0,
            evaluation_periods=1,
            description="the transform rejected records (ProcessingFailed, under errors/processing-failed/)",
        )

        # -- the merge and the initial load ---------------------------------------------------------------------
        self._alarm(
            "MergeErrors",
            merge.function.metric_errors(statistic="Sum", period=cdk.Duration.minutes(15)),
            threshold=0,
            evaluation_periods=1,
            description="a scheduled merge failed (see its log group; the next run retries)",
        )
        self._alarm(
            "MergeDeadLetters",
            merge.dead_letters.metric_approximate_number_of_messages_visible(statistic="Maximum", period=five_minutes),
            threshold=0,
            evaluation_periods=1,
            description="merge invocations that failed or expired in the queue are in the dead-letter queue",
        )
        self._alarm(
            "InitialLoadFailed",
            cloudwatch.MathExpression(
                expression="failed + timedout + aborted",
                using_metrics={
                    "failed": initial_load.state_machine.metric_failed(statistic="Sum", period=five_minutes),
                    "timedout": initial_load.state_machine.metric_timed_out(statistic="Sum", period=five_minutes),
                    "aborted": initial_load.state_machine.metric_aborted(statistic="Sum", period=five_minutes),
                },
                period=five_minutes,
                label="initial load executions failed, timed out or aborted",
            ),
            threshold=0,
            evaluation_periods=1,
            description="an initial-load execution failed, timed out or was aborted",
        )
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.topic.topic_arn)

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        evaluation_periods: int,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=f"{self.config.name}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm
