"""The simulator's loop: ticks of festival time -> orders -> due events -> faults -> bytes -> sink.

:class:`Simulation` is deterministic: given its options (and, for the live clock,
the tick ends it is asked for) it yields the same batches. :func:`run` is the
shell that paces it against the wall clock, sends to a sink and keeps the ledger.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from stream.contract import DAY_S, FESTIVAL_TZ, window_start
from stream.errors import GmvError
from stream.simulator import catalog as catalog_mod
from stream.simulator import curve as curve_mod
from stream.simulator import events as ev
from stream.simulator import faults as faults_mod
from stream.simulator import orders as orders_mod
from stream.simulator.clock import ClockSpec, orders_factor, run_tag
from stream.simulator.config import FestivalConfig
from stream.simulator.encode import Encoder
from stream.simulator.faults import Faults
from stream.simulator.ledger import Ledger
from stream.simulator.pending import Pending

BAD_KINDS = tuple(dict.fromkeys(faults_mod.ORDER_KINDS + faults_mod.LOGISTICS_KINDS))
ORIGINAL, DUPLICATE, MALFORMED = range(3)


@dataclass(frozen=True)
class RunOptions:
    """What ``gmv simulate`` was asked for (see :mod:`stream.simulator.cli`)."""

    clock: ClockSpec
    rate: float | None = None  # orders per wall second; None: the config's scale
    paced: bool = True  # False: as fast as the sink takes
    duration_s: float | None = None
    events: int | None = None
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    batch_orders: int = 4096  # orders per tick at most (replay), or exactly (live, unpaced)
    wall_tick_s: float = 0.1  # pacing granularity
    close: str = "minute"  # how far the last heartbeat moves event time on: see closing_heartbeat_ms


@dataclass
class Batch:
    """Messages of one tick in send order, with the rows behind them."""

    topics: np.ndarray  # int8 per message
    keys: list[bytes]
    values: list[bytes]
    kinds: np.ndarray  # ORIGINAL, DUPLICATE or MALFORMED
    rows: np.ndarray  # the event row of each message (for a malformed one: its source)
    bad: np.ndarray  # index into BAD_KINDS, -1 if not malformed
    arrivals: int  # orders that arrived in the tick

    def __len__(self) -> int:
        return len(self.values)

    def head(self, n: int) -> Batch:
        return Batch(self.topics[:n], self.keys[:n], self.values[:n], self.kinds[:n], self.rows[:n],
                     self.bad[:n], self.arrivals)


class Simulation:
    """One run's event stream, produced tick by tick with :meth:`batch`."""

    def __init__(self, config: FestivalConfig, options: RunOptions):
        self.config, self.options, self.clock = config, options, options.clock
        self.catalog = catalog_mod.build(config)
        self.curve = curve_mod.build(config)
        self.ghost = curve_mod.ghost_shares(self.curve, self.clock.start_ms / 1000)
        self.factor = orders_factor(self.curve, self.clock, self.ghost, options.rate, config.scale,
                                    options.duration_s, options.events)
        # spawn(3)'s first two children are spawn(2)'s: the warehouse stream, added later, moved no other draw
        gen_seed, fault_seed, hub_seed = np.random.SeedSequence(options.seed).spawn(3)
        self.rng, self.fault_rng = np.random.default_rng(gen_seed), np.random.default_rng(fault_seed)
        self.hub_rng = np.random.default_rng(hub_seed)
        self.tag = run_tag(options.seed, self.clock)
        self.encoder = Encoder(self.catalog, self.tag)
        self.pending, self.held = Pending(), Pending()
        self.frontier = self.clock.start_ms
        self.expected = 0.0  # orders due so far (real-valued); arrivals are its whole part
        self.seq = 0

    # -- planning ------------------------------------------------------------------------

    def next_replay_end(self) -> int:
        """End of the next replay tick: about ``batch_orders`` orders, at most one wall tick."""
        cap = max(1, int(self.clock.speed * self.options.wall_tick_s * 1000))
        rate = self.factor * float(curve_mod.intensity(self.curve, np.array([self.frontier / 1000]), self.ghost)[0])
        span = self.options.batch_orders / rate * 1000 if rate > 0 else cap
        return self.frontier + int(np.clip(span, 1, cap))

    def _outage_factor(self, t_ms: np.ndarray) -> np.ndarray:
        outage = self.options.faults.outage
        if outage is None:
            return np.ones(len(t_ms))
        begin = self.clock.festival_ms(outage.start_s)
        end = self.clock.festival_ms(outage.start_s + outage.length_s)
        return np.where((t_ms >= begin) & (t_ms < end), 1.0 - outage.depth, 1.0)

    # -- one tick ------------------------------------------------------------------------

    def arrivals(self, end_ms: int, fixed: int | None = None):
        """Arrival times (sorted), waves and origins of the orders arriving in [frontier, end).

        Draws from the run's random stream; :meth:`batch` calls it, tests of the curve may too.
        """
        start = self.frontier
        edges = np.arange(start, end_ms, min(1000, end_ms - start), dtype=np.int64)
        ends = np.minimum(edges + 1000, end_ms)
        ends[:-1] = np.minimum(ends[:-1], edges[1:])
        mid_s = (edges + ends) / 2000
        parts = curve_mod.components(self.curve, mid_s, self.ghost)
        weight = curve_mod.total(parts) * (ends - edges) / 1000 * self._outage_factor((edges + ends) // 2)
        if fixed is None:
            cum = self.expected + np.cumsum(self.factor * weight)
            counts = np.diff(np.floor(np.concatenate([[self.expected], cum]))).astype(np.int64)
            self.expected = float(cum[-1])
        else:  # live, unpaced: a fixed number per tick, spread by the curve
            share = weight / weight.sum() if weight.sum() > 0 else np.full(len(weight), 1 / len(weight))
            counts = np.diff(np.floor(np.concatenate([[0.0], np.cumsum(share * fixed)]) + 1e-9)).astype(np.int64)
        cell = np.repeat(np.arange(len(edges)), counts)
        t0 = edges[cell] + (self.rng.random(len(cell)) * (ends - edges)[cell]).astype(np.int64)
        tot = np.maximum(curve_mod.total(parts), 1e-300)
        p_flash, p_final = parts["flash"] / tot, parts["final"] / tot
        u = self.rng.random(len(cell))
        origins = np.where(u < p_flash[cell], orders_mod.FLASH,
                           np.where(u < (p_flash + p_final)[cell], orders_mod.GHOST_FINAL, orders_mod.REGULAR))
        order = np.argsort(t0, kind="stable")
        t0, origins = t0[order], origins[order]
        return t0, curve_mod.wave_codes(self.curve, t0 / 1000), origins

    def lifecycles(self, end_ms: int, fixed_orders: int | None = None) -> tuple[np.ndarray, int]:
        """Every event (unsorted, due now or later) of the orders arriving in [frontier, end), and
        how many orders arrived; the frontier stays where it is."""
        t0, waves, origins = self.arrivals(end_ms, fixed_orders)
        orders = orders_mod.draw_orders(self.config, self.catalog, self.rng, self.seq, waves, origins, self.hub_rng)
        self.seq += len(orders)
        return orders_mod.lifecycle(self.config, self.curve, self.rng, orders, t0, waves, origins), len(orders)

    def batch(self, end_ms: int, fixed_orders: int | None = None) -> Batch:
        """Advance festival time to ``end_ms`` and return what is sent meanwhile."""
        rows, arrived = self.lifecycles(end_ms, fixed_orders)
        self.pending.add(rows, rows["t"], self.frontier)
        due, _ = self.pending.release(end_ms, ev.empty_events())
        self.frontier = end_ms
        batch = self._with_faults(due)
        batch.arrivals = arrived
        return batch

    def _with_faults(self, due: np.ndarray) -> Batch:
        f, rng = self.options.faults, self.fault_rng
        late = rng.random(len(due)) < f.late if f.late > 0 else np.zeros(len(due), bool)
        if late.any():
            held = ev.take(due, late)
            held["late"] = True
            self.held.add(held, held["t"] + int(f.late_by_s * 1000), self.frontier)
        back, back_at = self.held.release(self.frontier, ev.empty_events())
        rows = ev.concat([ev.take(due, ~late), back]) if len(back) or late.any() else due
        at = np.concatenate([rows["t"][: len(rows) - len(back)], back_at])
        order = np.argsort(at, kind="stable")
        rows, at = ev.take(rows, order), at[order]
        if f.duplicates > 0:
            pick = ~rows["dup"] & (rng.random(len(rows)) < f.duplicates)
            copies = ev.take(rows, pick)
            copies["dup"], copies["late"] = True, False
            self.held.add(copies, at[pick] + rng.integers(*faults_mod.DUPLICATE_WITHIN_MS, len(copies)), self.frontier)
        return self._messages(rows, at)

    def _messages(self, rows: np.ndarray, at: np.ndarray) -> Batch:
        values, keys = self.encoder.values(rows), self.encoder.keys(rows)
        kinds = np.where(rows["dup"], DUPLICATE, ORIGINAL).astype(np.int8)
        bad = np.full(len(rows), -1, dtype=np.int8)
        m = faults_mod.malformed_count(self.fault_rng, len(rows), self.options.faults.malformed)
        if m == 0:
            return Batch(rows["topic"].copy(), keys, values, kinds, rows, bad, 0)
        src = self.fault_rng.integers(0, len(rows), m)
        names = [faults_mod.ORDER_KINDS if rows["topic"][i] == ev.ORDERS_TOPIC else faults_mod.LOGISTICS_KINDS
                 for i in src.tolist()]
        chosen = [k[int(self.fault_rng.integers(len(k)))] for k in names]
        bad_values = [faults_mod.corrupt(kind, values[i], self.fault_rng) for kind, i in zip(chosen, src.tolist())]
        order = np.argsort(np.concatenate([at, at[src]]), kind="stable")
        all_values = np.array(values + bad_values, dtype=object)[order].tolist()
        all_keys = np.array(keys, dtype=object)[np.concatenate([np.arange(len(keys)), src])[order]].tolist()
        all_rows = ev.take(ev.concat([rows, ev.take(rows, src)]), order)
        return Batch(
            all_rows["topic"].copy(), all_keys, all_values,
            np.concatenate([kinds, np.full(m, MALFORMED, np.int8)])[order], all_rows,
            np.concatenate([bad, [BAD_KINDS.index(k) for k in chosen]]).astype(np.int8)[order], 0,
        )


@dataclass
class Stats:
    """What a run sent (the ledger's summary, plus timing)."""

    messages: int = 0
    bytes: int = 0
    order_events: int = 0
    logistics_events: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: dict[str, int] = field(default_factory=lambda: {"orders": 0, "logistics": 0})
    malformed_by_kind: dict[str, int] = field(default_factory=dict)
    gmv_fen: int = 0
    orders: int = 0  # arrivals
    first_ms: int | None = None
    last_ms: int | None = None
    closed_until: int | None = None  # epoch s: every window ending by then was closed by the last heartbeat
    seconds: float = 0.0

    def record(self, batch: Batch) -> np.ndarray:
        """Count a sent batch; returns the rows the ledger counts (first deliveries)."""
        self.messages += len(batch)
        self.bytes += sum(map(len, batch.values))
        self.orders += batch.arrivals
        first = ev.take(batch.rows, batch.kinds == ORIGINAL)
        is_order = first["topic"] == ev.ORDERS_TOPIC
        self.order_events += int(is_order.sum())
        self.logistics_events += len(first) - int(is_order.sum())
        self.late += int(first["late"].sum())
        self.duplicates += int((batch.kinds == DUPLICATE).sum())
        self.gmv_fen += int(first["paid_fen"][is_order & (first["status"] == ev.PAID)].sum())
        if len(first):
            lo, hi = int(first["t"].min()), int(first["t"].max())
            self.first_ms = lo if self.first_ms is None else min(self.first_ms, lo)
            self.last_ms = hi if self.last_ms is None else max(self.last_ms, hi)
        bad = batch.kinds == MALFORMED
        for topic, name in ((ev.ORDERS_TOPIC, "orders"), (ev.LOGISTICS_TOPIC, "logistics")):
            self.malformed[name] += int((bad & (batch.topics == topic)).sum())
        for code in batch.bad[bad].tolist():
            self.malformed_by_kind[BAD_KINDS[code]] = self.malformed_by_kind.get(BAD_KINDS[code], 0) + 1
        return first

    def summary(self) -> dict:
        return {
            "order_events": self.order_events, "logistics_events": self.logistics_events,
            "duplicates_sent": self.duplicates, "late_sent": self.late,
            "malformed_sent": dict(self.malformed), "malformed_by_kind": dict(sorted(self.malformed_by_kind.items())),
            "gmv_fen": self.gmv_fen, "first_event_ms": self.first_ms, "last_event_ms": self.last_ms,
            "closed_until": self.closed_until,
        }

    def line(self) -> str:
        secs = max(self.seconds, 1e-9)
        return (f"sent {self.messages} events ({self.order_events} order events, {self.logistics_events} logistics, "
                f"{self.duplicates} duplicates, {sum(self.malformed.values())} malformed) in {self.seconds:.2f} s: "
                f"{self.messages / secs:,.0f} events/s, {self.orders / secs:,.1f} orders/s, "
                f"{self.bytes / secs / 1e6:.1f} MB/s")


def status_line(messages: int, events_per_s: float, orders_per_s: float, festival_ms: int) -> str:
    """A running simulation's progress: sent so far, the recent rate, and the simulated clock
    (festival time, in the festival's time zone)."""
    when = datetime.fromtimestamp(festival_ms / 1000, FESTIVAL_TZ).isoformat(sep=" ", timespec="seconds")
    return (f"sent {messages:,} events so far, {events_per_s:,.0f} events/s ({orders_per_s:,.0f} orders/s); "
            f"festival time {when}")


class _Progress:
    """Calls ``status`` with a :func:`status_line` every ``every_s`` seconds of ``clock``,
    with the rates since the previous line."""

    def __init__(self, status: Callable[[str], None] | None, every_s: float, clock: Callable[[], float]) -> None:
        self.status, self.every_s, self.clock = status, every_s, clock
        self.since, self.messages, self.orders = clock(), 0, 0

    def tick(self, stats: Stats, festival_ms: int) -> None:
        if self.status is None or self.every_s <= 0:
            return
        now = self.clock()
        span = now - self.since
        if span < self.every_s:
            return
        self.status(status_line(stats.messages, (stats.messages - self.messages) / span,
                                (stats.orders - self.orders) / span, festival_ms))
        self.since, self.messages, self.orders = now, stats.messages, stats.orders


HEARTBEAT_EVERY_S = 0.5
END_HEARTBEAT_AHEAD_MS = 61_000
# What the last heartbeat closes: the last second and minute, or every window of the newest
# event's day (its 5 minutes, hours and the day itself, a UTC day as the job's day windows are; for
# a replay whose topics will take no later events, since the job then counts anything older as late).
CLOSES = ("minute", "day")


def closing_heartbeat_ms(newest_ms: int, close: str) -> int:
    """Event time of the heartbeat a run ends with: ``END_HEARTBEAT_AHEAD_MS`` past the newest
    event, or past the end of its day window (contract.window_start) with ``close`` = 'day'."""
    if close == "day":
        day_end = window_start(newest_ms // 1000, DAY_S) + DAY_S
        return day_end * 1000 + END_HEARTBEAT_AHEAD_MS
    return newest_ms + END_HEARTBEAT_AHEAD_MS
# On Ctrl-C or SIGTERM, how long the messages in flight get to be acknowledged before the run
# says how many were not: a stop must be prompt even with Kafka gone.
STOP_FLUSH_S = 5.0


def run(config: FestivalConfig, options: RunOptions, sink, ledger_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        status: Callable[[str], None] | None = None, status_every_s: float = 5.0,
        ledger_kinds: Iterable[str] | None = None) -> Stats:
    """Run a simulation into ``sink`` until ``duration_s``/``events`` (or Ctrl-C); write the ledger.

    ``status``, if given, gets a :func:`status_line` every ``status_every_s`` seconds (0: never).
    ``ledger_kinds``: the ledger's kinds (default: see :class:`Ledger`).
    """
    if options.clock.mode == "live" and abs(options.clock.start_ms - wall_ms()) > 60_000:
        raise ValueError("a live clock starts now: give ClockSpec('live', <now in ms>)")
    sim = Simulation(config, options)
    ledger = Ledger(sim.catalog, ledger_kinds) if ledger_path else None
    stats = Stats()
    began = clock()
    last_beat, newest_ms = began, 0
    progress = _Progress(status, status_every_s, clock)
    interrupted = False
    try:
        for batch in _batches(sim, options, clock, began, sleep, wall_ms):
            if options.events is not None and stats.messages + len(batch) >= options.events:
                batch = batch.head(options.events - stats.messages)
            sink.send(batch.topics.tolist(), batch.keys, batch.values)
            if hasattr(sink, "heartbeat") and len(batch) and clock() - last_beat >= HEARTBEAT_EVERY_S:
                # later batches hold later ticks, so no on-time event is older than this batch's newest
                newest_ms = max(newest_ms, int(batch.rows["t"].max()))
                sink.heartbeat(newest_ms)
                last_beat = clock()
            elif len(batch):
                newest_ms = max(newest_ms, int(batch.rows["t"].max()))
            first = stats.record(batch)
            if ledger is not None:
                ledger.add(first)
            progress.tick(stats, sim.frontier)
            if options.events is not None and stats.messages >= options.events:
                break
    except KeyboardInterrupt:
        interrupted = True  # a run stopped by Ctrl-C or SIGTERM still flushes and writes its ledger
    except BaseException:
        with contextlib.suppress(GmvError):  # the first error is the one to report
            sink.close(timeout_s=STOP_FLUSH_S)
        raise
    undelivered: GmvError | None = None
    try:
        if hasattr(sink, "heartbeat") and newest_ms:
            closing = closing_heartbeat_ms(newest_ms, options.close)
            sink.heartbeat(closing)  # the last windows close (see CLOSES)
            # every window ending by then has closed (the job's watermark delay is under a second)
            stats.closed_until = closing // 1000 - 1
        # Stopped: a few seconds for what is in flight, so a stop with Kafka gone is still prompt.
        sink.close(timeout_s=STOP_FLUSH_S if interrupted else 60.0)
    except GmvError as exc:
        undelivered = exc
    stats.seconds = clock() - began
    if ledger is not None and ledger_path is not None:
        ledger.write(ledger_path, stats.summary())
    if undelivered is not None:
        raise undelivered
    return stats


def _batches(sim: Simulation, options: RunOptions, clock, began: float, sleep, wall_ms):
    """Batches in send order, paced: replay by festival time / speed, live by the wall clock."""
    spec, duration = sim.clock, options.duration_s
    end_of_replay = spec.festival_ms(duration) if duration else None
    ticks = 0
    while True:
        elapsed = clock() - began
        if duration is not None and elapsed >= duration and not (spec.mode == "replay" and options.paced):
            return
        if spec.mode == "replay":
            end = sim.next_replay_end()
            if end_of_replay is not None:
                if sim.frontier >= end_of_replay:
                    return
                end = min(end, end_of_replay)
            batch = sim.batch(end)
            if options.paced:  # send once the wall clock has reached the tick's end
                _sleep_until(clock, sleep, began + (end - spec.start_ms) / 1000 / spec.speed)
            yield batch
        else:
            if options.paced:
                ticks += 1
                _sleep_until(clock, sleep, began + ticks * options.wall_tick_s)
            end = max(wall_ms(), sim.frontier + 1)
            yield sim.batch(end, None if options.paced else options.batch_orders)


def _sleep_until(clock, sleep, deadline: float) -> None:
    while (left := deadline - clock()) > 0:
        sleep(min(left, 0.5))
