"""docs/configuration.md is generated from the CLI parsers (scripts/config_reference.py) and must be current:
a flag added, removed or changed without regenerating the file fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "config_reference.py"
REFERENCE = ROOT / "docs" / "configuration.md"


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_reference_is_current() -> None:
    result = run_script("--check")
    assert result.returncode == 0, result.stderr.strip() or result.stdout.strip()


def test_shell_environment_does_not_leak_into_defaults() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CDC_")}
    env |= {"CDC_SINK": "kinesis", "CDC_SERVER_ID": "4242", "CDC_REPLAY": "true", "CDC_LAKE_DIR": "/elsewhere"}
    result = run_script("--check", env=env)
    assert result.returncode == 0, result.stderr.strip()


def test_stale_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    removed_flag = "| `--gone` | `CDC_GONE` | | a flag removed since |\n"
    stale.write_text(REFERENCE.read_text(encoding="utf-8") + removed_flag, encoding="utf-8")
    result = run_script("--check", "--output", str(stale))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is stale: run `python scripts/config_reference.py`" in result.stderr


def test_known_flags_are_documented() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for heading in (
        "### `cdc-streamer run`",
        "### `cdc-streamer snapshot`",
        "### `cdc-streamer check`",
        "### `cdc-streamer position`",
        "### `cdc-lake deliver`",
        "### `cdc-lake compact`",
        "### `cdc-lake load-export`",
        "### `cdc-lake query`",
        "### `cdc-lake verify`",
    ):
        assert heading in text
    for row in (
        "| `--mysql-url` | `CDC_MYSQL_URL` |",
        "| `--server-id` | `CDC_SERVER_ID` | `6379` |",
        "| `--stop-when-caught-up` | `CDC_STOP_WHEN_CAUGHT_UP` | off |",
        "| `--output-schema` / `--no-output-schema` | `CDC_OUTPUT_SCHEMA` | on |",
        "| `--partition-by` | `CDC_PARTITION_BY` | `primary_key` |",
        "| `--lookback-seconds` | `CDC_LOOKBACK_SECONDS` | `900` |",
        "| `--show` | `CDC_SHOW` | `10` |",
    ):
        assert row in text
