"""The benchmark results file: `bench/results/<date>.json` (UTC date), one key per benchmark script, merged."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def results_path(directory: Path = RESULTS, day: datetime.date | None = None) -> Path:
    return directory / f"{(day or datetime.datetime.now(datetime.UTC).date()).isoformat()}.json"


def read_results(path: Path) -> dict[str, Any]:
    """The results in `path`; {} when it does not exist, or does not hold a JSON object (with a warning)."""
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        print(f"warning: {path} does not hold a JSON object; writing it anew", file=sys.stderr)
        return {}
    return loaded


def update(values: dict[str, Any], directory: Path = RESULTS) -> tuple[Path, dict[str, Any]]:
    """Set `values`' keys in today's results file (created if missing), keeping the other keys; return the file
    and everything it now holds."""
    path = results_path(directory)
    results = {**read_results(path), "date": path.stem, **values}
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path, results


def store(key: str, value: Any) -> Path:
    """Set `key` in today's results file; return the file."""
    return update({key: value})[0]
