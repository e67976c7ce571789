"""How many orders arrive when: the festival's intensity over time, in real orders per second.

The intensity is a sum of components, each a pure, vectorised function of epoch
seconds, so a tick of any length can be filled and the same curve integrated to
normalise ``--rate``:

- ``base``:   the day's level (ordinary, pre-sale, wave 1, wave 2) x the diurnal curve
              (night trough, midday and evening peaks), with a hush just before a wave opens;
- ``spike``:  the 20:00 spike on festival days (pre-sale opening, livestream prime time);
- ``surge``:  the midnight surge when a wave opens (Nov 1 and Nov 11), calibrated so Nov 11's
              first second reaches ``peak_orders_per_s`` together with the final payments;
- ``flash``:  livestream flash sales at pseudo-random times each day (from ``flash_seed``);
- ``final``:  final payments of pre-sale orders whose deposit was paid *before the run*
              (``ghost`` share): those orders enter the stream at their final payment.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from stream.contract import UTC_OFFSET_S
from stream.simulator import events
from stream.simulator.config import FestivalConfig

DAY_S = 86400.0
COMPONENTS = ("base", "spike", "surge", "flash", "final")
_GRID_S = 60.0  # resolution of the deposit integrals


@dataclass(frozen=True)
class Curve:
    """The config's festival calendar, precomputed (see :func:`build`)."""

    config: FestivalConfig
    edges_s: np.ndarray  # window start/end pairs, seconds, sorted
    window_waves: np.ndarray  # wave code of each window
    levels: np.ndarray  # real orders/s (daily mean) by wave code
    wave_starts_s: dict[int, float]  # wave code -> opening second (waves with a midnight surge)
    wave_ends_s: dict[int, float]
    surge_peaks: dict[int, float]  # wave code -> surge height at the opening second
    deposit_grid: dict[int, tuple[np.ndarray, np.ndarray]]  # final wave -> (t, cumulative deposits)
    diurnal_mean: float


def local_day_hour(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local (Shanghai) day number and hour of day (float) of epoch seconds."""
    local = np.asarray(t_s, dtype=np.float64) + UTC_OFFSET_S
    day = np.floor(local / DAY_S)
    return day, (local - day * DAY_S) / 3600.0


def _diurnal_raw(cfg: FestivalConfig, hour: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(hour), cfg.diurnal_floor, dtype=np.float64)
    for centre, amplitude, width in cfg.diurnal_bumps:
        d = np.abs(hour - centre)
        d = np.minimum(d, 24.0 - d)  # the day wraps: 23:00 is close to 01:00
        out += amplitude * np.exp(-0.5 * (d / width) ** 2)
    return out


def diurnal(curve: Curve, hour: np.ndarray) -> np.ndarray:
    """The day curve at local ``hour``, normalised to a daily mean of 1."""
    return _diurnal_raw(curve.config, hour) / curve.diurnal_mean


def wave_codes(curve: Curve, t_s: np.ndarray) -> np.ndarray:
    """Wave code (see ``events.WAVES``) of each time: pre-sale, wave 1, wave 2 or other."""
    idx = np.searchsorted(curve.edges_s, t_s, side="right")
    inside = (idx % 2) == 1
    return np.where(inside, curve.window_waves[np.minimum(idx // 2, len(curve.window_waves) - 1)],
                    events.OTHER).astype(np.int8)


def _hush(curve: Curve, t_s: np.ndarray) -> np.ndarray:
    cfg = curve.config
    out = np.ones(np.shape(t_s))
    span = cfg.hush_minutes * 60.0
    for start in curve.wave_starts_s.values():
        ramp = np.clip((t_s - (start - span)) / span, 0.0, 1.0) * (t_s < start)
        out *= 1.0 - cfg.hush_depth * ramp
    return out


def base(curve: Curve, t_s: np.ndarray, waves: np.ndarray | None = None) -> np.ndarray:
    """The day's level x the diurnal curve (real orders per second)."""
    waves = wave_codes(curve, t_s) if waves is None else waves
    _, hour = local_day_hour(t_s)
    return curve.levels[waves] * diurnal(curve, hour) * _hush(curve, t_s)


def spike_2000(curve: Curve, t_s: np.ndarray, waves: np.ndarray) -> np.ndarray:
    """The 20:00 spike on festival days, decaying exponentially."""
    cfg = curve.config
    _, hour = local_day_hour(t_s)
    since = (hour - 20.0) * 60.0  # minutes past 20:00
    at_eight = curve.levels[waves] * diurnal(curve, np.full(np.shape(t_s), 20.0))
    on = (since >= 0) & (waves != events.OTHER)
    return np.where(on, cfg.spike_2000_boost * at_eight * np.exp(-np.maximum(since, 0) / cfg.spike_2000_minutes), 0.0)


def surge(curve: Curve, t_s: np.ndarray) -> np.ndarray:
    """The midnight surge after a wave opens: a fast and a slow exponential decay."""
    cfg = curve.config
    out = np.zeros(np.shape(t_s))
    for wave, start in curve.wave_starts_s.items():
        since = t_s - start
        on = (since >= 0) & (since < curve.wave_ends_s[wave] - start)
        since = np.maximum(since, 0.0)
        shape = (cfg.surge_fast_share * np.exp(-since / (cfg.surge_fast_minutes * 60))
                 + (1 - cfg.surge_fast_share) * np.exp(-since / (cfg.surge_slow_minutes * 60)))
        out += np.where(on, curve.surge_peaks[wave] * shape, 0.0)
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a deterministic hash of integers (uint64, wraps by design)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _unit_hash(*parts: np.ndarray) -> np.ndarray:
    h = np.zeros(np.shape(parts[0]), dtype=np.uint64)
    for p in parts:
        h = _mix(h ^ np.asarray(p).astype(np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def flash_times(cfg: FestivalConfig, day: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per flash slot: (start hour, boost) on each local ``day``; between 10:00 and 23:30."""
    out = []
    for slot in range(cfg.flashes_per_day):
        start = 10.0 + 13.5 * _unit_hash(np.full(np.shape(day), cfg.flash_seed), day, np.full(np.shape(day), slot))
        low, high = cfg.flash_boost
        boost = low + (high - low) * _unit_hash(day, np.full(np.shape(day), slot), np.full(np.shape(day), 7))
        out.append((start, boost))
    return out


def flash(curve: Curve, t_s: np.ndarray, base_: np.ndarray) -> np.ndarray:
    """Livestream flash sales: each a jump of ``boost`` x base decaying in a few minutes."""
    cfg = curve.config
    day, hour = local_day_hour(t_s)
    days, which = np.unique(day, return_inverse=True)  # a tick spans a day or two: hash those only
    out = np.zeros(np.shape(t_s))
    for start, boost in flash_times(cfg, days):
        start, boost = start[which], boost[which]
        since = (hour - start) * 60.0
        on = (since >= 0) & (since < 6 * cfg.flash_minutes)
        out += np.where(on, boost * base_ * np.exp(-np.maximum(since, 0) / cfg.flash_minutes), 0.0)
    return out


def final_density(curve: Curve, wave: int, since_s: np.ndarray) -> np.ndarray:
    """Share of a wave's final payments per second, ``since_s`` after the wave opened."""
    cfg = curve.config
    length = curve.wave_ends_s[wave] - curve.wave_starts_s[wave]
    on = (since_s >= 0) & (since_s < length)
    since = np.maximum(since_s, 0.0)
    dens = np.full(np.shape(since_s), (1.0 - sum(a for a, _ in cfg.final_delays)) / length)
    for share, minutes in cfg.final_delays:
        dens += share / (minutes * 60) * np.exp(-since / (minutes * 60))
    return np.where(on, dens, 0.0)


def finals(curve: Curve, t_s: np.ndarray, ghost: dict[int, float]) -> np.ndarray:
    """Final payments per second of deposits paid before the run (``ghost`` share per wave)."""
    cfg = curve.config
    out = np.zeros(np.shape(t_s))
    for wave, share in ghost.items():
        if share > 0 and wave in curve.deposit_grid:
            total = curve.deposit_grid[wave][1][-1] * cfg.final_pay_prob
            out += share * total * final_density(curve, wave, t_s - curve.wave_starts_s[wave])
    return out


def components(curve: Curve, t_s: np.ndarray, ghost: dict[int, float]) -> dict[str, np.ndarray]:
    """Every component at ``t_s`` (real orders per second), plus ``waves``, the wave codes."""
    waves = wave_codes(curve, t_s)
    b = base(curve, t_s, waves)
    return {
        "waves": waves,
        "base": b,
        "spike": spike_2000(curve, t_s, waves),
        "surge": surge(curve, t_s),
        "flash": flash(curve, t_s, b),
        "final": finals(curve, t_s, ghost),
    }


def total(parts: dict[str, np.ndarray]) -> np.ndarray:
    return np.sum([parts[name] for name in COMPONENTS], axis=0)


def intensity(curve: Curve, t_s: np.ndarray, ghost: dict[int, float] | None = None) -> np.ndarray:
    """Orders arriving per second at ``t_s`` (real); ``ghost`` defaults to all deposits pre-run."""
    ghost = dict.fromkeys(curve.deposit_grid, 1.0) if ghost is None else ghost
    return total(components(curve, np.asarray(t_s, dtype=np.float64), ghost))


def integral(curve: Curve, start_s: float, end_s: float, ghost: dict[int, float], step_s: float = 10.0) -> float:
    """Orders arriving between two times (real), by the midpoint rule."""
    n = max(1, int(np.ceil((end_s - start_s) / step_s)))
    edges = np.linspace(start_s, end_s, n + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    return float(np.sum(total(components(curve, mid, ghost)) * np.diff(edges)))


def ghost_shares(curve: Curve, run_start_s: float) -> dict[int, float]:
    """Per wave with pre-sale: the share of its deposits paid before ``run_start_s``."""
    out = {}
    for wave, (t, cum) in curve.deposit_grid.items():
        out[wave] = float(np.interp(run_start_s, t, cum) / cum[-1]) if cum[-1] > 0 else 0.0
    return out


def _deposits(curve: Curve, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative deposits paid over a pre-sale window, on a one-minute grid."""
    cfg = curve.config
    edges = np.arange(start_s, end_s + _GRID_S, _GRID_S)
    edges[-1] = end_s
    mid = (edges[:-1] + edges[1:]) / 2
    parts = components(curve, mid, {})
    rate = (parts["base"] + parts["spike"] + parts["flash"]) * cfg.presale_share * cfg.pay_prob
    return edges, np.concatenate([[0.0], np.cumsum(rate * np.diff(edges))])


@functools.lru_cache(maxsize=8)
def build(cfg: FestivalConfig) -> Curve:
    """Precompute the calendar of ``cfg``: windows, levels, deposits and surge heights."""
    bounds = cfg.window_bounds()
    wave_index = {name: i for i, name in enumerate(events.WAVES)}
    levels = np.array([cfg.level(w) * cfg.ordinary_orders_per_s for w in events.WAVES])
    hours = np.linspace(0, 24, 24 * 60, endpoint=False)
    openings = {wave_index[w.wave]: (s / 1000, e / 1000) for s, e, w in bounds if w.wave != "presale"}
    curve = Curve(
        config=cfg,
        edges_s=np.array([x / 1000 for s, e, _ in bounds for x in (s, e)]),
        window_waves=np.array([wave_index[w.wave] for _, _, w in bounds], dtype=np.int8),
        levels=levels,
        wave_starts_s={w: s for w, (s, _) in openings.items()},
        wave_ends_s={w: e for w, (_, e) in openings.items()},
        surge_peaks=dict.fromkeys(openings, 0.0),
        deposit_grid={},
        diurnal_mean=float(_diurnal_raw(cfg, hours).mean()),
    )
    for s, e, w in bounds:
        if w.wave == "presale":
            curve.deposit_grid[wave_index[w.final_wave]] = _deposits(curve, s / 1000, e / 1000)
    for wave, start in curve.wave_starts_s.items():
        peak = cfg.peak_orders_per_s * (1.0 if wave == events.WAVE2 else cfg.wave1_peak_share)
        t = np.array([start])
        others = intensity(curve, t)[0]  # everything but the surge (still zero)
        curve.surge_peaks[wave] = max(0.0, peak - others)
    return curve
