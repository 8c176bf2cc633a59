"""Lambda entry points of the lake's container image: `cdc_lake.lambda_handlers.merge` (scheduled: the Athena merge
of `cdc-lake compact --athena`) and `cdc_lake.lambda_handlers.load_export` (the initial load of `cdc-lake
load-export --athena`, e.g. as a Step Functions task after an Aurora export completed).

Thin shell: settings from the environment (the event may narrow them), the work in `compact_athena` and
`load_athena`, a JSON-able summary back. Environment:

| variable | handler | meaning |
|---|---|---|
| `CDC_LAKE_DIR` | both | the lake, `s3://bucket/prefix` (required) |
| `CDC_ATHENA_WORKGROUP` | both | Athena workgroup (default `primary`) |
| `CDC_ATHENA_OUTPUT` | both | query results location `s3://bucket/prefix/` (default: the workgroup's own) |
| `CDC_TABLES` | both | `db.table` / `db.*` entries, comma-separated, as `--tables`; the event's `tables` wins |
| `CDC_REGION` | both | AWS region (default: the Lambda's) |
| `CDC_ENDPOINT_URL` | both | an endpoint for every AWS call (a local stand-in); else `AWS_ENDPOINT_URL`, if set |
| `CDC_LOOKBACK_SECONDS` | merge | as `--lookback-seconds` (default 900) |
| `CDC_MAINTENANCE` | merge | `true`: also OPTIMIZE and VACUUM each master table, as `--maintenance` |
| `CDC_POSITION` | load_export | `FILE:POS` from before the export, as `--position`; the event's `position` wins |
| `CDC_MYSQL_URL` | load_export | the source, for the primary keys a real Aurora export does not record |
| `CDC_MYSQL_SECRET_ARN` | load_export | its user and password (RDS secret JSON), when the URL has none |

Events. `merge`: `{}` or `{"tables": "app.*"}` (a string or a list). `load_export`: `{"export":
"s3://bucket/prefix/<export_id>"}`, or an entry of RDS DescribeExportTasks' `ExportTasks` (what Step Functions
passes: `ExportTaskIdentifier`, `S3Bucket`, `S3Prefix`, `Status`; the files are under
`s3://S3Bucket/S3Prefix/ExportTaskIdentifier/`), or the whole response with one task; plus optional `tables` and
`position`.

Failures raise, so Lambda's retries, the DLQ / on-failure destination and Step Functions' Catch see them:

- bad settings or a bad event: `ConfigError` (one line naming the variable or field), before any AWS call;
- `load_export`: whatever `load_export_athena` raises; the check fails before any statement, a statement failing
  stops the load with one line saying what state it left (`load_athena`). Running it again is always safe.
- `merge`: every selected table is attempted (a table whose merge cannot run, e.g. a type change, is recorded and
  the others go on, as `compact --athena` does); when any failed, the summary is logged and `MergeFailed` (a
  `RuntimeError`) is raised with one line naming them. A failing Athena call stops the run at once (a
  `RuntimeFailure`): the merge is re-run whole from the old watermark, so a retry is safe.

Logs go through `logging`, as JSON lines (`cdc_streamer.logs.configure_logging("info", "json")`), set up at the
first invocation (`cold_start`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from cdc_streamer.errors import ConfigError
from cdc_streamer.lambda_handlers import source_url
from cdc_streamer.logs import configure_lambda_logging, redactor
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl, TableFilter

__all__ = ["MergeFailed", "cold_start", "export_location", "load_export", "merge"]

log = logging.getLogger(__name__)

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
_started = False


class MergeFailed(RuntimeError):
    """One or more tables failed to merge; the others were merged (the message names the failed ones)."""


def cold_start() -> None:
    """Configure logging once per execution environment: JSON lines on stderr through the project's handler (and
    its Redactor). The runtime's own root handler is removed, or it would print every record again as text."""
    global _started  # noqa: PLW0603 - once per execution environment
    if _started:
        return
    _started = True
    configure_lambda_logging(os.environ.get("CDC_LOG_LEVEL", "info"))


# -- settings from the environment and the event --------------------------------------------------------------------


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _lake() -> str:
    lake = _env("CDC_LAKE_DIR")
    if not lake or not lake.startswith("s3://"):
        raise ConfigError(f"CDC_LAKE_DIR: expected the lake as s3://bucket/prefix, got {lake or 'nothing'!r}")
    return lake


def _output() -> str:
    output = _env("CDC_ATHENA_OUTPUT") or ""
    if output and not output.startswith("s3://"):
        raise ConfigError(f"CDC_ATHENA_OUTPUT: expected s3://bucket/prefix/ for Athena's query results, got {output!r}")
    return output


def _endpoint() -> str | None:
    return _env("CDC_ENDPOINT_URL") or _env("AWS_ENDPOINT_URL")


def _tables(event: Mapping[str, Any]) -> TableFilter:
    given = event.get("tables")
    if given is None:
        return TableFilter(include=TableFilter.parse_patterns(_env("CDC_TABLES"), "CDC_TABLES"))
    if isinstance(given, list) and all(isinstance(item, str) for item in given):
        given = ",".join(given)
    if not isinstance(given, str):
        raise ConfigError(f"event field tables: expected a string or a list of db.table / db.* entries, got {given!r}")
    return TableFilter(include=TableFilter.parse_patterns(given, "event field tables"))


def _switch(name: str) -> bool:
    raw = (_env(name) or "").lower()
    if raw not in TRUE + FALSE:
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    return raw in TRUE


def _seconds(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{name}: expected seconds >= 0, got {raw!r}")
    return value


def _event(event: object) -> Mapping[str, Any]:
    if event is None:
        return {}
    if not isinstance(event, Mapping):
        raise ConfigError(f"the event: expected a JSON object, got {type(event).__name__}")
    return event


def export_location(event: Mapping[str, Any]) -> str:
    """The export's directory from a `load_export` event: `{"export": "s3://..."}`, a DescribeExportTasks
    `ExportTasks` entry, or the whole response with exactly one task."""
    tasks = event.get("ExportTasks")
    if tasks is not None:
        if not isinstance(tasks, list) or len(tasks) != 1 or not isinstance(tasks[0], Mapping):
            got = f"{len(tasks)} entries" if isinstance(tasks, list) else type(tasks).__name__
            raise ConfigError(f"event field ExportTasks: expected a list of exactly one export task, got {got}")
        event = tasks[0]
    export = event.get("export")
    if export is not None:
        if not isinstance(export, str) or not export.startswith("s3://") or not export.removeprefix("s3://").strip("/"):
            raise ConfigError(f"event field export: expected s3://bucket/prefix/<export_id>, got {export!r}")
        return export.rstrip("/")
    identifier, bucket = event.get("ExportTaskIdentifier"), event.get("S3Bucket")
    if identifier is None and bucket is None:
        raise ConfigError(
            'the event names no export: expected {"export": "s3://bucket/prefix/<export_id>"} or an RDS '
            "DescribeExportTasks ExportTasks entry (ExportTaskIdentifier, S3Bucket, S3Prefix)"
        )
    if not isinstance(identifier, str) or not identifier or not isinstance(bucket, str) or not bucket:
        raise ConfigError(
            f"the export task: expected ExportTaskIdentifier and S3Bucket as text, got {identifier!r} and {bucket!r}"
        )
    status = event.get("Status")
    if status is not None and str(status).upper() != "COMPLETE":
        raise ConfigError(
            f"export task {identifier} is {status}, not COMPLETE: load it once the export finished "
            "(poll DescribeExportTasks until Status is COMPLETE)"
        )
    prefix = event.get("S3Prefix") or ""
    if not isinstance(prefix, str):
        raise ConfigError(f"export task {identifier}: S3Prefix: expected text, got {prefix!r}")
    parts = [bucket, *[part for part in prefix.split("/") if part], identifier]
    return "s3://" + "/".join(parts)


def _mysql_url() -> MySQLUrl | None:
    """CDC_MYSQL_URL, with the credentials of CDC_MYSQL_SECRET_ARN when set (the URL then has no user)."""
    if _env("CDC_MYSQL_URL") is None and _env("CDC_MYSQL_SECRET_ARN") is None:
        return None
    url = source_url(os.environ)
    redactor().add(url.password)  # never in a log line, whatever quotes it
    return url


def _position(event: Mapping[str, Any]) -> BinlogPosition | None:
    given = event.get("position")
    if given is not None:
        if not isinstance(given, str):
            raise ConfigError(f"event field position: expected FILE:POS as text, got {given!r}")
        return BinlogPosition.parse(given, flag="event field position")
    raw = _env("CDC_POSITION")
    return BinlogPosition.parse(raw, flag="CDC_POSITION") if raw else None


# -- the handlers ---------------------------------------------------------------------------------------------------


def merge(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Athena merge of every selected table; `{"tables": [outcome...], "merged": n, "skipped": n,
    "failed": n}`. Raises `MergeFailed` when a table failed (after attempting the others)."""
    cold_start()
    from .compact_athena import AthenaSettings, compact_athena

    request = _event(event)
    settings = AthenaSettings(
        lake=_lake(),
        workgroup=_env("CDC_ATHENA_WORKGROUP") or "primary",
        output=_output(),
        tables=_tables(request),
        lookback_seconds=_seconds("CDC_LOOKBACK_SECONDS", 900.0),
        maintenance=_switch("CDC_MAINTENANCE"),
        endpoint_url=_endpoint(),
        region=_env("CDC_REGION"),
    )
    outcomes = compact_athena(settings)
    summary: dict[str, Any] = {"tables": [dataclasses.asdict(outcome) for outcome in outcomes]}
    for status in ("merged", "skipped", "failed"):
        summary[status] = sum(outcome.status == status for outcome in outcomes)
    for outcome in outcomes:
        (log.error if outcome.status == "failed" else log.info)("%s", outcome.line())
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failed:
        log.error("merge summary", extra={"fields": summary})
        names = "; ".join(outcome.line() for outcome in failed)
        raise MergeFailed(f"{len(failed)} of {len(outcomes)} tables failed to merge (the others merged): {names}")
    log.info("merge summary", extra={"fields": summary})
    return summary


def load_export(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The initial load of the export the event names, on Athena; `{"export": ..., "tables": [loaded...]}`."""
    cold_start()
    from .load_athena import AthenaLoadSettings, load_export_athena

    request = _event(event)
    settings = AthenaLoadSettings(
        export=export_location(request),
        lake=_lake(),
        workgroup=_env("CDC_ATHENA_WORKGROUP") or "primary",
        output=_output(),
        tables=_tables(request),
        position=_position(request),
        mysql_url=_mysql_url(),
        endpoint_url=_endpoint(),
        region=_env("CDC_REGION"),
    )
    loaded = load_export_athena(settings)
    summary = {"export": settings.export, "tables": [dataclasses.asdict(table) for table in loaded]}
    log.info("load summary", extra={"fields": summary})
    return summary
