"""Last year's festival: the calendar the dashboard counts down on, the CSV import's parsing and
validation, and what `gmv simulate --history` plans to write (no servers)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from stream import history_csv
from stream.cli import build_parser
from stream.contract import FESTIVAL_TZ, MEASURES, ROLLUPS, family
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


def test_breakdown_cube_brand_and_parcel_files_name_their_rollup_by_the_header():
    breakdown = "window_start,dimension,value,gmv_fen\n2020-11-11T00:01:00+08:00,category,花西子🌸,500\n" \
                "1605024060,vip,1,7\n"
    cube = ("window_start,category,province,channel,vip,promotion,wave,presale_phase,orders_paid\n"
            "1605024300,Apparel,Guangdong,app,1,cross_store,wave2,final,3\n")
    brands = "window_start,category,brand,gmv_fen,orders_paid\n2020-11-11T00:05:00+08:00,Beauty,花西子🌸,900,2\n"
    parcels = "window_start,status,events\n1605024060,delivered,41\n"
    parsed = parse([("b.csv", breakdown), ("c.csv", cube), ("br.csv", brands), ("p.csv", parcels)])
    assert parsed.tables["dimensions_minute"]["value"] == ["花西子🌸", "1"]
    assert parsed.tables["dimensions_minute"]["dimension"] == ["category", "vip"]
    assert parsed.tables["cube_5min"]["vip"] == [1]
    assert parsed.tables["cube_5min"]["presale_phase"] == ["final"]
    assert parsed.tables["brands_5min"] == {"window": [at(2020, 11, 11, 0, 5)], "category": ["Beauty"],
                                            "brand": ["花西子🌸"], **{m: [0] for m in MEASURES},
                                            "gmv_fen": [900], "orders_paid": [2]}
    assert parsed.tables["logistics_minute"] == {"window": [1605024060], "status": ["delivered"], "events": [41]}
    assert [rollup for _, rollup, _ in parsed.files] == ["dimensions_minute", "cube_5min", "brands_5min",
                                                         "logistics_minute"]


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
    ("window_start,dimension,value,gmv_fen\n1605024030,channel,app,1\n",
     "a.csv:2: orders_by_dimension_per_minute has a row per minute: sum the rows of each minute into one row at its "
     "start (hh:mm:00)"),
    ("window_start,dimension,value,gmv_fen\n1605024000,colour,red,1\n", "a.csv:2: dimension 'colour' is not one of"),
    ("window_start,dimension,value,gmv_fen\n1605024000,channel,tv,1\n",
     "a.csv:2: value 'tv' is not a channel (app, web, livestream, mini_program)"),
    ("window_start,dimension,value,gmv_fen\n1605024000,vip,true,1\n", "a.csv:2: value 'true' is not a vip (0, 1)"),
    ("window_start,category,brand,gmv_fen\n1605024060,Beauty,X,1\n",
     "a.csv:2: brands_per_5min has a row per 5 minutes: sum the rows of each 5 minutes into one row at its start "
     "(hh:00, hh:05, hh:10, ...)"),
    ("window_start,brand,gmv_fen\n", "a.csv:1: a header of brands (window_start, category, brand) lacks category."),
    ("window_start,category,brand,province,gmv_fen\n", "a header of brands (window_start, category, brand) also names "
     "province."),
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


OLD_BREAKDOWN = """window_start,dimension,value,gmv_fen
1605024000,category,Apparel,10
1605024000,brand,Lioona Nature,4
1605024060,brand,Lioona Nature,6
1605024060,brand,Olaex Garden,1
"""
OLD_CUBE = """window_start,category,province,channel,vip,promotion,wave,presale_phase,gmv_fen
1605024000,Apparel,Guangdong,app,1,none,wave2,none,5
1605024060,Apparel,Guangdong,app,1,none,wave2,none,5
1605024120,Apparel,Guangdong,app,0,none,wave2,none,5
"""


def test_files_in_the_old_format_are_one_line_each_saying_what_to_do_instead():
    """Brand rows of a breakdown go in a brands file with their category; a per-minute cube is
    summed per 5 minutes. One line for each, however many rows (and the rows like it counted)."""
    with pytest.raises(HistoryCsvError) as caught:
        parse([("breakdown.csv", OLD_BREAKDOWN), ("cube.csv", OLD_CUBE)])
    assert caught.value.problems == [
        "breakdown.csv:3: brand is no longer a breakdown dimension: put the brand rows in a brands file with their "
        "category (header window_start,category,brand + measures), summed per 5 minutes (3 rows like it)",
        "cube.csv:3: orders_cube_per_5min has a row per 5 minutes: sum the rows of each 5 minutes into one row at "
        "its start (hh:00, hh:05, hh:10, ...) (2 rows like it)"]
    assert str(caught.value).endswith("(and 1 more problem); nothing was imported.")


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


def test_a_sampled_history_multiplies_every_count_and_amount_alike_and_no_text():
    tables = {"orders_second": {"window": [1, 2], "gmv_fen": [5, 7], "orders_created": [1, 0]},
              "brands_5min": {"window": [300], "category": ["Beauty"], "brand": ["Lioona"], "refund_fen": [9]},
              "top_brands": {"window": [57600], "ranking": [""], "brand": ["Lioona"], "category": ["Beauty"],
                             "orders_paid": [4]},
              "logistics_minute": {"window": [60], "status": ["delivered"], "events": [2]}}
    assert sim_history.weighted(tables, 3) == {
        "orders_second": {"window": [1, 2], "gmv_fen": [15, 21], "orders_created": [3, 0]},
        "brands_5min": {"window": [300], "category": ["Beauty"], "brand": ["Lioona"], "refund_fen": [27]},
        "top_brands": {"window": [57600], "ranking": [""], "brand": ["Lioona"], "category": ["Beauty"],
                       "orders_paid": [12]},
        "logistics_minute": {"window": [60], "status": ["delivered"], "events": [6]}}


def test_the_history_writes_every_tier_of_what_its_readers_read():
    """Last year's history is read a minute at a time at the finest (the per-second totals being
    the exception: the comparison curve), so it holds the breakdowns from the minute up and no
    breakdowns or parcels per second: those are the wall's live path of the open minute."""
    assert set(sim_history.WRITTEN) == {
        "orders_second", "orders_hour", "orders_day",
        "dimensions_minute", "dimensions_hour", "dimensions_day",
        "cube_5min", "cube_hour", "cube_day",
        "brands_5min", "brands_hour", "brands_day",
        "logistics_minute"}
    # every family's tiers from the finest written up
    for name in sim_history.WRITTEN:
        finest = min((r for r in family(name) if r.name in sim_history.WRITTEN), key=lambda r: r.window_s)
        assert {r.name for r in family(name) if r.window_s >= finest.window_s} <= set(sim_history.WRITTEN)


def test_simulating_last_year_counts_only_last_years_span_and_only_what_is_written(monkeypatch):
    plan = sim_history.Plan(2020, at(2020, 11, 11, 19, 58), at(2020, 11, 11, 20, 5), 2e-4, 1, 0.0)
    tables = sim_history.simulate(DEFAULT, plan, seed=3).columns()
    assert set(tables) == set(sim_history.WRITTEN)
    seconds = tables["orders_second"]["window"]
    assert seconds and plan.start_s <= min(seconds) and max(seconds) < plan.end_s
    gmv = sum(tables["orders_second"]["gmv_fen"])
    for kind in ("orders_day", "cube_5min", "cube_day", "brands_5min", "brands_hour"):
        assert sum(tables[kind]["gmv_fen"]) == gmv > 0  # every breakdown adds up to the totals
    monkeypatch.setattr(sim_history, "WRITTEN", None)  # a ledger of every kind, of the same events
    everything = sim_history.simulate(DEFAULT, plan, seed=3).columns()
    assert {kind: everything[kind] for kind in tables} == tables and "buyers_second" in everything


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


# -- the hour and day tiers an import sums (on a current ClickHouse: chDB, in-process) -------------


class _RowsClient:
    """chDB behind the client's columnar inserts (history.insert), for the tests below."""

    def __init__(self) -> None:
        from tests.support.chdb_engine import ChdbClient

        self.chdb = ChdbClient()

    def execute(self, sql: str, data=None, columnar: bool = False):
        return self.chdb.execute(sql, list(zip(*data)) if columnar else data)


@pytest.fixture(scope="module")
def chdb():
    from stream.stack import migrations

    client = _RowsClient()
    migrations.apply(client.chdb, "last_year")
    yield client
    client.chdb.close()


def utc_hour(epoch_s: int) -> int:
    """Epoch s of the start of the UTC hour (the time-zone database's) that holds ``epoch_s``."""
    return int(datetime.fromtimestamp(epoch_s, ZoneInfo("UTC")).replace(minute=0, second=0).timestamp())


def utc_day(epoch_s: int) -> int:
    """Epoch s of the midnight in UTC (08:00 in Shanghai) that starts ``epoch_s``'s day: the tiers' day."""
    return int(datetime.fromtimestamp(epoch_s, ZoneInfo("UTC")).replace(hour=0, minute=0, second=0).timestamp())


def sums_by(rows: list[tuple], window_of) -> dict[tuple, tuple]:
    """``(window, *keys, *values)`` rows whose window is the first column, summed per
    ``(window_of(window), *keys)``, the keys being the columns before the last ``len(MEASURES)``."""
    out: dict[tuple, list[int]] = {}
    for window, *rest in rows:
        keys, values = tuple(rest[:-len(MEASURES)]), rest[-len(MEASURES):]
        key = (window_of(window), *keys)
        out[key] = [a + b for a, b in zip(out.get(key, [0] * len(MEASURES)), values)]
    return {k: tuple(v) for k, v in out.items()}


def stored(client, rollup: str) -> dict[tuple, tuple]:
    table = ROLLUPS[rollup]
    keys = "".join(f"{d}, " for d in table.dimensions)
    rows = client.execute(f"SELECT toUInt32(window_start), {keys}{', '.join(MEASURES)} "
                          f"FROM last_year.{table.table} FINAL")
    return {tuple(r[:-len(MEASURES)]): tuple(int(v) for v in r[-len(MEASURES):]) for r in rows}


# China time; UTC is 8 hours behind: midnight in Shanghai is 16:00 UTC (the same UTC day), 08:00 is
# 00:00 UTC (a new UTC day)
BRANDS_PART_ONE = """window_start,category,brand,gmv_fen,orders_paid,refund_fen
2020-11-10T23:55:00+08:00,Beauty,Lioona,100,1,0
2020-11-11T00:00:00+08:00,Beauty,Lioona,200,2,0
2020-11-11T00:55:00+08:00,Beauty,Lioona,300,3,7
2020-11-11T00:55:00+08:00,Home,Olaex,50,1,0
2020-11-11T07:55:00+08:00,Beauty,Lioona,400,4,0
2020-11-11T08:00:00+08:00,Beauty,Lioona,500,5,0
"""
# the same days again, in part: a newer copy of one row, and a row the first part did not have
BRANDS_PART_TWO = """window_start,category,brand,gmv_fen,orders_paid
2020-11-11T00:55:00+08:00,Beauty,Lioona,333,3
2020-11-11T23:55:00+08:00,Home,Olaex,9,1
"""


def test_an_import_sums_each_utc_hour_and_day_from_everything_the_history_holds(chdb):
    """Two imports of parts of the same days: after each, every hour and day row is the sum of the
    newest copy of every 5-minute row the history holds in it (a day from midnight UTC, as the
    job's), written again whole (so a second import adds up with the first and counts nothing twice)."""
    from stream import history

    expected_5min: dict[tuple, tuple] = {}
    for n, text in enumerate((BRANDS_PART_ONE, BRANDS_PART_TWO), 1):
        parsed = parse([("brands.csv", text)])
        history.insert(chdb, "last_year", parsed.tables, written_ms=n)
        written = history.derive_tiers(chdb, "last_year", parsed.tables, written_ms=n)
        columns = parsed.tables["brands_5min"]
        for row in zip(*columns.values()):
            expected_5min[tuple(row[:3])] = tuple(row[3:])
        rows = [(*k, *v) for k, v in expected_5min.items()]
        assert stored(chdb, "brands_5min") == expected_5min
        assert stored(chdb, "brands_hour") == sums_by(rows, utc_hour)
        assert stored(chdb, "brands_day") == sums_by(rows, utc_day)
        assert set(written) == {"brands_hour", "brands_day"}
    gmv = MEASURES.index("gmv_fen")
    # UTC Nov 10 runs to 08:00 on Nov 11 in China: 100 + 200 + 333 (the newer copy) + 400
    assert stored(chdb, "brands_day")[(at(2020, 11, 10, 8), "Beauty", "Lioona")][gmv] == 1033
    assert stored(chdb, "brands_day")[(at(2020, 11, 11, 8), "Beauty", "Lioona")][gmv] == 500
    assert stored(chdb, "brands_day")[(at(2020, 11, 10, 8), "Home", "Olaex")][gmv] == 50
    assert stored(chdb, "brands_day")[(at(2020, 11, 11, 8), "Home", "Olaex")][gmv] == 9
    # the second import's UTC days (Nov 10 and 11) rewritten whole, not only the 2 rows imported: 6 hour rows
    # (Lioona at 15, 16, 23 and 00 UTC, Olaex at 16 and 15 UTC) and 4 day rows (each brand on each day)
    assert written == {"brands_hour": 6, "brands_day": 4}


def test_tier_sql_sums_every_family_per_utc_hour_and_day(chdb):
    """Per-second totals, per-minute breakdowns and the 5-minute cube across midnight UTC (08:00 in
    Shanghai): each tier equals the imported rows summed in Python per UTC hour and day."""
    from stream import history

    files = [("s.csv", "window_start,gmv_fen,orders_created\n"
                       + "".join(f"{at(2020, 11, 2, 6) + i * 977},{i},1\n" for i in range(12))),
             ("d.csv", "window_start,dimension,value,gmv_fen\n"
                       + "".join(f"{at(2020, 11, 2, 7, 30) + i * 600},vip,{i % 2},{i}\n" for i in range(9))),
             ("c.csv", "window_start,category,province,channel,vip,promotion,wave,presale_phase,refunds\n"
                       + "".join(f"{at(2020, 11, 2, 7, 50) + i * 300},A,G,app,{i % 2},none,wave1,none,{i}\n"
                                 for i in range(6)))]
    parsed = parse(files)
    history.insert(chdb, "last_year", parsed.tables, written_ms=1)
    written = history.derive_tiers(chdb, "last_year", parsed.tables, written_ms=1)
    # the coarser tiers of each imported rollup, none finer (no breakdowns per second from minutes)
    assert set(written) == {"orders_hour", "orders_day", "dimensions_hour", "dimensions_day", "cube_hour", "cube_day"}
    for finest, (hour, day) in (("orders_second", ("orders_hour", "orders_day")),
                                ("dimensions_minute", ("dimensions_hour", "dimensions_day")),
                                ("cube_5min", ("cube_hour", "cube_day"))):
        rows = [(*k, *v) for k, v in stored(chdb, finest).items()]
        assert len(rows) == len(parsed.tables[finest]["window"])
        assert stored(chdb, hour) == sums_by(rows, utc_hour)
        assert stored(chdb, day) == sums_by(rows, utc_day)
        assert {k[0] for k in stored(chdb, day)} == {at(2020, 11, 1, 8), at(2020, 11, 2, 8)}  # across midnight UTC


def test_clearing_a_span_clears_every_tier_window_that_starts_in_its_first_day(chdb):
    """``gmv simulate --history`` clears last year's span (festival days, from 16:00 UTC) before it
    writes it again: the day row that starts at the UTC midnight before the span's start holds the
    span's first eight hours, so it goes too, or an earlier history's keys stay in the day tier."""
    from stream import history
    from stream.stack import migrations

    migrations.apply(chdb.chdb, "last_year_clear")  # a database of its own: clearing touches no other test's rows
    span = (at(2020, 11, 11), at(2020, 11, 12))  # one festival day: 16:00 UTC to 16:00 UTC
    days = [at(2020, 11, 9, 8), at(2020, 11, 10, 8), at(2020, 11, 11, 8)]  # 00:00 UTC each
    history.insert(chdb, "last_year_clear", {"brands_day": {
        "window": days, "category": ["Home"] * 3, "brand": ["Kept", "Stale", "Stale"],
        **{m: [1, 1, 1] for m in MEASURES}}}, written_ms=1)
    history.clear(chdb, "last_year_clear", ["brands_day"], *span)
    table = ROLLUPS["brands_day"].table
    left = chdb.execute(f"SELECT toUInt32(window_start), brand FROM last_year_clear.{table} FINAL")
    assert left == [(days[0], "Kept")]  # the day before the span's first UTC day stays
