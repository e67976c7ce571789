"""The alert rules' pure core as tables of cases: what was read, the state -> alert and new state."""
from __future__ import annotations

import numpy as np
import pytest

from stream.alerts.rules import (
    CATCH_UP_SECONDS,
    FIRING,
    RESOLVED,
    RISING,
    DropRule,
    Freshness,
    Level,
    Rejections,
    RejectRule,
    RuleState,
    StallRule,
    Windows,
    baseline_of,
    evaluate,
    evaluate_drop_since,
    first_unjudged,
    measure_drop,
    ratio_to_last_year,
    rejected_span,
    window_rates,
)

T0 = 1_636_560_000  # 2021-11-11 00:00 CST
NOW_MS = 1_700_000_000_000
W, K = 10, 4  # window seconds, baseline windows
DROP = DropRule("drop", window_seconds=W, baseline_windows=K, below_percent=50, recover_percent=70,
                baseline="median", min_expected_orders=50, cooldown_seconds=60)


def windows(*rates: float, oldest: int | None = T0, horizon_shift: int = 0, read_from: int = T0) -> Windows:
    """Windows of W seconds at these orders/s, oldest first, starting at T0; all of a window's orders
    in its first second (the others have no row: zero, as the job writes no row for them)."""
    counts = np.zeros(len(rates) * W, dtype=np.int64)
    for i, rate in enumerate(rates):
        counts[i * W] = round(rate * W)
    horizon = T0 + len(rates) * W + horizon_shift
    return Windows(read_from, counts[read_from - T0:], horizon, oldest)


FIRING_STATE = RuleState(firing=True, fired_ms=NOW_MS - 5_000, level=Level(median=100.0))
COOLING = RuleState(fired_ms=NOW_MS - 30_000)  # fired (and resolved) 30 s ago; cooldown is 60 s

DROP_CASES = [
    # id, windows, state, -> alert state or None, firing after
    ("steady traffic", windows(100, 100, 100, 100, 100), RuleState(), None, False),
    ("zero traffic throughout", windows(0, 0, 0, 0, 0), RuleState(), None, False),
    ("first windows: history shorter than the baseline", windows(100, 100, 100, 10), RuleState(), None, False),
    ("history begins inside the baseline", windows(100, 100, 100, 100, 10, oldest=T0 + 1), RuleState(), None, False),
    ("nothing complete yet", Windows(T0, np.zeros(0, np.int64), None, T0), RuleState(), None, False),
    ("span not read", windows(100, 100, 100, 100, 10, read_from=T0 + W), RuleState(), None, False),
    ("drop to 20%", windows(100, 100, 100, 100, 20), RuleState(), FIRING, True),
    ("no rows at all in the judged window", windows(100, 100, 100, 100, 0), RuleState(), FIRING, True),
    ("exactly at the threshold", windows(100, 100, 100, 100, 50), RuleState(), None, False),
    ("just below the threshold", windows(100, 100, 100, 100, 49.9), RuleState(), FIRING, True),
    ("median ignores one spike and one dip", windows(100, 900, 0, 100, 100), RuleState(), None, False),
    ("too few orders to judge", windows(4, 4, 4, 4, 0), RuleState(), None, False),
    ("cooldown: dropped again 30 s after firing", windows(100, 100, 100, 100, 20), COOLING, None, False),
    ("cooldown over", windows(100, 100, 100, 100, 20), RuleState(fired_ms=NOW_MS - 61_000), FIRING, True),
    ("firing, still down", windows(100, 100, 100, 100, 20), FIRING_STATE, None, True),
    ("firing, partly back (between 50% and 70%)", windows(100, 100, 100, 100, 60), FIRING_STATE, None, True),
    ("firing, back exactly at the recovery level", windows(100, 100, 100, 100, 70), FIRING_STATE, RESOLVED, False),
    ("firing, recovered", windows(100, 100, 100, 100, 98), FIRING_STATE, RESOLVED, False),
    ("firing through a long outage: it is not its own baseline", windows(10, 10, 10, 10, 10), FIRING_STATE,
     None, True),
    ("firing, recovered, history too short for a new baseline", windows(100, 95, oldest=T0 + 5), FIRING_STATE,
     RESOLVED, False),
]


@pytest.mark.parametrize("data, state, outcome, firing_after", [c[1:] for c in DROP_CASES],
                         ids=[c[0] for c in DROP_CASES])
def test_drop_rule(data, state, outcome, firing_after):
    alert, new_state = evaluate(DROP, data, state, NOW_MS)
    assert (alert.state if alert else None) == outcome
    assert new_state.firing == firing_after
    if alert:
        assert alert.rule == "drop" and alert.kind == "drop" and alert.event_ms == NOW_MS
        assert alert.window_start == data.horizon - W and alert.window_seconds == W
    if outcome == FIRING:
        assert new_state.fired_ms == NOW_MS and new_state.level is not None
        assert alert.observed < 0.5 * alert.baseline and "fell to" in alert.message
    if outcome == RESOLVED:
        assert new_state.fired_ms == state.fired_ms and new_state.level is None


def test_cooldown_is_remembered_then_cleared():
    dropped = windows(100, 100, 100, 100, 20)
    _, suppressed = evaluate(DROP, dropped, COOLING, NOW_MS)
    assert suppressed.suppressed and not suppressed.firing
    _, cleared = evaluate(DROP, windows(100, 100, 100, 100, 100), suppressed, NOW_MS)
    assert not cleared.suppressed and cleared.fired_ms == COOLING.fired_ms


def test_firing_keeps_the_baseline_it_fired_against():
    alert, state = evaluate(DROP, windows(100, 100, 100, 100, 10), RuleState(), NOW_MS)
    assert alert.state == FIRING and alert.baseline == pytest.approx(100)
    # ten windows later the outage fills the whole baseline span: still judged against 100/s
    again, state = evaluate(DROP, windows(10, 10, 10, 10, 10), state, NOW_MS + 1000)
    assert again is None and state.firing
    back, state = evaluate(DROP, windows(10, 10, 10, 10, 75), state, NOW_MS + 2000)
    assert back.state == RESOLVED and back.baseline == pytest.approx(100) and back.observed == pytest.approx(75)


def test_a_new_drop_after_resolution_fires_once_the_cooldown_is_over():
    _, state = evaluate(DROP, windows(100, 100, 100, 100, 10), RuleState(), NOW_MS)
    _, state = evaluate(DROP, windows(100, 100, 100, 100, 100), state, NOW_MS + 1000)
    assert not state.firing
    assert evaluate(DROP, windows(100, 100, 100, 100, 10), state, NOW_MS + 2000)[0] is None
    alert, _ = evaluate(DROP, windows(100, 100, 100, 100, 10), state, NOW_MS + 61_000)
    assert alert.state == FIRING


# -- baselines: median, last year, both -----------------------------------------------------


def with_last_year(data: Windows, *rates: float, covered: tuple[int, int] | None = None) -> Windows:
    """``data`` with last year's orders at these orders/s in the same windows, from T0 (all of a
    window's orders in its last second, unlike today's: only the window's sum counts); rates past
    today's windows are last year's future, known and read."""
    last = np.zeros(len(rates) * W - (data.start - T0), dtype=np.int64)
    for i, rate in enumerate(rates):
        last[(i + 1) * W - 1 - (data.start - T0)] = round(rate * W)
    span = covered if covered is not None else (T0, T0 + len(rates) * W)
    return Windows(data.start, data.counts, data.horizon, data.oldest, last, span)


def rule(baseline: str, **changes) -> DropRule:
    return DropRule("drop", window_seconds=W, baseline_windows=K, baseline=baseline, min_expected_orders=10,
                    **changes)


def test_window_rates_and_the_ratio_to_last_year_are_medians_of_windows():
    assert window_rates(np.array([10, 0, 0, 20, 5, 5]), 3).tolist() == pytest.approx([10 / 3, 10])
    # one window of last year's flash sale (0.5) and one of today's (3.0) move the median little
    assert ratio_to_last_year(np.array([126, 130, 60, 375, 124.0]), np.array([100, 100, 120, 125, 100.0])) \
        == pytest.approx(1.26)
    # windows where last year had no orders do not count; none at all: no ratio
    assert ratio_to_last_year(np.array([50, 7.0]), np.array([0, 5.0])) == pytest.approx(1.4)
    assert ratio_to_last_year(np.array([50, 7.0]), np.array([0, 0.0])) is None


@pytest.mark.parametrize("kind, median, expected, observed, outcome", [
    ("median", 100.0, 40.0, 90.0, (100.0, "median", False)),
    ("last_year", 100.0, 40.0, 90.0, (40.0, "last_year", False)),  # last year fell: so may today
    ("last_year", 100.0, None, 90.0, (100.0, "median", True)),  # no history: the median, and say so
    ("last_year", 100.0, 300.0, 90.0, (100.0, "both", False)),  # last year rose, today level: the median
    ("last_year", 100.0, 300.0, 150.0, (100.0, "both", False)),  # ...up to RISING x the median
    ("last_year", 100.0, 3000.0, 151.0, (3000.0, "last_year", False)),  # today rising: as last year did?
    ("both", 100.0, 40.0, 90.0, (40.0, "both", False)),
    ("both", 30.0, 40.0, 90.0, (30.0, "both", False)),
    ("both", 100.0, 3000.0, 151.0, (100.0, "both", False)),
    ("both", 30.0, None, 90.0, (30.0, "median", True)),
])
def test_baseline_of_each_kind(kind, median, expected, observed, outcome):
    assert RISING == 1.5
    assert baseline_of(kind, median, expected, observed) == outcome


def test_last_year_baseline_is_last_years_same_window_times_todays_ratio():
    # today 1.26x last year through the baseline windows, and rising with last year in the judged one
    data = with_last_year(windows(126, 252, 126, 126, 200), 100, 200, 100, 100, 160)
    m = measure_drop(rule("last_year"), data)
    assert m.level.ratio == pytest.approx(1.26) and m.level.median == pytest.approx(126)
    assert m.baseline == pytest.approx(1.26 * 160) and m.observed == pytest.approx(200)
    assert (m.basis, m.fallback) == ("last_year", False)


@pytest.mark.parametrize("baseline, outcome", [("median", FIRING), ("last_year", None), ("both", None)])
def test_a_decay_last_year_had_too_is_a_drop_only_for_the_median(baseline, outcome):
    # the surge fading after midnight: halving every window, last year as today at 1/1.25
    data = with_last_year(windows(1600, 800, 400, 200, 100), 1280, 640, 320, 160, 80)
    alert, _ = evaluate(rule(baseline), data, RuleState(), NOW_MS)
    assert (alert.state if alert else None) == outcome


@pytest.mark.parametrize("baseline, expected", [("median", 126), ("last_year", 1.26 * 95), ("both", 1.26 * 95)])
def test_a_drop_last_year_did_not_have_pages_on_every_baseline(baseline, expected):
    data = with_last_year(windows(126, 126, 126, 126, 30), 100, 100, 100, 100, 95)
    alert, _ = evaluate(rule(baseline), data, RuleState(), NOW_MS)
    assert alert.state == FIRING
    assert alert.baseline == pytest.approx(expected) and alert.observed == pytest.approx(30)
    assert ("last year's same 10 s x today's ratio 1.26" in alert.message) == (baseline == "last_year")


@pytest.mark.parametrize("baseline, outcome", [("median", None), ("last_year", FIRING), ("both", None)])
def test_a_surge_that_came_at_a_tenth_of_last_years(baseline, outcome):
    # midnight: last year jumped 100-fold; today only 10-fold (an outage at the surge) pages on last year
    data = with_last_year(windows(10, 10, 10, 10, 100), 8, 8, 8, 8, 800)
    alert, _ = evaluate(rule(baseline), data, RuleState(), NOW_MS)
    assert (alert.state if alert else None) == outcome
    if alert:
        assert alert.baseline == pytest.approx(1000) and "last year's same 10 s x today's ratio 1.25" in alert.message


@pytest.mark.parametrize("today, last, outcome", [
    ((100, 100, 100, 100, 100), (100, 100, 100, 100, 300), None),  # last year's flash sale, not today's
    ((100, 100, 100, 100, 100), (100, 100, 300, 250, 220), None),  # ...a long one, over the baseline too
    ((100, 100, 100, 100, 40), (100, 100, 100, 100, 300), FIRING),  # an outage meanwhile: below today's level
])
def test_a_rise_only_last_year_had_is_judged_against_todays_median(today, last, outcome):
    data = with_last_year(windows(*today), *last)
    alert, _ = evaluate(rule("last_year"), data, RuleState(), NOW_MS)
    assert (alert.state if alert else None) == outcome
    m = measure_drop(rule("last_year"), data)
    assert (m.basis, m.baseline) == ("both", pytest.approx(100))
    if alert:
        assert "the lower of the trailing median and last year's same 10 s x 1.00" in alert.message


@pytest.mark.parametrize("covered, fallback", [
    (None, True),  # no history at all
    ((T0 + W, T0 + 5 * W), True),  # history begins inside the baseline windows
    ((T0, T0 + 4 * W), True),  # history ends before the judged window
    ((T0 - 86400, T0 + 86400), False),
])
def test_without_history_for_the_whole_span_last_year_falls_back_to_the_median(covered, fallback):
    data = with_last_year(windows(100, 100, 100, 100, 30), 100, 100, 100, 100, 100, covered=covered)
    if covered is None:
        data = Windows(data.start, data.counts, data.horizon, data.oldest, data.last_year, None)
    alert, state = evaluate(rule("last_year"), data, RuleState(), NOW_MS)
    m = measure_drop(rule("last_year"), data)
    assert m.fallback == fallback and m.basis == ("median" if fallback else "last_year")
    assert alert.state == FIRING and alert.baseline == pytest.approx(100)  # median 100; last year 1.0 x 100
    assert ("no history for last year here" in alert.message) == fallback
    assert state.level.ratio == (None if fallback else pytest.approx(1.0))


def test_last_year_rows_not_read_are_no_history():
    data = windows(100, 100, 100, 100, 30)  # last_year None: the service did not read it
    m = measure_drop(rule("last_year"), data)
    assert m.fallback and m.baseline == pytest.approx(100)


def test_firing_on_last_year_keeps_the_ratio_it_fired_with_and_follows_last_years_shape():
    alert, state = evaluate(rule("last_year"), with_last_year(windows(126, 126, 126, 126, 20), 100, 100, 100, 100,
                                                              100), RuleState(), NOW_MS)
    assert alert.state == FIRING and state.level.ratio == pytest.approx(1.26)
    # later: today is down throughout, last year fell to half by then: expected 1.26 x 50
    later = with_last_year(windows(20, 20, 20, 20, 40), 100, 100, 100, 100, 50)
    again, state = evaluate(rule("last_year"), later, state, NOW_MS + 1000)
    assert again is None and state.firing  # 40 of 63: between 50% and 70%
    back, _ = evaluate(rule("last_year"), with_last_year(windows(20, 20, 20, 20, 45), 100, 100, 100, 100, 50),
                       state, NOW_MS + 2000)
    assert back.state == RESOLVED and back.baseline == pytest.approx(63)


def test_too_few_orders_expected_from_last_year_are_not_judged():
    # the median would judge (100/s), last year expects 1.0 x 0.5/s: 5 orders, under min_expected_orders
    data = with_last_year(windows(100, 100, 100, 100, 0), 100, 100, 100, 100, 0.5)
    assert evaluate(rule("last_year"), data, RuleState(), NOW_MS)[0] is None
    assert evaluate(rule("median"), data, RuleState(), NOW_MS)[0].state == FIRING


# -- stall ------------------------------------------------------------------------------------

STALL = StallRule("stall", stale_seconds=30, cooldown_seconds=60)
STALL_FIRING = RuleState(firing=True, fired_ms=NOW_MS - 5_000)

STALL_CASES = [
    ("nothing ever written", Freshness(None), RuleState(), None, False),
    ("fresh", Freshness(NOW_MS - 1_000, T0), RuleState(), None, False),
    ("exactly at the limit", Freshness(NOW_MS - 30_000, T0), RuleState(), None, False),
    ("stale", Freshness(NOW_MS - 31_000, T0), RuleState(), FIRING, True),
    ("stale and ClickHouse not answering", Freshness(NOW_MS - 90_000, T0, reachable=False), RuleState(), FIRING,
     True),
    ("firing, still stale", Freshness(NOW_MS - 60_000, T0), STALL_FIRING, None, True),
    ("firing, fresh again", Freshness(NOW_MS - 500, T0), STALL_FIRING, RESOLVED, False),
    ("cooldown", Freshness(NOW_MS - 31_000, T0), COOLING, None, False),
    ("written in the future (clock skew) is fresh", Freshness(NOW_MS + 5_000, T0), RuleState(), None, False),
    ("just started on old rollups: not watched long enough", Freshness(NOW_MS - 600_000, T0,
                                                                       watching_since_ms=NOW_MS - 10_000),
     RuleState(), None, False),
    ("old rollups, watched long enough", Freshness(NOW_MS - 600_000, T0, watching_since_ms=NOW_MS - 31_000),
     RuleState(), FIRING, True),
    ("firing before a restart, still stale", Freshness(NOW_MS - 600_000, T0, watching_since_ms=NOW_MS - 1_000),
     STALL_FIRING, None, True),
    ("firing before a restart, fresh now", Freshness(NOW_MS - 1_000, T0, watching_since_ms=NOW_MS - 1_000),
     STALL_FIRING, RESOLVED, False),
]


@pytest.mark.parametrize("data, state, outcome, firing_after", [c[1:] for c in STALL_CASES],
                         ids=[c[0] for c in STALL_CASES])
def test_stall_rule(data, state, outcome, firing_after):
    alert, new_state = evaluate(STALL, data, state, NOW_MS)
    assert (alert.state if alert else None) == outcome
    assert new_state.firing == firing_after
    if alert:
        assert alert.kind == "stall" and alert.baseline == 30 and alert.window_start == T0
        assert alert.observed == pytest.approx((NOW_MS - data.written_ms) / 1000)
    if alert and not data.reachable:
        assert "ClickHouse is not answering" in alert.message


def test_a_rule_gets_the_data_of_its_kind():
    with pytest.raises(TypeError):
        evaluate(STALL, windows(1, 1, 1, 1, 1), RuleState(), NOW_MS)
    with pytest.raises(TypeError):
        evaluate(DROP, Freshness(NOW_MS), RuleState(), NOW_MS)


# -- rejected spike ---------------------------------------------------------------------------

SPIKE = RejectRule("spike", window_minutes=2, above_percent=5, recover_percent=2, min_rejected=20,
                   cooldown_seconds=60)
MINUTE_NOW = NOW_MS // 60_000 * 60  # the minute of NOW_MS, epoch s
SPIKE_FIRING = RuleState(firing=True, fired_ms=NOW_MS - 5_000)


def minutes(*rows) -> Rejections:
    """Rejections from ``(minutes before now's, received, {reason: rejected})`` rows."""
    return Rejections({MINUTE_NOW - 60 * back: (received, reasons) for back, received, reasons in rows})


SPIKE_CASES = [
    ("nothing read", minutes(), RuleState(), None, False),
    ("a steady 1%", minutes((0, 2000, {"not_json": 20}), (1, 6000, {"not_json": 60})), RuleState(), None, False),
    ("a 10 s burst of nothing but malformed messages in a steady stream",
     minutes((0, 1600, {"not_json": 500, "missing_field": 9}), (1, 6000, {"not_json": 60})), RuleState(), FIRING, True),
    ("above the share but too few to page", minutes((0, 40, {"not_json": 19})), RuleState(), None, False),
    ("only older minutes are bad", minutes((2, 1000, {"not_json": 900}), (0, 1000, {})), RuleState(), None, False),
    ("firing, still bad", minutes((0, 1000, {"not_json": 100})), SPIKE_FIRING, None, True),
    ("firing, between the thresholds", minutes((0, 1000, {"not_json": 30})), SPIKE_FIRING, None, True),
    ("firing, back to 2%", minutes((0, 1000, {"not_json": 20})), SPIKE_FIRING, RESOLVED, False),
    ("firing, no messages any more", minutes(), SPIKE_FIRING, RESOLVED, False),
    ("cooldown", minutes((0, 1000, {"not_json": 100})), COOLING, None, False),
    ("rejected rows ahead of their received rows", minutes((0, 10, {"too_large": 50})), RuleState(), FIRING, True),
]


@pytest.mark.parametrize("data, state, outcome, firing_after", [c[1:] for c in SPIKE_CASES],
                         ids=[c[0] for c in SPIKE_CASES])
def test_rejected_spike_rule(data, state, outcome, firing_after):
    alert, new_state = evaluate(SPIKE, data, state, NOW_MS)
    assert (alert.state if alert else None) == outcome
    assert new_state.firing == firing_after
    if alert:
        assert alert.kind == "rejected" and alert.baseline == 5
        assert (alert.window_start, alert.window_seconds) == (MINUTE_NOW - 60, 120)
    if alert and alert.state == FIRING:
        assert "of messages rejected" in alert.message and "rejected topic" in alert.message


def test_the_burst_pages_with_its_share_and_its_main_reasons():
    data = minutes((0, 1600, {"not_json": 500, "missing_field": 9}), (1, 6000, {"not_json": 60}))
    alert, _ = evaluate(SPIKE, data, RuleState(), NOW_MS)
    assert alert is not None
    assert alert.observed == pytest.approx(100 * 569 / 7600)
    assert "7.5% of messages rejected (569 of 7,600; not_json 560, missing_field 9)" in alert.message


def test_the_rejected_span_is_the_minute_of_now_and_those_before_it():
    assert rejected_span(SPIKE, NOW_MS) == (MINUTE_NOW - 60, MINUTE_NOW + 60)
    assert rejected_span(RejectRule("one", window_minutes=1), MINUTE_NOW * 1000) == (MINUTE_NOW, MINUTE_NOW + 60)


def test_a_rejected_spike_rule_gets_rejections():
    with pytest.raises(TypeError):
        evaluate(SPIKE, Freshness(NOW_MS), RuleState(), NOW_MS)


# -- judging every horizon of a jump ------------------------------------------------------


def test_a_drop_inside_a_jump_of_the_horizon_fires_and_resolves():
    """The horizon moves from the 5th window's end to the 8th's in one read (the job caught up):
    the dip in the 6th window is judged on its way, and so is its recovery."""
    data = windows(100, 100, 100, 100, 100, 10, 100, 100)
    alerts, state = evaluate_drop_since(DROP, data, RuleState(), NOW_MS, judged=T0 + 5 * W)
    assert [a.state for a in alerts] == [FIRING, RESOLVED]
    assert alerts[0].window_start <= T0 + 5 * W < alerts[0].window_end  # the span judged holds the dip
    assert not state.firing


def test_only_the_newest_horizon_is_judged_when_the_last_judged_is_unknown_or_ahead():
    data = windows(100, 100, 100, 100, 100, 10, 100, 100)
    for judged in (None, T0 + 9 * W):  # first evaluation; a table that restarted behind it
        alerts, _ = evaluate_drop_since(DROP, data, RuleState(), NOW_MS, judged)
        assert alerts == []
    assert first_unjudged(None, T0 + 80) == T0 + 80 and first_unjudged(T0 + 90, T0 + 80) == T0 + 80


def test_a_jump_is_judged_back_at_most_catch_up_seconds():
    horizon = T0 + 10 * CATCH_UP_SECONDS
    assert first_unjudged(T0, horizon) == horizon - CATCH_UP_SECONDS
    assert first_unjudged(horizon - 5, horizon) == horizon - 4
