"""Festival time versus wall time, and how many simulated orders one real order is worth.

- ``live``: festival time is now; ticks cover the wall time since the last one.
- ``replay``: festival time starts at ``start`` and runs ``speed`` times faster than the
  wall clock. Ticks are planned in festival time from the curve alone (never from the
  wall clock), so the same seed and arguments give the same events however fast the
  sink is; pacing only decides *when* each tick is sent. ``--clock festival`` is a replay
  from :func:`festival_clock_start` (Nov 11's evening: a first ``make run`` shows the
  festival within minutes).

``--rate R`` fixes the factor so that R orders arrive per wall second on average over
the planned span (``--duration``; else about an hour of wall time, at most a festival
day), and the curve decides how they spread over it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from stream.contract import FESTIVAL_TZ
from stream.errors import GmvError
from stream.simulator import curve as curve_mod
from stream.simulator.curve import Curve

OPEN_ENDED_WALL_S = 3600.0
# `--clock festival` starts on Nov 11 at 19:58 China time: two minutes before the 20:00 spike.
FESTIVAL_CLOCK_FROM = (11, 11, 19, 58)  # month, day, hour, minute
# Events sent per order in the first minutes of a run (created, then paid or cancelled);
# parcels follow hours later, so a run bounded by --events mostly sends these.
SHORT_RUN_EVENTS_PER_ORDER = 2.0


@dataclass(frozen=True)
class ClockSpec:
    """Which clock, from when, how fast."""

    mode: str  # live | replay
    start_ms: int
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("live", "replay"):
            raise GmvError(f"clock {self.mode!r} is unknown; use live or replay.")
        if not self.speed > 0:
            raise GmvError(f"--speed {self.speed} must be positive.")

    @property
    def festival_speed(self) -> float:
        return self.speed if self.mode == "replay" else 1.0

    def festival_ms(self, wall_s: float) -> int:
        """Festival time reached ``wall_s`` seconds into the run."""
        return self.start_ms + round(wall_s * self.festival_speed * 1000)


def festival_clock_start(now_ms: int, newest_ms: int | None = None) -> int:
    """Where ``--clock festival`` starts (epoch ms): Nov 11 19:58 China time of the latest year in
    which that moment is a day or more past (so festival time, running faster than the wall
    clock, stays behind it for days); or, when the topics already hold events from there on,
    the second after the newest of them, so a run continues where the last one stopped."""
    now = datetime.fromtimestamp(now_ms / 1000, FESTIVAL_TZ)
    month, day, hour, minute = FESTIVAL_CLOCK_FROM
    year = now.year
    while datetime(year, month, day, hour, minute, tzinfo=FESTIVAL_TZ) > now - timedelta(days=1):
        year -= 1
    start_ms = int(datetime(year, month, day, hour, minute, tzinfo=FESTIVAL_TZ).timestamp() * 1000)
    if newest_ms is not None and newest_ms >= start_ms:
        return (newest_ms // 1000 + 1) * 1000
    return start_ms


def run_tag(seed: int, spec: ClockSpec) -> str:
    """Six hex digits naming a run in every id, so two runs never share an event id."""
    text = f"{seed}:{spec.mode}:{spec.start_ms}:{spec.speed}"
    return hashlib.blake2b(text.encode(), digest_size=3).hexdigest()


def planned_wall_s(rate: float, duration_s: float | None, events: int | None) -> float:
    if duration_s:
        return duration_s
    if events:
        return float(np.clip(events / (rate * SHORT_RUN_EVENTS_PER_ORDER), 1.0, OPEN_ENDED_WALL_S))
    return OPEN_ENDED_WALL_S


def orders_factor(curve: Curve, spec: ClockSpec, ghost: dict[int, float], rate: float | None,
                  scale: float, duration_s: float | None = None, events: int | None = None) -> float:
    """Simulated orders per real order: ``scale``, or what makes ``rate`` orders per wall second."""
    if rate is None:
        return scale
    wall = planned_wall_s(rate, duration_s, events)
    horizon = wall * spec.festival_speed
    if not duration_s:
        horizon = min(horizon, curve_mod.DAY_S)
        wall = horizon / spec.festival_speed
    start = spec.start_ms / 1000
    real = curve_mod.integral(curve, start, start + horizon, ghost, step_s=float(np.clip(horizon / 20000, 0.05, 10)))
    if real <= 0:
        raise GmvError("the festival curve is zero over the run; check the festival config.")
    return rate * wall / real
