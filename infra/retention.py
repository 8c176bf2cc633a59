"""Log retention in days (the config's unit) -> CDK's `RetentionDays` member."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from .config import LOG_RETENTION_DAYS

# RetentionDays lists CloudWatch's values in increasing order, then INFINITE.
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True))


def log_retention(days: int) -> logs.RetentionDays:
    return _BY_DAYS[days]
