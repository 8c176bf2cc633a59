"""`make demo` at a small size: the real command, its own MariaDB, the whole pipeline; its output must show every
table equal to its source, the commit-to-visible latency and the analytical answers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TABLES = ("users", "venue", "category", "date", "event", "listing", "sales", "stock_day", "demo_marker")


def test_the_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdc_demo", "--dir", str(tmp_path / "demo"), "--sales", "2000",
         "--workload-seconds", "6"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for table in TABLES:
        assert re.search(rf"tickit\.{table}: source \d+ rows?, master \d+ rows?: equal", out), (table, out)
    assert re.search(r"p50 \d+\.\d\d s, p95 \d+\.\d\d s, max \d+\.\d\d s", out), out
    for title in ("Top events by tickets sold", "Monthly revenue of the venue", "Daily returns of the first ticker"):
        assert title in out
    assert "Query the lake yourself" in out
    assert not (tmp_path / "demo" / "mariadb" / "mysqld.sock").exists(), "the demo's MariaDB must be stopped"
    again = subprocess.run(
        [sys.executable, "-m", "cdc_demo", "--dir", str(tmp_path / "demo"), "--sales", "500",
         "--workload-seconds", "2"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr  # a second run starts from scratch
