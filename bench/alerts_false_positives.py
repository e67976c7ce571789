"""False positives of the drop rules over a long replay of normal festival traffic, and their detection
of real outages.

    .venv/bin/python bench/alerts_false_positives.py [--days 11] [--scale 0.01] [--config infra/alerts.toml]

Orders created per second come from the simulator's own arrival process (``Simulation.arrivals``,
the same code and curve ``gmv simulate`` uses; an order's ``created`` event is at its arrival,
so these are the ledger's ``orders_created`` per second; ``tests/integration/test_alerts_replay.py``
checks that on a real ledger). Default: the whole festival, Nov 1-11 2021, at 1/100 of the
real volume.

The rules of ``--config`` are evaluated once a second as the live service would: event time runs
with the wall clock, the job writes a second ``--lag`` seconds after it ends, the service judges
windows ``margin_seconds`` behind the newest one written ``settle_seconds`` ago, cooldowns run
on that clock. Every alert fired is a false positive (there is no outage in the traffic).
Then ``--outages`` outages (``--depth`` of the orders lost for ``--outage-minutes``) are cut
into the same traffic at random times, and the bench reports how many were caught and how
long after their start.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stream.alerts import config as config_mod
from stream.alerts.expected import festival_shape
from stream.alerts.rules import FIRING, DropRule, RuleState, Windows, evaluate, measure_drop
from stream.simulator import orders as orders_mod
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, FESTIVAL_TZ
from stream.simulator.run import RunOptions, Simulation


def orders_created(start: int, seconds: int, scale: float, seed: int) -> np.ndarray:
    """Orders created in each second of [start, start + seconds), as the simulator makes them."""
    config = DEFAULT.replace(year=datetime.fromtimestamp(start, FESTIVAL_TZ).year, scale=scale)
    options = RunOptions(clock=ClockSpec("replay", start * 1000, 86400.0), rate=None, paced=False, seed=seed,
                         batch_orders=1 << 21)
    sim = Simulation(config, options)
    counts = np.zeros(seconds, dtype=np.int64)
    end_ms = (start + seconds) * 1000
    while sim.frontier < end_ms:
        tick_end = min(sim.next_replay_end(), end_ms)
        t0, _, origins = sim.arrivals(tick_end)
        sim.frontier = tick_end
        created = t0[origins != orders_mod.GHOST_FINAL] // 1000 - start  # ghosts enter at their final payment
        counts += np.bincount(created, minlength=seconds)[:seconds]
    return counts


def replay(rule: DropRule, counts: np.ndarray, start: int, shape_all: np.ndarray, service, lag: int,
           step: int) -> tuple[list, int, int]:
    """Evaluate ``rule`` once every ``step`` s over the replay; (alerts, evaluations, judged)."""
    def shape(a, b):
        return shape_all[a - start:b - start]

    state, alerts, evaluations, judged = RuleState(), [], 0, 0
    behind = lag + int(np.ceil(service.settle_seconds)) + service.margin_seconds
    for now in range(start + rule.history_seconds + behind, start + len(counts), step):
        data = Windows(start, counts, now - behind, start)
        alert, state = evaluate(rule, data, state, now * 1000, shape)
        evaluations += 1
        m = measure_drop(rule, data, state.level if state.firing else None, shape)
        judged += m is not None and m.baseline * rule.window_seconds >= rule.min_expected_orders
        if alert is not None:
            alerts.append(alert)
    return alerts, evaluations, judged


def cut_outages(counts: np.ndarray, n: int, length: int, depth: float, seed: int) -> tuple[np.ndarray, list[int]]:
    """A copy of ``counts`` with ``n`` outages (each order lost with probability ``depth``)."""
    rng = np.random.default_rng(seed)
    slots = np.arange(3 * 3600, len(counts) - 3600, 3600)  # an hour apart: longer than any cooldown
    starts = sorted(rng.choice(slots, min(n, len(slots)), replace=False))
    cut = counts.copy()
    for s in starts:
        cut[s:s + length] = rng.binomial(counts[s:s + length], 1.0 - depth)
    return cut, [int(s) for s in starts]


def local(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%m-%d %H:%M:%S")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2021-11-01T00:00+08:00")
    parser.add_argument("--days", type=float, default=11.0)
    parser.add_argument("--scale", type=float, default=0.01, help="simulated orders per real order (default 0.01)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", type=Path, default=config_mod.DEFAULT_PATH)
    parser.add_argument("--baseline", choices=("median", "curve", "both"), help="override the rules' baseline")
    parser.add_argument("--lag", type=int, default=1, help="seconds from a window's end to its row (default 1)")
    parser.add_argument("--step", type=int, default=1, help="evaluate every STEP seconds (default 1, as live)")
    parser.add_argument("--outages", type=int, default=20)
    parser.add_argument("--outage-minutes", type=float, default=5.0)
    parser.add_argument("--depth", type=float, default=0.9)
    args = parser.parse_args()

    cfg = config_mod.load(args.config)
    rules = [r for r in cfg.rules if isinstance(r, DropRule)]
    if args.baseline:
        rules = [DropRule(**{**r.__dict__, "baseline": args.baseline}) for r in rules]
    start = int(datetime.fromisoformat(args.start).timestamp())
    seconds = int(args.days * 86400)
    began = time.monotonic()
    counts = orders_created(start, seconds, args.scale, args.seed)
    shape_all = festival_shape(start, start + seconds)
    print(f"replay {local(start)} + {args.days:g} days (CST), scale {args.scale:g}: "
          f"{counts.sum():,} orders created, mean {counts.mean():.1f}/s, busiest second {counts.max():,} "
          f"(generated in {time.monotonic() - began:.0f} s)")
    length = int(args.outage_minutes * 60)
    cut, starts = cut_outages(counts, args.outages, length, args.depth, args.seed)
    for rule in rules:
        began = time.monotonic()
        alerts, evaluations, judged = replay(rule, counts, start, shape_all, cfg.service, args.lag, args.step)
        fired = [a for a in alerts if a.state == FIRING]
        print(f"\nrule {rule.name} (baseline {rule.baseline}, {rule.window_seconds} s below {rule.below_percent:g}% "
              f"of {rule.baseline_windows} windows, min {rule.min_expected_orders:g} orders, "
              f"cooldown {rule.cooldown_seconds:g} s)")
        print(f"  normal traffic: {len(fired)} false positives in {evaluations:,} evaluations "
              f"({judged / max(evaluations, 1):.1%} judged; the rest had too few orders) "
              f"[{time.monotonic() - began:.0f} s]")
        for a in fired[:20]:
            print(f"    {local(a.window_start)}  observed {a.observed:,.1f}/s  baseline {a.baseline:,.1f}/s")
        alerts, _, _ = replay(rule, cut, start, shape_all, cfg.service, args.lag, args.step)
        fired_at = [a.event_ms // 1000 for a in alerts if a.state == FIRING]
        delays, missed = [], []
        for s in starts:
            hits = [t - (start + s) for t in fired_at if start + s <= t < start + s + length + rule.window_seconds * 3]
            delays.extend(hits[:1])
            if not hits:
                missed.append(f"{local(start + s)} ({counts[s - 600:s].mean():.1f} orders/s before)")
        extra = len(fired_at) - len(delays)
        print(f"  {len(starts)} outages of {args.outage_minutes:g} min at {args.depth:.0%} depth: "
              f"caught {len(delays)}, missed {len(missed)}, other alerts {extra}; delay from outage start "
              + (f"median {np.median(delays):.0f} s, max {max(delays):.0f} s" if delays else "-"))
        for m in missed:
            print(f"    missed {m}")


if __name__ == "__main__":
    main()
