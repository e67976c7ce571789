"""Last year's festival for the history database (``gmv simulate --history``).

The simulator's own model on last year's calendar (the festival config with ``year - 1``), at this
run's volume divided by the growth (``--growth 26``: last year's orders = this year's / 1.26),
counted straight into rollup rows by a :class:`Ledger` and inserted into
``Settings.history_database``, each row at last year's own window: no Kafka, no job, no encoding.

What is written is exactly the ledger of what was simulated, times the sampling weight: past a
budget of simulated orders, each simulated order stands for ``weight`` orders (every measure of
every row is multiplied by it, so counts and fen stay integers and the rows still add up exactly).

The span is last year's counterpart of this run: from midnight (China time) of the day the run
starts, through the end of its last planned day, and through the festival's end when the run
starts inside the festival, so the wall can compare, draw last year's day and project to the end.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from stream.contract import COUNT, FEN, FESTIVAL_TZ, ROLLUPS, family
from stream.history import festival_span, same_moment_last_year
from stream.simulator import curve as curve_mod
from stream.simulator import events as ev
from stream.simulator.clock import ClockSpec, orders_factor
from stream.simulator.config import FestivalConfig
from stream.simulator.ledger import Ledger
from stream.simulator.run import RunOptions, Simulation

DEFAULT_GROWTH_PCT = 26.0  # 2020 on 2019, as Alibaba reported it
DEFAULT_BUDGET = 500_000  # simulated orders at most; beyond it, sampled (see the module's docstring)
CHUNK_ORDERS = 100_000  # simulated orders per step (bounds the memory of one step)
# The rollups written: what the readers of history use (the wall, explore with its overlay, the drop
# alert), every time tier of each from a minute up, and the per-second totals. Left out: the
# dimensions and parcels per second (most of the rows, and nothing compares last year's second by
# dimension), the live top brands and the buyers (nothing reads them for last year).
WRITTEN = ("orders_second", *(r.name for base in ("orders_second", "dimensions_second", "cube_5min", "brands_5min")
                              for r in family(base) if r.window_s >= 60), "logistics_minute")


@dataclass(frozen=True)
class Plan:
    """What ``--history`` writes: last year's span, its volume and its sampling."""

    year: int  # last year
    start_s: int  # last year's span, epoch seconds
    end_s: int
    factor: float  # last year's simulated orders per real order: this run's / (1 + growth)
    weight: int  # each simulated order counts this many times (1: nothing sampled out)
    orders: float  # last year's expected orders over the span, before sampling

    def line(self) -> str:
        def local(s: int) -> str:
            return datetime.fromtimestamp(s, FESTIVAL_TZ).strftime("%Y-%m-%d %H:%M")

        sampled = f", each simulated order counted {self.weight}x" if self.weight > 1 else ""
        return f"last year {local(self.start_s)} to {local(self.end_s)} CST, ~{self.orders:,.0f} orders{sampled}"


def span(clock: ClockSpec, duration_s: float | None) -> tuple[int, int]:
    """This run's days, epoch seconds: from midnight of its start through its last planned day
    (the start's day for an open-ended run), and through the festival's end when it starts in it."""
    start_s = clock.start_ms // 1000
    day0 = datetime.fromtimestamp(start_s, FESTIVAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    last = start_s + int((duration_s or 0) * clock.festival_speed)
    days = (last - int(day0.timestamp())) // 86400 + 1
    end = int((day0 + timedelta(days=days)).timestamp())
    fest_start, fest_end = festival_span(day0.year)
    if fest_start <= start_s < fest_end:
        end = max(end, fest_end)
    return int(day0.timestamp()), end


def plan(config: FestivalConfig, options: RunOptions, growth_pct: float = DEFAULT_GROWTH_PCT,
         budget: int = DEFAULT_BUDGET) -> Plan:
    """Last year's span and volume for this run (its clock, rate or scale, duration)."""
    this_curve = curve_mod.build(config)
    ghost = curve_mod.ghost_shares(this_curve, options.clock.start_ms / 1000)
    this_factor = orders_factor(this_curve, options.clock, ghost, options.rate, config.scale,
                                options.duration_s, options.events)
    start, end = span(options.clock, options.duration_s)
    last_start, last_end = same_moment_last_year(start), same_moment_last_year(end)
    last = _last_year(config)
    factor = this_factor / (1 + growth_pct / 100)
    last_curve = curve_mod.build(last)
    expected = factor * curve_mod.integral(last_curve, last_start, last_end,
                                           curve_mod.ghost_shares(last_curve, last_start), step_s=60.0)
    return Plan(last.year, last_start, last_end, factor, max(1, math.ceil(expected / budget)), expected)


def _last_year(config: FestivalConfig) -> FestivalConfig:
    return config.replace(year=config.year - 1)


def simulate(config: FestivalConfig, the_plan: Plan, seed: int = 0) -> Ledger:
    """Last year's orders and their events over the plan's span, counted in a ledger (events due
    after the span are left out, as a run stopped at its end would never have sent them)."""
    last = _last_year(config).replace(scale=the_plan.factor / the_plan.weight)
    start_ms, end_ms = the_plan.start_s * 1000, the_plan.end_s * 1000
    sim = Simulation(last, RunOptions(clock=ClockSpec("replay", start_ms, 1.0), seed=seed))
    ledger = Ledger(sim.catalog, WRITTEN)
    for step_end in _steps(sim, the_plan):
        rows, _ = sim.lifecycles(step_end)
        sim.frontier = step_end
        ledger.add(ev.take(rows, rows["t"] < end_ms))
    return ledger


def _steps(sim: Simulation, the_plan: Plan) -> list[int]:
    """Ends (ms) of steps of about CHUNK_ORDERS simulated orders each, from the curve."""
    grid = np.arange(the_plan.start_s, the_plan.end_s + 60, 60, dtype=np.float64)
    grid[-1] = the_plan.end_s
    mid = (grid[:-1] + grid[1:]) / 2
    expected = np.cumsum(curve_mod.intensity(sim.curve, mid, sim.ghost) * np.diff(grid) * sim.factor)
    cuts = np.searchsorted(expected, np.arange(CHUNK_ORDERS, expected[-1] if len(expected) else 0, CHUNK_ORDERS))
    ends = sorted({int(grid[i + 1]) * 1000 for i in cuts.tolist()} | {the_plan.end_s * 1000})
    return ends


def weighted(tables: dict[str, dict[str, list]], weight: int) -> dict[str, dict[str, list]]:
    """The ledger's columns with every count and amount multiplied by ``weight`` (the rollup's
    value columns of kind COUNT or FEN; keys and text values such as a brand's category kept)."""
    if weight == 1:
        return tables
    return {kind: {c: [v * weight for v in values] if c in _counted(kind) else values
                   for c, values in columns.items()}
            for kind, columns in tables.items()}


def _counted(kind: str) -> set[str]:
    return {c.name for c in ROLLUPS[kind].values if c.kind in (COUNT, FEN)}


def records(tables: dict[str, dict[str, list]]) -> Iterator[dict]:
    """The rows of ``tables`` as ledger lines' dicts (``kind`` first)."""
    for kind, columns in tables.items():
        names = list(columns)
        for values in zip(*columns.values()):
            yield {"kind": kind, **dict(zip(names, values))}


def write(settings, config: FestivalConfig, options: RunOptions, growth_pct: float = DEFAULT_GROWTH_PCT,
          budget: int = DEFAULT_BUDGET, ledger_path=None, echo=print) -> Plan:
    """Plan, simulate and insert last year's festival into ``settings.history_database`` (migrated
    first; rows already in last year's span of the rollups written are deleted first, so the span
    holds exactly what this run wrote); with ``ledger_path``, also the ledger of what was written."""
    from stream import history
    from stream.stack import clickhouse, migrations

    began = time.monotonic()
    the_plan = plan(config, options, growth_pct, budget)
    with history.reaching(settings), clickhouse.connect(settings, "writer") as client:
        migrations.apply(client, settings.history_database)  # first: a ClickHouse that is down says so at once
        echo(f"history: simulating {the_plan.line()}")
        columns = simulate(config, the_plan, options.seed).columns()
        tables = weighted({kind: columns[kind] for kind in WRITTEN}, the_plan.weight)
        simulated = time.monotonic() - began
        history.clear(client, settings.history_database, WRITTEN, the_plan.start_s, the_plan.end_s)
        count = history.insert(client, settings.history_database, tables, written_ms=time.time_ns() // 1_000_000)
    gmv = sum(tables["orders_second"]["gmv_fen"])
    if ledger_path is not None:
        summary = {"history": True, "year": the_plan.year, "weight": the_plan.weight, "gmv_fen": gmv,
                   "first_window": the_plan.start_s, "end_window": the_plan.end_s}
        _write_lines(ledger_path, records(tables), summary)
    echo(f"history: {count:,} rollup rows of {the_plan.year} into {settings.history_database} "
         f"(GMV {gmv:,} fen) in {time.monotonic() - began:.1f} s ({simulated:.1f} s simulating)")
    return the_plan


def _write_lines(path, rows: Iterable[dict], summary: dict) -> None:
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with tmp.open("w", encoding="utf-8") as out:
        for r in (*rows, {"kind": "summary", **summary}):
            out.write(dump(r) + "\n")
    tmp.replace(path)
