"""The parcels' ledger (stream.simulator.parcel_ledger) against hand-written rows, and against a plain
reader that applies stream.parcels to the bytes a faulty run sent (schema-valid, each event id once)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import jsonschema
import numpy as np
import pytest

from stream import parcels as rules
from stream.settings import SCHEMAS_DIR
from stream.simulator import catalog as catalog_mod
from stream.simulator import events as ev
from stream.simulator import parcel_ledger
from stream.simulator.clock import ClockSpec
from stream.simulator.config import DEFAULT
from stream.simulator.faults import Faults
from stream.simulator.ledger import Ledger
from stream.simulator.parcel_ledger import PARCEL_KINDS, ParcelLedger
from stream.simulator.run import RunOptions, run
from stream.simulator.sinks import MemorySink

LOGISTICS = jsonschema.Draft202012Validator(json.loads((SCHEMAS_DIR / "logistics.schema.json").read_text()))
CST = timezone(timedelta(hours=8))
NOV11, NOV12 = 1636560000, 1636646400  # China midnights, epoch s
STATUS = {s: i for i, s in enumerate(ev.LOGISTICS_STATUSES)}


@pytest.fixture(scope="module")
def catalog():
    return catalog_mod.build(DEFAULT.replace(brands=60))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(datetime(2021, 11, day, hour, minute, second, tzinfo=CST).timestamp()) * 1000


def rows(*events: tuple[int, str, int, int, int]) -> np.ndarray:
    """Logistics event rows from ``(parcel number, status, t_ms, province code, carrier code)``; parcel 1
    ships from warehouse hub 3, the others from hub 0."""
    out = ev.empty_events(len(events))
    for row, (seq, status, t, province, carrier) in zip(out, events):
        row["o"]["seq"], row["o"]["province"], row["o"]["carrier"] = seq, province, carrier
        row["o"]["origin"] = 3 if seq == 1 else 0
        row["t"], row["status"], row["topic"] = t, STATUS[status], ev.LOGISTICS_TOPIC
    return out


def records(columns: dict[str, list]) -> list[dict]:
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def test_hand_written_parcels(catalog):
    """Three batches, as a run sends them (province 0, carrier 0 unless said):
    parcel 1: created 23:50, picked up 23:55 on Nov 11, delivered 00:20 on Nov 12;
    parcel 2: created, picked up, an exception (carrier 1);
    parcel 3: in_transit at 10:00, then its late picked_up (09:00) and created (08:00), then delivered
    at 00:10 on Nov 12 (Nov 12's first delivery so far), then a late delivery of parcel 4 at
    00:05 moves the first delivery; parcel 4's creation was never sent (no leg). Parcel 1 leaves a
    warehouse (hub 3) at 23:55 on Nov 11, parcel 2 (hub 0) at 10:00 and parcel 3 (hub 0) at 09:00."""
    ledger = ParcelLedger(catalog)
    first = rows((1, "created", at(11, 23, 50), 0, 0), (1, "picked_up", at(11, 23, 55), 0, 0),
                 (2, "created", at(11, 9), 0, 1), (2, "picked_up", at(11, 10), 0, 1),
                 (3, "in_transit", at(11, 10), 2, 0))
    second = rows((2, "exception", at(11, 11), 0, 1), (3, "picked_up", at(11, 9), 2, 0),
                  (3, "created", at(11, 8), 2, 0), (1, "delivered", at(12, 0, 20), 0, 0),
                  (3, "delivered", at(12, 0, 10), 2, 0))
    ledger.add(first)
    ledger.add(second)
    assert ledger.first_delivered_ms == {NOV12: at(12, 0, 10)}
    ledger.add(rows((4, "delivered", at(12, 0, 5), 0, 0)))
    flows = ledger.columns()["parcel_flows_minute"]  # counted per event: a run feeds each event once
    ledger.add(second)  # fed twice: the state is maxima and minima, nothing changes
    columns = ledger.columns()
    assert sorted(records(columns["parcel_stages"]), key=str) == sorted([
        {"window": NOV12, "stage": "delivered", "parcels": 3},
        {"window": 0, "stage": "in_exception", "parcels": 1}], key=str)
    province, carrier = catalog.province_names, catalog.carrier_names
    assert sorted(records(columns["parcel_delivery_times"]), key=str) == sorted([
        # parcel 1: pickup 5 min (Nov 11), delivery 30 min (Nov 12); parcel 2: pickup 1 h
        {"window": NOV11, "province": province[0], "carrier": carrier[0], "leg": "pickup", "bucket_s": 300,
         "parcels": 1},
        {"window": NOV12, "province": province[0], "carrier": carrier[0], "leg": "delivery", "bucket_s": 1800,
         "parcels": 1},
        {"window": NOV11, "province": province[0], "carrier": carrier[1], "leg": "pickup", "bucket_s": 3600,
         "parcels": 1},
        # parcel 3: pickup 1 h (Nov 11), delivery 16 h 10 min (Nov 12: "12-18 h")
        {"window": NOV11, "province": province[2], "carrier": carrier[0], "leg": "pickup", "bucket_s": 3600,
         "parcels": 1},
        {"window": NOV12, "province": province[2], "carrier": carrier[0], "leg": "delivery", "bucket_s": 12 * 3600,
         "parcels": 1}], key=str)
    assert records(columns["parcel_exceptions"]) == [
        {"carrier": carrier[0], "parcels": 3, "with_exception": 0, "window": 0},
        {"carrier": carrier[1], "parcels": 1, "with_exception": 1, "window": 0}]
    assert records(columns["parcel_first_delivery"]) == [{"window": NOV12, "first_delivered_ms": at(12, 0, 5)}]
    hub = catalog.hub_names
    assert records(flows) == [
        {"window": at(11, 9) // 1000, "origin": hub[0], "province": province[2], "parcels": 1},
        {"window": at(11, 10) // 1000, "origin": hub[0], "province": province[0], "parcels": 1},
        {"window": at(11, 23, 55) // 1000, "origin": hub[3], "province": province[0], "parcels": 1}]


def test_stages_before_any_delivery(catalog):
    ledger = ParcelLedger(catalog)
    ledger.add(rows((1, "created", at(11, 9), 0, 0), (2, "picked_up", at(11, 9), 0, 0),
                    (3, "out_for_delivery", at(11, 9), 0, 0), (4, "exception", at(11, 9), 0, 0)))
    columns = ledger.columns()
    assert dict(zip(columns["parcel_stages"]["stage"], columns["parcel_stages"]["parcels"])) == {
        "waiting_for_pickup": 1, "in_transit": 1, "out_for_delivery": 1, "in_exception": 1}
    assert columns["parcel_first_delivery"]["first_delivered_ms"] == []
    assert ParcelLedger(catalog).columns()["parcel_stages"] == {"window": [], "stage": [], "parcels": []}


def as_events(event_rows: np.ndarray, catalog) -> list[dict]:
    """Rows as the logistics events' JSON spells them (ids as the encoder's)."""
    return [{"event_id": f"p{r['o']['seq']}:{r['sub']}", "event_time": int(r["t"]),
             "parcel_id": f"p{r['o']['seq']}", "order_id": f"o{r['o']['seq']}",
             "status": ev.LOGISTICS_STATUSES[r["status"]], "province": catalog.province_names[r["o"]["province"]],
             "carrier": catalog.carrier_names[r["o"]["carrier"]],
             "origin": catalog.hub_names[r["o"]["origin"]]} for r in event_rows]


def flows(events: list[dict]) -> dict[tuple, int]:
    """Parcels picked up per (minute, origin, destination), counted from the events."""
    out: dict[tuple, int] = {}
    for e in events:
        if e["status"] == "picked_up":
            key = (e["event_time"] // 60_000 * 60, e["origin"], e["province"])
            out[key] = out.get(key, 0) + 1
    return out


def expected(events: list[dict]) -> dict[str, dict]:
    """The ledger's parcel kinds by stream.parcels, keyed for comparison."""
    states = rules.parcels(events).values()
    return {
        "parcel_stages": rules.stage_counts(states),
        "parcel_delivery_times": {(*key, rules.DELIVERY_BUCKET_EDGES_S[bucket]): n
                                  for (*key, bucket), n in rules.delivery_time_counts(states).items()},
        "parcel_exceptions": rules.exception_counts(states),
        "parcel_first_delivery": rules.first_deliveries(events),
        "parcel_flows_minute": flows(events),
    }


def keyed(columns: dict[str, dict[str, list]]) -> dict[str, dict]:
    return {
        "parcel_stages": {(r["stage"], r["window"]): r["parcels"] for r in records(columns["parcel_stages"])},
        "parcel_delivery_times": {(r["window"], r["province"], r["carrier"], r["leg"], r["bucket_s"]): r["parcels"]
                                  for r in records(columns["parcel_delivery_times"])},
        "parcel_exceptions": {r["carrier"]: (r["parcels"], r["with_exception"])
                              for r in records(columns["parcel_exceptions"])},
        "parcel_first_delivery": {r["window"]: r["first_delivered_ms"]
                                  for r in records(columns["parcel_first_delivery"])},
        "parcel_flows_minute": {(r["window"], r["origin"], r["province"]): r["parcels"]
                                for r in records(columns["parcel_flows_minute"])},
    }


def test_the_state_survives_compaction(catalog, monkeypatch):
    """Random events of 300 parcels in 40 batches, compacted along the way: the same as stream.parcels."""
    monkeypatch.setattr(parcel_ledger, "_COMPACT_EVERY", 50)
    rng = np.random.default_rng(5)
    ledger, sent = ParcelLedger(catalog), []
    for _ in range(40):
        batch = ev.empty_events(30)
        batch["o"]["seq"] = rng.integers(0, 300, 30)
        batch["o"]["province"] = batch["o"]["seq"] % 7  # a parcel's province and carrier are its own
        batch["o"]["carrier"] = batch["o"]["seq"] % 3
        batch["o"]["origin"] = batch["o"]["seq"] % 5
        batch["status"] = rng.integers(0, len(ev.LOGISTICS_STATUSES), 30)
        batch["t"] = at(11, 0) + rng.integers(0, 2 * 86_400_000, 30)
        batch["sub"] = rng.integers(0, 100, 30)
        batch["topic"] = ev.LOGISTICS_TOPIC
        ledger.add(batch)
        sent += as_events(batch, catalog)
    assert ledger.compacted > 0
    assert keyed(ledger.columns()) == expected(sent)


def parse(value: bytes) -> dict | None:
    """A valid logistics event, or None (an order event, or a malformed message)."""
    try:
        event = json.loads(value)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "parcel_id" in event and LOGISTICS.is_valid(event) else None


def test_the_ledger_of_a_faulty_run_equals_the_rules_on_what_was_sent(tmp_path, catalog):
    """Across midnight (Nov 10 23:40 to Nov 11 00:20 China time), parcels compressed 500x so they are
    delivered within minutes, with redeliveries, late and malformed events. A plain reader keeps the
    schema-valid logistics events, each event id once, and applies stream.parcels."""
    start = at(10, 23, 40)
    sink = MemorySink()
    options = RunOptions(clock=ClockSpec("replay", start, 120), rate=800, paced=False, events=40_000, seed=11,
                         faults=Faults(duplicates=0.05, late=0.05, late_by_s=20.0, malformed=0.03))
    run(DEFAULT.replace(delay_compression=500.0), options, sink, tmp_path / "ledger.jsonl",
        ledger_kinds=PARCEL_KINDS)
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert {line["kind"] for line in lines} == {*PARCEL_KINDS, "summary"}
    columns = {kind: {k: [line[k] for line in lines if line["kind"] == kind]
                      for k in next(line for line in lines if line["kind"] == kind) if k != "kind"}
               for kind in PARCEL_KINDS}
    seen, events, repeated = set(), [], 0
    for _, _, value in sink.messages:
        event = parse(value)
        if event is not None and event["event_id"] in seen:
            repeated += 1
        elif event is not None:
            seen.add(event["event_id"])
            events.append(event)
    truth = expected(events)
    assert keyed(columns) == truth
    # the run holds what the rules are about
    assert repeated > 0 and lines[-1]["late_sent"] > 0
    assert {stage for stage, _ in truth["parcel_stages"]} == set(rules.STAGES)
    assert {day for stage, day in truth["parcel_stages"] if stage == "delivered"} == {NOV11 - 86_400, NOV11}
    assert 0 < truth["parcel_first_delivery"][NOV11] - at(11, 0) < 600_000
    assert len(truth["parcel_flows_minute"]) > 100
    assert {leg for *_, leg, _ in truth["parcel_delivery_times"]} == set(rules.LEGS)


def test_the_ledger_counts_parcels_when_asked(catalog):
    """The ledger's default kinds are every rollup it shares with the job, the parcels' too; a ledger
    asked for other kinds keeps no state per parcel."""
    assert set(PARCEL_KINDS) <= set(Ledger(catalog).columns())
    assert Ledger(catalog, ["logistics_minute"]).parcels is None
    asked = Ledger(catalog, ["logistics_minute", "parcel_stages"])
    asked.add(rows((1, "created", at(11, 9), 0, 0)))
    assert set(asked.columns()) == {"logistics_minute", "parcel_stages"}
    assert asked.columns()["parcel_stages"] == {"window": [0], "stage": ["waiting_for_pickup"], "parcels": [1]}
