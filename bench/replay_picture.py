"""Replay Nov 11 (2021-11-11T00:00+08:00, a whole day) and draw orders per minute: docs/replay-nov11.png.

    .venv/bin/python bench/replay_picture.py [--scale 1e-3] [--out docs/replay-nov11.png]

The replay is what ``gmv simulate --clock replay --speed 1440 --duration 60 --sink null --ledger L``
sends (a day in a minute); it runs unpaced here, which gives the same events, just sooner.
The curve is read back from the ledger, i.e. from what was sent.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions

START = local_ms(2021, 11, 11)
SPEED = 1440.0


def replay(scale: float, ledger: Path) -> None:
    config = DEFAULT.replace(scale=scale, delay_compression=24.0)
    options = RunOptions(clock=ClockSpec("replay", START, SPEED), paced=False, duration_s=86400 / SPEED, seed=11)
    # Unpaced, run() stops by the wall clock; bound the replay by festival time instead.
    from stream.simulator.ledger import Ledger
    from stream.simulator.run import Simulation, Stats

    sim = Simulation(config, options)
    book, stats = Ledger(sim.catalog), Stats()
    while sim.frontier < START + 86_400_000:
        batch = sim.batch(min(sim.next_replay_end(), START + 86_400_000))
        book.add(stats.record(batch))
    book.write(ledger, stats.summary())
    print(f"replayed Nov 11: {stats.messages} events, {stats.orders} orders")


def per_minute(ledger: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    created, paid = np.zeros(1440), np.zeros(1440)
    for line in ledger.read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "orders_second":
            minute = (row["window"] * 1000 - START) // 60_000
            if 0 <= minute < 1440:
                created[minute] += row["orders_created"]
                paid[minute] += row["orders_paid"]
    return np.arange(1440) / 60, created, paid


def draw(hours: np.ndarray, created: np.ndarray, paid: np.ndarray, out: Path, scale: float) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 8), sharex=True, gridspec_kw={"height_ratios": [1, 1]})
    for ax in (top, bottom):
        ax.plot(hours, created, lw=1, color="#d62728", label="orders placed (created)")
        ax.plot(hours, paid, lw=1, color="#1f77b4", alpha=0.8, label="orders fully paid (incl. pre-sale finals)")
        ax.grid(alpha=0.3)
    top.set_yscale("log")
    top.set_ylabel("per minute (log)")
    top.set_title(f"Simulated Nov 11 (Asia/Shanghai), replayed a day a minute; scale {scale:g} of real volume")
    top.annotate("midnight surge\n(wave 2 opens, finals paid)", (0.05, paid[:3].max()), (1.5, paid[:3].max() * 0.6),
                 arrowprops={"arrowstyle": "->"})
    evening = created[19 * 60:23 * 60].max()
    bottom.set_ylim(0, evening * 1.35)
    bottom.set_ylabel("per minute (linear, surge clipped)")
    bottom.set_xlabel("hour of day")
    # Peaks of the day curve, read off a rolling median so flash sales do not count as peaks.
    smooth = np.array([np.median(created[max(0, m - 20):m + 21]) for m in range(1440)])
    marks = [("night trough", 2 * 60 + int(np.argmin(smooth[2 * 60:7 * 60])), smooth),
             ("midday peak", 10 * 60 + int(np.argmax(smooth[10 * 60:15 * 60])), smooth),
             ("20:00 spike", 20 * 60 + int(np.argmax(created[20 * 60:20 * 60 + 15])), created),
             ("evening peak", 20 * 60 + 45 + int(np.argmax(smooth[20 * 60 + 45:23 * 60])), smooth)]
    for text, minute, series in marks:
        bottom.annotate(text, (minute / 60, series[minute]), (minute / 60 - 1.2, series[minute] + evening * 0.2),
                        arrowprops={"arrowstyle": "->"})
    bottom.text(15.4, evening * 0.02, "spikes: livestream flash sales", fontsize=9, color="#555")
    bottom.set_xticks(range(0, 25, 2))
    top.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "replay-nov11.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        replay(args.scale, ledger)
        draw(*per_minute(ledger), args.out, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
