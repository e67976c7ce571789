"""Last year's festival: the calendar the dashboard counts down on, the CSV import's parsing and
validation, and what `gmv simulate --history` plans to write (no servers)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from stream import history_csv
from stream.cli import build_parser
from stream.contract import FESTIVAL_TZ, MEASURES
from stream.history import calendar, festival_span, next_event
from stream.history_csv import HistoryCsvError, parse
from stream.simulator import curve as curve_mod
from stream.simulator import history as sim_history
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT
from stream.simulator.run import RunOptions


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=FESTIVAL_TZ).timestamp())


# -- the calendar --------------------------------------------------------------------------------


def test_the_calendar_has_the_openings_every_festival_days_spike_and_the_end():
    events = dict(calendar(2021))
    assert events[at(2021, 10, 20, 20)] == "the pre-sale's opening"
    assert events[at(2021, 11, 1)] == "wave 1's opening"
    assert events[at(2021, 11, 4, 20)] == "the pre-sale's opening"  # wave 2's deposits
    assert events[at(2021, 11, 11)] == "midnight of the 11th"
    assert events[at(2021, 11, 12)] == "the festival's end"
    spikes = sorted(t for t, name in events.items() if name == "the 20:00 spike")
    # Oct 21-31, Nov 1-3, Nov 5-10, Nov 11 (Oct 20 and Nov 4 open the pre-sale at 20:00)
    assert len(spikes) == 11 + 3 + 6 + 1 and at(2021, 11, 4, 20) not in spikes
    assert festival_span(2021) == (at(2021, 10, 20, 20), at(2021, 11, 12))


def test_the_calendars_spikes_are_where_the_simulators_curve_spikes():
    """The dashboard's calendar (stream.contract) is the one the simulator draws its festival on."""
    curve = curve_mod.build(DEFAULT)
    events = calendar(DEFAULT.year)
    at_eight = np.array([t + 1 for t, name in events if name != "the festival's end" and
                         datetime.fromtimestamp(t, FESTIVAL_TZ).hour == 20], dtype=np.float64)
    waves = curve_mod.wave_codes(curve, at_eight)
    assert (curve_mod.spike_2000(curve, at_eight, waves) > 0).all()
    outside = np.array([at(2021, 10, 19, 20) + 1, at(2021, 11, 12, 20) + 1], dtype=np.float64)  # no festival
    assert (curve_mod.spike_2000(curve, outside, curve_mod.wave_codes(curve, outside)) == 0).all()


def test_the_next_event_is_strictly_after_now_and_rolls_over_to_next_year():
    assert next_event(at(2021, 11, 10, 23, 59, 59)) == (at(2021, 11, 11), "midnight of the 11th")
    assert next_event(at(2021, 11, 11)) == (at(2021, 11, 11, 20), "the 20:00 spike")
    assert next_event(at(2021, 11, 11, 20)) == (at(2021, 11, 12), "the festival's end")
    assert next_event(at(2021, 11, 12)) == (at(2022, 10, 20, 20), "the pre-sale's opening")
    assert next_event(at(2021, 11, 4, 12)) == (at(2021, 11, 4, 20), "the pre-sale's opening")


# -- CSV -----------------------------------------------------------------------------------------

TOTALS = """# last year's per-second totals
window_start,gmv_fen,orders_created,orders_paid
2020-11-11T00:00:00+08:00,1834500,120,97
1605024001,100,1,1
"""


def test_per_second_totals_parse_to_ledger_shaped_columns_with_left_out_measures_at_zero():
    parsed = parse([("a.csv", TOTALS)])
    table = parsed.tables["orders_second"]
    assert table["window"] == [at(2020, 11, 11), at(2020, 11, 11) + 1]
    assert table["gmv_fen"] == [1834500, 100] and table["orders_paid"] == [97, 1]
    assert table["refunds"] == [0, 0] and set(table) == {"window", *MEASURES}
    assert parsed.files == [("a.csv", "orders_second", 2)] and parsed.rows() == 2


def test_breakdown_cube_and_parcel_files_name_their_rollup_by_the_header():
    breakdown = "window_start,dimension,value,gmv_fen\n2020-11-11T00:01:00+08:00,brand,花西子🌸,500\n"
    cube = ("window_start,category,province,channel,vip,promotion,wave,presale_phase,orders_paid\n"
            "1605024000,Apparel,Guangdong,app,1,cross_store,wave2,final,3\n")
    parcels = "window_start,status,events\n1605024060,delivered,41\n"
    parsed = parse([("b.csv", breakdown), ("c.csv", cube), ("p.csv", parcels)])
    assert parsed.tables["orders_minute"]["value"] == ["花西子🌸"]
    assert parsed.tables["orders_minute_cube"]["vip"] == [1]
    assert parsed.tables["orders_minute_cube"]["presale_phase"] == ["final"]
    assert parsed.tables["logistics_minute"] == {"window": [1605024060], "status": ["delivered"], "events": [41]}


@pytest.mark.parametrize(("text", "problem"), [
    ("window_start,gmv_fen\n2020-11-11T00:00:00+08:00,18345.00\n", "a.csv:2: gmv_fen '18345.00' is not whole fen"),
    ("window_start,gmv_fen\n2020-11-11T00:00:00+08:00,1e5\n", "a.csv:2: gmv_fen '1e5' is not whole fen"),
    ("window_start,orders_created\n2020-11-11T00:00:00+08:00,-3\n", "a.csv:2: orders_created -3 is negative"),
    ("window_start,orders_created\n2020-11-11T00:00:00+08:00,\n", "a.csv:2: orders_created is empty"),
    ("window_start,gmv_fen\n2020-11-11T00:00:00,1\n", "a.csv:2: window_start '2020-11-11T00:00:00' has no UTC offset"),
    ("window_start,gmv_fen\nyesterday,1\n", "a.csv:2: window_start 'yesterday' is neither epoch seconds"),
    ("window_start,gmv_fen\n1605024000000,1\n", "a.csv:2: window_start '1605024000000' is not between 2000 and 2100"),
    ("window_start,gmv_fen\n1605024000,1,2\n", "a.csv:2: has 3 fields, the header has 2"),
    ("window_start,gmv_fen\n1605024000,1\n1605024000,2\n", "a.csv:3: repeats the window and keys of a.csv:2"),
    ("window_start,dimension,value,gmv_fen\n1605024030,brand,X,1\n", "a.csv:2: window_start '1605024030' is not on a"),
    ("window_start,dimension,value,gmv_fen\n1605024000,colour,red,1\n", "a.csv:2: dimension 'colour' is not one of"),
    ("window_start,status,events\n1605024000,lost,1\n", "a.csv:2: status 'lost' is not one of created"),
    ("window_start,gmv,orders\n", "a.csv:1: unknown column 'gmv'"),
    ("gmv_fen\n1\n", "a.csv:1: no window_start column"),
    ("window_start,window_start,gmv_fen\n", "a.csv:1: column 'window_start' is named twice"),
    ("window_start,category,gmv_fen\n", "a.csv:1: a header of the cube (window_start, category, province"),
    ("window_start,dimension,category,gmv_fen\n", "lacks value and also names category"),
    ("window_start\n1605024000\n", "a.csv:1: no measure"),
    ("# only a comment\n\n", "a.csv: no header and no rows"),
    ("window_start,gmv_fen\n", "a.csv: a header and no rows"),
])
def test_a_bad_file_is_one_line_naming_file_and_line(text, problem):
    with pytest.raises(HistoryCsvError) as caught:
        parse([("a.csv", text)])
    message = str(caught.value)
    assert problem in message and "\n" not in message


def test_every_problem_is_found_before_anything_is_returned():
    good = TOTALS
    bad = "window_start,gmv_fen\n1605030000,1.5\n1605030001,2\n1605030002,-1\n"
    with pytest.raises(HistoryCsvError) as caught:
        parse([("good.csv", good), ("bad.csv", bad)])
    assert caught.value.problems == [
        "bad.csv:2: gmv_fen '1.5' is not whole fen; money is an integer number of fen (¥123.45 is 12345)",
        "bad.csv:4: gmv_fen -1 is negative; counts and amounts are 0 or more"]
    assert str(caught.value).endswith("(and 1 more problem); nothing was imported.")


def test_the_same_key_in_two_files_is_refused():
    with pytest.raises(HistoryCsvError, match=r"two.csv:3: repeats the window and keys of one.csv:3"):
        parse([("one.csv", TOTALS), ("two.csv", TOTALS)])


def test_the_format_help_names_every_measure():
    assert all(m in history_csv.FORMAT.replace("\n", " ") for m in MEASURES)


# -- what gmv simulate --history plans ------------------------------------------------------------


def _options(start: str, clock: str = "replay", duration: float | None = None, rate: float | None = None):
    start_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
    return RunOptions(clock=ClockSpec(clock, start_ms, 120.0 if clock == "replay" else 1.0), rate=rate,
                      duration_s=duration)


def test_the_history_spans_last_years_days_of_the_run_through_the_festivals_end():
    plan = sim_history.plan(DEFAULT.replace(scale=1e-4), _options("2021-11-10T23:50+08:00"))
    assert (plan.year, plan.start_s, plan.end_s) == (2020, at(2020, 11, 10), at(2020, 11, 12))
    assert plan.factor == pytest.approx(1e-4 / 1.26) and plan.weight == 1
    # outside the festival: the run's days only (two of them for a run past midnight)
    plan = sim_history.plan(DEFAULT.replace(year=2026, scale=1e-4), _options("2026-11-27T23:00+08:00",
                                                                            duration=3600 / 120 * 2))
    assert (plan.start_s, plan.end_s) == (at(2025, 11, 27), at(2025, 11, 29))


def test_growth_divides_last_years_volume_and_a_budget_samples_it_with_a_whole_weight():
    opts = _options("2021-11-11T19:58+08:00")
    base = sim_history.plan(DEFAULT.replace(scale=1e-3), opts, growth_pct=0)
    grown = sim_history.plan(DEFAULT.replace(scale=1e-3), opts, growth_pct=26)
    assert grown.orders == pytest.approx(base.orders / 1.26)
    sampled = sim_history.plan(DEFAULT.replace(scale=1e-3), opts, budget=int(grown.orders / 10))
    assert sampled.weight in (10, 11) and sampled.orders == grown.orders


def test_a_sampled_history_multiplies_every_count_alike():
    tables = {"orders_second": {"window": [1, 2], "gmv_fen": [5, 7], "orders_created": [1, 0]},
              "logistics_minute": {"window": [60], "status": ["delivered"], "events": [2]}}
    assert sim_history.weighted(tables, 3) == {
        "orders_second": {"window": [1, 2], "gmv_fen": [15, 21], "orders_created": [3, 0]},
        "logistics_minute": {"window": [60], "status": ["delivered"], "events": [6]}}


def test_simulating_last_year_counts_only_last_years_span():
    plan = sim_history.Plan(2020, at(2020, 11, 11, 19, 58), at(2020, 11, 11, 20, 5), 2e-4, 1, 0.0)
    tables = sim_history.simulate(DEFAULT, plan, seed=3).columns()
    seconds = tables["orders_second"]["window"]
    assert seconds and plan.start_s <= min(seconds) and max(seconds) < plan.end_s
    cube_gmv = sum(tables["orders_minute_cube"]["gmv_fen"])
    assert cube_gmv == sum(tables["orders_second"]["gmv_fen"]) > 0  # every breakdown adds up to the totals


@pytest.mark.parametrize(("argv", "problem"), [
    (["simulate", "--growth", "10"], "only apply with --history or --only-history"),
    (["simulate", "--history-ledger", "x.jsonl"], "only apply with --history or --only-history"),
    (["simulate", "--only-history", "--growth", "-100"], "must be above -100"),
])
def test_history_flags_that_do_not_go_together_are_usage_errors(argv, problem, capsys):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2 and problem in capsys.readouterr().err


def test_growth_takes_a_percent_sign():
    args = build_parser().parse_args(["simulate", "--only-history", "--growth", "26%"])
    assert args.growth == 26.0 and args.only_history
