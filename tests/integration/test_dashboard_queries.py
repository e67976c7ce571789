"""Every dashboard query on both engines: Debian's ClickHouse 18.16 (the session server, as
the read-only ``gmv_reader`` through the cache) and a current ClickHouse (chDB, in-process),
against rows whose totals are known to the fen, and against a generated festival whose every
selection is summed here from the generator's own orders."""
from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from dashboard import queries as q
from dashboard import snapshot
from dashboard.pages import wall
from stream.contract import FESTIVAL_TZ, MEASURES, TOP_BRANDS
from stream.stack import migrations
from tests.support import synthetic
from tests.support.known_engine import known_engine

WRITTEN_MS = int(time.time() * 1000)
NOW_S = int(synthetic.KNOWN_NOW.timestamp())
DAY0 = NOW_S - (20 * 3600 + 5)
EVIL = "x' OR 1=1 --"


@pytest.fixture(params=["chdb", pytest.param("clickhouse-18.16", marks=pytest.mark.slow)])
def engine(request):
    """``(run, database, writer)`` on one engine, with migrations applied and the known rows in."""
    with known_engine(request, synthetic.known_rows(WRITTEN_MS)) as found:
        yield found


def test_totals_add_late_corrections_and_drop_superseded_versions(engine):
    run, db, _ = engine
    totals = q.totals(run, db)
    assert totals["gmv_fen"] == synthetic.KNOWN["festival_gmv_fen"]
    assert totals["orders_created"] == synthetic.KNOWN["festival_orders"]
    assert q.totals(run, db, DAY0, NOW_S + 1)["gmv_fen"] == synthetic.KNOWN["today_gmv_fen"]


def test_newest_window_with_and_without_a_hint(engine):
    run, db, _ = engine
    assert q.newest(run, db) == (NOW_S, WRITTEN_MS)
    assert q.newest(run, db, hint=NOW_S) == (NOW_S, WRITTEN_MS)
    assert q.newest(run, db, hint=NOW_S + 10 * 86400) == (NOW_S, WRITTEN_MS)  # nothing near: full scan
    assert q.extent(run, db) == (DAY0 - 1, NOW_S)


def test_minutes_and_seconds(engine):
    run, db, _ = engine
    (minute,) = q.minutes(run, db, DAY0, DAY0 + 86400)
    assert minute.minute == NOW_S - 5
    assert minute.gmv_fen == synthetic.KNOWN["today_gmv_fen"]
    assert (minute.peak_orders, minute.peak_second) == synthetic.KNOWN["peak"]
    assert q.per_second(run, db, NOW_S - 599, NOW_S + 1) == [
        (NOW_S - 5, 10, 1_234_567), (NOW_S - 4, 8, 2_030_004), (NOW_S, 5, 777_777)]


def test_wall_snapshot_equals_a_plain_select(engine):
    run, db, client = engine
    snap = snapshot.wall_snapshot(run, db)
    truth = client.execute(f"SELECT sum(gmv_fen) FROM {db}.orders_per_second FINAL")[0][0]
    assert snap.festival["gmv_fen"] == int(truth) == synthetic.KNOWN["festival_gmv_fen"]
    assert snap.today["gmv_fen"] == synthetic.KNOWN["today_gmv_fen"]
    assert snap.orders_now == synthetic.KNOWN["orders_now"]
    assert snap.peak == synthetic.KNOWN["peak"]
    assert {k: v for k, v in snap.logistics.items() if v} == synthetic.KNOWN["logistics"]
    assert snap.pipeline_today == {"rejected": 3, "late": 1}
    assert [b[0] for b in snap.brands] == ["Lumora Home", "Kalon Lab", "Verix Studio"]
    # the cube's VIP split and final payments today (its late row added, its superseded one dropped)
    vip, phases = snap.splits["vip"], snap.splits["presale_phase"]
    assert snapshot.measure(vip, "1", "gmv_fen") == synthetic.KNOWN["vip_gmv_fen"]
    assert sum(snapshot.measure(vip, v, "gmv_fen") for v in "01") == synthetic.KNOWN["today_gmv_fen"]
    assert (snapshot.measure(phases, "final", "orders_paid"), snapshot.measure(phases, "final", "gmv_fen")) == \
        synthetic.KNOWN["finals"]
    # buyers: today's settled and live halves added per VIP flag, the last complete minute's repeats
    buyers = snap.buyers
    assert buyers.today == synthetic.KNOWN["buyers_today"]
    assert (buyers.minute, buyers.minute_buyers, buyers.minute_new) == (NOW_S - 65, *synthetic.KNOWN["minute_buyers"])
    texts = wall.buyer_texts(buyers, snap.now_s)
    assert texts["wall-buyers"] == "17" and texts["wall-vip-buyers-share"] == synthetic.KNOWN["buyers_vip_share"]
    assert texts["wall-buyers-new"] == f"+{synthetic.KNOWN['new_buyers_now']} new / s"
    assert texts["wall-repeat-share"] == synthetic.KNOWN["repeat_share"]


def test_buyers_per_bucket_and_only_the_vip_filter(engine):
    run, db, _ = engine
    minute = NOW_S - 65  # 19:59
    assert q.buyer_series(run, db, {}, minute, minute + 120, 60) == [(minute, 8, 3, 8), (minute + 60, 0, 10, 0)]
    assert q.buyer_series(run, db, {"vip": "1"}, minute, minute + 120, 60) == [(minute, 2, 0, 2),
                                                                               (minute + 60, 0, 2, 0)]
    assert q.buyer_series(run, db, {}, minute, minute + 120, 3600) == [(NOW_S // 3600 * 3600 - 3600, 8, 3, 8),
                                                                       (NOW_S // 3600 * 3600, 0, 10, 0)]
    with pytest.raises(q.Unanswerable, match="by VIP only, so nothing holds buyers by category"):
        q.buyer_series(run, db, {"category": "Apparel", "vip": "1"}, minute, minute + 120, 60)
    assert q.new_buyers(run, db, 0, 2**32 - 1) == {0: 22, 1: 2}


def test_breakdowns_single_dimension_and_pairs(engine):
    run, db, _ = engine
    cats = q.breakdown(run, db, "category", DAY0, DAY0 + 86400)
    assert [(c[0], c[3]) for c in cats] == [("Apparel", 3_030_003), ("Beauty & Cosmetics", 1_012_345)]
    brands = q.breakdown(run, db, "brand", DAY0, DAY0 + 86400, {"category": "Apparel"})
    assert [(b[0], b[3]) for b in brands] == [("Lumora Home", 2_500_000), ("Verix Studio", 530_003)]
    channels = q.breakdown(run, db, "channel", DAY0, DAY0 + 86400, {"province": "Guangdong"})
    assert [(c[0], c[3]) for c in channels] == [("livestream", 1_042_348), ("app", 1_000_000)]
    # brands read the other way: a brand's category
    assert [c[0] for c in q.breakdown(run, db, "category", DAY0, DAY0 + 86400, {"brand": "Kalon Lab"})] == [
        "Beauty & Cosmetics"]
    # any combination of the cube's fields, the late row added and the superseded one dropped
    provinces = q.breakdown(run, db, "province", DAY0, DAY0 + 86400, {"category": "Apparel"})
    assert [(p[0], p[3]) for p in provinces] == [("Zhejiang", 2_000_000), ("Guangdong", 1_030_003)]
    assert [(v[0], v[3]) for v in q.breakdown(run, db, "vip", DAY0, DAY0 + 86400)] == [
        ("0", 3_042_348), ("1", 1_000_000)]
    assert [(v[0], v[3]) for v in q.breakdown(run, db, "presale_phase", DAY0, DAY0 + 86400,
                                              {"channel": "livestream", "wave": "wave2"})] == [
        ("final", 1_012_345), ("none", 30_003)]
    with pytest.raises(q.Unanswerable, match="nothing holds brand by province"):
        q.breakdown(run, db, "province", DAY0, DAY0 + 86400, {"brand": "Kalon Lab"})
    with pytest.raises(q.Unanswerable, match="nothing holds brand by VIP"):
        q.breakdown(run, db, "brand", DAY0, DAY0 + 86400, {"category": "Apparel", "vip": "1"})


def test_series_per_bucket_for_each_kind_of_selection(engine):
    run, db, _ = engine
    whole = q.series(run, db, {}, DAY0, DAY0 + 86400, 60)
    assert [(r[0], r[3]) for r in whole] == [(NOW_S - 5, synthetic.KNOWN["today_gmv_fen"])]
    assert q.series(run, db, {"category": "Apparel"}, DAY0, DAY0 + 86400, 3600)[0][3] == 3_030_003
    pair = q.series(run, db, {"category": "Apparel", "brand": "Verix Studio"}, DAY0, DAY0 + 86400, 300)
    assert pair[0][3] == 530_003
    assert q.series(run, db, {"brand": "Verix Studio"}, DAY0, DAY0 + 86400, 300)[0][3] == 530_003
    cube = q.series(run, db, {"category": "Apparel", "province": "Guangdong"}, DAY0, DAY0 + 86400, 300)
    assert [(r[0], r[3]) for r in cube] == [(NOW_S - 5, 1_030_003)]
    with pytest.raises(ValueError, match="60 s buckets from rows per 300 s"):  # the cube is kept per 5 minutes
        q.series(run, db, {"category": "Apparel", "province": "Guangdong"}, DAY0, DAY0 + 86400, 60)
    assert q.grain({"category": "Apparel", "province": "Guangdong"}) == q.grain({"brand": "X"}) == 300
    assert q.grain({}) == q.grain({"vip": "1"}) == 1  # totals and each field on its own: per second
    assert q.series(run, db, {"vip": "1"}, DAY0, DAY0 + 86400, 60)[0][3] == 1_000_000
    assert q.series(run, db, {"promotion": "presale_deposit"}, DAY0, DAY0 + 86400, 60)[0][3] == 1_012_345
    with pytest.raises(q.Unanswerable, match=r"^The rollups keep brand .* nothing holds brand by province\.$"):
        q.series(run, db, {"brand": "Kalon Lab", "province": "Guangdong"}, DAY0, DAY0 + 86400, 300)


def test_top_brands_skip_brands_that_left_and_older_versions(engine):
    run, db, _ = engine
    assert [(b[0], b[3]) for b in q.top_brands(run, db, DAY0)] == synthetic.KNOWN["top_brands"]
    assert [b[0] for b in q.top_brands(run, db, DAY0, "Apparel")] == ["Lumora Home", "Verix Studio"]
    assert [b[0] for b in q.top_brands(run, db, DAY0 - 86400)] == ["Yesterday Co"]
    assert q.top_brands(run, db, DAY0, "Books & Media") == []


def test_every_field_on_its_own_and_where_5_minute_rows_end(engine):
    run, db, _ = engine
    span = q.extent(run, db)
    by_field = q.dimension_sums(run, db, DAY0, DAY0 + 86400, span)
    gmv = MEASURES.index("gmv_fen")
    assert {v: m[gmv] for v, m in by_field["vip"].items()} == {"0": 3_042_348, "1": 1_000_000}
    assert {v: m[gmv] for v, m in by_field["presale_phase"].items()} == {"none": 3_030_003, "final": 1_012_345}
    assert set(by_field) == set(q.CUBE_DIMENSIONS)
    assert q.newest_window(run, db, q.CUBE[0], DAY0, DAY0 + 86400) == NOW_S - 5
    assert q.newest_window(run, db, q.BRANDS[0], DAY0 - 86400, DAY0) is None


def test_values_search_and_alert_history(engine):
    run, db, client = engine
    assert q.values(run, db, "brand", "", DAY0, DAY0 + 86400) == ["Lumora Home", "Kalon Lab", "Verix Studio"]
    assert q.values(run, db, "brand", "LUM", DAY0, DAY0 + 86400) == ["Lumora Home"]
    assert q.values(run, db, "province", "zhe", DAY0, DAY0 + 86400) == ["Zhejiang"]
    assert q.alert_events(run, db) == []
    row = (WRITTEN_MS, "throughput_drop", "page", "firing", 1.5, 40.0, datetime(2021, 11, 11, 12, 0), 60,
           "orders/s fell to 1.5 (baseline 40)", "delivered", 1, WRITTEN_MS)
    client.execute(f"INSERT INTO {db}.alert_events "
                   "(event_ms, rule, severity, state, observed, baseline, window_start, window_seconds, message, "
                   "delivery, attempts, written_ms) VALUES", [row, (*row[:9], "pending", 0, WRITTEN_MS - 1)])
    (event,) = q.alert_events(run, db)
    assert (event["rule"], event["state"], event["delivery"], event["window_start"]) == (
        "throughput_drop", "firing", "delivered", NOW_S - 5)


def test_a_value_with_sql_in_it_is_only_ever_a_value(engine):
    run, db, client = engine
    tables = [r.table for r in (q.DIMENSIONS[0], q.CUBE[0], q.BRANDS[0])]
    counts = [client.execute(f"SELECT count() FROM {db}.{t}")[0][0] for t in tables]
    assert q.series(run, db, {"category": EVIL}, DAY0, DAY0 + 86400, 60) == []
    assert q.breakdown(run, db, "brand", DAY0, DAY0 + 86400, {"category": EVIL}) == ()
    assert q.values(run, db, "brand", EVIL, DAY0, DAY0 + 86400) == []
    assert q.series(run, db, {"brand": "Kalon Lab'; DROP TABLE x; --"}, DAY0, DAY0 + 86400, 300) == []
    assert q.series(run, db, {"promotion": EVIL, "vip": "1"}, DAY0, DAY0 + 86400, 300) == []
    assert q.breakdown(run, db, "wave", DAY0, DAY0 + 86400, {"presale_phase": EVIL, "province": EVIL}) == ()
    with pytest.raises(ValueError, match="vip is 1 or 0"):
        q.series(run, db, {"vip": "1 OR 1=1"}, DAY0, DAY0 + 86400, 60)
    assert [client.execute(f"SELECT count() FROM {db}.{t}")[0][0] for t in tables] == counts


def test_generated_festival_adds_up_across_tables(engine):
    """The screenshot/benchmark generator: the festival's total on the wall (days, hours and
    seconds) equals one plain sum, and each field's values add up to it."""
    run, db, client = engine
    fest = synthetic.Festival(start=datetime(2021, 11, 11, 18, 0, tzinfo=FESTIVAL_TZ),
                              end=datetime(2021, 11, 11, 21, 30, tzinfo=FESTIVAL_TZ),
                              orders_per_s=0.5, brands=300, written_at_ms=WRITTEN_MS + 10_000)
    tables = synthetic.generate(fest)
    other = f"{db}_gen"
    migrations.apply(client, other)
    for table in tables:
        columns, rows = synthetic.rows(tables, table)
        if rows:  # a short festival closes no day
            client.execute(f"INSERT INTO {other}.{table} ({columns}) VALUES", rows)
    snap = snapshot.wall_snapshot(run, other)
    by_category = q.breakdown(run, other, "category", 0, 2**32 - 1)
    plain = client.execute(f"SELECT sum(gmv_fen) FROM {other}.orders_per_second FINAL")[0][0]
    assert snap.festival["gmv_fen"] == sum(c[3] for c in by_category) == q.totals(run, other)["gmv_fen"] == plain
    assert int(fest.start.timestamp()) <= snap.now_s < int(fest.end.timestamp())
    client.execute(f"DROP DATABASE {other}")


# -- every tier against the generator's orders --------------------------------------------------

# Nov 9 from 06:00 (22:00 UTC on Nov 8), all of Nov 9 in UTC (a closed day of the day tier) and
# of Nov 10 in Shanghai, into wave 2's midnight surge: every wave and pre-sale phase, and reads
# that combine days, hours, minutes and the finest rows
TIER_FEST = synthetic.Festival(start=datetime(2021, 11, 9, 6, 0, tzinfo=FESTIVAL_TZ),
                               end=datetime(2021, 11, 11, 1, 30, tzinfo=FESTIVAL_TZ),
                               orders_per_s=0.2, brands=300, written_at_ms=WRITTEN_MS + 20_000)
START, END = int(TIER_FEST.start.timestamp()), int(TIER_FEST.end.timestamp())
CLOSED = END - 300  # the last 5-minute window is still open: the cube and brands reach here
UTC9 = int(datetime(2021, 11, 9, tzinfo=timezone.utc).timestamp())  # the closed UTC day: START + 2 h
NOV10 = int(datetime(2021, 11, 10, tzinfo=FESTIVAL_TZ).timestamp())  # a whole festival day


@pytest.fixture(scope="module")
def generated():
    """The festival's tables and the orders they were drawn from."""
    return synthetic.generate_with_orders(TIER_FEST)


@pytest.fixture
def festival(engine, generated):
    """``(run, database, orders)``: the generated tables in a database of their own."""
    run, db, client = engine
    tables, orders = generated
    other = f"{db}_tiers"
    migrations.apply(client, other)
    for table in tables:
        columns, rows = synthetic.rows(tables, table)
        if rows:  # a short festival closes no day
            client.execute(f"INSERT INTO {other}.{table} ({columns}) VALUES", rows)
    yield run, other, orders
    client.execute(f"DROP DATABASE {other}")


def _match(orders: dict, filters: dict[str, str], start: int, end: int) -> np.ndarray:
    """The orders of a selection, found here with numpy (not with dashboard.queries)."""
    keep = (orders["t"] >= start) & (orders["t"] < end)
    for dim, value in filters.items():
        keep &= orders[dim] == (int(value) if dim == "vip" else value)
    return keep


def _sums(orders: dict, keep: np.ndarray) -> dict[str, int]:
    return {m: int(orders[m][keep].sum()) for m in MEASURES}


def _per_bucket(orders: dict, keep: np.ndarray, bucket: int) -> dict[int, dict[str, int]]:
    shift = 8 * 3600  # buckets aligned in Shanghai time (a day: a festival day)
    buckets = (orders["t"] + shift) // bucket * bucket - shift
    return {int(b): _sums(orders, keep & (buckets == b)) for b in sorted(set(buckets[keep].tolist()))}


def _combinations(orders: dict) -> list[dict[str, str]]:
    """Selections with orders in them: values taken from actual orders."""
    busiest = {d: str(max(set(orders[d]), key=lambda v: (orders[d] == v).sum()))
               for d in ("category", "province")}
    one = int(np.flatnonzero(orders["presale_phase"] == "final")[0])  # an order with every field set
    return [
        busiest,                                                          # category x province
        {"channel": "app", "vip": "1", "promotion": "coupon"},            # channel x vip x promotion
        {"province": busiest["province"], "channel": "livestream"},      # province x channel
        {"wave": "wave2", "presale_phase": "final"},                      # wave x pre-sale phase
        {"wave": "presale", "presale_phase": "deposit"},
        {d: str(orders[d][one]) for d in q.CUBE_DIMENSIONS},              # all seven at once
        {"vip": "1"}, {"vip": "0", "promotion": "livestream_deal"}, {"category": busiest["category"]}, {},
    ]


def test_reads_take_closed_days_and_hours_from_their_tiers(festival):
    run, db, _ = festival
    span = q.extent(run, db)
    assert START <= span[0] < START + 60 and END - 60 < span[1] < END  # the first and newest seconds with orders
    utc10, hours_end = UTC9 + 86400, END // 3600 * 3600  # the open hour: finer rows
    for tiers in (q.TOTALS, q.DIMENSIONS, q.CUBE, q.BRANDS):
        hour, day = tiers[-2:]
        parts = q.pieces(run, db, tiers, START, END, span)
        assert [(p.rollup, p.spans) for p in parts[:2]] == [
            (day, ((UTC9, utc10),)), (hour, ((START, UTC9), (utc10, hours_end)))]
        # the open hour from the finer tiers, coarsest first (breakdowns: closed minutes, then seconds)
        rest = sorted(span for p in parts[2:] for span in p.spans)
        assert [p.rollup for p in parts[2:]] == list(reversed(tiers[:len(parts) - 2]))
        assert rest[0][0] == hours_end and rest[-1][1] == END and all(a[1] == b[0] for a, b in itertools.pairwise(rest))
        # hourly buckets: no day; 5-minute ones: nothing coarser than 5 minutes
        assert next(p.rollup for p in q.pieces(run, db, tiers, START, END, span, 3600)) == hour
        assert all(p.rollup.window_s <= 300 for p in q.pieces(run, db, tiers, START, END, span, 300))


def test_any_selection_over_the_tiers_is_the_orders_summed(festival):
    """Series and bars of every kind of selection over a closed day, closed hours and the finest
    rows: the cube's combinations, one field on its own, the totals (as far as the 5-minute rows
    reach for the cube)."""
    run, db, orders = festival
    for filters in _combinations(orders):
        end = END if len(filters) <= 1 else CLOSED
        keep = _match(orders, filters, START, end)
        assert keep.sum() > 0, filters
        for bucket in (86400, 3600, 300):
            rows = q.series(run, db, filters, START, end, bucket)
            assert {r[0]: dict(zip(MEASURES, r[1:])) for r in rows} == _per_bucket(orders, keep, bucket), filters
        one_by_one = {}
        for dim in q.CUBE_DIMENSIONS:  # the bars of every field under the other filters
            others = {d: v for d, v in filters.items() if d != dim}
            bar_end = END if not others else CLOSED
            under = _match(orders, others, START, bar_end)
            bars = {v: dict(zip(MEASURES, rest)) for v, *rest in q.breakdown(run, db, dim, START, bar_end, filters,
                                                                             limit=100)}
            assert bars == {str(v): _sums(orders, under & (orders[dim] == v)) for v in set(orders[dim][under])}, (
                dim, filters)
            one_by_one[dim] = q.breakdown(run, db, dim, START, bar_end, filters, limit=100)
        if len(filters) != 1:  # every bar at once (a read per kind of rows, each bar its margin) is the same
            assert q.breakdowns(run, db, q.CUBE_DIMENSIONS, START, CLOSED if filters else END, filters,
                                limit=100) == one_by_one, filters


def test_a_range_cut_inside_hours_and_days(festival):
    """From 07:35 on Nov 9 to 01:25 on Nov 11 in hourly buckets: the cut hours from the finest rows."""
    run, db, orders = festival
    start = START + 95 * 60
    for filters in ({}, {"vip": "1"}, {"wave": "wave2", "channel": "app"}, {"category": "Apparel"}):
        keep = _match(orders, filters, start, CLOSED)
        rows = q.series(run, db, filters, start, CLOSED, 3600)
        assert {r[0]: dict(zip(MEASURES, r[1:])) for r in rows} == _per_bucket(orders, keep, 3600), filters
        assert q.totals(run, db, start, CLOSED) == _sums(orders, _match(orders, {}, start, CLOSED))


def test_brands_alone_and_within_their_category(festival):
    run, db, orders = festival
    brand = str(orders["brand"][0])
    category = str(orders["category"][0])
    for filters in ({"brand": brand}, {"brand": brand, "category": category}):
        keep = _match(orders, filters, START, CLOSED)
        rows = q.series(run, db, filters, START, CLOSED, 3600)
        assert {r[0]: dict(zip(MEASURES, r[1:])) for r in rows} == _per_bucket(orders, keep, 3600)
    in_category = _match(orders, {"category": category}, START, CLOSED)
    bars = {v: dict(zip(MEASURES, rest)) for v, *rest in q.breakdown(run, db, "brand", START, CLOSED,
                                                                     {"category": category}, limit=1000)}
    assert bars == {str(v): _sums(orders, in_category & (orders["brand"] == v))
                    for v in set(orders["brand"][in_category])}
    every = q.breakdown(run, db, "brand", START, CLOSED, limit=5)  # the best sellers of all
    totals = {str(v): int(orders["gmv_fen"][(orders["t"] < CLOSED) & (orders["brand"] == v)].sum())
              for v in set(orders["brand"])}
    assert [(b[0], b[3]) for b in every] == sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [c[0] for c in q.breakdown(run, db, "category", START, CLOSED, {"brand": brand})] == [category]


def test_the_walls_fields_and_top_brands_of_a_day_are_the_orders_summed(festival):
    """The wall's breakdowns and splits of a day (closed hours and the minutes before the open
    one, then the open minute), and its top brands (the live ranking: late events count), against
    the generator's orders."""
    run, db, orders = festival
    span = q.extent(run, db)
    for day0, minute in ((NOV10, NOV10 + 86400 - 60), (NOV10 + 86400, span[1] // 60 * 60)):
        fields = snapshot.added(q.dimension_sums(run, db, day0, minute, span),
                                q.dimension_sums(run, db, minute, day0 + 86400, span))
        today = _match(orders, {}, day0, day0 + 86400)
        for dim in q.CUBE_DIMENSIONS:
            assert {v: dict(zip(MEASURES, m)) for v, m in fields[dim].items()} == {
                str(v): _sums(orders, today & (orders[dim] == v)) for v in set(orders[dim][today])}, (day0, dim)
        for ranking in ("", "Apparel"):
            mine = today & ((orders["category"] == ranking) if ranking else True)
            sums = {str(b): _sums(orders, mine & (orders["brand"] == b)) for b in set(orders["brand"][mine])}
            first = sorted(sums, key=lambda b: TOP_BRANDS.rank_key(b, sums[b]))[:TOP_BRANDS.n]
            assert [(b, *m) for b, *m in q.top_brands(run, db, day0, ranking)] == [
                (b, *sums[b].values()) for b in first], (day0, ranking)
    assert _sums(orders, orders["t"] < NOV10 + 86400)["deposits_paid"] > 0
    assert _sums(orders, (orders["t"] >= NOV10 + 86400) & (orders["presale_phase"] == "final"))["orders_paid"] > 0


def test_vip_is_a_flag_bound_as_an_integer(festival):
    run, db, orders = festival
    vip = q.breakdown(run, db, "vip", START, END)
    assert [v for v, *_ in vip] == ["0", "1"]  # most GMV first: the 90%
    assert vip[1][1:] == tuple(_sums(orders, orders["vip"] == 1).values())
    total = q.series(run, db, {"vip": "1"}, START, END, 86400)
    assert sum(r[3] for r in total) == int(orders["gmv_fen"][orders["vip"] == 1].sum()) > 0


def test_brand_goes_with_its_category_and_nothing_else(festival):
    run, db, orders = festival
    brand = str(orders["brand"][0])
    category = str(orders["category"][0])
    for filters in ({"brand": brand, "province": "Guangdong"}, {"brand": brand, "category": category, "vip": "1"},
                    {"brand": brand, "wave": "wave2", "presale_phase": "final"}):
        with pytest.raises(q.Unanswerable, match="nothing holds brand by"):
            q.series(run, db, filters, START, END, 300)
    with pytest.raises(q.Unanswerable, match="nothing holds brand by province"):
        q.breakdown(run, db, "brand", START, END, {"province": "Guangdong"})
    with pytest.raises(q.Unanswerable, match="nothing holds brand by channel"):
        q.breakdown(run, db, "channel", START, END, {"brand": brand})


def test_explore_shows_buyers_under_a_vip_filter_and_says_why_not_under_others(engine):
    from types import SimpleNamespace

    from dashboard import explore_state as es
    from dashboard.pages import explore

    run, db, _ = engine
    ctx = SimpleNamespace(db=SimpleNamespace(run=run, database=db))
    state = es.ExploreState(range="1h", metric="new_buyers")
    v = explore.view(ctx, state, [])
    # 3 + 10 new buyers in the hour; the minute 19:59's 8 buyers, 3 of them new: 5 of 8 repeat
    assert v["total"] == "13 new buyers (each consumer once a day) · busiest minute 8 buyers"
    assert v["series"]["data"][0]["y"][-2:] == [3, 10]
    assert v["bars"]["vip"]["data"][0]["x"] == [2, 11]
    assert "VIP only" in v["bars"]["category"]["layout"]["annotations"][0]["text"]
    assert len(v["table"]) == 1 and v["table"][0]["gmv_fen"] == "¥40,423.48"  # the table keeps the order measures
    minute = es.ExploreState(range="custom", start="2021-11-11T19:59", end="2021-11-11T20:00", metric="buyers")
    assert explore.view(ctx, minute, [])["total"] == ("3 new buyers (each consumer once a day) · busiest minute 8 "
                                                      "buyers · repeat buyers 62.5% of the minutes’ buyers")
    v = explore.view(ctx, state.replace(metric="buyers", vip="1"), [])
    assert v["series"]["data"][0]["y"] == [2, 0] and v["total"].startswith("2 new buyers")
    v = explore.view(ctx, state.replace(category="Apparel"), [])
    assert v["total"].startswith("The rollups keep buyers per second and minute by VIP only")
    v = explore.view(ctx, state.replace(vip="1", wave="wave2"), [])  # the table: the cube, per 5 minutes
    assert v["total"].startswith("The rollups keep buyers per second and minute by VIP only")
    assert "5-minute buckets" in v["notes"] and v["table"][0]["gmv_fen"] == "¥10,000.00"
    assert not v["series"]["data"]
    v = explore.view(ctx, state.replace(last_year=True), [])  # the history holds no buyers: said, not drawn
    assert v["notes"] == "last year: the history keeps order measures, not buyers"
    assert v["total"].startswith("13 new buyers") and len(v["series"]["data"]) == 1


def test_last_years_reads_on_both_engines(engine):
    """The wall's reads of the history (dashboard/lastyear.py) and explore's has_rows, on a
    history database migrated beside the rollups: last year so far counts to the second."""
    from datetime import timezone

    from dashboard import lastyear
    from stream.contract import ROLLUPS

    run, db, writer = engine
    history = f"{db}_history"
    migrations.apply(writer, history)
    assert not q.has_rows(run, history, q.CUBE) and q.has_rows(run, db, q.CUBE)
    first = q.extent(run, db)[0]
    shift = 365 * 86400

    def second(epoch_s: int, gmv: int) -> tuple:
        window = datetime.fromtimestamp(epoch_s, timezone.utc).replace(tzinfo=None)
        return synthetic.row(ROLLUPS["orders_second"], WRITTEN_MS, window_start=window, late=0, gmv_fen=gmv,
                             orders_created=1)

    table = ROLLUPS["orders_second"].table
    writer.execute(f"INSERT INTO {history}.{table} ({', '.join(synthetic.columns(ROLLUPS['orders_second']))}) VALUES",
                   [second(first - shift - 3600, 99),  # before the span this year covers
                    second(first - shift, 1000), second(NOW_S - shift, 500), second(NOW_S - shift + 1, 7)])
    read = lastyear.read(run, db, history, NOW_S, DAY0)
    assert read is not None and read.start_s == first and read.year == 2020
    assert read.last_fen == 1000 + 500 and read.before_start_fen == 0
    assert read.total_fen == 1000 + 500 + 7  # to the festival's end
    assert q.has_rows(run, history, q.TOTALS)
