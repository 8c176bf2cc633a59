"""Helpers shared by the large-row, big-transaction and DDL-in-flight tests (test_large_and_ddl*.py): a command
run with its wall time and peak RSS, compact + verify of a local lake, and reading master rows back."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cdc_lake.duckdb_engine import LAKE_DATABASE
from cdc_streamer.local_mariadb import LocalMariaDB

from .support import command_line, run_cli

MIB = 1024 * 1024


@dataclass(frozen=True)
class Measured:
    returncode: int
    seconds: float
    peak_rss: int  # bytes: the child's own maximum resident set size (wait4's rusage)
    stderr: str


def run_measured(*args: str, log: Path, cli: str = "cdc_streamer", timeout: float = 3600) -> Measured:
    """Run a CLI to the end and measure it: wall time, and peak RSS from the kernel's rusage of exactly that
    child (`os.wait4`). Output goes to `log` (a pipe could fill up while we wait)."""
    began = time.monotonic()
    with log.open("w") as sink:
        process = subprocess.Popen([*command_line(cli), *args], stdout=sink, stderr=subprocess.STDOUT, text=True)
        deadline = began + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
    return Measured(process.returncode, time.monotonic() - began, usage.ru_maxrss * 1024, log.read_text())


def compact_and_verify(server: LocalMariaDB, lake: Path, tables: str) -> tuple[str, str, int]:
    """`cdc-lake compact` (must succeed), then `cdc-lake verify`: (compact output, verify output, verify's exit
    code)."""
    compacted = run_cli("compact", "--lake-dir", str(lake), cli="cdc_lake")
    assert compacted.returncode == 0, compacted.stdout + compacted.stderr
    verified = run_cli("verify", "--mysql-url", server.url(), "--lake-dir", str(lake), "--tables", tables,
                       cli="cdc_lake")  # fmt: skip
    return compacted.stdout, verified.stdout + verified.stderr, verified.returncode


def master_rows(lake: Path, database: str, table: str, columns: str, order: str = "1") -> list[tuple[Any, ...]]:
    """Rows of a master table, read-only (values as DuckDB returns them: BLOB as bytes, VARCHAR as str)."""
    with duckdb.connect(str(lake / LAKE_DATABASE), read_only=True) as conn:
        return conn.execute(f'SELECT {columns} FROM "{database}"."{table}" ORDER BY {order}').fetchall()


def megabytes(size: int) -> str:
    return f"{size / MIB:,.0f} MiB"
