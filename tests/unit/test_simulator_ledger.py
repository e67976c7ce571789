"""The ledger equals what a plain reader recomputes from the bytes that were sent.

The reader below knows nothing of the simulator: it parses each message with
json.loads, validates it against the schemas, drops what is malformed, drops
repeated event ids, and sums by event-time window exactly as docs/simulator.md says.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict

import jsonschema
import pytest

from stream.contract import MEASURES
from stream.settings import SCHEMAS_DIR
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.faults import Faults, Outage
from stream.simulator.run import RunOptions, run
from stream.simulator.sinks import MemorySink

ORDER = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "order.schema.json").read_text()))
LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))


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
        cube = ("orders_minute_cube", minute, event["category"], event["province"], event["channel"],
                int(event["vip"]), event["promotion"], event["wave"], event["presale_phase"])
        for key in [("orders_second", second), cube] + [("orders_minute", minute, d, event[d])
                                                         for d in ("category", "province", "channel", "brand")]:
            rows[key] = [a + b for a, b in zip(rows[key], contribution(event))]
    return {"rows": {k: v for k, v in rows.items() if any(v)}, "parcels": dict(parcels), "counts": counts,
            "buyers": buyers(seen_orders)}


def buyers(events: list[dict]) -> dict[tuple, int]:
    """Buyers as docs/simulator.md says: consumers with a paid event; per Shanghai day (UTC+8)
    each counted once, in the second of their first paid event (a VIP if any was); per minute
    each counted once (a VIP if any of that minute's was)."""
    first: dict[tuple, tuple[int, int]] = {}
    minute: dict[tuple, int] = {}
    for e in events:
        if e["status"] != "paid":
            continue
        t, vip = e["event_time"], int(e["vip"])
        day = (t // 1000 + 8 * 3600) // 86400
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
    rows, parcels, summary, buyer_rows = {}, {}, None, {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        kind = obj["kind"]
        if kind == "orders_second":
            rows[(kind, obj["window"])] = [obj[m] for m in MEASURES]
        elif kind == "orders_minute":
            rows[(kind, obj["window"], obj["dimension"], obj["value"])] = [obj[m] for m in MEASURES]
        elif kind == "orders_minute_cube":
            fields = ("category", "province", "channel", "vip", "promotion", "wave", "presale_phase")
            rows[(kind, obj["window"], *(obj[f] for f in fields))] = [obj[m] for m in MEASURES]
        elif kind == "buyers_second":
            buyer_rows[(kind, obj["window"], obj["vip"])] = obj["new_buyers"]
        elif kind == "buyers_minute":
            buyer_rows[(kind, obj["window"], obj["vip"])] = obj["buyers"]
        elif kind.startswith("logistics_"):
            parcels[(kind, obj["window"], obj["status"])] = obj["events"]
        else:
            assert kind == "summary" and summary is None
            summary = obj
    return {"rows": rows, "parcels": parcels, "summary": summary, "buyers": buyer_rows}


def faulty_run(tmp_path, events: int = 40_000, start_ms: int = local_ms(2021, 11, 11, 19),
               **faults) -> tuple[MemorySink, dict]:
    faults = {"duplicates": 0.05, "late": 0.05, "late_by_s": 20.0, "malformed": 0.03, **faults}
    sink = MemorySink()
    options = RunOptions(clock=ClockSpec("replay", start_ms, 120), rate=800, paced=False,
                         events=events, seed=11, faults=Faults(**faults))
    run(DEFAULT.replace(delay_compression=500.0), options, sink, tmp_path / "ledger.jsonl")
    return sink, read_ledger(tmp_path / "ledger.jsonl")


def test_ledger_equals_what_a_plain_reader_recomputes(tmp_path):
    sink, ledger = faulty_run(tmp_path)
    truth = recompute(value for _, _, value in sink.messages)
    assert ledger["rows"] == truth["rows"]
    assert ledger["parcels"] == truth["parcels"]
    assert ledger["buyers"] == truth["buyers"]
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


def test_deposits_paid_are_counted_apart_from_paid_orders(tmp_path):
    """A pre-sale evening (Nov 10, 20:00): deposits are paid events that are not yet paid orders."""
    sink, ledger = faulty_run(tmp_path, events=10_000, start_ms=local_ms(2021, 11, 10, 20))
    assert ledger["rows"] == recompute(value for _, _, value in sink.messages)["rows"]
    paid, deposits = MEASURES.index("orders_paid"), MEASURES.index("deposits_paid")
    cube = {k: v for k, v in ledger["rows"].items() if k[0] == "orders_minute_cube"}
    assert sum(v[deposits] for k, v in cube.items() if k[-1] == "deposit") > 0
    assert all(v[paid] == 0 for k, v in cube.items() if k[-1] == "deposit")
    assert all(v[deposits] == 0 for k, v in cube.items() if k[-1] != "deposit")


def test_ledger_rows_are_windowed_and_without_zero_rows(tmp_path):
    _, ledger = faulty_run(tmp_path, events=10_000)
    for key, measures in ledger["rows"].items():
        assert any(measures)
        if key[0] == "orders_minute":
            assert key[1] % 60 == 0
    summary = ledger["summary"]
    assert summary["first_event_ms"] <= summary["last_event_ms"]
    assert {k[2] for k in ledger["rows"] if k[0] == "orders_minute"} == {"category", "province", "channel", "brand"}


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
    truth = recompute(value for _, _, value in sink.messages)["buyers"]
    assert ledger["buyers"] == truth
    midnight = local_ms(2021, 11, 11) // 1000
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
