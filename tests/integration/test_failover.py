"""A failover behind the streamer's endpoint: two private MariaDBs in GTID replication (the replica with
log_slave_updates, `MASTER_USE_GTID=slave_pos`), a workload on the primary, the streamer connected through a TCP
proxy that stands for the DNS name of the cluster. The primary is killed, the replica promoted (STOP SLAVE, RESET
SLAVE ALL, read_only off), the workload goes on on it, and the proxy is switched to it.

- With GTIDs the streamer notices the other server (its @@server_id) and resumes by the GTID state it recorded:
  every change of the new primary's binlog since the start arrives, and none of the old server's binlog
  positions is asked of the new one. The same from a stored checkpoint at start-up.
- Without a GTID state (simulated: every session is asked for a file and position only, as on a source without
  GTIDs) it stops with exit 3 and one line naming both server ids and the way out, at once, not after a
  reconnect loop. The same from a checkpoint without a GTID at start-up.
- A promoted replica that never received transactions the streamer already delivered (replication lagged when
  the primary died) cannot serve that GTID state (MariaDB error 1236): exit 3 with one line, not a reconnect loop.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cdc_streamer.errors import SourceUnusable
from cdc_streamer.event import ChangeEvent
from cdc_streamer.local_mariadb import LocalMariaDB
from cdc_streamer.position import BinlogPosition, StartPoint
from cdc_streamer.replication import ReplicationSession, SessionOptions
from cdc_streamer.settings import MySQLUrl, TableFilter
from cdc_streamer.sinks.memory import MemorySink
from cdc_streamer.streamer import Streamer

from .support import run_cli, settings_for
from .tcp_proxy import FaultProxy
from .test_server_faults import (
    DATABASE,
    Running,
    Workload,
    assert_same_contents,
    changes,
    contents,
    create_tables,
    installed_template,
    position,
    rebuilt,
    wait_until,
)

TABLES = TableFilter(include=((DATABASE, "*"),))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installed_template(tmp_path_factory)


@dataclass
class Cluster:
    primary: LocalMariaDB
    replica: LocalMariaDB
    proxy: FaultProxy  # the endpoint the streamer knows, pointing at the primary until `fail_over`

    @property
    def url(self) -> MySQLUrl:
        return MySQLUrl.parse(self.primary.url().replace(f":{self.primary.port}", f":{self.proxy.port}"))

    def fail_over(self) -> None:
        """The primary dies; the replica is promoted. The endpoint still names the old primary."""
        self.primary.kill()
        self.replica.promote()

    def switch(self) -> None:
        self.proxy.switch(("127.0.0.1", self.replica.port))


@pytest.fixture
def cluster(tmp_path: Path, template: Path) -> Iterator[Cluster]:
    primary = LocalMariaDB(tmp_path / "primary", server_id=1, template=template,
                           extra_options=("--log-slave-updates=ON",))  # fmt: skip
    replica = LocalMariaDB(tmp_path / "replica", server_id=2, template=template,
                           extra_options=("--log-slave-updates=ON", "--read-only=ON"))  # fmt: skip
    proxy: FaultProxy | None = None
    try:
        primary.start()
        replica.start()
        for _ in range(2):  # its binlog is its own: other file names, other offsets than the primary's
            replica.execute("FLUSH BINARY LOGS")
        replica.replicate_from(primary)
        primary.create_cdc_user()  # replicated, like everything below
        create_tables(primary)
        replica.wait_for_gtid(primary.gtid_binlog_pos())
        proxy = FaultProxy(("127.0.0.1", primary.port))
        yield Cluster(primary, replica, proxy)
    finally:
        if proxy is not None:
            proxy.close()
        replica.stop()
        primary.stop()


def by_gtid(events: Iterable[ChangeEvent]) -> dict[tuple[str | None, int], tuple[Any, ...]]:
    """(gtid, xoffset) -> the change: the key that means the same transaction on every server."""
    return {(e.gtid, e.xoffset): (e.table, e.type.value, e.data, e.old) for e in events}


def replayed(server: LocalMariaDB, gtid: str) -> list[ChangeEvent]:
    """The changes in `server`'s binlog after the GTID state `gtid`, read again in one session."""
    sink = MemorySink()
    settings = settings_for(server, start_gtid=gtid, stop_when_caught_up=True, replay=True, filter=TABLES)
    Streamer(settings, sink=sink).run()
    return changes(sink.events)


def gtid_at(server: LocalMariaDB, at: BinlogPosition) -> str:
    return str(server.execute("SELECT BINLOG_GTID_POS(%s, %s)", (at.file, at.offset))[0][0])


def run_args(cluster: Cluster, output: Path, store: Path, *extra: str) -> list[str]:
    url = cluster.replica.url().replace(f":{cluster.replica.port}", f":{cluster.proxy.port}")
    return ["run", "--mysql-url", url, "--sink", "file", "--file", str(output), "--include-tables",
            f"{DATABASE}.*", "--position-store", f"file:{store}", *extra]  # fmt: skip


def file_changes(path: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [event for event in events if event["type"] in ("insert", "update", "delete")]


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 3 and one error line (after the log lines, if any), without a traceback; that line."""
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("cdc-streamer:")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


class WithoutGtids(Streamer):
    """As on a source without GTIDs: every session is asked for a file and position only."""

    def _session(self, url: MySQLUrl, start: StartPoint, options: SessionOptions) -> ReplicationSession:
        return super()._session(url, replace(start, gtid=None), options)


def test_failover_to_a_promoted_replica_resumes_by_gtid_and_loses_nothing(
    cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cdc_streamer.reader")
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"\nseed {seed}")
    primary, replica = cluster.primary, cluster.replica
    start = position(primary)
    first = gtid_at(primary, start)
    store = tmp_path / "checkpoint.json"
    sink = MemorySink()
    settings = settings_for(primary, mysql=cluster.url, start_position=start, position_store=f"file:{store}",
                            filter=TABLES, flush_interval=0.2)  # fmt: skip
    running = Running(Streamer(settings, sink=sink))
    writes_to = [primary]
    workload = Workload(lambda: writes_to[0], seed).start()
    try:
        wait_until(lambda: len(changes(sink.events)) > 0, 60, "first events", running)
        time.sleep(rng.uniform(1.0, 2.0))
        workload.pause()
        replica.wait_for_gtid(primary.gtid_binlog_pos())  # nothing committed on the primary is lost to the replica
        on_primary = workload.committed
        cluster.fail_over()
        writes_to[0] = replica
        workload.resume()
        time.sleep(1.0)  # the new primary takes writes while the endpoint still names the dead one
        switched_at = len(sink.events)
        cluster.switch()
        recovery = wait_until(lambda: len(sink.events) > switched_at, 60, "events from the new primary", running)
        time.sleep(rng.uniform(1.0, 2.0))
    finally:
        workload.finish()
    expected = by_gtid(replayed(replica, first))
    try:
        caught_up = wait_until(lambda: expected.keys() <= by_gtid(changes(list(sink.events))).keys(), 60,
                               f"seed {seed}: every change delivered", running)  # fmt: skip
    finally:
        running.stop()
    assert not running.failures, running.failures
    delivered = changes(sink.events)
    counted: dict[tuple[str | None, int], int] = {}
    for event in delivered:
        counted[(event.gtid, event.xoffset)] = counted.get((event.gtid, event.xoffset), 0) + 1
    duplicates = sum(counted.values()) - len(counted)
    lost = expected.keys() - counted.keys()
    print(
        f"failover after {on_primary} transactions on the primary, {workload.committed - on_primary} on the promoted "
        f"replica ({len(expected)} row changes): rows lost {len(lost)}, duplicates delivered {duplicates}, "
        f"{running.streamer.stats.reconnects} reconnects; first event from the new primary {recovery:.1f} s after "
        f"the endpoint switched, caught up {caught_up:.1f} s after the workload stopped"
    )
    assert not lost, f"seed {seed}: {len(lost)} row changes never arrived"
    assert by_gtid(delivered) == expected
    # After the switch every event is the new primary's, at its binlog positions (nothing read by an old position).
    on_replica = {(e.gtid, e.xoffset): e.position for e in replayed(replica, first)}
    after = changes(sink.events[switched_at:])
    assert after and all(on_replica[(e.gtid, e.xoffset)] == e.position for e in after)
    assert_same_contents(rebuilt(delivered), contents(replica), seed)
    switches = [r.getMessage() for r in caplog.records if "the source is now server_id 2, not 1" in r.getMessage()]
    assert switches and "resuming from gtid 0-1-" in switches[0], switches
    saved = json.loads(store.read_text())
    assert saved["server_id"] == 2 and saved["gtid"] == replica.gtid_binlog_pos()
    assert gtid_at(replica, BinlogPosition(saved["file"], int(saved["offset"]))) == saved["gtid"]


def test_without_gtids_the_switch_is_refused_and_a_checkpoint_resumes_by_gtid_or_is_refused(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Mid-stream without a GTID state: exit 3 at the first session on the new server. At start-up, a checkpoint
    of the old server: by its GTID state when it has one (every change after it, from the new server), exit 3
    with one line when it has none."""
    seed = random.randrange(2**32)
    print(f"\nseed {seed}")
    primary, replica = cluster.primary, cluster.replica
    store = tmp_path / "checkpoint.json"
    sink = MemorySink()
    settings = settings_for(primary, mysql=cluster.url, start_position=position(primary),
                            position_store=f"file:{store}", filter=TABLES, flush_interval=0.2)  # fmt: skip
    running = Running(WithoutGtids(settings, sink=sink))
    workload = Workload(lambda: primary, seed).start()
    try:
        wait_until(lambda: len(changes(sink.events)) > 20, 60, "events", running)
        workload.pause()
        replica.wait_for_gtid(primary.gtid_binlog_pos())
        wait_until(lambda: json.loads(store.read_text())["gtid"] == primary.gtid_binlog_pos(), 30, "checkpoint")
        cluster.fail_over()
        for key in range(10**6, 10**6 + 3):  # the new primary's own changes
            replica.execute(f"INSERT INTO {DATABASE}.accounts VALUES (%s, 1, 'after')", (key,))
        delivered = len(sink.events)
        cluster.switch()
        refused = wait_until(lambda: bool(running.failures), 60, "the refusal")
    finally:
        workload.finish()
        running.stop()
    (failure,) = running.failures
    assert isinstance(failure, SourceUnusable) and failure.exit_code == 3
    message = failure.message
    print(f"refused {refused:.1f} s after the switch, {running.streamer.stats.reconnects} reconnects: {message}")
    assert "\n" not in message
    for fragment in ("server_id 2", "server_id 1", "--start-gtid", "snapshot"):
        assert fragment in message
    assert len(sink.events) == delivered, "nothing may be read from the new server by the old server's position"

    # At start-up, from the checkpoint the old server's run saved (server_id 1).
    saved = json.loads(store.read_text())
    assert saved["server_id"] == 1 and saved["gtid"]
    without = tmp_path / "without-gtid.json"
    without.write_text(json.dumps({**saved, "gtid": None}))
    result = run_cli(*run_args(cluster, tmp_path / "refused.jsonl", without), timeout=120)
    line = assert_refused(result, "server_id 2", "server_id 1", "--start-gtid", "snapshot")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    print(f"start-up without a GTID: exit {result.returncode}: {line}")

    output = tmp_path / "resumed.jsonl"
    result = run_cli(*run_args(cluster, output, store, "--stop-when-caught-up"), timeout=120)
    assert result.returncode == 0, result.stderr
    resumed = {(e["gtid"], e["xoffset"]) for e in file_changes(output)}
    assert resumed == set(by_gtid(replayed(replica, saved["gtid"])))
    assert {e["data"]["id"] for e in file_changes(output)} == {10**6, 10**6 + 1, 10**6 + 2}
    assert json.loads(store.read_text())["server_id"] == 2


def test_a_promoted_replica_without_the_delivered_transactions_is_refused_not_retried(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Replication lagged when the primary died: the streamer delivered transactions the new primary never got.
    Its GTID state is then not in the new primary's binlog (MariaDB error 1236): exit 3, one line, at once."""
    seed = random.randrange(2**32)
    print(f"\nseed {seed}")
    primary, replica = cluster.primary, cluster.replica
    store = tmp_path / "checkpoint.json"
    sink = MemorySink()
    settings = settings_for(primary, mysql=cluster.url, start_position=position(primary),
                            position_store=f"file:{store}", filter=TABLES, flush_interval=0.2)  # fmt: skip
    running = Running(Streamer(settings, sink=sink))
    replica.execute("STOP SLAVE")  # lagging from here on
    workload = Workload(lambda: primary, seed).start()
    try:
        wait_until(lambda: len(changes(sink.events)) > 20, 60, "events", running)
        workload.pause()
        wait_until(lambda: json.loads(store.read_text())["gtid"] == primary.gtid_binlog_pos(), 30, "checkpoint")
        cluster.fail_over()
        replica.execute(f"INSERT INTO {DATABASE}.accounts VALUES (%s, 1, 'after')", (10**6,))
        cluster.switch()
        refused = wait_until(lambda: bool(running.failures), 60, "the refusal")
    finally:
        workload.finish()
        running.stop()
    (failure,) = running.failures
    assert isinstance(failure, SourceUnusable) and failure.exit_code == 3, failure
    print(f"refused {refused:.1f} s after the switch, {running.streamer.stats.reconnects} reconnects: {failure}")
    assert "\n" not in failure.message
    for fragment in ("server_id 2", "cannot send the binlog from gtid", "snapshot"):
        assert fragment in failure.message

    result = run_cli(*run_args(cluster, tmp_path / "refused.jsonl", store), timeout=120)
    line = assert_refused(result, "cannot send the binlog from gtid", "snapshot")
    print(f"start-up: exit {result.returncode}: {line}")

    # The other form of 1236: the GTID state is older than the new primary's oldest binlog (purged).
    replica.execute("FLUSH BINARY LOGS")
    newest = str(replica.execute("SHOW MASTER STATUS")[0][0])

    def purged() -> bool:  # refused while the binlog checkpoint still needs an older file: try again
        replica.execute(f"PURGE BINARY LOGS TO '{newest}'")
        return len(replica.execute("SHOW BINARY LOGS")) == 1

    wait_until(purged, 30, "PURGE BINARY LOGS")
    result = run_cli(*run_args(cluster, tmp_path / "purged.jsonl", store, "--start-gtid", "0-1-2", "--replay"))
    line = assert_refused(result, "Could not find GTID state", "snapshot")
    print(f"start-up from a purged GTID state: exit {result.returncode}: {line}")
