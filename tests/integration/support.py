"""Helpers for integration tests: write SQL as root, read binlog positions, run the streamer in-process or as
the real `cdc-streamer` command."""

from __future__ import annotations

import abc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cdc_streamer.event import Event
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition
from cdc_streamer.settings import MySQLUrl, StreamerSettings, TableFilter
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.streamer import Streamer


def command_line(cli: str) -> list[str]:
    return [sys.executable, "-m", cli]


class Database:
    def __init__(self, server: LocalMariaDB, name: str) -> None:
        self.server = server
        self.name = name
        self.conn = server.root_connection(charset="utf8mb4")

    def recreate(self) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        self.execute(f"CREATE DATABASE `{self.name}`")
        self.execute(f"USE `{self.name}`")

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> int:
        with self.conn.cursor() as cursor:
            return int(cursor.execute(sql, args))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql, list(rows))

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def position(self) -> BinlogPosition:
        row = self.query("SHOW MASTER STATUS")[0]
        return BinlogPosition(str(row[0]), int(row[1]))

    def close(self) -> None:
        self.conn.close()


def settings_for(server: LocalMariaDB, **overrides: Any) -> StreamerSettings:
    base = StreamerSettings(mysql=MySQLUrl.parse(server.url()), server_id=4242, sink="memory")
    return replace(base, **overrides)


def stream_range(
    server: LocalMariaDB,
    start: BinlogPosition,
    end: BinlogPosition,
    database: str,
    **overrides: Any,
) -> list[Event]:
    """Stream [start, end) of the binlog in-process, only `database`, and return the events."""
    sink = MemorySink()
    overrides.setdefault("filter", TableFilter(include=((database, "*"),)))
    settings = settings_for(server, start_position=start, end_position=end, replay=True, **overrides)
    Streamer(settings, sink=sink).run()
    return sink.events


def file_sink_run(server: LocalMariaDB, output: Path, tables: str, *extra: str) -> list[str]:
    """`cdc-streamer run` arguments streaming `tables` (db.table or db.*) to a JSON-lines file."""
    return [
        "run",
        "--mysql-url",
        server.url(),
        "--sink",
        "file",
        "--file",
        str(output),
        "--include-tables",
        tables,
        *extra,
    ]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
    cli: str = "cdc_streamer",
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*command_line(cli), *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False, cwd=cwd
    )


def stop_process(process: subprocess.Popen[str]) -> None:
    """Kill a streamer a test started, if it still runs, and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=30)


def start_cli(
    *args: str, env: dict[str, str] | None = None, cli: str = "cdc_streamer", **kwargs: Any
) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [*command_line(cli), *args], env=full_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    )


class BackgroundLoop(abc.ABC):
    """A test workload on its own thread: `step()` until `finish()`, `pause()` seconds apart. `finish()` stops and
    joins the thread, calls `close()`, and fails the test with whatever the thread raised."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    @abc.abstractmethod
    def step(self) -> None:
        """One round of the workload (a transaction, a batch)."""

    def pause(self) -> float:
        return 0.0

    def close(self) -> None:  # noqa: B027 - an optional hook: most workloads hold nothing
        """Release what the workload holds (a connection), once the thread has stopped."""

    def start(self) -> None:
        self.thread.start()

    def halt(self) -> None:
        """Stop the thread and wait for it, without judging: for `finally` blocks."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=60)

    def finish(self) -> None:
        self.halt()
        self.close()
        assert self.error is None, self.error

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
                time.sleep(self.pause())
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self.error = error
