"""False positives of the drop rules over a long replay of normal festival traffic, and their detection
of real outages.

    .venv/bin/python bench/alerts_false_positives.py [--days 11] [--scale 0.01] [--config infra/alerts.toml]
        [--baselines last_year,median]

Orders created per second come from the simulator's own arrival process (``Simulation.arrivals``,
the same code and curve ``gmv simulate`` uses; an order's ``created`` event is at its arrival,
so these are the ledger's ``orders_created`` per second; ``tests/integration/test_alerts_replay.py``
checks that on a real ledger). Default: the whole festival, Nov 1-11 2021, at 1/100 of the
real volume.

Last year's history (the ``last_year`` baseline) is made the same way for last year's calendar
(Nov 1-11 2020: its own flash-sale timetable, another seed) at ``1 / (1 + --growth)`` of this
year's volume (+26%: the press figure for 2020 on 2019), and given to the rule exactly as the
service gives it: last year's orders per second at :func:`stream.history.same_moment_last_year`
of each second, in :class:`Windows`, with the span the history covers. The bench may import the
simulator (``stream/alerts`` does not). For comparison in the same run it measures ``median``
by default, and on request ``both`` and ``curve``: the simulator's own expected curve
(:func:`festival_shape` below, formerly the service's ``curve`` baseline) in place of last
year's orders, through today's ``last_year`` arithmetic (which judges against the median where
the reference rises and today does not, so not quite the old rule; the old rule's figures come
from this bench on a commit before this one, such as main 8721f70).

The rules of ``--config`` are evaluated once a second as the live service would: event time runs
with the wall clock, the job writes a second ``--lag`` seconds after it ends, the service judges
windows ``margin_seconds`` behind the newest one written ``settle_seconds`` ago, cooldowns run
on that clock. Every alert fired is a false positive (there is no outage in the traffic).
Then ``--outages`` outages (``--depth`` of the orders lost for ``--outage-minutes``) are cut
into the same traffic at random times, and the bench reports how many were caught and how
long after their start; then one outage at a time at each of the festival's turning points
(``--at``: the midnight surge, the 20:00 spikes, the end of wave 1). It also prints the closest
call: the lowest observed / baseline of a window judged while the rule was not firing.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream.alerts import config as config_mod
from stream.alerts.last_year import BLOCK_S, spread_minutes
from stream.alerts.rules import FIRING, DropRule, RuleState, Windows, evaluate, measure_drop
from stream.history import same_moment_last_year
from stream.simulator import curve as curve_mod
from stream.simulator.config import DEFAULT, FESTIVAL_TZ
from tests.support.last_year import orders_created

CREATED_COMPONENTS = ("base", "spike", "surge", "flash")  # what makes orders *created* (finals do not)


def festival_shape(start: int, end: int) -> np.ndarray:
    """The simulator's expected orders created (real volume) in each second of [start, end): the
    reference series of the old ``curve`` baseline (formerly stream/alerts/expected.py)."""
    curve = _curve(datetime.fromtimestamp(start, FESTIVAL_TZ).year)
    parts = curve_mod.components(curve, np.arange(start, end, dtype=np.float64) + 0.5, {})
    return np.sum([parts[name] for name in CREATED_COMPONENTS], axis=0)


@functools.lru_cache(maxsize=4)
def _curve(year: int) -> curve_mod.Curve:
    return curve_mod.build(DEFAULT.replace(year=year))


@dataclasses.dataclass
class Replayed:
    alerts: list
    evaluations: int = 0
    judged: int = 0
    fallbacks: int = 0  # judged against the median for want of history (0: history covers it all)
    closest: float = float("inf")  # the lowest observed / baseline of a judged window, not firing
    closest_at: int = 0


def replay(rule: DropRule, counts: np.ndarray, start: int, reference: np.ndarray | None, service, lag: int,
           step: int, span: tuple[int, int] | None = None) -> Replayed:
    """Evaluate ``rule`` once every ``step`` s over the replay (or over ``span``, [from, to) epoch s,
    from a clear state). ``reference``: last year's orders per second at the same moments (or the
    curve), aligned with ``counts``, covering all of it."""
    out = Replayed([])
    state = RuleState()
    covered = (start, start + len(reference)) if reference is not None else None
    behind = lag + int(np.ceil(service.settle_seconds)) + service.margin_seconds
    first, end = start + rule.history_seconds + behind, start + len(counts)
    if span is not None:
        first, end = max(first, span[0]), min(end, span[1])
    for now in range(first, end, step):
        data = Windows(start, counts, now - behind, start, reference, covered)
        was_firing = state.firing
        alert, state = evaluate(rule, data, state, now * 1000)
        out.evaluations += 1
        m = measure_drop(rule, data, state.level if was_firing else None)
        judged = m is not None and m.baseline * rule.window_seconds >= rule.min_expected_orders
        out.judged += judged
        if judged and m is not None:
            out.fallbacks += m.fallback
            if not was_firing and m.observed / m.baseline < out.closest:
                out.closest, out.closest_at = m.observed / m.baseline, m.span_start
        if alert is not None:
            out.alerts.append(alert)
    return out


def cut_outages(counts: np.ndarray, n: int, length: int, depth: float, seed: int) -> tuple[np.ndarray, list[int]]:
    """A copy of ``counts`` with ``n`` outages (each order lost with probability ``depth``)."""
    rng = np.random.default_rng(seed)
    slots = np.arange(3 * 3600, len(counts) - 3600, 3600)  # an hour apart: longer than any cooldown
    starts = sorted(rng.choice(slots, min(n, len(slots)), replace=False))
    cut = counts.copy()
    for s in starts:
        cut[s:s + length] = rng.binomial(counts[s:s + length], 1.0 - depth)
    return cut, [int(s) for s in starts]


def cut_at(counts: np.ndarray, at: int, length: int, depth: float, seed: int) -> tuple[np.ndarray, int]:
    """A copy of ``counts`` with one outage from second ``at`` (an index)."""
    cut = counts.copy()
    cut[at:at + length] = np.random.default_rng(seed).binomial(counts[at:at + length], 1.0 - depth)
    return cut, at


def caught(fired_at: list[int], starts: list[int], length: int, window: int) -> tuple[list[int], list[int]]:
    """(delays from each caught outage's start to its page, starts missed): a page counts for an
    outage when it comes between its start and three windows after its end."""
    delays, missed = [], []
    for s in starts:
        hits = [t - s for t in fired_at if s <= t < s + length + window * 3]
        delays.extend(hits[:1])
        if not hits:
            missed.append(s)
    return delays, missed


def local(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%m-%d %H:%M:%S")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2021-11-01T00:00+08:00")
    parser.add_argument("--days", type=float, default=11.0)
    parser.add_argument("--scale", type=float, default=0.01, help="simulated orders per real order (default 0.01)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", type=Path, default=config_mod.DEFAULT_PATH)
    parser.add_argument("--baselines", default="last_year,median",
                        help="comma-separated baselines to measure each drop rule with (default "
                             "last_year,median; also both, curve: the simulator's own curve as last year)")
    parser.add_argument("--growth", type=float, default=0.26, help="this year's volume on last year's (default 0.26)")
    parser.add_argument("--history-weight", type=int, default=1,
                        help="last year sampled: each simulated order counted this many times, as gmv simulate "
                             "--history does past its budget (default 1: not sampled)")
    parser.add_argument("--history-per-minute", action="store_true",
                        help="last year as per-minute totals on each minute's first second (a CSV of minutes "
                             "imported), spread over the minute as the service spreads them")
    parser.add_argument("--lag", type=int, default=1, help="seconds from a window's end to its row (default 1)")
    parser.add_argument("--step", type=int, default=1, help="evaluate every STEP seconds (default 1, as live)")
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument("--outage-minutes", type=float, default=5.0)
    parser.add_argument("--depth", type=float, default=0.9)
    parser.add_argument("--at", default="2021-11-11T00:00+08:00,2021-11-10T20:00+08:00,2021-11-04T00:00+08:00,"
                                        "2021-11-01T20:00+08:00,2021-11-05T20:00+08:00",
                        help="also cut an outage starting at each of these moments (the turning points: the "
                             "midnight surges, the 20:00 spikes, the end of wave 1), one at a time")
    args = parser.parse_args()

    cfg = config_mod.load(args.config)
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    unknown = [b for b in baselines if b not in ("last_year", "curve", "median", "both")]
    if unknown:
        parser.error(f"--baselines: {', '.join(unknown)} is not one of last_year, curve, median, both")
    start = int(datetime.fromisoformat(args.start).timestamp())
    seconds = int(args.days * 86400)
    if args.history_per_minute and (seconds % BLOCK_S or start % 60):
        parser.error("--history-per-minute needs whole hours from the start of a minute (--days a multiple of 1/24)")
    began = time.monotonic()
    counts = orders_created(start, seconds, args.scale, args.seed)
    print(f"replay {local(start)} + {args.days:g} days (CST), scale {args.scale:g}: "
          f"{counts.sum():,} orders created, mean {counts.mean():.1f}/s, busiest second {counts.max():,} "
          f"(generated in {time.monotonic() - began:.0f} s)")
    references: dict[str, np.ndarray | None] = {"median": None}
    if {"last_year", "both"} & set(baselines):
        began = time.monotonic()
        then = same_moment_last_year(start)
        weight = args.history_weight
        last = weight * orders_created(then, seconds, args.scale / (1 + args.growth) / weight, args.seed + 1000)
        if args.history_per_minute:
            minutes = np.zeros_like(last)
            minutes[::60] = last.reshape(-1, 60).sum(axis=1)
            last = np.concatenate([spread_minutes(b) for b in np.split(minutes, len(minutes) // BLOCK_S)])
        references["last_year"] = references["both"] = last
        how = (f", sampled: each order counted {weight}x" if weight > 1 else "") + \
            (", as per-minute totals" if args.history_per_minute else "")
        print(f"last year {datetime.fromtimestamp(then, FESTIVAL_TZ):%Y-%m-%d %H:%M} + {args.days:g} days{how}, "
              f"{1 + args.growth:g}x less: {last.sum():,.0f} orders created, busiest second {last.max():,.0f} "
              f"(this year / last year {counts.sum() / max(last.sum(), 1):.3f}; "
              f"generated in {time.monotonic() - began:.0f} s)")
    if "curve" in baselines:
        references["curve"] = festival_shape(start, start + seconds)
    length = int(args.outage_minutes * 60)
    cut, starts = cut_outages(counts, args.outages, length, args.depth, args.seed)
    turning_points = [t for t in (int(datetime.fromisoformat(a).timestamp()) for a in args.at.split(",") if a)
                      if start + 3600 <= t < start + seconds - 3600]
    for base_rule, baseline in [(r, b) for r in cfg.rules if isinstance(r, DropRule) for b in baselines]:
        # "curve" is judged with last_year's arithmetic on the curve instead of last year's orders
        rule = dataclasses.replace(base_rule, baseline="last_year" if baseline == "curve" else baseline)
        reference = references[baseline]
        began = time.monotonic()
        normal = replay(rule, counts, start, reference, cfg.service, args.lag, args.step)
        fired = [a for a in normal.alerts if a.state == FIRING]
        print(f"\nrule {rule.name} (baseline {baseline}, {rule.window_seconds} s below {rule.below_percent:g}% "
              f"of {rule.baseline_windows} windows, min {rule.min_expected_orders:g} orders, "
              f"cooldown {rule.cooldown_seconds:g} s)")
        print(f"  normal traffic: {len(fired)} false positives in {normal.evaluations:,} evaluations "
              f"({normal.judged / max(normal.evaluations, 1):.1%} judged; the rest had too few orders; "
              f"{normal.fallbacks:,} judged on the median for want of history); lowest observed / baseline "
              f"while not firing {normal.closest:.0%} at {local(normal.closest_at)} "
              f"[{time.monotonic() - began:.0f} s]")
        for a in fired[:20]:
            print(f"    {local(a.window_start)}  observed {a.observed:,.1f}/s  baseline {a.baseline:,.1f}/s")
        outages = replay(rule, cut, start, reference, cfg.service, args.lag, args.step)
        fired_at = [a.event_ms // 1000 for a in outages.alerts if a.state == FIRING]
        delays, missed = caught(fired_at, [start + s for s in starts], length, rule.window_seconds)
        extra = len(fired_at) - len(delays)
        print(f"  {len(starts)} outages of {args.outage_minutes:g} min at {args.depth:.0%} depth: "
              f"caught {len(delays)}, missed {len(missed)}, other alerts {extra}; delay from outage start "
              + (f"median {np.median(delays):.0f} s, max {max(delays):.0f} s" if delays else "-"))
        for m in missed:
            print(f"    missed {local(m)} ({counts[m - start - 600:m - start].mean():.1f} orders/s before)")
        points = []
        for at in turning_points:
            one, _ = cut_at(counts, at - start, length, args.depth, args.seed)
            got = replay(rule, one, start, reference, cfg.service, args.lag, args.step, (at - 3600, at + 3600))
            delay, _ = caught([a.event_ms // 1000 for a in got.alerts if a.state == FIRING], [at], length,
                              rule.window_seconds)
            points.append(f"{local(at)[:-3]} " + (f"{delay[0]} s" if delay else "MISSED"))
        if points:
            print(f"  one outage at each turning point, paged after: {'; '.join(points)}")


if __name__ == "__main__":
    main()
