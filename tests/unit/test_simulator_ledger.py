"""The ledger equals what a plain reader recomputes from the bytes that were sent.

The reader below knows nothing of the simulator: it parses each message with
json.loads, validates it against the schemas, drops what is malformed, drops
repeated event ids, and sums by event-time window exactly as docs/simulator.md says:
each kind from the events themselves (an hour and a day from the time-zone database in UTC,
where every tier aligns), the top brands by ranking its own sums per festival day (from the
local midnight in Asia/Shanghai, by the time-zone database) in plain Python.
"""
from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jsonschema
import numpy as np
import pytest

from stream.contract import CUBE_DIMENSIONS, MEASURES, ROLLUPS, TOP_BRANDS
from stream.settings import SCHEMAS_DIR
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.faults import Faults, Outage
from stream.simulator.run import RunOptions, run
from stream.simulator.sinks import MemorySink

ORDER = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "order.schema.json").read_text()))
LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))
SHANGHAI = ZoneInfo("Asia/Shanghai")
# the order rollups by grouping: their kinds in the ledger, finest first
FAMILIES = {"totals": ("orders_second", "orders_hour", "orders_day"),
            "dimensions": ("dimensions_second", "dimensions_minute", "dimensions_hour", "dimensions_day"),
            "cube": ("cube_5min", "cube_hour", "cube_day"),
            "brands": ("brands_5min", "brands_hour", "brands_day")}


def contribution(event: dict) -> list[int]:
    status, paid = event["status"], event["paid_fen"]
    return [
        int(status == "created"),
        int(status == "paid" and event["presale_phase"] != "deposit"),
        paid if status == "paid" else 0,
        int(status == "refunded"),
        paid if status == "refunded" else 0,
        int(status == "cancelled"),
        int(status == "paid" and event["presale_phase"] == "deposit"),
    ]


def parse(value: bytes) -> dict | None:
    """The event, or None if the message is not a valid event of either topic."""
    try:
        event = json.loads(value)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    validator = LOGISTICS if "parcel_id" in event else ORDER
    return event if validator.is_valid(event) else None


def festival_day(t_ms: int) -> int:
    """Epoch s of the local midnight (Asia/Shanghai) of the day that holds ``t_ms``."""
    local = datetime.fromtimestamp(t_ms / 1000, SHANGHAI)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def utc_windows(t_ms: int) -> dict[str, int]:
    """Epoch s of the start of the UTC second, minute, 5 minutes, hour and day that hold ``t_ms``."""
    utc = datetime.fromtimestamp(t_ms // 1000, UTC)
    starts = {"second": utc, "minute": utc.replace(second=0),
              "5min": utc.replace(minute=utc.minute - utc.minute % 5, second=0),
              "hour": utc.replace(minute=0, second=0), "day": utc.replace(hour=0, minute=0, second=0)}
    return {grain: int(start.timestamp()) for grain, start in starts.items()}


def utc_window(t_ms: int, grain: str) -> int:
    return utc_windows(t_ms)[grain]


def grain_of(kind: str) -> str:
    return kind.rsplit("_", 1)[1]


def order_keys(event: dict) -> list[tuple]:
    """Every ledger key an order event counts in: each grouping in each of its tiers' UTC windows."""
    groups = {"totals": [()],
              "dimensions": [(d, str(int(event[d])) if d == "vip" else event[d]) for d in CUBE_DIMENSIONS],
              "cube": [tuple(int(event[d]) if d == "vip" else event[d] for d in CUBE_DIMENSIONS)],
              "brands": [(event["category"], event["brand"])]}
    windows = utc_windows(event["event_time"])
    return [(kind, windows[grain_of(kind)], *d)
            for family, dims in groups.items() for kind in FAMILIES[family] for d in dims]


def recompute(values) -> dict:
    """Ledger rows (as a dict keyed like the ledger's lines) and summary counts from raw bytes."""
    rows: dict[tuple, list[int]] = defaultdict(lambda: [0] * 7)
    parcels: Counter = Counter()
    seen: set[str] = set()
    seen_orders: list[dict] = []
    counts = Counter()
    for value in values:
        event = parse(value)
        if event is None:
            counts["malformed"] += 1
            continue
        if event["event_id"] in seen:
            counts["duplicates"] += 1
            continue
        seen.add(event["event_id"])
        second, minute = event["event_time"] // 1000, event["event_time"] // 60000 * 60
        if "parcel_id" in event:
            counts["logistics"] += 1
            parcels[("logistics_second", second, event["status"])] += 1
            parcels[("logistics_minute", minute, event["status"])] += 1
            continue
        counts["orders"] += 1
        seen_orders.append(event)
        counts["gmv_fen"] += contribution(event)[2]
        for key in order_keys(event):
            rows[key] = [a + b for a, b in zip(rows[key], contribution(event))]
    rows = {k: v for k, v in rows.items() if any(v)}
    return {"rows": rows, "parcels": dict(parcels), "counts": counts, "buyers": buyers(seen_orders),
            "top": top_brands(festival_day_brands(seen_orders), {e["brand"]: e["category"] for e in seen_orders})}


def festival_day_brands(events: list[dict]) -> dict[tuple, list[int]]:
    """Each brand's measures per festival day (Asia/Shanghai): ``{(day, category, brand): measures}``."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(MEASURES))
    for e in events:
        key = (festival_day(e["event_time"]), e["category"], e["brand"])
        sums[key] = [a + b for a, b in zip(sums[key], contribution(e))]
    return {k: v for k, v in sums.items() if any(v)}


def top_brands(day_sums: dict[tuple, list[int]], category_of: dict[str, str]) -> dict[tuple, tuple]:
    """The top brands as the contract says, ranked in plain Python from the brands' sums per
    festival day: per day, over all brands (ranking '') and within each category, the first
    TOP_BRANDS.n by TOP_BRANDS.rank_key. ``{(window, ranking, brand): (category, *measures)}``."""
    rankings: dict[tuple, list[tuple[str, list[int]]]] = defaultdict(list)
    for (day, category, brand), measures in day_sums.items():
        rankings[(day, "")].append((brand, measures))
        rankings[(day, category)].append((brand, measures))
    top = {}
    for (day, ranking), brands in rankings.items():
        brands.sort(key=lambda b: TOP_BRANDS.rank_key(b[0], dict(zip(MEASURES, b[1]))))
        for brand, measures in brands[:TOP_BRANDS.n]:
            top[(day, ranking, brand)] = (category_of[brand], *measures)
    return top


def buyers(events: list[dict]) -> dict[tuple, int]:
    """Buyers as docs/simulator.md says: consumers with a paid event; per festival day (Asia/Shanghai)
    each counted once, in the second of their first paid event (a VIP if any was); per minute
    each counted once (a VIP if any of that minute's was)."""
    first: dict[tuple, tuple[int, int]] = {}
    minute: dict[tuple, int] = {}
    for e in events:
        if e["status"] != "paid":
            continue
        t, vip = e["event_time"], int(e["vip"])
        day = festival_day(t)
        before = first.get((day, e["consumer_id"]), (t, vip))
        first[(day, e["consumer_id"])] = (min(before[0], t), max(before[1], vip))
        key = (t // 60000 * 60, e["consumer_id"])
        minute[key] = max(minute.get(key, 0), vip)
    out: Counter = Counter()
    for t, vip in first.values():
        out[("buyers_second", t // 1000, vip)] += 1
    for (window, _), vip in minute.items():
        out[("buyers_minute", window, vip)] += 1
    return dict(out)


def read_ledger(path) -> dict:
    """The ledger's lines by what they count: order rows ``{(kind, window, *keys): measures}``,
    parcels and buyers ``{(kind, window, key): count}``, the top brands ``{(window, ranking,
    brand): (category, *measures)}``, the summary."""
    rows, parcels, buyer_rows, top, summary = {}, {}, {}, {}, None
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        kind = obj["kind"]
        if kind == "summary":
            assert summary is None
            summary = obj
        elif kind == "top_brands":
            top[(obj["window"], obj["ranking"], obj["brand"])] = (obj["category"], *(obj[m] for m in MEASURES))
        elif kind.startswith("buyers_"):
            buyer_rows[(kind, obj["window"], obj["vip"])] = obj["new_buyers" if kind == "buyers_second" else "buyers"]
        elif kind.startswith("logistics_"):
            parcels[(kind, obj["window"], obj["status"])] = obj["events"]
        elif kind.startswith("parcel_"):
            continue  # tests/unit/test_simulator_parcel_ledger.py
        else:
            rows[(kind, obj["window"], *(obj[d] for d in ROLLUPS[kind].dimensions))] = [obj[m] for m in MEASURES]
    return {"rows": rows, "parcels": parcels, "summary": summary, "buyers": buyer_rows, "top": top}


def faulty_run(tmp_path, events: int = 40_000, start_ms: int = local_ms(2021, 11, 11, 19), speed: float = 120,
               rate: float = 800, **faults) -> tuple[MemorySink, dict]:
    faults = {"duplicates": 0.05, "late": 0.05, "late_by_s": 20.0, "malformed": 0.03, **faults}
    sink = MemorySink()
    options = RunOptions(clock=ClockSpec("replay", start_ms, speed), rate=rate, paced=False,
                         events=events, seed=11, faults=Faults(**faults))
    run(DEFAULT.replace(delay_compression=500.0), options, sink, tmp_path / "ledger.jsonl")
    return sink, read_ledger(tmp_path / "ledger.jsonl")


def test_ledger_equals_what_a_plain_reader_recomputes(tmp_path):
    sink, ledger = faulty_run(tmp_path)
    truth = recompute(value for _, _, value in sink.messages)
    assert ledger["rows"] == truth["rows"]
    assert {k[0] for k in truth["rows"]} == {kind for kinds in FAMILIES.values() for kind in kinds}
    assert ledger["parcels"] == truth["parcels"]
    assert ledger["buyers"] == truth["buyers"]
    assert ledger["top"] == truth["top"] and truth["top"]
    summary, counts = ledger["summary"], truth["counts"]
    assert summary["order_events"] == counts["orders"] and summary["logistics_events"] == counts["logistics"]
    assert summary["duplicates_sent"] == counts["duplicates"]
    assert sum(summary["malformed_sent"].values()) == counts["malformed"] > 0
    assert summary["gmv_fen"] == counts["gmv_fen"]
    assert len(sink.messages) == 40_000
    # malformed messages went to both topics, as the summary says
    bad = Counter(topic for topic, _, value in sink.messages if parse(value) is None)
    assert summary["malformed_sent"] == {"orders": bad[0], "logistics": bad[1]}
    assert sum(summary["malformed_by_kind"].values()) == counts["malformed"]


def summed(rows: dict[tuple, list[int]], kind: str, tier: str, window_of) -> dict[tuple, list[int]]:
    """The rows of ``kind`` summed per ``window_of(window)``, keyed as rows of ``tier``."""
    out: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(MEASURES))
    for (k, window, *dims), measures in rows.items():
        if k == kind:
            key = (tier, window_of(window), *dims)
            out[key] = [a + b for a, b in zip(out[key], measures)]
    return dict(out)


def test_each_tier_is_the_finer_rows_summed_per_utc_hour_and_day(tmp_path):
    """From 06:50 China time, a quiet morning: five hours over two UTC days (a day starts at 00:00
    UTC = 08:00 China time), each hour of several 5-minute windows. Every tier equals the events
    counted directly, and equals the next finer tier's rows summed per its UTC window."""
    utc_midnight = local_ms(2021, 11, 11, 8)
    assert utc_midnight == int(datetime(2021, 11, 11, tzinfo=UTC).timestamp() * 1000)
    sink, ledger = faulty_run(tmp_path, events=30_000, start_ms=utc_midnight - 70 * 60_000, speed=600, rate=300)
    truth = recompute(value for _, _, value in sink.messages)
    rows = ledger["rows"]
    assert rows == truth["rows"] and ledger["top"] == truth["top"]
    for kinds in FAMILIES.values():
        for finer, coarser in itertools.pairwise(kinds):
            assert summed(rows, finer, coarser, lambda w, c=coarser: utc_window(w * 1000, grain_of(c))) == {
                k: v for k, v in rows.items() if k[0] == coarser}, coarser
        windows = {grain_of(kind): {k[1] for k in rows if k[0] == kind} for kind in kinds}
        assert len(windows["hour"]) == 5 and len(windows["day"]) == 2
        assert len(windows[grain_of(kinds[0])]) > 3 * len(windows["hour"])
    assert {k[1] for k in rows if k[0] == "orders_day"} == {utc_midnight // 1000 - 86_400, utc_midnight // 1000}
    assert {k[0] for k in ledger["top"]} == {festival_day(utc_midnight)}  # one festival day throughout


def test_top_brands_of_a_run_rank_brands_without_a_paid_event_last(tmp_path):
    """A short run: some categories have fewer than TOP_BRANDS.n brands with a paid event, so their
    rankings end with brands that only had orders created (GMV 0)."""
    sink, ledger = faulty_run(tmp_path, events=1_500)
    truth = recompute(value for _, _, value in sink.messages)
    assert ledger["top"] == truth["top"]
    paid = [MEASURES.index(e) + 1 for e in TOP_BRANDS.events]  # +1: the category comes first
    unpaid = [(day, ranking, brand) for (day, ranking, brand), row in truth["top"].items()
              if not any(row[i] for i in paid)]
    assert unpaid and any(ranking for _, ranking, _ in unpaid)
    assert len({k for k in truth["top"] if k[1] == ""}) == TOP_BRANDS.n * len({k[0] for k in truth["top"]})


def test_top_brands_break_ties_by_name_where_the_ranking_is_cut():
    """One festival day's brand sums made up so that the cut after TOP_BRANDS.n falls inside ties:
    equal GMV among paid brands, a paid brand whose GMV is 0 (ranked before every unpaid brand), and
    brands with no paid event at all. The ledger's rankings equal a plain sort by rank_key."""
    from stream.simulator import catalog as catalog_mod
    from stream.simulator.ledger import Ledger

    catalog = catalog_mod.build(DEFAULT.replace(brands=60))
    ledger = Ledger(catalog)
    names = np.asarray(catalog.brand_names, dtype=object)
    first = catalog.brand_offsets[:-1]
    brands = [int(first[0]) + i for i in range(13)] + [int(first[1]) + i for i in range(3)]  # two categories
    gmv = [500, 500, 500, 300, 300, 100, 0, 0, 0, 0, 0, 0, 0, 900, 900, 0]
    orders_paid = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0]  # the 7th: paid, GMV 0
    sums = np.zeros((len(brands), len(MEASURES)), dtype=np.int64)
    sums[:, MEASURES.index("gmv_fen")], sums[:, MEASURES.index("orders_paid")] = gmv, orders_paid
    sums[:, MEASURES.index("orders_created")] = 1
    day = festival_day(local_ms(2021, 11, 11))
    codes = np.asarray(brands, dtype=np.int64)
    categories = np.asarray(catalog.category_names, dtype=object)
    top = ledger._top_brands(np.full(len(brands), day), codes, sums, categories, names)
    found = {(w, r, b): (c, *(top[m][i] for m in MEASURES))
             for i, (w, r, b, c) in enumerate(zip(top["window"], top["ranking"], top["brand"], top["category"]))}
    rows = {(day, catalog.category_names[0 if i < 13 else 1], names[b]): sums[i].tolist()
            for i, b in enumerate(brands)}
    expected = top_brands(rows, {names[b]: catalog.category_names[0 if i < 13 else 1] for i, b in enumerate(brands)})
    assert found == expected
    in_first = {b for (_, r, b) in expected if r == catalog.category_names[0]}
    assert len(in_first) == TOP_BRANDS.n and names[brands[6]] in in_first  # paid with GMV 0 beats unpaid
    unpaid = sorted(str(names[b]) for b in brands[7:13])
    assert {b for b in unpaid if b in in_first} == set(unpaid[:3])  # the cut falls among them: by name


def test_deposits_paid_are_counted_apart_from_paid_orders(tmp_path):
    """A pre-sale evening (Nov 10, 20:00): deposits are paid events that are not yet paid orders."""
    sink, ledger = faulty_run(tmp_path, events=10_000, start_ms=local_ms(2021, 11, 10, 20))
    assert ledger["rows"] == recompute(value for _, _, value in sink.messages)["rows"]
    paid, deposits = MEASURES.index("orders_paid"), MEASURES.index("deposits_paid")
    cube = {k: v for k, v in ledger["rows"].items() if k[0] == "cube_5min"}
    assert sum(v[deposits] for k, v in cube.items() if k[-1] == "deposit") > 0
    assert all(v[paid] == 0 for k, v in cube.items() if k[-1] == "deposit")
    assert all(v[deposits] == 0 for k, v in cube.items() if k[-1] != "deposit")


def test_ledger_rows_are_windowed_and_without_zero_rows(tmp_path):
    _, ledger = faulty_run(tmp_path, events=10_000)
    for (kind, window, *_), measures in ledger["rows"].items():
        assert any(measures)
        assert window == utc_window(window * 1000, grain_of(kind)) and window % ROLLUPS[kind].window_s == 0
    summary = ledger["summary"]
    assert summary["first_event_ms"] <= summary["last_event_ms"]
    for kind in FAMILIES["dimensions"]:
        assert {k[2] for k in ledger["rows"] if k[0] == kind} == set(CUBE_DIMENSIONS)
        assert {k[3] for k in ledger["rows"] if k[0] == kind and k[2] == "vip"} == {"0", "1"}


def test_an_outage_is_in_the_ledger(tmp_path):
    """Fewer orders during the outage, and the ledger shows exactly that dip."""
    sink = MemorySink()
    start = local_ms(2021, 11, 11, 14)
    options = RunOptions(clock=ClockSpec("replay", start, 60), rate=1000, paced=False, duration_s=None,
                         events=30_000, seed=2, faults=Faults(outage=Outage(4.0, 4.0, 0.9)))
    run(DEFAULT, options, sink, tmp_path / "ledger.jsonl")
    created = Counter()
    for _, _, value in sink.messages:
        event = json.loads(value)
        if event.get("status") == "created" and "parcel_id" not in event:
            created[(event["event_time"] - start) // 60_000] += 1  # a festival minute = a wall second
    before = sum(created[m] for m in range(4)) / 4
    during = sum(created[m] for m in range(4, 8)) / 4
    assert during == pytest.approx(0.1 * before, rel=0.3)
    ledger = read_ledger(tmp_path / "ledger.jsonl")["rows"]
    in_ledger = sum(v[0] for k, v in ledger.items()
                    if k[0] == "orders_second" and 4 <= (k[1] * 1000 - start) // 60_000 < 8)
    assert in_ledger == sum(created[m] for m in range(4, 8))


def test_buyers_are_counted_once_a_shanghai_day_and_repeat_buyers_exist(tmp_path):
    """Across midnight in Shanghai: a consumer who paid on both days is a new buyer of each; the
    VIPs (few consumers, many orders) pay again within the day, so minutes hold repeat buyers."""
    sink, ledger = faulty_run(tmp_path, events=20_000, start_ms=local_ms(2021, 11, 11) - 2 * 60_000)
    recomputed = recompute(value for _, _, value in sink.messages)
    truth = recomputed["buyers"]
    assert ledger["buyers"] == truth
    midnight = local_ms(2021, 11, 11) // 1000
    # the top brands too are per festival day: a ranking of each day
    assert ledger["top"] == recomputed["top"] and {k[0] for k in ledger["top"]} == {midnight - 86_400, midnight}
    new = {k: v for k, v in truth.items() if k[0] == "buyers_second"}
    assert sum(v for k, v in new.items() if k[1] < midnight) > 0 < sum(v for k, v in new.items() if k[1] >= midnight)
    per_minute = Counter()
    for (kind, window, _), n in truth.items():
        per_minute[window // 60 * 60] += n if kind == "buyers_minute" else -n
    assert any(n > 0 for n in per_minute.values())  # a minute's buyers beyond its new ones: repeats
    assert all(n >= 0 for n in per_minute.values())


def test_buyer_firsts_survive_compaction(monkeypatch):
    """The per-(period, consumer) firsts keep the earliest time and any VIP through compactions."""
    import numpy as np

    from stream.simulator import ledger

    monkeypatch.setattr(ledger, "_COMPACT_EVERY", 50)
    rng = np.random.default_rng(3)
    firsts, truth = ledger._Firsts(), {}
    for _ in range(40):
        keys, times, vip = rng.integers(0, 300, 30), rng.integers(0, 10**6, 30), rng.integers(0, 2, 30)
        firsts.add(keys, times, vip)
        for k, t, v in zip(keys.tolist(), times.tolist(), vip.tolist()):
            before = truth.get(k, (t, v))
            truth[k] = (min(before[0], t), max(before[1], v))
    assert firsts.compacted > 0
    keys, times, vip = firsts.result()
    assert dict(zip(keys.tolist(), zip(times.tolist(), vip.tolist()))) == truth
