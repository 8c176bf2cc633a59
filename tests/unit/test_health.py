"""Health and lag rules (pure), the run monitor's bookkeeping, and what the Prometheus collector exports."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cdc_streamer.checkpoint import Checkpoint
from cdc_streamer.errors import ConfigError
from cdc_streamer.event import ChangeEvent, Operation
from cdc_streamer.health import Observation, assess, behind, replication_lag
from cdc_streamer.heartbeat import create_statement, parse_heartbeat_table, write_statement
from cdc_streamer.metrics import StreamerCollector
from cdc_streamer.monitor import RunMonitor, probe_interval
from cdc_streamer.position import BinlogPosition

P = BinlogPosition


def observation(**changes: object) -> Observation:
    base = Observation(
        now=1000.0,
        connected=True,
        read_position=P("binlog.000002", 500),
        read_moved_at=990.0,
        server_position=P("binlog.000002", 500),
        caught_up_at=995.0,
        last_event_timestamp=990.0,
        heartbeat_at=None,
        stall_seconds=60.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_connected_and_caught_up_is_healthy_with_zero_lag() -> None:
    seen = observation()
    assert assess(seen).ok and assess(seen).status == "ok"
    assert replication_lag(seen) == 0.0
    assert not behind(seen)


def test_disconnected_is_unhealthy() -> None:
    health = assess(observation(connected=False))
    assert not health.ok
    assert health.status == "unhealthy"
    assert "not connected" in health.reasons[0]


def test_stalled_only_when_server_moved_on_and_reading_stopped_longer_than_threshold() -> None:
    ahead = P("binlog.000002", 900)
    assert assess(observation(server_position=ahead, read_moved_at=950.0)).ok  # 50 s < 60 s
    stalled = assess(observation(server_position=ahead, read_moved_at=930.0))  # 70 s
    assert not stalled.ok
    assert "stalled" in stalled.reasons[0] and "binlog.000002:900" in stalled.reasons[0]
    # an idle source (server not ahead) is never a stall, however long nothing was read
    assert assess(observation(read_moved_at=0.0)).ok
    # a rotated binlog counts as ahead: file numbers order positions, not offsets
    assert behind(observation(server_position=P("binlog.000003", 4)))


def test_lag_without_heartbeat_is_the_smaller_of_event_age_and_time_since_caught_up() -> None:
    ahead = P("binlog.000002", 900)
    # reading a backlog of old events, but caught up 5 s ago: 5 s (an idle period before does not count)
    assert replication_lag(observation(server_position=ahead, last_event_timestamp=100.0)) == 5.0
    # never caught up: the age of the event being read
    assert replication_lag(observation(server_position=ahead, caught_up_at=None, last_event_timestamp=970.0)) == 30.0
    # unknown before the first probe
    assert replication_lag(observation(server_position=None)) is None


def test_lag_with_heartbeat_is_its_age() -> None:
    assert replication_lag(observation(heartbeat_at=998.5)) == 1.5
    assert replication_lag(observation(heartbeat_at=1001.0)) == 0.0  # clocks a little apart never go negative


@dataclass
class FakeReader:
    connected: bool = True
    reconnects: int = 0
    last_event_timestamp: int | None = None
    read_at: tuple[str, int] | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def change(table: str, kind: Operation) -> ChangeEvent:
    return ChangeEvent(
        database="shop",
        table=table,
        type=kind,
        ts=0,
        xid=1,
        xoffset=0,
        commit=True,
        position=P("binlog.000001", 4),
        gtid=None,
        server_id=1,
        thread_id=None,
        primary_key=(1,),
        primary_key_columns=("id",),
        data={"id": 1},
    )


def test_monitor_tracks_read_progress_probes_and_heartbeats() -> None:
    clock = Clock()
    monitor = RunMonitor(stall_seconds=10, clock=clock)
    reader = FakeReader(read_at=("binlog.000001", 100))
    monitor.reader = reader
    assert monitor.read_position() == P("binlog.000001", 100)
    clock.now = 1005.0
    monitor.on_server_position(P("binlog.000001", 100))
    assert monitor.caught_up_at == 1005.0
    clock.now = 1020.0
    monitor.on_server_position(P("binlog.000001", 900))  # the server moved on, the reader did not
    seen = monitor.observe()
    assert seen.read_moved_at == 1000.0 and not assess(seen).ok
    reader.read_at = ("binlog.000001", 900)
    assert assess(monitor.observe()).ok  # reading again
    assert monitor.observe().read_moved_at == 1020.0
    monitor.on_heartbeat({"server_id": 7, "heartbeat_at": datetime.datetime(2026, 1, 1, 0, 0, 1, 500000)})
    assert monitor.heartbeat_at == datetime.datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=datetime.UTC).timestamp()


def test_collector_exports_counts_positions_lag_and_sink_stats() -> None:
    @dataclass
    class Stats:
        records: int = 12
        retried_records: int = 3
        bytes: int = 4096

    class Sink:
        stats = Stats()

    clock = Clock()
    monitor = RunMonitor(stall_seconds=60, clock=clock)
    monitor.reader = FakeReader(read_at=("binlog.000007", 800), last_event_timestamp=990, reconnects=2)
    monitor.sink, monitor.sink_name = Sink(), "kinesis"
    monitor.on_transaction([change("orders", Operation.INSERT), change("orders", Operation.INSERT)])
    monitor.on_transaction([change("orders", Operation.DELETE)])
    monitor.on_transaction([])
    monitor.on_inflight(5, 2)
    monitor.on_checkpoint(Checkpoint(P("binlog.000007", 700)))
    monitor.on_server_position(P("binlog.000007", 900))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamerCollector(monitor))
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }
    orders = (("database", "shop"), ("table", "orders"))
    assert samples[("cdc_events_total", (*orders, ("type", "insert")))] == 2
    assert samples[("cdc_events_total", (*orders, ("type", "delete")))] == 1
    assert samples[("cdc_transactions_total", ())] == 3
    assert samples[("cdc_inflight_rows", ())] == 5
    assert samples[("cdc_checkpoint_file_number", ())] == 7
    assert samples[("cdc_checkpoint_offset_bytes", ())] == 700
    assert samples[("cdc_read_offset_bytes", ())] == 800
    assert samples[("cdc_server_offset_bytes", ())] == 900
    assert samples[("cdc_replication_lag_seconds", ())] == 10.0  # never caught up: the event's age
    assert samples[("cdc_connected", ())] == 1
    assert samples[("cdc_reconnects_total", ())] == 2
    assert samples[("cdc_sink_retried_records_total", ())] == 3
    assert samples[("cdc_sink_bytes_total", ())] == 4096


def test_heartbeat_table_flag_and_statements() -> None:
    assert parse_heartbeat_table("cdc_meta.heartbeat") == ("cdc_meta", "heartbeat")
    assert parse_heartbeat_table(None) is None
    for bad in ("heartbeat", "a.b.c", "db.*", ".t"):
        with pytest.raises(ConfigError, match="--heartbeat-table"):
            parse_heartbeat_table(bad)
    assert create_statement(("we`ird", "t")).startswith("CREATE TABLE IF NOT EXISTS `we``ird`.`t`")
    assert "ON DUPLICATE KEY UPDATE" in write_statement(("m", "t"))


def test_probe_interval_sees_a_stall_well_within_its_threshold() -> None:
    assert probe_interval(60) == 5.0
    assert probe_interval(2) == 0.5
