"""`<name>-monitoring`: the encrypted alarm topic and what each alarm watches."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from cdc_streamer.logs import JsonFormatter
from cdc_streamer.monitor import RunMonitor, ServerProbe
from cdc_streamer.settings import MySQLUrl
from infra.names import LAG_FIELD, PROGRESS_MESSAGE

from .conftest import Synth

ALARMS = {
    "StreamerLag",
    "StreamerNotReporting",
    "StreamThrottled",
    "StreamPutFailures",
    "StreamConsumerLag",
    "DeliveryFreshness",
    "DeliveryFailures",
    "ConversionFailures",
    "TransformErrors",
    "TransformRejectedRecords",
    "MergeErrors",
    "MergeDeadLetters",
    "InitialLoadFailed",
}


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    prefix = f"{synth.config.name}-"
    return {
        a["Properties"]["AlarmName"].removeprefix(prefix): a["Properties"]
        for a in synth.resources("monitoring", "AWS::CloudWatch::Alarm").values()
    }


def test_topic_is_kms_encrypted_and_tls_only(default: Synth) -> None:
    topic = default.only("monitoring", "AWS::SNS::Topic")["Properties"]
    assert topic["TopicName"] == "cdc-alarms"
    assert topic["KmsMasterKeyId"]["Fn::ImportValue"].startswith("cdc-lake:ExportsOutputFnGetAttKey")
    [policy] = default.resources("monitoring", "AWS::SNS::TopicPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    default.template("monitoring").resource_count_is("AWS::SNS::Subscription", 0)


def test_email_subscription(production: Synth) -> None:
    production.template("monitoring").has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_every_alarm_notifies_the_topic(default: Synth) -> None:
    found = alarms(default)
    assert set(found) == ALARMS
    [topic_key] = default.resources("monitoring", "AWS::SNS::Topic")
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": topic_key}], name
        assert alarm["OKActions"] == [{"Ref": topic_key}], name
        assert alarm["AlarmDescription"], name


def test_alarms_watch_aws_metrics(default: Synth) -> None:
    found = alarms(default)
    assert (found["StreamThrottled"]["Namespace"], found["StreamThrottled"]["MetricName"]) == (
        "AWS/Kinesis",
        "PutRecords.ThrottledRecords",
    )
    assert found["StreamPutFailures"]["MetricName"] == "PutRecords.FailedRecords"
    assert found["StreamConsumerLag"]["MetricName"] == "GetRecords.IteratorAgeMilliseconds"
    assert found["StreamConsumerLag"]["Threshold"] == 15 * 60 * 1000
    freshness = found["DeliveryFreshness"]
    assert (freshness["Namespace"], freshness["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.DataFreshness")
    assert freshness["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": "cdc-events"}]
    assert freshness["Threshold"] == 1800
    assert found["DeliveryFailures"]["ComparisonOperator"] == "LessThanThreshold"
    assert found["ConversionFailures"]["MetricName"] == "FailedConversion.Records"
    assert (found["TransformErrors"]["Namespace"], found["TransformErrors"]["MetricName"]) == ("AWS/Lambda", "Errors")
    assert found["MergeErrors"]["MetricName"] == "Errors"
    assert found["MergeDeadLetters"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    metrics = {
        m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in found["InitialLoadFailed"]["Metrics"]
    }
    assert {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} <= metrics


def test_streamer_alarms_read_its_json_progress_lines(default: Synth) -> None:
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in default.resources("monitoring", "AWS::Logs::MetricFilter").values()
    }
    assert set(filters) == {"ReplicationLagSeconds", "ProgressLines", "TransformRejectedRecords"}
    lag = filters["ReplicationLagSeconds"]
    assert lag["FilterPattern"] == '{ ($.message = "progress*") && ($.lag_seconds >= 0) }'
    assert filters["ProgressLines"]["FilterPattern"] == '{ $.message = "progress*" }'
    assert lag["MetricTransformations"][0]["MetricValue"] == "$.lag_seconds"
    assert lag["MetricTransformations"][0]["MetricNamespace"] == "CDC/cdc"
    assert lag["LogGroupName"]["Fn::ImportValue"].startswith("cdc-streamer:")
    assert filters["ProgressLines"]["MetricTransformations"][0]["DefaultValue"] == 0
    assert filters["TransformRejectedRecords"]["FilterPattern"] == '"ProcessingFailed"'
    found = alarms(default)
    assert found["StreamerLag"]["Threshold"] == 300
    assert found["StreamerLag"]["TreatMissingData"] == "notBreaching"
    silent = found["StreamerNotReporting"]
    assert (silent["ComparisonOperator"], silent["Threshold"], silent["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )


def test_the_streamers_progress_line_has_what_the_filters_read() -> None:
    """The metric filters read `message` (prefix "progress") and a top-level `lag_seconds` from the streamer's JSON
    log lines: check the real progress line has that shape."""
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("cdc_streamer.monitor")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        monitor = RunMonitor()
        monitor.observe = lambda: dataclasses.replace(  # type: ignore[method-assign]
            RunMonitor().observe(), connected=True, heartbeat_at=time.time() - 12.5
        )
        ServerProbe(lambda: MySQLUrl("h", 3306, "u", "p"), monitor, 1.0).log_progress()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [record] = records
    line = json.loads(JsonFormatter().format(record))
    assert line["message"].startswith(PROGRESS_MESSAGE)
    assert LAG_FIELD in line
    assert isinstance(line[LAG_FIELD], float) and line[LAG_FIELD] >= 12.5
