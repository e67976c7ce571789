"""Each parcel's warehouse ``origin`` in the simulated stream: a hub province, one per parcel,
drawn by the hub weights, the same for a seed, from a random stream of its own; and the schema
still takes events without it, while a malformed event stays malformed."""
from __future__ import annotations

import json
from collections import defaultdict

import jsonschema
import numpy as np
import pytest

from stream.settings import SCHEMAS_DIR
from stream.simulator import catalog, warehouses
from stream.simulator import events as ev
from stream.simulator import faults as faults_mod
from stream.simulator import orders as O
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, PROVINCES, local_ms
from stream.simulator.faults import Faults
from stream.simulator.run import MALFORMED, RunOptions, Simulation

LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))
HUB_NAMES = {h for h, _ in warehouses.HUBS}
COMPRESSED = DEFAULT.replace(delay_compression=200.0)  # parcels go through every step within minutes


def batches(seed: int = 7, faults: Faults | None = None, wall_s: float = 1.0) -> list:
    """An unpaced replay from Nov 10 23:00 (Shanghai) at 7,200x and 8,000 orders a second, for
    ``wall_s`` seconds of a paced replay's time (2 festival hours in 1 s)."""
    start, speed = local_ms(2021, 11, 10, 23), 7200
    options = RunOptions(clock=ClockSpec("replay", start, speed), rate=8000, paced=False, duration_s=wall_s,
                         seed=seed, faults=faults or Faults())
    sim = Simulation(COMPRESSED, options)
    end = start + int(speed * wall_s * 1000)
    out = []
    while sim.frontier < end:
        out.append(sim.batch(min(sim.next_replay_end(), end)))
    return out


def logistics_events(runs: list) -> list[dict]:
    return [json.loads(v) for b in runs for topic, v in zip(b.topics.tolist(), b.values) if topic == ev.LOGISTICS_TOPIC]


@pytest.fixture(scope="module")
def parcels() -> list[dict]:
    events = logistics_events(batches())
    assert len(events) > 10_000  # enough parcels went through their steps for the checks to mean something
    return events


def test_every_logistics_event_has_a_hub_province_as_its_origin(parcels):
    assert all(LOGISTICS.is_valid(e) for e in parcels[::20])  # a sample: the validator is slow
    origins = {e["origin"] for e in parcels}
    assert origins <= HUB_NAMES
    assert {"Guangdong", "Zhejiang", "Jiangsu"} <= origins  # the biggest hubs all send something


def test_all_events_of_a_parcel_share_its_origin(parcels):
    by_parcel: dict[str, set[str]] = defaultdict(set)
    steps: dict[str, int] = defaultdict(int)
    for e in parcels:
        by_parcel[e["parcel_id"]].add(e["origin"])
        steps[e["parcel_id"]] += 1
    assert max(steps.values()) >= 5  # parcels seen through several steps
    assert all(len(o) == 1 for o in by_parcel.values())


def test_events_without_an_origin_still_validate(parcels):
    for e in parcels[:2000]:
        old = {k: v for k, v in e.items() if k != "origin"}
        assert LOGISTICS.is_valid(old), old


def expected_hub_shares(local_share: float = warehouses.LOCAL_SHARE) -> dict[str, float]:
    """P(origin = hub), written out from the destination weights, the regions and the hub weights:
    sum over destinations d of P(d) * (local * w_h [h in d's region] / W_region(d) + (1 - local) * w_h / W)."""
    region_of = {p: r for r, members in warehouses.REGIONS.items() for p in members}
    weights = dict(warehouses.HUBS)
    total_hubs = sum(weights.values())
    total_buyers = sum(w for _, w in PROVINCES)
    shares = dict.fromkeys(weights, 0.0)
    for destination, buyers in PROVINCES:
        regional = {h: w for h, w in weights.items() if region_of[h] == region_of[destination]}
        for hub, w in weights.items():
            p = (1 - local_share) * w / total_hubs + local_share * regional.get(hub, 0.0) / sum(regional.values())
            shares[hub] += buyers / total_buyers * p
    return shares


def test_the_origins_over_many_parcels_follow_the_hub_weights():
    n = 300_000
    orders = O.draw_orders(DEFAULT, catalog.build(DEFAULT), np.random.default_rng(1), 0,
                           np.full(n, ev.OTHER, np.int8), np.full(n, O.REGULAR, np.int64), np.random.default_rng(2))
    names = np.array(catalog.build(DEFAULT).hub_names)[orders["origin"]]
    expected = expected_hub_shares()
    assert sum(expected.values()) == pytest.approx(1.0)
    for hub, p in expected.items():
        share = float(np.mean(names == hub))
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (hub, share, p)
    # The regional draw used each order's own destination: a Tibetan buyer's parcel comes from
    # Sichuan far more often than the national weights alone would give.
    tibet = orders["province"] == [p for p, _ in PROVINCES].index("Tibet")
    assert tibet.sum() > 500
    total = sum(w for _, w in warehouses.HUBS)
    from_sichuan = float(np.mean(names[tibet] == "Sichuan"))
    assert from_sichuan > 2 * 2.8 / total


def test_the_same_seed_gives_the_same_origins_and_another_seed_others():
    def origins(seed: int) -> list[tuple[str, str]]:
        return [(e["parcel_id"], e["origin"]) for e in logistics_events(batches(seed, wall_s=0.25))]

    first = origins(3)
    assert first == origins(3)
    other = dict(origins(4))
    assert len(other) > 1000
    assert dict(first) != other


def test_the_warehouse_stream_leaves_every_other_draw_as_it_was():
    """Origins come from ``hub_rng``: two different warehouse streams give the same orders
    otherwise, and leave the order stream's generator in the same state (so the lifecycle draws
    after it are the same too)."""
    cat, n = catalog.build(DEFAULT), 50_000
    waves, why = np.full(n, ev.OTHER, np.int8), np.full(n, O.REGULAR, np.int64)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    a = O.draw_orders(DEFAULT, cat, rng_a, 0, waves, why, np.random.default_rng(100))
    b = O.draw_orders(DEFAULT, cat, rng_b, 0, waves, why, np.random.default_rng(200))
    others = [f for f in ev.ORDER.names if f != "origin"]
    for field in others:
        assert np.array_equal(a[field], b[field]), field
    assert not np.array_equal(a["origin"], b["origin"])
    assert rng_a.random() == rng_b.random()


def test_a_malformed_logistics_event_never_becomes_valid_by_losing_its_origin():
    assert set(faults_mod.OPTIONAL) == {"origin"}
    for schema in ("order", "logistics"):
        document = json.loads((SCHEMAS_DIR / f"{schema}.schema.json").read_text())
        optional = set(document["properties"]) - set(document["required"])
        assert optional <= set(faults_mod.OPTIONAL), schema  # an optional field the faults would drop
    value = (b'{"event_id":"pA-1:0","event_time":1636560000000,"parcel_id":"pA-1","order_id":"oA-1",'
             b'"status":"created","province":"Tibet","carrier":"EMS","origin":"Sichuan"}')
    assert LOGISTICS.is_valid(json.loads(value))
    rng = np.random.default_rng(0)
    dropped = set()
    for _ in range(300):
        event = json.loads(faults_mod.corrupt("missing_field", value, rng))
        assert "origin" in event
        assert not LOGISTICS.is_valid(event), event
        dropped |= set(json.loads(value)) - set(event)
    assert dropped == set(LOGISTICS.schema["required"])  # every required field, and only those


def test_every_malformed_message_of_a_run_fails_its_schema():
    runs = batches(seed=5, faults=Faults(malformed=0.1), wall_s=0.25)
    order_schema = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "order.schema.json").read_text()))
    malformed = 0
    for b in runs:
        for topic, kind, value in zip(b.topics.tolist(), b.kinds.tolist(), b.values):
            if kind != MALFORMED:
                continue
            malformed += 1
            try:
                event = json.loads(value)
            except ValueError:
                continue
            validator = LOGISTICS if topic == ev.LOGISTICS_TOPIC else order_schema
            assert not validator.is_valid(event), value
    assert malformed > 500
