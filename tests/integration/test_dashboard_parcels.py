"""The wall's parcel queries on both engines (Debian's ClickHouse 18.16 as the read-only
``gmv_reader``, and chDB), against hand-written rows of the parcel rollups whose answers are worked
out by hand (tests/support/parcel_rows.py): superseded versions dropped, emptied rows left out,
yesterday's rows apart from today's, late flow corrections added in."""
from __future__ import annotations

import time

import pytest

from dashboard import queries as q
from dashboard import snapshot
from dashboard.pages import wall
from tests.support import synthetic
from tests.support.known_engine import known_engine
from tests.support.parcel_rows import KNOWN_PARCELS, known_parcel_rows

WRITTEN_MS = int(time.time() * 1000)
DAY0 = KNOWN_PARCELS["day0"]


def _rows() -> dict:
    return synthetic.known_rows(WRITTEN_MS) | known_parcel_rows(WRITTEN_MS)


@pytest.fixture(params=["chdb", pytest.param("clickhouse-18.16", marks=pytest.mark.slow)])
def engine(request):
    """``(run, database)`` on one engine, with migrations applied and the known rows in."""
    with known_engine(request, _rows()) as (run, db, _):
        yield run, db


def test_parcels_in_each_stage_now_delivered_today(engine):
    run, db = engine
    assert q.parcel_stages(run, db, DAY0) == KNOWN_PARCELS["stages"]
    # yesterday's festival day: its 50 delivered; the stages not per day are the same
    assert q.parcel_stages(run, db, DAY0 - 86400) == KNOWN_PARCELS["stages"] | {"delivered": 50}


def test_delivery_time_buckets_of_today_over_provinces_and_carriers(engine):
    run, db = engine
    assert q.delivery_time_buckets(run, db, DAY0) == KNOWN_PARCELS["legs"]
    yesterday = q.delivery_time_buckets(run, db, DAY0 - 86400)
    assert yesterday["delivery"][-1] == 40 and sum(yesterday["delivery"]) == 40 and sum(yesterday["pickup"]) == 0


def test_exceptions_by_carrier_and_the_first_delivery(engine):
    run, db = engine
    assert q.carrier_exceptions(run, db) == KNOWN_PARCELS["exceptions"]
    assert q.first_delivery_ms(run, db, DAY0) == KNOWN_PARCELS["first_delivered_ms"]
    assert q.first_delivery_ms(run, db, DAY0 - 86400) == (DAY0 - 86400 + 100) * 1000
    assert q.first_delivery_ms(run, db, DAY0 + 86400) is None


def test_flows_of_the_last_ten_minutes(engine):
    run, db = engine
    span = snapshot.flow_span(int(synthetic.KNOWN_NOW.timestamp()))
    assert span == KNOWN_PARCELS["flow_span"]
    assert q.parcel_flows(run, db, *span) == KNOWN_PARCELS["flows"]


def test_the_walls_snapshot_and_texts(engine):
    run, db = engine
    snap = snapshot.wall_snapshot(run, db)
    assert snap.parcels == snapshot.Parcels(
        stages=KNOWN_PARCELS["stages"], legs=KNOWN_PARCELS["legs"], exceptions=KNOWN_PARCELS["exceptions"],
        first_delivered_ms=KNOWN_PARCELS["first_delivered_ms"], flows=KNOWN_PARCELS["flows"],
        flow_span=KNOWN_PARCELS["flow_span"])
    payload = wall.build_payload(snap, WRITTEN_MS)
    assert {k: payload["texts"][k] for k in KNOWN_PARCELS["texts"]} == KNOWN_PARCELS["texts"]
    assert wall.map_values(snap.provinces) == KNOWN_PARCELS["map_fen"]


def test_a_database_without_the_parcel_tables_leaves_the_rest_of_the_wall(engine):
    run, db = engine
    def without_parcels(sql, params=None, tier=None):
        if q.PARCEL_STAGES in sql:
            raise RuntimeError(f"Table {db}.{q.PARCEL_STAGES} doesn't exist")
        return run(sql, params, tier)

    snap = snapshot.wall_snapshot(without_parcels, db)
    assert snap.parcels is None and snap.festival["gmv_fen"] == synthetic.KNOWN["festival_gmv_fen"]
    assert wall.build_payload(snap, WRITTEN_MS)["texts"]["wall-parcels-delivered"] == "–"


def test_each_parcel_query_is_quick(engine):
    """Each of the wall's new reads, uncached, on these rows: well under a poll's second."""
    run, db = engine
    span = KNOWN_PARCELS["flow_span"]
    reads = {"stages": lambda: q.parcel_stages(run, db, DAY0), "times": lambda: q.delivery_time_buckets(run, db, DAY0),
             "exceptions": lambda: q.carrier_exceptions(run, db), "first": lambda: q.first_delivery_ms(run, db, DAY0),
             "flows": lambda: q.parcel_flows(run, db, *span)}
    slowest = {}
    for name, read in reads.items():
        read()  # warm: the first statement of a connection pays for it
        started = time.perf_counter()
        for _ in range(5):
            read()
        slowest[name] = (time.perf_counter() - started) / 5
    print("parcel reads, mean of 5 (ms):", {k: round(v * 1000, 1) for k, v in slowest.items()})
    assert max(slowest.values()) < 0.2, slowest
