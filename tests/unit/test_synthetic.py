"""The test and bench data generator (tests/support/synthetic.py) against the contract and the
simulator's catalogue: the tables and columns it writes, the values it draws, totals that add
up across tables, and the hand-made known set's totals."""
from __future__ import annotations

from datetime import datetime

import pytest

from stream.contract import (
    CHANNELS,
    CUBE_DIMENSIONS,
    EXPLORE,
    FESTIVAL_TZ,
    MEASURES,
    PARCEL_ROLLUPS,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    ROLLUPS,
    TOP_BRANDS,
    VERSION_COLUMN,
    WAVES,
    family,
    window_start,
)
from stream.simulator import catalog
from stream.simulator.config import CATEGORIES, DEFAULT, PROVINCES
from tests.support import synthetic

FEST = synthetic.Festival(start=datetime(2021, 11, 11, 19, 0, tzinfo=FESTIVAL_TZ),
                          end=datetime(2021, 11, 11, 20, 30, tzinfo=FESTIVAL_TZ), orders_per_s=2.0, brands=400,
                          written_at_ms=1_636_633_800_000)
# the last pre-sale evening and the opening of wave 2: every wave and pre-sale phase occurs
PRESALE_TO_WAVE = synthetic.Festival(start=datetime(2021, 11, 10, 23, 30, tzinfo=FESTIVAL_TZ),
                                     end=datetime(2021, 11, 11, 0, 30, tzinfo=FESTIVAL_TZ), orders_per_s=1.0,
                                     brands=200, written_at_ms=1_636_562_000_000)


@pytest.fixture(scope="module")
def tables():
    return synthetic.generate(FEST)


@pytest.fixture(scope="module")
def with_orders():
    return synthetic.generate_with_orders(PRESALE_TO_WAVE)


def newest_rows(cols: dict, rollup_name: str) -> list[dict]:
    """The rows a ReplacingMergeTree keeps: the newest version of each key."""
    rollup = ROLLUPS[rollup_name]
    keys = [c.name for c in rollup.keys]
    kept: dict[tuple, dict] = {}
    for i in range(len(cols[keys[0]])):
        row = {c: v[i] for c, v in cols.items()}
        key = tuple(row[k] for k in keys)
        if key not in kept or row[VERSION_COLUMN] > kept[key][VERSION_COLUMN]:
            kept[key] = row
    return list(kept.values())


# The synthetic festival is the dashboard benchmark's orders: its parcels are counted per status
# (logistics_*); the parcel rollups are filled by the real job (tests/support/parcel_rows.py has
# hand-written rows of them).
NOT_SYNTHETIC = {ROLLUPS[n].table for n in (*PARCEL_ROLLUPS, "parcel_flows_minute")}


def test_every_rollup_table_with_the_contracts_columns(tables):
    assert set(tables) == {r.table for r in ROLLUPS.values()} - NOT_SYNTHETIC
    for rollup in (r for r in ROLLUPS.values() if r.table not in NOT_SYNTHETIC):
        assert tuple(tables[rollup.table]) == synthetic.columns(rollup)


def test_values_come_from_the_contract_and_the_simulators_catalogue(tables):
    minute = tables[ROLLUPS["dimensions_minute"].table]
    assert set(minute["dimension"]) == set(CUBE_DIMENSIONS)
    by_dim = {d: set(minute["value"][minute["dimension"] == d]) for d in CUBE_DIMENSIONS}
    assert by_dim["category"] <= {c.name for c in CATEGORIES}
    assert by_dim["province"] <= {p for p, _ in PROVINCES}
    assert by_dim["channel"] == set(CHANNELS)
    assert by_dim["vip"] == {"0", "1"}
    brands = tables[ROLLUPS["brands_5min"].table]
    built = catalog.build(DEFAULT.replace(brands=FEST.brands))
    assert set(brands["brand"]) <= set(built.brand_names)
    category_of = {name: CATEGORIES[c].name for c in range(len(CATEGORIES))
                   for name in built.brand_names[built.brand_offsets[c]:built.brand_offsets[c + 1]]}
    assert all(category_of[b] == c for b, c in zip(brands["brand"], brands["category"]))  # the brand's own
    assert set(tables[ROLLUPS["logistics_second"].table]["status"]) == set(PARCEL_STATUSES)
    cube = tables[ROLLUPS["cube_5min"].table]
    assert set(cube["vip"]) == {0, 1}
    assert set(cube["promotion"]) <= set(PROMOTIONS) and "livestream_deal" in set(cube["promotion"])
    assert set(cube["wave"]) == {"wave2"} and set(cube["presale_phase"]) <= set(PRESALE_PHASES)


def test_waves_and_presale_phases_follow_the_calendar(with_orders):
    _, orders = with_orders
    presale, wave2 = orders["wave"] == "presale", orders["wave"] == "wave2"
    assert set(orders["wave"]) == {"presale", "wave2"} and set(orders["wave"]) <= set(WAVES)
    assert set(orders["presale_phase"][presale]) == {"none", "deposit"}
    assert set(orders["presale_phase"][wave2]) == {"none", "final"}
    assert (orders["promotion"][orders["presale_phase"] != "none"] == "presale_deposit").all()
    assert (orders["promotion"][orders["presale_phase"] == "none"] != "presale_deposit").all()
    deposits = orders["presale_phase"] == "deposit"
    assert orders["orders_paid"][deposits].sum() == 0 < orders["gmv_fen"][deposits].sum()  # not yet paid
    assert 0.05 < orders["vip"].mean() < 0.15


def _expected(orders: dict, keys: list[str], window_s: int, closed_until: int | None = None) -> dict[tuple, list[int]]:
    """The orders summed per (window, *keys, late) here, with plain Python: a closed window only
    (ended by ``closed_until``) when given."""
    out: dict[tuple, list[int]] = {}
    for i in range(len(orders["t"])):
        window = int(window_start(int(orders["t"][i]), window_s))
        if closed_until is not None and window + window_s > closed_until:
            continue
        key = (window, *(orders[k][i] for k in keys), int(orders["late"][i]))
        sums = out.setdefault(key, [0] * len(MEASURES))
        sums[:] = [s + int(orders[m][i]) for s, m in zip(sums, MEASURES)]
    return out


def test_every_tier_of_the_cube_and_brands_is_the_orders_summed_once_closed(with_orders):
    tables, orders = with_orders
    newest = int(PRESALE_TO_WAVE.end.timestamp()) - 1
    for name, keys in (("cube_5min", list(CUBE_DIMENSIONS)), ("brands_5min", ["category", "brand"])):
        for rollup in family(name):
            rows = newest_rows(tables[rollup.table], rollup.name)
            found = {(int(r["window_start"]), *(r[k] for k in keys), int(r["late"])): [int(r[m]) for m in MEASURES]
                     for r in rows}
            closed = newest if rollup.path == EXPLORE else None
            assert found == _expected(orders, keys, rollup.window_s, closed), rollup.name


def test_every_field_on_its_own_and_its_tiers(with_orders):
    tables, orders = with_orders
    newest = int(PRESALE_TO_WAVE.end.timestamp()) - 1
    for rollup in family("dimensions_second"):  # an hour: every second's breakdowns kept
        rows = newest_rows(tables[rollup.table], rollup.name)
        closed = newest if rollup.path == EXPLORE else None
        for dim in CUBE_DIMENSIONS:
            found = {(int(r["window_start"]), r["value"], int(r["late"])): [int(r[m]) for m in MEASURES]
                     for r in rows if r["dimension"] == dim}
            as_text = {**orders, dim: orders[dim].astype(str)}
            assert found == _expected(as_text, [dim], rollup.window_s, closed), (rollup.name, dim)


def test_top_brands_rank_the_days_brands_with_their_traps(with_orders):
    tables, orders = with_orders
    top = newest_rows(tables[ROLLUPS["top_brands"].table], "top_brands")
    days = sorted({int(r["window_start"]) for r in top})
    assert len(days) == 2  # Nov 10 and the open Nov 11: a live ranking
    for day in days:
        mine = (orders["t"] >= day) & (orders["t"] < day + 86400)
        for ranking in ("", "Apparel"):
            keep = mine & ((orders["category"] == ranking) if ranking else True)
            sums = {str(b): {m: int(orders[m][keep & (orders["brand"] == b)].sum()) for m in MEASURES}
                    for b in set(orders["brand"][keep])}
            order = sorted(sums, key=lambda b: TOP_BRANDS.rank_key(b, sums[b]))
            rows = {r["brand"]: r for r in top if r["window_start"] == day and r["ranking"] == ranking}
            assert len(rows) == TOP_BRANDS.n + 3
            for b in order[:TOP_BRANDS.n + 1]:  # the ranking, and an extra row after it
                assert {m: int(rows[b][m]) for m in MEASURES} == sums[b] and rows[b]["category"] == \
                    orders["category"][orders["brand"] == b][0]
            for b in order[TOP_BRANDS.n + 1:TOP_BRANDS.n + 3]:  # brands that left the ranking
                assert not any(int(rows[b][m]) for m in MEASURES)


def test_breakdowns_add_up_to_the_per_second_totals(tables):
    seconds = newest_rows(tables[ROLLUPS["orders_second"].table], "orders_second")
    totals = {m: sum(int(r[m]) for r in seconds) for m in MEASURES}
    assert totals["orders_created"] > 5000 and totals["gmv_fen"] > 0 and totals["refunds"] > 0
    closed = int(FEST.end.timestamp()) - 1
    # the closed minutes, and the open one per second
    minutes = newest_rows(tables[ROLLUPS["dimensions_minute"].table], "dimensions_minute")
    seconds_now = [r for r in newest_rows(tables[ROLLUPS["dimensions_second"].table], "dimensions_second")
                   if r["window_start"] >= closed // 60 * 60]
    assert {r["window_start"] for r in minutes} == set(range(int(FEST.start.timestamp()), closed // 60 * 60, 60))
    for dim in CUBE_DIMENSIONS:
        assert {m: sum(int(r[m]) for r in minutes + seconds_now if r["dimension"] == dim)
                for m in MEASURES} == totals, dim
    hour = newest_rows(tables[ROLLUPS["orders_hour"].table], "orders_hour")
    assert {r["window_start"] for r in hour} == {closed // 3600 * 3600 - 3600}  # 19:00, closed; 20:00 is not
    cube, brands = (newest_rows(tables[ROLLUPS[n].table], n) for n in ("cube_5min", "brands_5min"))
    until = {m: sum(int(r[m]) for r in seconds if r["window_start"] < closed // 300 * 300) for m in MEASURES}
    assert {m: sum(int(r[m]) for r in cube) for m in MEASURES} == until  # the closed 5 minutes
    assert {m: sum(int(r[m]) for r in brands) for m in MEASURES} == until


def test_some_rows_are_superseded_or_late(tables):
    cols = tables[ROLLUPS["orders_second"].table]
    assert len(newest_rows(cols, "orders_second")) < len(cols["window_start"])
    assert cols["late"].any()


def test_known_rows_hold_the_known_totals():
    known = synthetic.known_rows(written_ms=10_000_000)
    for table, (columns, rows) in known.items():
        assert all(len(row) == len(columns.split(", ")) for row in rows), table
    names = synthetic.columns(ROLLUPS["orders_second"])
    columns, rows = known[ROLLUPS["orders_second"].table]
    cols = {c: [row[i] for row in rows] for i, c in enumerate(names)}
    kept = newest_rows(cols, "orders_second")
    assert sum(r["gmv_fen"] for r in kept) == synthetic.KNOWN["festival_gmv_fen"]
    assert sum(r["orders_created"] for r in kept) == synthetic.KNOWN["festival_orders"]


def test_a_row_names_its_columns():
    with pytest.raises(ValueError, match="no column"):
        synthetic.row(ROLLUPS["orders_second"], 1, window_start=0, late=0, gmv=5)
    assert synthetic.row(ROLLUPS["orders_second"], 9, window_start=0, late=0, gmv_fen=5) == (
        0, 0, *(5 if m == "gmv_fen" else 0 for m in MEASURES), 9)


def test_buyers_are_at_most_the_paid_orders_and_each_minute_holds_its_new_buyers(with_orders):
    tables, orders = with_orders
    new = newest_rows(tables[ROLLUPS["buyers_second"].table], "buyers_second")
    minutes = newest_rows(tables[ROLLUPS["buyers_minute"].table], "buyers_minute")
    paid = int(orders["orders_paid"].sum() + orders["deposits_paid"].sum())
    assert 0 < sum(r["new_buyers"] for r in new) < paid  # VIPs buy again
    per_minute: dict[int, int] = {}
    for r in minutes:
        per_minute[r["window_start"]] = per_minute.get(r["window_start"], 0) + r["buyers"]
    for r in new:
        per_minute[r["window_start"] // 60 * 60] -= r["new_buyers"]
    assert min(per_minute.values()) >= 0 and max(per_minute.values()) > 0  # repeat buyers, never negative
