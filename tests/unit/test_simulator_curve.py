"""The festival's shape: day curve, 20:00 spike, midnight surge, flash sales, and the 2020/2021 facts."""
from __future__ import annotations

import numpy as np
import pytest

from stream.simulator import catalog
from stream.simulator import curve as C
from stream.simulator import events as ev
from stream.simulator import orders as O
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions, Simulation

CURVE = C.build(DEFAULT)
MINUTE = 60_000


def arrivals(start_ms: int, end_ms: int, scale: float) -> np.ndarray:
    """Arrival times (ms) of a replay from ``start_ms`` at the given scale."""
    sim = Simulation(DEFAULT.replace(scale=scale), RunOptions(clock=ClockSpec("replay", start_ms, 3600), seed=1))
    out = []
    while sim.frontier < end_ms:
        end = min(sim.frontier + 600_000, end_ms)
        out.append(sim.arrivals(end)[0])
        sim.frontier = end
    return np.concatenate(out)


def expected(start_ms: int, end_ms: int, scale: float) -> float:
    ghost = C.ghost_shares(CURVE, start_ms / 1000)
    return scale * C.integral(CURVE, start_ms / 1000, end_ms / 1000, ghost, step_s=1.0)


def count(times: np.ndarray, start_ms: int, end_ms: int) -> int:
    return int(((times >= start_ms) & (times < end_ms)).sum())


@pytest.fixture(scope="module")
def ordinary_day() -> tuple[int, np.ndarray]:
    start = local_ms(2021, 11, 20)
    return start, arrivals(start, start + 86_400_000, scale=2e-3)


def test_orders_per_hour_follow_the_curve(ordinary_day):
    start, times = ordinary_day
    for hour in range(24):
        lo, hi = start + hour * 3_600_000, start + (hour + 1) * 3_600_000
        want = expected(lo, hi, 2e-3)
        assert abs(count(times, lo, hi) - want) <= 0.03 * want + 3 * want**0.5, hour


def test_day_curve_has_a_night_trough_and_midday_and_evening_peaks(ordinary_day):
    start, times = ordinary_day
    hourly = np.array([count(times, start + h * 3_600_000, start + (h + 1) * 3_600_000) for h in range(24)])
    assert 3 <= hourly.argmin() <= 6, hourly
    assert 20 <= hourly.argmax() <= 22, hourly
    assert 11 <= 9 + hourly[9:17].argmax() <= 13 and hourly[12] > 1.2 * hourly[15:19].min()  # midday peak, a dip
    # peak-to-trough ratio as configured (the diurnal bumps on their floor)
    hours = np.arange(24) + 0.5
    raw = C.diurnal(CURVE, hours)
    assert hourly.max() / hourly.min() == pytest.approx(raw.max() / raw.min(), rel=0.12)
    assert hourly.max() / hourly.min() > 8


def test_the_2000_spike_on_festival_days_only():
    for day, festival in ((11, True), (20, False)):
        eight = local_ms(2021, 11, day, 20)
        times = arrivals(eight - 10 * MINUTE, eight + 10 * MINUTE, scale=1e-3)
        before, after = count(times, eight - 10 * MINUTE, eight), count(times, eight, eight + 10 * MINUTE)
        want = expected(eight, eight + 10 * MINUTE, 1e-3) / expected(eight - 10 * MINUTE, eight, 1e-3)
        assert after / before == pytest.approx(want, rel=0.15)
        if festival:
            assert after / before > 1.8
        else:
            assert after / before < 1.3


def test_the_midnight_surge_of_nov_11():
    midnight = local_ms(2021, 11, 11)
    times = arrivals(midnight - 5 * MINUTE, midnight + 5 * MINUTE, scale=1e-4)
    last, first = count(times, midnight - MINUTE, midnight), count(times, midnight, midnight + MINUTE)
    evening = expected(local_ms(2021, 11, 11, 21), local_ms(2021, 11, 11, 22), 1e-4) / 60
    assert first == pytest.approx(expected(midnight, midnight + MINUTE, 1e-4), rel=0.05)
    assert first > 50 * last
    assert first > 10 * evening


def test_flash_sales_bring_livestream_orders():
    day = np.array([np.floor((local_ms(2021, 11, 11) / 1000 + C.UTC_OFFSET_S) / 86400)])
    start_hour = next(float(s[0]) for s, _ in C.flash_times(DEFAULT, day) if 21 <= s[0] <= 23)
    start = local_ms(2021, 11, 11) + int(start_hour * 3_600_000)
    sim = Simulation(DEFAULT.replace(scale=3e-3),
                     RunOptions(clock=ClockSpec("replay", start - 10 * MINUTE, 60), seed=2))
    shares = []
    for end in (start, start + 4 * MINUTE):
        _t0, _waves, origins = sim.arrivals(end)
        sim.frontier = end
        shares.append(np.mean(origins == O.FLASH))
    mid = np.arange(start, start + 4 * MINUTE, 1000) / 1000 + 0.5
    parts = C.components(CURVE, mid, {})
    want = parts["flash"].sum() / C.total(parts).sum()
    assert shares[0] < 0.02
    assert shares[1] == pytest.approx(want, rel=0.15) and want > 0.2


def test_festival_facts():
    """Nov 11's first second reaches 2020's 583,000 orders/s; Nov 1-11 GMV is ~498.2 billion RMB."""
    assert C.intensity(CURVE, np.array([local_ms(2021, 11, 11) / 1000]))[0] == pytest.approx(583_000, rel=0.01)
    orders = C.integral(CURVE, local_ms(2021, 11, 1) / 1000, local_ms(2021, 11, 12) / 1000, {1: 1.0, 2: 1.0},
                        step_s=30)
    n = 200_000
    sample = O.draw_orders(DEFAULT, catalog.build(DEFAULT), np.random.default_rng(0), 0,
                           np.full(n, ev.OTHER, np.int8), np.zeros(n, np.int64))
    mean_paid_yuan = (sample["list_fen"] - sample["discount_fen"]).mean() / 100
    assert orders * DEFAULT.pay_prob * mean_paid_yuan == pytest.approx(498.2e9, rel=0.1)
    cat = catalog.build(DEFAULT)
    assert len(set(cat.brand_names)) == DEFAULT.brands == 290_000
    assert len(cat.province_names) == 31 and len(cat.category_names) == 15
