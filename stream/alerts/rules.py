"""The alert rules as pure functions: what the service read -> whether to page, and the new state.

No I/O here. :func:`evaluate` takes a rule, what was read for it (:class:`Windows` for a drop
rule, :class:`Freshness` for a stall rule), the rule's :class:`RuleState` and the time, and
returns ``(Alert | None, RuleState)``. The shell (:mod:`stream.alerts.service`) reads
ClickHouse every second, calls it, records and delivers what it returns.

**Drop**: orders created per second over the last ``window_seconds`` of *complete* windows,
against a baseline from the ``baseline_windows`` windows before them: their median rate
(``median``); last year's orders in the same window (the same calendar moment a year earlier,
from the history database) times today's ratio to last year, the median of the per-window
ratios over those windows (``last_year``: where last year rose and today stays level, the
median, see :func:`baseline_of`); or the lower of the two (``both``). Without
history for the span, ``last_year`` and ``both`` judge against the median (the measure says
so: :attr:`DropMeasure.fallback`). It fires when observed < ``below_percent`` % of the
baseline, and clears at ``recover_percent`` % or more. A second with no row counts as zero orders (the job
writes no row for an empty second), so only windows the pipeline has finished are judged:
:class:`Windows` says up to where (``horizon``). While firing, the baseline stays the one the
alert fired against, so a long outage never becomes its own baseline.

**Stall**: the wall-clock age of the newest rollup row (``max(written_ms)``) over
``stale_seconds``. A stalled or lagging pipeline writes no windows, so the drop rule sees
nothing new and stays quiet: a lag pages as a stall, never as a drop.

**Rejected spike**: the share of messages the job rejected (malformed, hostile) over the
minute of ``now`` and the ``window_minutes - 1`` before it, minutes of Kafka time (when each
message reached Kafka: the wall clock, in a replay too), from the ``pipeline_events`` rollup
(kind 'rejected' against kind 'received'). It fires above ``above_percent`` % when at least
``min_rejected`` messages were rejected, and clears at ``recover_percent`` % or less, or when
fewer than ``min_rejected`` were.

All: a rule fires at most once per ``cooldown_seconds``; a firing rule resolves when its
condition clears. Not enough data (first windows, too few orders to judge, an empty table)
changes nothing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import numpy as np

from stream.contract import FESTIVAL_TZ

SEVERITIES = ("critical", "warning", "info")
BASELINES = ("median", "last_year", "both")
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class _Named:
    """What every rule has: a name and a severity."""

    name: str
    severity: str = "critical"


@dataclass(frozen=True)
class DropRule(_Named):
    """Orders per second over the last ``window_seconds`` below ``below_percent`` % of a baseline."""

    window_seconds: int = 60
    below_percent: float = 50.0
    recover_percent: float = 70.0
    baseline: str = "last_year"  # median | last_year | both
    baseline_windows: int = 10
    min_expected_orders: float = 100.0  # judge only windows expected to hold this many orders
    cooldown_seconds: float = 600.0
    kind: ClassVar[str] = "drop"

    @property
    def history_seconds(self) -> int:
        """Seconds of windows one evaluation reads: the judged window and the baseline's."""
        return (self.baseline_windows + 1) * self.window_seconds


@dataclass(frozen=True)
class StallRule(_Named):
    """No new rollup row (``max(written_ms)``) for more than ``stale_seconds`` of wall time."""

    stale_seconds: float = 30.0
    cooldown_seconds: float = 300.0
    kind: ClassVar[str] = "stall"


@dataclass(frozen=True)
class RejectRule(_Named):
    """More than ``above_percent`` % of the messages of the last ``window_minutes`` minutes rejected."""

    window_minutes: int = 2
    above_percent: float = 5.0
    recover_percent: float = 2.0
    min_rejected: int = 20  # fewer rejected messages than this never page
    cooldown_seconds: float = 300.0
    kind: ClassVar[str] = "rejected"

    @property
    def window_seconds(self) -> int:
        return self.window_minutes * 60


Rule = DropRule | StallRule | RejectRule


@dataclass(frozen=True)
class Windows:
    """Orders created per second over [start, start + len(counts)) (0 where no row), as read.

    ``horizon``: the exclusive end of the complete windows (None: none complete yet);
    ``oldest``: the first window the rollups hold, where they begin (None: empty table).
    ``last_year``: last year's orders created in the same seconds (the same calendar moments a
    year earlier, :func:`stream.history.same_moment_last_year`) from ``start`` on (0 where no
    row); None when not read. ``history``: ``[first, end)``, in *today's* seconds, of what last
    year's history covers (its first to its last second; None: no history).
    """

    start: int
    counts: np.ndarray
    horizon: int | None
    oldest: int | None
    last_year: np.ndarray | None = None
    history: tuple[int, int] | None = None

    def between(self, start: int, end: int) -> np.ndarray | None:
        """Counts of [start, end), or None when they were not read."""
        if start < self.start or end > self.start + len(self.counts):
            return None
        return self.counts[start - self.start:end - self.start]

    def last_year_between(self, start: int, end: int) -> np.ndarray | None:
        """Last year's counts for [start, end), or None when not read or not covered by history."""
        if self.last_year is None or self.history is None:
            return None
        if start < self.history[0] or end > self.history[1] or start < self.start \
                or end > self.start + len(self.last_year):
            return None
        return self.last_year[start - self.start:end - self.start]


@dataclass(frozen=True)
class Freshness:
    """The newest rollup row: when it was written (epoch ms) and its window (epoch s)."""

    written_ms: int | None
    newest_window: int | None = None
    reachable: bool = True  # False: ClickHouse did not answer; these are the last values seen
    watching_since_ms: int | None = None  # when the service started looking: a stall must last
    # stale_seconds *while watched*, so restarting `gmv up` on old data does not page at once


@dataclass(frozen=True)
class Rejections:
    """Messages received and rejected per minute of Kafka time, as read from ``pipeline_events``:
    ``{minute (epoch s): (received, {reason: rejected})}``; minutes without rows are absent."""

    minutes: dict[int, tuple[int, dict[str, int]]]

    def over(self, start: int, end: int) -> tuple[int, dict[str, int]]:
        """(received, rejected per reason) over the minutes in [start, end)."""
        received, reasons = 0, {}  # type: int, dict[str, int]
        for minute, (n, by_reason) in self.minutes.items():
            if start <= minute < end:
                received += n
                for reason, k in by_reason.items():
                    reasons[reason] = reasons.get(reason, 0) + k
        return received, reasons


@dataclass(frozen=True)
class Level:
    """What a drop is judged against: the earlier windows' median rate (orders/s), and today's
    ratio to last year over them (the median of the per-window ratios; None: no history)."""

    median: float
    ratio: float | None = None


@dataclass(frozen=True)
class RuleState:
    firing: bool = False
    fired_ms: int | None = None  # when it last fired: the cooldown runs from here
    level: Level | None = None  # drop: the baseline it fired against, kept until it resolves
    suppressed: bool = False  # the condition held during the cooldown (not paged)


@dataclass(frozen=True)
class Alert:
    """One state change of a rule: what is recorded in alert_events and sent to webhooks."""

    rule: str
    kind: str
    severity: str
    state: str  # firing | resolved
    observed: float  # drop: orders/s; stall: age of the newest rollup, s
    baseline: float  # drop: the baseline orders/s; stall: stale_seconds
    window_start: int  # epoch s: the judged span (drop) or the newest window (stall)
    window_seconds: int
    message: str
    event_ms: int

    @property
    def window_end(self) -> int:
        return self.window_start + self.window_seconds

    @property
    def label(self) -> str:
        """How delivery logs name it: ``pipeline-stall firing``."""
        return f"{self.rule} {self.state}"


@dataclass(frozen=True)
class DropMeasure:
    observed: float
    baseline: float
    span_start: int
    level: Level
    basis: str = "median"  # what the baseline is: median | last_year | both
    fallback: bool = False  # the rule asked for last year, which had no history here: median


# -- drop ---------------------------------------------------------------------------------


def window_rates(counts: np.ndarray, width: int) -> np.ndarray:
    """Orders per second of each consecutive ``width``-second window of ``counts``."""
    return counts.reshape(len(counts) // width, width).sum(axis=1) / width


def ratio_to_last_year(rates: np.ndarray, last_year: np.ndarray) -> float | None:
    """Today's rate per unit of last year's: the median over the windows where last year had
    orders (one window's flash sale or dip, today or last year, moves it little); None when
    last year had none in any of them."""
    had = last_year > 0
    if not had.any():
        return None
    return float(np.median(rates[had] / last_year[had]))


RISING = 1.5  # last_year: today above this x its trailing median is rising, and must rise as last year did


def baseline_of(kind: str, median: float, from_last_year: float | None, observed: float) -> tuple[float, str, bool]:
    """``(baseline, basis, fallback)`` for a rule's ``baseline`` kind: the trailing median, last
    year's expectation (``ratio`` x last year's rate, see :func:`measure_drop`), or the lower of
    the two (``both``); without last year's expectation, the median (``fallback`` True).

    ``last_year`` is last year's expectation where it is the lower (last year fell: the surge
    fading, the night coming), and where today is rising (``observed`` above ``RISING`` x its
    median: the midnight surge, which last year says should be a hundredfold, not tenfold).
    Where last year rose and today stays level, it is the median: a rise today does not share
    at all is last year's own (a flash sale at an hour it does not recur this year), and an
    outage then shows against today's recent level anyway."""
    if kind == "median":
        return median, "median", False
    if from_last_year is None:
        return median, "median", True
    if kind == "last_year" and (from_last_year <= median or observed > RISING * median):
        return from_last_year, "last_year", False
    return min(median, from_last_year), "both", False


def measure_drop(rule: DropRule, windows: Windows, level: Level | None = None) -> DropMeasure | None:
    """Observed rate of the newest complete window and its baseline; None without enough data.

    ``level``: a baseline to keep (the one a firing alert fired against) instead of the
    earlier windows'.
    """
    end = windows.horizon
    if end is None:
        return None
    width = rule.window_seconds
    first = end - (width if level is not None else rule.history_seconds)
    if level is None and (windows.oldest is None or windows.oldest > first):
        return None  # the rollups do not reach back over the whole baseline yet
    counts = windows.between(first, end)
    if counts is None:
        return None
    rates = window_rates(counts, width)
    last = windows.last_year_between(first, end) if rule.baseline != "median" else None
    if level is None:
        ratio = ratio_to_last_year(rates[:-1], window_rates(last[:-width], width)) if last is not None else None
        level = Level(median=float(np.median(rates[:-1])), ratio=ratio)
    expected = None
    if level.ratio is not None and last is not None:
        expected = level.ratio * float(last[-width:].sum()) / width
    baseline, basis, fallback = baseline_of(rule.baseline, level.median, expected, float(rates[-1]))
    return DropMeasure(observed=float(rates[-1]), baseline=baseline, span_start=end - width, level=level,
                       basis=basis, fallback=fallback)


def drop_condition(rule: DropRule, measure: DropMeasure | None) -> bool | None:
    """True: dropped; False: clear; None: cannot tell (too few orders) or in between."""
    if measure is None or measure.baseline * rule.window_seconds < rule.min_expected_orders:
        return None
    if measure.observed < rule.below_percent / 100 * measure.baseline:
        return True
    if measure.observed >= rule.recover_percent / 100 * measure.baseline:
        return False
    return None


def _drop_message(rule: DropRule, m: DropMeasure, state: str) -> str:
    share = m.observed / m.baseline * 100 if m.baseline else 0.0
    ratio = m.level.ratio if m.level.ratio is not None else 0.0
    against = {"median": "the trailing median" + (" (no history for last year here)" if m.fallback else ""),
               "last_year": f"last year's same {rule.window_seconds} s x today's ratio {ratio:.2f}",
               "both": f"the lower of the trailing median and last year's same {rule.window_seconds} s x "
                       f"{ratio:.2f}",
               }[m.basis]
    when = f"over the {rule.window_seconds} s from {_local(m.span_start)}"
    if state == FIRING:
        return (f"orders/s fell to {m.observed:,.1f}, {share:.0f}% of {against} {m.baseline:,.1f} "
                f"(alert below {rule.below_percent:g}%), {when}")
    return (f"orders/s back to {m.observed:,.1f}, {share:.0f}% of {against} {m.baseline:,.1f} "
            f"(clears at {rule.recover_percent:g}%), {when}")


def evaluate_drop(rule: DropRule, windows: Windows, state: RuleState, now_ms: int) -> tuple[Alert | None, RuleState]:
    measure = measure_drop(rule, windows, state.level if state.firing else None)
    condition = drop_condition(rule, measure)
    if condition is None or measure is None:  # no measure gives no condition; the test tells mypy
        return None, state

    def alert(kind: str) -> Alert:
        return Alert(rule.name, rule.kind, rule.severity, kind, measure.observed, measure.baseline,
                     measure.span_start, rule.window_seconds, _drop_message(rule, measure, kind), now_ms)

    return transition(rule, condition, state, now_ms, alert, measure.level)


CATCH_UP_SECONDS = 3600  # after a jump, at most this much event time is judged second by second


def first_unjudged(judged: int | None, horizon: int) -> int:
    """The first horizon to judge now: the one after ``judged`` (at most CATCH_UP_SECONDS back), or
    ``horizon`` itself when nothing was judged or the table restarted behind it."""
    if judged is None or judged >= horizon:
        return horizon
    return max(judged + 1, horizon - CATCH_UP_SECONDS)


def evaluate_drop_since(rule: DropRule, windows: Windows, state: RuleState, now_ms: int,
                        judged: int | None) -> tuple[list[Alert], RuleState]:
    """Judge every horizon after ``judged`` (the horizon judged last; None: none) up to ``windows``',
    oldest first. The pipeline can move its horizon in a jump (a slow checkpoint, a loader retry, a
    restart): a drop that lies wholly inside the jump is still judged, and pages, instead of being
    stepped over. ``windows`` must hold the counts from the first horizon's baseline on."""
    end = windows.horizon
    if end is None:
        return [], state
    alerts = []
    for horizon in range(first_unjudged(judged, end), end + 1):
        alert, state = evaluate_drop(rule, dataclasses.replace(windows, horizon=horizon), state, now_ms)
        if alert is not None:
            alerts.append(alert)
    return alerts, state


# -- stall --------------------------------------------------------------------------------


def stall_age(freshness: Freshness, now_ms: int) -> float | None:
    """Seconds since the newest rollup row was written; None if there never was one."""
    return None if freshness.written_ms is None else max(0.0, (now_ms - freshness.written_ms) / 1000)


def evaluate_stall(rule: StallRule, freshness: Freshness, state: RuleState,
                   now_ms: int) -> tuple[Alert | None, RuleState]:
    age = stall_age(freshness, now_ms)
    if age is None:
        return None, state  # nothing was ever written: no pipeline to call stalled yet
    watched = age if freshness.watching_since_ms is None else min(age, (now_ms - freshness.watching_since_ms) / 1000)
    window = freshness.newest_window or 0
    where = f"newest window {_local(window)}" if window else "no window yet"
    unreachable = "" if freshness.reachable else " (ClickHouse is not answering)"

    def alert(kind: str) -> Alert:
        if kind == FIRING:
            message = (f"no new rollup for {age:,.0f} s (alert after {rule.stale_seconds:g} s){unreachable}; "
                       f"{where}; the job or its loader is stopped or lagging, so drops are not judged "
                       "until it catches up")
        else:
            message = f"rollups flowing again: the newest was written {age:,.1f} s ago; {where}"
        return Alert(rule.name, rule.kind, rule.severity, kind, age, float(rule.stale_seconds),
                     window, 1, message, now_ms)

    if not state.firing and watched <= rule.stale_seconds:
        return transition(rule, False, state, now_ms, alert)
    return transition(rule, age > rule.stale_seconds, state, now_ms, alert)


# -- rejected spike -----------------------------------------------------------------------


def rejected_span(rule: RejectRule, now_ms: int) -> tuple[int, int]:
    """[start, end) in epoch s: the minute of ``now_ms`` and the ``window_minutes - 1`` before it."""
    end = now_ms // 60_000 * 60 + 60
    return end - rule.window_seconds, end


def evaluate_rejected(rule: RejectRule, data: Rejections, state: RuleState,
                      now_ms: int) -> tuple[Alert | None, RuleState]:
    start, end = rejected_span(rule, now_ms)
    received, reasons = data.over(start, end)
    rejected = sum(reasons.values())
    share = 100.0 * rejected / max(received, rejected, 1)
    if rejected >= rule.min_rejected and share > rule.above_percent:
        bad: bool | None = True
    elif rejected < rule.min_rejected or share <= rule.recover_percent:
        bad = False
    else:
        bad = None  # between the two thresholds: keep the state
    if bad is None:
        return None, state
    top = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    when = f"over the {rule.window_minutes} min from {_local(start)}"

    def alert(kind: str) -> Alert:
        if kind == FIRING:
            message = (f"{share:.1f}% of messages rejected ({rejected:,} of {received:,}; {top}) {when} "
                       f"(alert above {rule.above_percent:g}%); they are kept in the rejected topic")
        else:
            message = (f"rejected messages back to {share:.1f}% ({rejected:,} of {received:,}) {when} "
                       f"(clears at {rule.recover_percent:g}%)")
        return Alert(rule.name, rule.kind, rule.severity, kind, share, float(rule.above_percent), start,
                     rule.window_seconds, message, now_ms)

    return transition(rule, bad, state, now_ms, alert)


# -- all ----------------------------------------------------------------------------------


def transition(rule: Rule, bad: bool, state: RuleState, now_ms: int, alert: Callable[[str], Alert],
               level: Level | None = None) -> tuple[Alert | None, RuleState]:
    """Fire (unless in cooldown), resolve, or keep the state."""
    if bad and not state.firing:
        if state.fired_ms is not None and now_ms - state.fired_ms < rule.cooldown_seconds * 1000:
            return None, dataclasses.replace(state, suppressed=True)
        return alert(FIRING), RuleState(firing=True, fired_ms=now_ms, level=level)
    if not bad and state.firing:
        return alert(RESOLVED), RuleState(fired_ms=state.fired_ms)
    if not bad and state.suppressed:
        return None, dataclasses.replace(state, suppressed=False)
    return None, state


def evaluate(rule: Rule, data: Windows | Freshness | Rejections, state: RuleState,
             now_ms: int) -> tuple[Alert | None, RuleState]:
    """One evaluation of ``rule`` at ``now_ms`` (epoch ms, wall clock): ``(alert or None, new state)``."""
    if isinstance(rule, DropRule):
        if not isinstance(data, Windows):
            raise TypeError("a drop rule is evaluated on Windows")
        return evaluate_drop(rule, data, state, now_ms)
    if isinstance(rule, RejectRule):
        if not isinstance(data, Rejections):
            raise TypeError("a rejected-spike rule is evaluated on Rejections")
        return evaluate_rejected(rule, data, state, now_ms)
    if not isinstance(data, Freshness):
        raise TypeError("a stall rule is evaluated on Freshness")
    return evaluate_stall(rule, data, state, now_ms)


def _local(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%m-%d %H:%M:%S CST")
