"""Is the streamer healthy, and how far behind is it? Pure functions over what the run loop and the probe saw.

Healthy means connected to the source and keeping up: `/healthcheck` answers 503 when the replication connection
is down, or when the server's binlog has moved past what the streamer read and the streamer has read nothing new
for longer than `--health-stall-seconds` (stuck sink, back-pressure that never clears, a hung connection).

Replication lag, in seconds:
- with `--heartbeat-table`: now minus the time written in the newest heartbeat row the streamer read (like
  pt-heartbeat; it includes up to one heartbeat interval);
- without it: 0 when the streamer has read up to the server's binlog end at the last probe; otherwise the smaller
  of "age of the event being read" and "time since the streamer was last seen caught up" (the first alone
  overstates the lag after an idle period, the second alone when the streamer was never caught up);
- None (unknown) before the first probe answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .position import BinlogPosition


@dataclass(frozen=True, slots=True)
class Observation:
    """One reading of the streamer's state, every time on the same clock (seconds; wall clock for timestamps)."""

    now: float
    connected: bool
    read_position: BinlogPosition | None
    read_moved_at: float  # when read_position last changed (or the run started)
    server_position: BinlogPosition | None  # the server's binlog end at the last probe
    caught_up_at: float | None  # the last probe that found read_position at the server's end
    last_event_timestamp: float | None  # the header time of the last binlog event read
    heartbeat_at: float | None  # the time written in the newest heartbeat row read
    stall_seconds: float


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def status(self) -> str:
        return "ok" if self.ok else "unhealthy"


def behind(observation: Observation) -> bool:
    """The server has written past what the streamer read (as of the last probe)."""
    read, server = observation.read_position, observation.server_position
    return read is not None and server is not None and read < server


def assess(observation: Observation) -> Health:
    reasons = []
    if not observation.connected:
        reasons.append("not connected to the source (reconnecting, or not started yet)")
    idle = observation.now - observation.read_moved_at
    if behind(observation) and idle > observation.stall_seconds:
        reasons.append(
            f"stalled: the server's binlog is at {observation.server_position} but the streamer has read nothing "
            f"past {observation.read_position} for {idle:.0f} s (threshold {observation.stall_seconds:g} s)"
        )
    return Health(not reasons, tuple(reasons))


def replication_lag(observation: Observation) -> float | None:
    if observation.heartbeat_at is not None:
        return max(0.0, observation.now - observation.heartbeat_at)
    if observation.server_position is None or observation.read_position is None:
        return None
    if not behind(observation):
        return 0.0
    candidates = [
        observation.now - moment
        for moment in (observation.last_event_timestamp, observation.caught_up_at)
        if moment is not None
    ]
    return max(0.0, min(candidates)) if candidates else None
