"""The benchmark results file: `bench/results/<date>.json` (UTC date), one key per benchmark script, merged."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def results_path(day: datetime.date | None = None) -> Path:
    return RESULTS / f"{(day or datetime.datetime.now(datetime.UTC).date()).isoformat()}.json"


def store(key: str, value: Any) -> Path:
    """Set `key` in today's results file (created if missing), keeping the other keys; return the file."""
    path = results_path()
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"date": path.stem}
    results[key] = value
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    return path
