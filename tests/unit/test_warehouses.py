"""A parcel's origin hub: hand-computed draws and proportions, determinism, and the schema's optional
``origin`` (events from before it existed stay valid)."""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from stream.settings import SCHEMAS_DIR
from stream.simulator import warehouses
from stream.simulator.config import PROVINCES

SIMULATED = tuple(name for name, _ in PROVINCES)

# A small world to compute by hand: hub A (weight 3) in region R1, hub B (1) in R2, hub C (0) in R2;
# buyers in X (region R1) and Y (region R2); half the parcels ship from the buyer's region.
TINY = warehouses.hub_table(("X", "Y"), hubs=(("A", 3.0), ("B", 1.0), ("C", 0.0)),
                            regions={"R1": ("A", "X"), "R2": ("B", "C", "Y")}, local_share=0.5)
A, B, C = 0, 1, 2
X, Y = 0, 1


@pytest.mark.parametrize(("destination", "u", "origin"), [
    (X, 0.1, A),   # regional (u < 0.5): R1's only hub
    (Y, 0.1, B),   # regional: R2's only hub with a weight
    (Y, 0.499, B),
    (X, 0.6, A),   # national, rest (0.6 - 0.5) / 0.5 = 0.2 < 3/4: A
    (Y, 0.6, A),
    (X, 0.9, B),   # national, rest 0.8 >= 3/4: B
    (X, 0.0, A),
    (Y, 0.0, B),   # A has no weight in R2: even u = 0 skips it
    (X, np.nextafter(1.0, 0.0), B),  # the largest uniform never reaches C (weight 0)
    (Y, np.nextafter(0.5, 0.0), B),
])
def test_hand_computed_draws(destination, u, origin):
    assert warehouses.draw_origins(TINY, np.array([destination]), np.array([u])).tolist() == [origin]


def test_hand_computed_proportions_over_100k_draws():
    rng = np.random.default_rng(11)
    n = 100_000
    for destination, expected_a in ((X, 0.5 * 1 + 0.5 * 0.75), (Y, 0.5 * 0 + 0.5 * 0.75)):
        origins = warehouses.draw_origins(TINY, np.full(n, destination), rng.random(n))
        share_a = np.mean(origins == A)
        # 4 standard deviations of a share of 100k draws
        assert abs(share_a - expected_a) < 4 * np.sqrt(expected_a * (1 - expected_a) / n), destination
        assert set(origins.tolist()) <= {A, B}


def test_the_national_table_follows_the_hub_weights():
    table = warehouses.hub_table(SIMULATED, local_share=0.0)
    rng = np.random.default_rng(5)
    n = 100_000
    origins = warehouses.draw_origins(table, rng.integers(0, len(SIMULATED), n), rng.random(n))
    shares = np.bincount(origins, minlength=len(table.names)) / n
    total = sum(w for _, w in warehouses.HUBS)
    for (name, weight), share in zip(warehouses.HUBS, shares):
        expected = weight / total
        assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-9, name
    assert table.names[int(np.argmax(shares))] == "Guangdong"


def test_a_remote_buyer_gets_parcels_from_its_region_and_the_coast():
    """Tibet's regional hubs are Sichuan (2.8) and Chongqing (1.0): with 30% regional,
    P(Sichuan) = 0.3 * 2.8 / 3.8 + 0.7 * 2.8 / (all hubs' weights)."""
    table = warehouses.hub_table(SIMULATED)
    rng = np.random.default_rng(3)
    n = 100_000
    origins = warehouses.draw_origins(table, np.full(n, SIMULATED.index("Tibet")), rng.random(n))
    names = np.array(table.names)[origins]
    total = sum(w for _, w in warehouses.HUBS)
    for hub, expected in (("Sichuan", 0.3 * 2.8 / 3.8 + 0.7 * 2.8 / total),
                          ("Chongqing", 0.3 * 1.0 / 3.8 + 0.7 * 1.0 / total),
                          ("Zhejiang", 0.7 * 21.0 / total)):
        assert abs(np.mean(names == hub) - expected) < 4 * np.sqrt(expected * (1 - expected) / n), hub


def test_every_simulated_province_has_a_hub_in_its_region():
    region_of = {p: r for r, members in warehouses.REGIONS.items() for p in members}
    assert set(region_of) == set(SIMULATED)
    assert sum(len(m) for m in warehouses.REGIONS.values()) == len(SIMULATED)  # each in one region
    hubs = {h for h, _ in warehouses.HUBS}
    assert hubs <= set(SIMULATED)
    for region, members in warehouses.REGIONS.items():
        assert hubs & set(members), region


def test_a_destination_without_a_region_or_a_share_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="Atlantis"):
        warehouses.hub_table((*SIMULATED, "Atlantis"))
    with pytest.raises(ValueError, match="probability"):
        warehouses.hub_table(SIMULATED, local_share=1.5)


def test_all_regional_draws_stay_in_the_region():
    table = warehouses.hub_table(SIMULATED, local_share=1.0)
    rng = np.random.default_rng(9)
    destinations = rng.integers(0, len(SIMULATED), 20_000)
    origins = warehouses.draw_origins(table, destinations, rng.random(20_000))
    region_of = {p: r for r, members in warehouses.REGIONS.items() for p in members}
    for d, o in zip(destinations, origins):
        assert region_of[table.names[o]] == region_of[SIMULATED[d]]


def test_draws_are_deterministic_for_a_seed():
    table = warehouses.hub_table(SIMULATED)

    def draws(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return warehouses.draw_origins(table, rng.integers(0, len(SIMULATED), 10_000), rng.random(10_000))

    assert np.array_equal(draws(42), draws(42))
    assert not np.array_equal(draws(42), draws(43))


LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))
OLD_EVENT = {"event_id": "e1", "event_time": 1636560000000, "parcel_id": "p1", "order_id": "o1",
             "status": "created", "province": "Tibet", "carrier": "EMS"}


def test_origin_is_optional_in_the_schema():
    assert LOGISTICS.is_valid(OLD_EVENT)  # events from before origin existed
    assert LOGISTICS.is_valid({**OLD_EVENT, "origin": "Sichuan"})
    assert not LOGISTICS.is_valid({**OLD_EVENT, "origin": ""})
    assert not LOGISTICS.is_valid({**OLD_EVENT, "origin": 7})
