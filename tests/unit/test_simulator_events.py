"""Every emitted event validates against schemas/*.schema.json; runs are deterministic."""
from __future__ import annotations

import json
from collections import Counter

import jsonschema
import pytest

from stream.settings import SCHEMAS_DIR
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT, local_ms
from stream.simulator.run import RunOptions, Simulation, run
from stream.simulator.sinks import MemorySink

ORDER = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "order.schema.json").read_text()))
LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))


COMPRESSED = DEFAULT.replace(delay_compression=200.0)  # parcels and refunds within minutes


def replay(start_ms: int, speed: float = 3600, rate: float = 4000, duration: float = 1.0, seed: int = 7,
           config=COMPRESSED, **options) -> MemorySink:
    """An unpaced replay into memory: the same events a paced one sends, only faster."""
    sink = MemorySink()
    opts = RunOptions(clock=ClockSpec("replay", start_ms, speed), rate=rate, paced=False,
                      duration_s=duration, seed=seed, **options)
    # Unpaced, run() would stop by the wall clock; stop where a paced replay would instead.
    sim_end = start_ms + int(speed * duration * 1000)
    sim = Simulation(config, opts)
    while sim.frontier < sim_end:
        batch = sim.batch(min(sim.next_replay_end(), sim_end))
        sink.send(batch.topics.tolist(), batch.keys, batch.values)
    return sink


@pytest.fixture(scope="module")
def midnight() -> MemorySink:
    """Nov 10 23:00 to Nov 11 01:00 with lifecycles compressed: every kind of event occurs."""
    return replay(local_ms(2021, 11, 10, 23), speed=7200, rate=8000, duration=1.0)


def test_every_event_validates_against_its_schema(midnight):
    kinds = Counter()
    for topic, key, value in midnight.messages:
        event = json.loads(value)
        validator = ORDER if topic == 0 else LOGISTICS
        errors = list(validator.iter_errors(event))
        assert not errors, (value, errors[0].message)
        assert key == event["order_id"].encode()
        kinds[(topic, event["status"], event.get("presale_phase"))] += 1
        if topic == 0:
            assert 0 <= event["discount_fen"] <= event["list_fen"]
            if event["status"] in ("created", "cancelled"):
                assert event["paid_fen"] == 0
    for status in ("created", "paid", "cancelled", "refunded"):
        assert any(k[0] == 0 and k[1] == status for k in kinds), status
    for status in ("created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception"):
        assert (1, status, None) in kinds, status
    assert kinds[(0, "paid", "deposit")] > 0 and kinds[(0, "paid", "final")] > 0


def test_event_ids_are_unique(midnight):
    ids = [json.loads(v)["event_id"] for _, _, v in midnight.messages]
    assert len(ids) == len(set(ids))


def test_pre_sale_money_adds_up(midnight):
    """A pre-sale order's deposit plus final payment is its list price less its discount."""
    paid: dict[str, list[dict]] = {}
    for topic, _, value in midnight.messages:
        event = json.loads(value)
        if topic == 0 and event["status"] == "paid" and event["promotion"] == "presale_deposit":
            paid.setdefault(event["order_id"], []).append(event)
    both = [events for events in paid.values() if len(events) == 2]
    assert both, "some deposits and their finals fall inside the window"
    for deposit, final in both:
        assert (deposit["presale_phase"], final["presale_phase"]) == ("deposit", "final")
        assert deposit["wave"] == "presale" and final["wave"] == "wave2"
        assert deposit["paid_fen"] + final["paid_fen"] == final["list_fen"] - final["discount_fen"]


def test_same_seed_and_arguments_give_the_same_bytes():
    start = local_ms(2021, 11, 11, 20)
    first = replay(start, seed=3).messages
    assert first == replay(start, seed=3).messages
    assert first != replay(start, seed=4).messages


def test_paced_and_unpaced_replays_send_the_same_bytes():
    """Pacing decides when a tick is sent, never what is in it."""
    start = local_ms(2021, 11, 11, 12)
    paced, unpaced = MemorySink(), MemorySink()
    for sink, is_paced in ((paced, True), (unpaced, False)):
        opts = RunOptions(clock=ClockSpec("replay", start, 600), rate=3000, paced=is_paced, events=3000, seed=5)
        run(DEFAULT, opts, sink)
    assert paced.messages == unpaced.messages
