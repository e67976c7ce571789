"""The test and bench data generator (tests/support/synthetic.py) against the contract and the
simulator's catalogue: the tables and columns it writes, the values it draws, totals that add
up across tables, and the hand-made known set's totals."""
from __future__ import annotations

from datetime import datetime

import pytest

from stream.contract import (
    CHANNELS,
    CUBE_DIMENSIONS,
    DIMENSIONS,
    FESTIVAL_TZ,
    MEASURES,
    PAIRS,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    ROLLUPS,
    VERSION_COLUMN,
    WAVES,
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


def newest(cols: dict, rollup_name: str) -> list[dict]:
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


def test_every_rollup_table_with_the_contracts_columns(tables):
    assert set(tables) == {r.table for r in ROLLUPS.values()}
    for rollup in ROLLUPS.values():
        assert tuple(tables[rollup.table]) == synthetic.columns(rollup)


def test_values_come_from_the_contract_and_the_simulators_catalogue(tables):
    minute = tables[ROLLUPS["orders_minute"].table]
    assert set(minute["dimension"]) == set(DIMENSIONS)
    by_dim = {d: set(minute["value"][minute["dimension"] == d]) for d in DIMENSIONS}
    assert by_dim["category"] <= {c.name for c in CATEGORIES}
    assert by_dim["province"] <= {p for p, _ in PROVINCES}
    assert by_dim["channel"] == set(CHANNELS)
    assert by_dim["brand"] <= set(catalog.build(DEFAULT.replace(brands=FEST.brands)).brand_names)
    pairs = tables[ROLLUPS["orders_minute_pair"].table]
    assert set(zip(pairs["parent_dimension"], pairs["dimension"])) == set(PAIRS)
    assert set(tables[ROLLUPS["logistics_second"].table]["status"]) == set(PARCEL_STATUSES)
    cube = tables[ROLLUPS["orders_minute_cube"].table]
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


def test_the_cube_is_the_orders_summed(with_orders):
    tables, orders = with_orders
    cube = newest(tables[ROLLUPS["orders_minute_cube"].table], "orders_minute_cube")
    minute = orders["t"] - orders["t"] % 60
    expected: dict[tuple, list[int]] = {}
    for i in range(len(minute)):
        key = (int(minute[i]), *(orders[d][i] for d in CUBE_DIMENSIONS), int(orders["late"][i]))
        sums = expected.setdefault(key, [0] * len(MEASURES))
        sums[:] = [s + int(orders[m][i]) for s, m in zip(sums, MEASURES)]
    found = {(int(r["window_start"]), *(r[d] for d in CUBE_DIMENSIONS), int(r["late"])): [int(r[m]) for m in MEASURES]
             for r in cube}
    assert found == expected


def test_breakdowns_add_up_to_the_per_second_totals(tables):
    seconds = newest(tables[ROLLUPS["orders_second"].table], "orders_second")
    totals = {m: sum(int(r[m]) for r in seconds) for m in MEASURES}
    assert totals["orders_created"] > 5000 and totals["gmv_fen"] > 0 and totals["refunds"] > 0
    minute = newest(tables[ROLLUPS["orders_minute"].table], "orders_minute")
    pairs = newest(tables[ROLLUPS["orders_minute_pair"].table], "orders_minute_pair")
    for dim in DIMENSIONS:
        assert {m: sum(int(r[m]) for r in minute if r["dimension"] == dim) for m in MEASURES} == totals, dim
    for parent, _ in PAIRS:
        assert {m: sum(int(r[m]) for r in pairs if r["parent_dimension"] == parent) for m in MEASURES} == totals
    cube = newest(tables[ROLLUPS["orders_minute_cube"].table], "orders_minute_cube")
    assert {m: sum(int(r[m]) for r in cube) for m in MEASURES} == totals


def test_some_rows_are_superseded_or_late(tables):
    cols = tables[ROLLUPS["orders_second"].table]
    assert len(newest(cols, "orders_second")) < len(cols["window_start"])
    assert cols["late"].any()


def test_known_rows_hold_the_known_totals():
    known = synthetic.known_rows(written_ms=10_000_000)
    for table, (columns, rows) in known.items():
        assert all(len(row) == len(columns.split(", ")) for row in rows), table
    names = synthetic.columns(ROLLUPS["orders_second"])
    columns, rows = known[ROLLUPS["orders_second"].table]
    cols = {c: [row[i] for row in rows] for i, c in enumerate(names)}
    kept = newest(cols, "orders_second")
    assert sum(r["gmv_fen"] for r in kept) == synthetic.KNOWN["festival_gmv_fen"]
    assert sum(r["orders_created"] for r in kept) == synthetic.KNOWN["festival_orders"]


def test_a_row_names_its_columns():
    with pytest.raises(ValueError, match="no column"):
        synthetic.row(ROLLUPS["orders_second"], 1, window_start=0, late=0, gmv=5)
    assert synthetic.row(ROLLUPS["orders_second"], 9, window_start=0, late=0, gmv_fen=5) == (
        0, 0, *(5 if m == "gmv_fen" else 0 for m in MEASURES), 9)


def test_buyers_are_at_most_the_paid_orders_and_each_minute_holds_its_new_buyers(with_orders):
    tables, orders = with_orders
    new = newest(tables[ROLLUPS["buyers_second"].table], "buyers_second")
    minutes = newest(tables[ROLLUPS["buyers_minute"].table], "buyers_minute")
    paid = int(orders["orders_paid"].sum() + orders["deposits_paid"].sum())
    assert 0 < sum(r["new_buyers"] for r in new) < paid  # VIPs buy again
    per_minute: dict[int, int] = {}
    for r in minutes:
        per_minute[r["window_start"]] = per_minute.get(r["window_start"], 0) + r["buyers"]
    for r in new:
        per_minute[r["window_start"] // 60 * 60] -= r["new_buyers"]
    assert min(per_minute.values()) >= 0 and max(per_minute.values()) > 0  # repeat buyers, never negative
