"""Names the stacks share with the runtime packages: the lake's prefixes, the Glue names the Athena merge queries,
the Lambda entry points and container targets. Constants only: imported from the runtime packages' pure, stdlib-only
modules (never a code path that runs at deploy or run time)."""

from __future__ import annotations

from cdc_lake.athena_sql import EVENTS_PREFIX
from cdc_lake.event_schema import EVENT_COLUMNS, PARTITION_COLUMNS, Column
from cdc_lake.merge_sql import META_SCHEMA

# The Glue database and table `cdc-lake compact --athena` reads (`cdc_lake.raw_events`): the merge creates the table
# with `CREATE EXTERNAL TABLE IF NOT EXISTS`, so the one deployed here must match it (tests/infra check both).
GLUE_DATABASE = META_SCHEMA
RAW_EVENTS_TABLE = "raw_events"  # cdc_lake.compact.RAW_EVENTS (that module imports duckdb: not imported here)

# Key prefixes in the lake bucket (DESIGN.md "Lake layout"); each ends with "/".
EVENTS = EVENTS_PREFIX  # "events/"
ERRORS = "errors/"
ATHENA_RESULTS = "athena-results/"
CLAIM_CHECK = "claim-check/"
MASTER = "master/"
META = "meta/"

# Firehose: where delivered objects and failed records go. The partition keys are the ones the transform returns
# in metadata.partitionKeys (firehose_transform.transform), in the order of the lake's partition columns.
PARTITION_KEYS: tuple[str, ...] = tuple(column.name for column in PARTITION_COLUMNS)
FIREHOSE_PREFIX = EVENTS + "".join(f"{key}=!{{partitionKeyFromLambda:{key}}}/" for key in PARTITION_KEYS)
FIREHOSE_ERROR_PREFIX = ERRORS + "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"

# Lambda entry points and container build targets of the repository's root Dockerfile.
TRANSFORM_HANDLER = "firehose_transform.handler.handler"
TRANSFORM_PACKAGE = "firehose_transform"
MERGE_HANDLER = "cdc_lake.lambda_handlers.merge"
LOAD_EXPORT_HANDLER = "cdc_lake.lambda_handlers.load_export"
RECORD_POSITION_HANDLER = "cdc_streamer.lambda_handlers.record_position"
RUNTIME_TARGET = "runtime"
LAMBDA_TARGET = "lambda"
HEALTH_COMMAND = ("CMD", "cdc-streamer", "health")
METRICS_PORT = 9100

# What the alarms read from the streamer's JSON log lines (CDC_LOG_FORMAT=json): once a minute a line whose message
# starts with "progress" and whose lag_seconds field is a number (null while unknown); cdc_streamer.monitor.
PROGRESS_MESSAGE = "progress"
LAG_FIELD = "lag_seconds"

__all__ = [
    "ATHENA_RESULTS",
    "CLAIM_CHECK",
    "ERRORS",
    "EVENTS",
    "EVENT_COLUMNS",
    "FIREHOSE_ERROR_PREFIX",
    "FIREHOSE_PREFIX",
    "GLUE_DATABASE",
    "PARTITION_COLUMNS",
    "PARTITION_KEYS",
    "RAW_EVENTS_TABLE",
    "Column",
]
