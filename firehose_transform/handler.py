"""The Lambda entry point: decode nothing, decide nothing; `transform.process_batch` does the work.

Handler setting: `firehose_transform.handler.handler`.
"""

from __future__ import annotations

import logging
from typing import Any

from .transform import process_batch

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Firehose data-transformation invocation -> `{"records": [...]}`; one log line per failed record."""
    records, failures = process_batch(event["records"])
    for record_id, reason in failures.items():
        log.error("record %s ProcessingFailed: %s", record_id, reason)
    return {"records": records}
