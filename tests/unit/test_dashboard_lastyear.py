"""The wall's last-year arithmetic (dashboard/lastyear.py): +x% on exact fen, last year so far to the
second, the projection and its range, the countdown; and the figures that draw last year."""
from __future__ import annotations

import random
from datetime import datetime
from fractions import Fraction

import plotly.graph_objects as go
import pytest

from dashboard import figures, lastyear
from dashboard import queries as q
from dashboard.lastyear import History, Sums, growth_tenths, growth_text, projection, recent_windows, so_far
from dashboard.pages import explore
from stream.contract import FESTIVAL_TZ


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=FESTIVAL_TZ).timestamp())


@pytest.mark.parametrize(("today", "last", "text"), [
    (1263, 1000, "+26.3%"),
    (126_349, 100_000, "+26.3%"),  # 26.349 rounds down
    (126_350, 100_000, "+26.4%"),  # 26.35: half up
    (10_005, 10_000, "+0.1%"),  # 0.05: half up
    (10_004, 10_000, "+0.0%"),
    (9_995, 10_000, "+0.0%"),  # -0.05: half up is towards +infinity
    (9_994, 10_000, "-0.1%"),
    (0, 10_000, "-100.0%"),
    (3_000_000, 1, "+299,999,900.0%"),
    (5, 0, "–"),  # nothing last year to compare with
])
def test_growth_is_rounded_half_up_to_a_tenth_of_a_percent_on_exact_fen(today, last, text):
    assert growth_text(today, last) == text


def test_growth_agrees_with_exact_fractions():
    rng = random.Random(7)
    for _ in range(2000):
        today, last = rng.randrange(0, 10**14), rng.randrange(1, 10**14)
        exact = Fraction(1000 * (today - last), last) + Fraction(1, 2)
        assert growth_tenths(today, last) == exact.numerator // exact.denominator


def test_last_year_so_far_counts_to_the_second_at_both_ends():
    day0 = at(2021, 11, 11)
    start, now = day0 + 20 * 60 + 30, day0 + 25 * 60 + 10  # 00:20:30 to 00:25:10
    minutes = Sums.of((day0 + m * 60, 1000 * m) for m in range(0, 30))
    seconds = dict.fromkeys(range(day0 + 20 * 60, day0 + 21 * 60), 1) | dict.fromkeys(range(day0 + 25 * 60,
                                                                                            day0 + 26 * 60), 7)
    # minutes 21..24 whole, the last 30 s of minute 20, the first 11 s of minute 25 (now included)
    assert so_far(start, now, 0, minutes, seconds) == 1000 * (21 + 22 + 23 + 24) + 30 + 7 * 11
    # start before today: the sum before midnight, and every minute of today up to now's
    assert so_far(day0 - 3600, now, 555, minutes, seconds) == 555 + 1000 * sum(range(25)) + 7 * 11
    # start and now in the same minute
    assert so_far(day0 + 25 * 60 + 5, now, 0, minutes, seconds) == 7 * 6


def test_projection_takes_last_years_shape_and_the_range_the_recent_ratios():
    shown = projection(126, 100, 1000, [(30, 20), (10, 10)])
    assert (shown.fen, shown.low_fen, shown.high_fen, shown.ratios) == (1260, 1026, 1476, 2)
    # no recent ratios: the range is the point
    assert projection(126, 100, 1000, []) == lastyear.Projection(1260, 1260, 1260, 0)
    assert projection(5, 0, 1000, []) is None  # nothing last year so far: no ratio


def test_recent_windows_are_whole_hours_before_now_cut_at_the_start_and_at_midnight():
    day0 = at(2021, 11, 11)
    now = day0 + 3 * 3600 + 30 * 60 + 12  # 03:30:12: windows end at 03:30
    today = Sums.of((day0 + m * 60, 2) for m in range(24 * 60))
    last = Sums.of((day0 + m * 60, 1) for m in range(24 * 60))
    windows = recent_windows(today, last, start=day0 - 86400, day0=day0, now=now)
    # 02:30-03:30, 01:30-02:30, 00:30-01:30, then 00:00-00:30 (cut at midnight, 30 minutes)
    assert windows == [(120, 60), (120, 60), (120, 60), (60, 30)]
    # a start at 02:55:01 (its first whole minute 02:56) cuts the first window to 02:56-03:30; no second one
    assert recent_windows(today, last, start=day0 + 2 * 3600 + 55 * 60 + 1, day0=day0, now=now) == [(68, 34)]
    # one that starts at 03:21 leaves 9 minutes: shorter than RANGE_MIN_S, no ratio
    assert recent_windows(today, last, start=day0 + 3 * 3600 + 21 * 60, day0=day0, now=now) == []
    assert recent_windows(today, Sums.of([]), start=day0, day0=day0, now=now) == []  # no last-year GMV: no ratio


def test_sums_add_any_span_and_merge_a_time_given_twice():
    sums = Sums.of([(120, 5), (0, 1), (60, 2), (120, 10)])
    assert sums.pairs() == [(0, 1), (60, 2), (120, 15)]
    assert (sums.between(0, 120), sums.between(60, 121), sums.between(61, 120), sums.between(200, 100)) == (3, 17, 0, 0)


def test_countdown_to_the_next_event():
    assert lastyear.countdown(at(2021, 11, 10, 20, 0, 48)) == ("03:59:12", "midnight of the 11th")
    assert lastyear.countdown(at(2021, 11, 9, 1)) == ("19:00:00", "the 20:00 spike")
    assert lastyear.countdown(at(2021, 11, 12, 0)) == ("342 d 20:00:00", "the pre-sale's opening")


def test_wall_texts_with_and_without_history():
    now, day0 = at(2021, 11, 11, 0, 1, 30), at(2021, 11, 11)
    none = lastyear.texts(None, 5000, [], day0, now)
    assert none["wall-ly-growth"] == "–" and none["wall-ly-projection"] == ""
    assert none["wall-countdown"] == "19:58:30" and none["wall-countdown-what"] == "to the 20:00 spike"
    history = History(start_s=day0, year=2020, last_fen=1000_00, minutes=Sums.of([(day0, 60_000)]), total_fen=10_000_00,
                      end_s=at(2021, 11, 12), before_start_fen=0)
    texts = lastyear.texts(history, 1263_00, [(day0, 80_000)], day0, now)
    assert texts["wall-ly-growth"] == "+26.3%" and texts["wall-ly-vs"] == "vs ¥1,000 this time in 2020"
    assert texts["wall-ly-projection"] == "¥1.3万"  # ¥1,263 x ¥10,000 / ¥1,000
    # one minute of today is too short a window for a recent ratio: the range is the point
    assert texts["wall-ly-range"] == "projected · ¥1.3万–1.3万"
    later = History(start_s=day0 + 30, year=2020, last_fen=1000_00, minutes=Sums.of([]), total_fen=None, end_s=None,
                    before_start_fen=263_00)  # today's GMV before the span both years cover is left out
    texts = lastyear.texts(later, 1263_00, [], day0, now)
    assert texts["wall-ly-growth"] == "+0.0%" and texts["wall-ly-vs"].endswith("since 11-11 00:00")
    assert texts["wall-ly-projection"] == ""  # no festival total: no projection


def test_last_years_day_is_dashed_under_today_and_over_explores_bars():
    day0 = at(2021, 11, 11)
    minutes = [q.Minute(day0, 100, 1, 1, 1, day0)]
    day = Sums.of([(day0, 250), (day0 + 60, 300), (day0 + 600, 1000)])
    assert lastyear.curve(day) == ((day0, day0 + 600), (1.1, 2.0))  # GMV a minute, the mean of 5 minutes
    fig = figures.gmv_per_minute(minutes, day0, day0 + 59, lastyear.curve(day))
    go.Figure(fig)
    behind, today = fig["data"]
    assert behind["line"]["dash"] == "dash" and behind["y"] == [1.1, 2.0] and today["y"] == [1.0]
    assert len(figures.gmv_per_minute(minutes, day0, day0 + 59)["data"]) == 1
    rows = [(day0, 1, 1, 500, 0, 0, 0, 0)]
    fig = figures.timeseries(rows, "gmv_fen", 60, day0, day0 + 3600, last_year=[(day0, 2, 2, 700, 0, 0, 0, 0)])
    go.Figure(fig)
    assert fig["data"][1]["y"] == [7.0] and fig["data"][1]["line"]["dash"] == "dash"


def test_explores_overlay_lives_in_the_url():
    from dashboard import explore_state as es
    from dashboard.pages import explore

    state, notes = es.parse("?range=festival&vip=1&ly=1")
    assert state.last_year == "1" and notes == [] and state.to_search() == "?range=festival&vip=1&ly=1"
    state, notes = es.parse("?ly=yes")
    assert state.last_year == "" and notes == ["ignored ly='yes': use ly=1 to overlay last year"]
    controls = {"range": "today", "metric": "gmv_fen", "last_year": ["1"]}
    assert explore._controls_search(controls) == "?range=today&metric=gmv_fen&ly=1"
    assert "ly" not in explore._controls_search({**controls, "last_year": []})


def test_which_rollup_a_selection_needs_from_the_history():
    assert q.series_source({}).tiers == q.TOTALS
    assert q.series_source({"vip": "1"}).tiers == q.DIMENSIONS
    assert q.series_source({"brand": "X"}).tiers == q.BRANDS
    assert q.series_source({"vip": "1", "wave": "wave2"}).tiers == q.CUBE
    assert q.series_source({"category": "Apparel", "brand": "X"}).tiers == q.BRANDS
    selections = ({}, {"vip": "1"}, {"brand": "X"}, {"vip": "1", "wave": "x"})
    assert {q.series_source(s).tiers[0].table for s in selections} == set(explore.HISTORY_HOLDS)
    with pytest.raises(q.Unanswerable):
        q.series_source({"brand": "X", "province": "Hebei"})
