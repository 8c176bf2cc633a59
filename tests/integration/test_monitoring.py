"""/metrics and /healthcheck over real HTTP, against the real MariaDB: counts, lag by heartbeat, 503 when the
connection is cut (through a TCP proxy) and when the streamer stalls behind a moving binlog, and back to 200."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cdc_streamer.event import ChangeEvent, Event
from cdc_streamer.local_mariadb import LocalMariaDB, free_port
from cdc_streamer.settings import MonitoringSettings, MySQLUrl, TableFilter
from cdc_streamer.sinks import Ack
from cdc_streamer.streamer import Streamer

from .support import Database, file_sink_run, run_cli, settings_for, start_cli
from .tcp_proxy import FaultProxy


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, text = get(f"http://127.0.0.1:{port}/healthcheck")
    return status, json.loads(text)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_metrics_health_and_heartbeat_lag_of_the_real_command(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    db.execute(f"CREATE TABLE `{db.name}`.hb (server_id INT UNSIGNED NOT NULL PRIMARY KEY, heartbeat_at DATETIME(6))")
    db.execute(f"GRANT INSERT, UPDATE ON `{db.name}`.hb TO 'cdc'@'127.0.0.1'")
    port = free_port()
    output = tmp_path / "events.jsonl"
    process = start_cli(
        *file_sink_run(mariadb, output, f"{db.name}.*"),
        "--metrics-port",
        str(port),
        "--heartbeat-table",
        f"{db.name}.hb",
        "--health-stall-seconds",
        "5",
    )
    try:
        wait_until(lambda: health(port)[0] == 200, what="a healthy streamer")
        db.executemany("INSERT INTO t VALUES (%s, %s)", [(i, f"v{i}") for i in range(5)])
        db.execute("DELETE FROM t WHERE id = 0")
        inserts = ("cdc_events_total", (("database", db.name), ("table", "t"), ("type", "insert")))
        deletes = ("cdc_events_total", (("database", db.name), ("table", "t"), ("type", "delete")))
        wait_until(lambda: metrics(port).get(deletes) == 1, what="the delete counted")
        seen = metrics(port)
        assert seen[inserts] == 5
        assert seen[("cdc_connected", ())] == 1
        assert seen[("cdc_healthy", ())] == 1
        assert seen[("cdc_checkpoint_offset_bytes", ())] > 0
        assert ("cdc_sink_records_total", ()) not in seen  # the file sink keeps no stats
        assert seen[("cdc_process_resident_memory_bytes", ())] > 0
        # the heartbeat keeps the lag measured although the source is idle now
        time.sleep(2.5)
        seen = metrics(port)
        assert seen[("cdc_heartbeat_timestamp_seconds", ())] > time.time() - 5
        assert 0 <= seen[("cdc_replication_lag_seconds", ())] < 3
        status, document = health(port)
        assert status == 200 and document["status"] == "ok" and document["connected"] is True
        assert document["read_position"] and document["events"] == 7  # 6 rows and the table's schema event
        checked = run_cli("health", "--url", f"http://127.0.0.1:{port}/healthcheck")
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith("ok: read binlog.")
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    tables = {json.loads(line)["table"] for line in output.read_text().splitlines()}
    assert tables == {"t"}  # heartbeat rows are measured, never emitted


def test_health_command_without_a_streamer_and_a_port_in_use(mariadb: LocalMariaDB, tmp_path: Path) -> None:
    port = free_port()
    checked = run_cli("health", "--url", f"http://127.0.0.1:{port}/healthcheck")
    assert checked.returncode == 1
    assert checked.stderr.count("\n") == 1 and "cannot reach" in checked.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        run = run_cli(
            *file_sink_run(mariadb, tmp_path / "x.jsonl", "mysql.user"),
            "--metrics-port",
            str(busy),
            "--metrics-address",
            "127.0.0.1",
        )
    assert run.returncode == 2
    assert (
        run.stderr.strip()
        == f"cdc-streamer: --metrics-port (CDC_METRICS_PORT): cannot listen on 127.0.0.1:{busy}: in use"
    )


class GateSink:
    """A sink whose sends block while the gate is closed: the run loop stops reading, as with a stuck sink."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.events: list[Event] = []

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        self.open.wait()
        self.events.extend(events)
        ack()

    def flush(self) -> None:
        pass

    def rows(self) -> int:
        return sum(isinstance(event, ChangeEvent) for event in self.events)

    def close(self) -> None:
        pass


@pytest.fixture
def streaming(mariadb: LocalMariaDB, db: Database) -> Iterator[Callable[..., tuple[Streamer, int]]]:
    """Start an in-process streamer with a metrics server in a thread; stopped (and checked) at the end."""
    started: list[tuple[Streamer, threading.Thread, list[BaseException]]] = []

    def start(url: MySQLUrl, sink: GateSink) -> tuple[Streamer, int]:
        port = free_port()
        settings = settings_for(
            mariadb,
            mysql=url,
            filter=TableFilter(include=((db.name, "*"),)),
            read_timeout=2.0,
            max_reconnects=1000,
            monitoring=MonitoringSettings(metrics_port=port, metrics_address="127.0.0.1", stall_seconds=1.0),
        )
        streamer = Streamer(settings, sink=sink)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                streamer.run()
            except BaseException as error:  # noqa: BLE001 - reported by the fixture
                errors.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.append((streamer, thread, errors))
        wait_until(lambda: health(port)[0] == 200, what="a healthy streamer")
        return streamer, port

    yield start
    for streamer, thread, errors in started:
        streamer.stop.requested = True
        thread.join(timeout=30)
        assert not thread.is_alive() and not errors


def test_healthcheck_503_while_the_connection_is_cut_then_200(
    mariadb: LocalMariaDB, db: Database, streaming: Callable[..., tuple[Streamer, int]]
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    proxy = FaultProxy(("127.0.0.1", mariadb.port))
    try:
        url = MySQLUrl.parse(mariadb.url().replace(f":{mariadb.port}", f":{proxy.port}"))
        sink = GateSink()
        _, port = streaming(url, sink)
        proxy.refusing.set()
        proxy.drop()
        wait_until(lambda: health(port)[0] == 503, what="503 while disconnected")
        _, document = health(port)
        assert document["connected"] is False and "not connected" in document["reasons"][0]
        assert metrics(port)[("cdc_connected", ())] == 0
        proxy.refusing.clear()
        db.execute("INSERT INTO t VALUES (1)")
        wait_until(lambda: health(port)[0] == 200 and sink.rows() == 1, what="200 after reconnecting")
        assert metrics(port)[("cdc_reconnects_total", ())] >= 1
    finally:
        proxy.close()


def test_healthcheck_503_when_stalled_behind_a_moving_binlog_then_200(
    mariadb: LocalMariaDB, db: Database, streaming: Callable[..., tuple[Streamer, int]]
) -> None:
    db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    sink = GateSink()
    _, port = streaming(MySQLUrl.parse(mariadb.url()), sink)
    sink.open.clear()
    db.execute("INSERT INTO t VALUES (1)")  # the loop blocks handing this to the sink
    time.sleep(0.5)
    for i in range(2, 5):  # the server moves on
        db.execute("INSERT INTO t VALUES (%s)", (i,))
    wait_until(lambda: health(port)[0] == 503, timeout=20, what="503 when stalled")
    _, document = health(port)
    assert document["connected"] is True
    assert any(reason.startswith("stalled:") for reason in document["reasons"])
    assert metrics(port)[("cdc_healthy", ())] == 0
    sink.open.set()
    wait_until(lambda: health(port)[0] == 200 and sink.rows() == 4, timeout=20, what="200 once reading again")


def test_heartbeat_table_without_grant_is_a_clear_config_error(
    mariadb: LocalMariaDB, db: Database, tmp_path: Path
) -> None:
    result = run_cli(
        *file_sink_run(mariadb, tmp_path / "x.jsonl", f"{db.name}.*"), "--heartbeat-table", f"{db.name}.hb"
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cdc-streamer: --heartbeat-table"), result.stderr
    assert "GRANT INSERT, UPDATE" in last and "CREATE TABLE" in last and "Traceback" not in result.stderr
