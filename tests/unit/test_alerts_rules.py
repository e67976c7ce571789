"""The alert rules' pure core as tables of cases: what was read, the state -> alert and new state."""
from __future__ import annotations

import numpy as np
import pytest

from stream.alerts.expected import festival_shape
from stream.alerts.rules import (
    FIRING,
    RESOLVED,
    DropRule,
    Freshness,
    Level,
    Rejections,
    RejectRule,
    RuleState,
    StallRule,
    Windows,
    evaluate,
    measure_drop,
    rejected_span,
)

T0 = 1_636_560_000  # 2021-11-11 00:00 CST
NOW_MS = 1_700_000_000_000
W, K = 10, 4  # window seconds, baseline windows
DROP = DropRule("drop", window_seconds=W, baseline_windows=K, below_percent=50, recover_percent=70,
                baseline="median", min_expected_orders=50, cooldown_seconds=60)


def FLAT(start, end):
    return np.ones(end - start)


def windows(*rates: float, oldest: int | None = T0, horizon_shift: int = 0, read_from: int = T0) -> Windows:
    """Windows of W seconds at these orders/s, oldest first, starting at T0; all of a window's orders
    in its first second (the others have no row: zero, as the job writes no row for them)."""
    counts = np.zeros(len(rates) * W, dtype=np.int64)
    for i, rate in enumerate(rates):
        counts[i * W] = round(rate * W)
    horizon = T0 + len(rates) * W + horizon_shift
    return Windows(read_from, counts[read_from - T0:], horizon, oldest)


FIRING_STATE = RuleState(firing=True, fired_ms=NOW_MS - 5_000, level=Level(median=100.0, per_curve=0.0))
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
    alert, new_state = evaluate(DROP, data, state, NOW_MS, shape=FLAT)
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
    _, suppressed = evaluate(DROP, dropped, COOLING, NOW_MS, shape=FLAT)
    assert suppressed.suppressed and not suppressed.firing
    _, cleared = evaluate(DROP, windows(100, 100, 100, 100, 100), suppressed, NOW_MS, shape=FLAT)
    assert not cleared.suppressed and cleared.fired_ms == COOLING.fired_ms


def test_firing_keeps_the_baseline_it_fired_against():
    alert, state = evaluate(DROP, windows(100, 100, 100, 100, 10), RuleState(), NOW_MS, shape=FLAT)
    assert alert.state == FIRING and alert.baseline == pytest.approx(100)
    # ten windows later the outage fills the whole baseline span: still judged against 100/s
    again, state = evaluate(DROP, windows(10, 10, 10, 10, 10), state, NOW_MS + 1000, shape=FLAT)
    assert again is None and state.firing
    back, state = evaluate(DROP, windows(10, 10, 10, 10, 75), state, NOW_MS + 2000, shape=FLAT)
    assert back.state == RESOLVED and back.baseline == pytest.approx(100) and back.observed == pytest.approx(75)


def test_a_new_drop_after_resolution_fires_once_the_cooldown_is_over():
    _, state = evaluate(DROP, windows(100, 100, 100, 100, 10), RuleState(), NOW_MS, shape=FLAT)
    _, state = evaluate(DROP, windows(100, 100, 100, 100, 100), state, NOW_MS + 1000, shape=FLAT)
    assert not state.firing
    assert evaluate(DROP, windows(100, 100, 100, 100, 10), state, NOW_MS + 2000, shape=FLAT)[0] is None
    alert, _ = evaluate(DROP, windows(100, 100, 100, 100, 10), state, NOW_MS + 61_000, shape=FLAT)
    assert alert.state == FIRING


# -- baselines: median, the festival curve, both ---------------------------------------------


def decaying(start: int, end: int) -> np.ndarray:
    """A curve that halves every window (like the surge fading after midnight)."""
    return 0.5 ** ((np.arange(start, end) - T0) // W)


@pytest.mark.parametrize("baseline, outcome", [("median", FIRING), ("curve", None), ("both", None)])
def test_an_expected_decay_is_a_drop_only_for_the_median(baseline, outcome):
    rule = DropRule("drop", window_seconds=W, baseline_windows=K, baseline=baseline, min_expected_orders=10)
    data = windows(1600, 800, 400, 200, 100)  # exactly the curve's shape
    alert, _ = evaluate(rule, data, RuleState(), NOW_MS, shape=decaying)
    assert (alert.state if alert else None) == outcome


@pytest.mark.parametrize("baseline, outcome", [("median", None), ("curve", FIRING), ("both", None)])
def test_a_rise_the_curve_expected_but_that_did_not_come(baseline, outcome):
    rule = DropRule("drop", window_seconds=W, baseline_windows=K, baseline=baseline, min_expected_orders=10)
    def rising(start, end):
        return np.where(np.arange(start, end) >= T0 + K * W, 10.0, 1.0)

    alert, _ = evaluate(rule, windows(100, 100, 100, 100, 100), RuleState(), NOW_MS, shape=rising)
    assert (alert.state if alert else None) == outcome


def test_curve_baseline_scales_the_curve_by_the_observed_level():
    rule = DropRule("drop", window_seconds=W, baseline_windows=K, baseline="curve")
    m = measure_drop(rule, windows(1600, 800, 400, 200, 40), shape=decaying)
    assert m.baseline == pytest.approx(100) and m.observed == pytest.approx(40)
    assert m.level.per_curve == pytest.approx(1600) and m.level.median == pytest.approx(600)


def test_the_festival_shape_has_the_spike_the_surge_and_the_trough():
    def at(hhmm_s):
        return float(festival_shape(hhmm_s, hhmm_s + 1)[0])

    eve, spike = at(T0 - 4 * 3600 - 60), at(T0 - 4 * 3600 + 30)  # Nov 10 19:59 and 20:00:30
    hush, surge, trough = at(T0 - 120), at(T0), at(T0 + 4 * 3600)  # 23:58, 00:00, 04:00
    assert spike > 2.5 * eve
    assert surge > 100 * hush
    assert trough < 0.25 * at(T0 + 21 * 3600)  # 04:00 vs 21:00 the same day
    assert len(festival_shape(T0, T0 + 600)) == 600


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
