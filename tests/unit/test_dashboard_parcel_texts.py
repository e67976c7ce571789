"""The wall's parcels, from query answers to texts and map values (no server): the funnel's counts,
delivery-time percentiles and their buckets, the first delivery, exceptions by carrier, the map's
per-province values and flows, the replay line. Every expected value is worked out by hand."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest

from dashboard import china_map, figures, fmt, snapshot
from dashboard import explore_state as es
from dashboard import queries as q
from dashboard.pages import explore, wall
from stream.parcels import BUCKETS, DELIVERY_BUCKET_EDGES_S, bucket_label
from stream.settings import ConfigError, load

NOW = 1636632005  # 2021-11-11 20:00:05 CST
DAY0 = 1636560000  # 2021-11-11 00:00 CST


def order_row(value: str, gmv_fen: int) -> tuple:
    """A ``(value, *MEASURES)`` row with only its GMV set."""
    return (value, *(gmv_fen if m == "gmv_fen" else 0 for m in q.MEASURES))


def counts(**by_bucket: int) -> list[int]:
    """Bucket counts from ``b<index>=n``."""
    out = [0] * BUCKETS
    for name, n in by_bucket.items():
        out[int(name[1:])] = n
    return out


# Today's legs: deliveries 3 in [1 h, 2 h) (bucket 9) and 1 in [6 h, 8 h) (bucket 13); pickups 1 in
# [0, 1 min) (bucket 0) and 1 in [45 min, 1 h) (bucket 8).
DELIVERY = counts(b9=3, b13=1)
PICKUP = counts(b0=1, b8=1)


def parcels(**changes) -> snapshot.Parcels:
    base = {
        "stages": {"waiting_for_pickup": 1_204, "in_transit": 77, "out_for_delivery": 5, "delivered": 4,
                   "in_exception": 2},
        "legs": {"delivery": DELIVERY, "pickup": PICKUP},
        "exceptions": [("ZTO Express", 520, 12), ("EMS", 8, 1), ("Deppon", 16, 2)],
        "first_delivered_ms": (DAY0 + 13 * 60 + 27) * 1000 + 999,
        "flows": {("Zhejiang", "Guangdong"): 7, ("unknown", "Beijing"): 3, ("Guangdong", "Guangdong"): 2},
        "flow_span": snapshot.flow_span(NOW)}
    return snapshot.Parcels(**(base | changes))


def test_bucket_counts_add_rows_per_leg_and_bucket():
    rows = [("delivery", 3600, 2), ("delivery", 3600, 1), ("delivery", 6 * 3600, 1), ("pickup", 0, 1),
            ("pickup", 45 * 60, 1), ("sideways", 0, 5)]
    assert q.bucket_counts(rows) == {"delivery": DELIVERY, "pickup": PICKUP}
    assert q.bucket_counts([]) == {"delivery": [0] * BUCKETS, "pickup": [0] * BUCKETS}


@pytest.mark.parametrize("bucket_counts, percent, expected", [
    # 4 deliveries: the 2nd (50 %) is in bucket 9, [1 h, 2 h); the 4th (90 % of 4 = 3.6) in 13, [6 h, 8 h)
    (DELIVERY, 50, ("p50 ≤ 2 h", "bucket 1-2 h")),
    (DELIVERY, 90, ("p90 ≤ 8 h", "bucket 6-8 h")),
    # 2 pickups: 50 % is the first, in [0, 1 min); 90 % the second, in [45 min, 1 h)
    (PICKUP, 50, ("p50 ≤ 1 min", "bucket 0-1 min")),
    (PICKUP, 90, ("p90 ≤ 1 h", "bucket 45 min-1 h")),
    (counts(b17=1), 50, ("p50 ≤ 1.5 d", "bucket 1-1.5 d")),
    (counts(b25=1), 90, ("p90 ≥ 15 d", "bucket >= 15 d")),  # the open-ended last bucket
    ([0] * BUCKETS, 50, ("–", "")),
])
def test_percentile_texts_say_the_upper_edge_and_the_bucket(bucket_counts, percent, expected):
    assert wall.percentile_texts(bucket_counts, percent) == expected


def test_durations_are_said_as_the_buckets_say_their_edges():
    assert [fmt.duration(s) for s in (0, 30, 60, 45 * 60, 7200, 36 * 3600, 15 * 86400)] == [
        "0 s", "30 s", "1 min", "45 min", "2 h", "1.5 d", "15 d"]
    for i in range(BUCKETS - 1):  # each bucket's label ends with its upper edge as the wall says it
        assert bucket_label(i).endswith("-" + fmt.duration(DELIVERY_BUCKET_EDGES_S[i + 1])), i


def test_first_delivery_after_the_festival_days_start_and_its_clock_time():
    assert wall.first_delivery_texts((DAY0 + 807) * 1000 + 999, DAY0) == {
        "wall-first-delivery": "first parcel delivered 00:13:27 after the start",
        "wall-first-delivery-at": "at 00:13:27 CST"}
    assert wall.first_delivery_texts(None, DAY0) == {"wall-first-delivery": "–", "wall-first-delivery-at": ""}


def test_exception_rows_highest_share_first_ties_by_name():
    rows = wall.exception_rows(parcels().exceptions)
    # Deppon 2/16 and EMS 1/8 are both 12.5 %, ZTO 12/520 = 2.307... %
    assert [(r.children[0].children, r.children[1].children, r.children[2].children) for r in rows] == [
        ("Deppon", "12.5%", "2 of 16"), ("EMS", "12.5%", "1 of 8"), ("ZTO Express", "2.3%", "12 of 520")]
    assert {k: getattr(rows[2], k) for k in ("data-carrier", "data-parcels", "data-with-exception")} == {
        "data-carrier": "ZTO Express", "data-parcels": "520", "data-with-exception": "12"}


def test_parcel_texts_from_a_snapshot_and_dashes_without_one():
    texts = wall.parcel_texts(parcels(), DAY0)
    assert {k: v for k, v in texts.items() if k != "wall-exceptions"} == {
        "wall-parcels-waiting_for_pickup": "1,204", "wall-parcels-in_transit": "77",
        "wall-parcels-out_for_delivery": "5", "wall-parcels-delivered": "4", "wall-parcels-in_exception": "2",
        "wall-delivery-p50": "p50 ≤ 2 h", "wall-delivery-p50-bucket": "bucket 1-2 h",
        "wall-delivery-p90": "p90 ≤ 8 h", "wall-delivery-p90-bucket": "bucket 6-8 h",
        "wall-pickup-p50": "p50 ≤ 1 min", "wall-pickup-p50-bucket": "bucket 0-1 min",
        "wall-pickup-p90": "p90 ≤ 1 h", "wall-pickup-p90-bucket": "bucket 45 min-1 h",
        "wall-delivery-n": "4 delivered today", "wall-pickup-n": "2 picked up today",
        "wall-first-delivery": "first parcel delivered 00:13:27 after the start",
        "wall-first-delivery-at": "at 00:13:27 CST"}
    unread = wall.parcel_texts(None, DAY0)
    assert unread["wall-parcels-delivered"] == unread["wall-delivery-p50"] == unread["wall-first-delivery"] == "–"
    assert unread["wall-exceptions"] == [] and unread["wall-delivery-p50-bucket"] == ""
    # every parcel id the page has is filled either way (wall-parcels-created comes from the events)
    assert set(texts) == set(unread) == set(wall.PARCEL_TEXTS) - {
        "wall-parcels-created", "wall-map-values", "wall-map-flows", "wall-map-note"}


def test_map_values_are_todays_gmv_per_province_with_a_shape():
    provinces = [order_row("Guangdong", 2_042_348), order_row("Zhejiang", 2_000_000), order_row("Atlantis", 5)]
    assert wall.map_values(provinces) == {"Guangdong": 2_042_348, "Zhejiang": 2_000_000}


def test_map_texts_rows_and_note():
    texts = wall.map_texts({"Zhejiang": 2_000_000, "Guangdong": 2_042_348}, parcels())
    assert [(getattr(r, "data-province"), getattr(r, "data-fen"), r.children[1].children)
            for r in texts["wall-map-values"]] == [
        ("Guangdong", "2042348", "¥20,423.48"), ("Zhejiang", "2000000", "¥20,000.00")]
    # the route from an unknown origin is not drawn, and said
    assert [tuple(getattr(r, f"data-{k}") for k in ("origin", "province", "parcels"))
            for r in texts["wall-map-flows"]] == [
        ("Zhejiang", "Guangdong", "7"), ("Guangdong", "Guangdong", "2")]
    assert texts["wall-map-note"] == "12 parcels picked up 19:50–20:00 · top 2 routes · 3 from an unknown origin"
    assert wall.map_texts({}, None)["wall-map-note"] == "parcel flows: not available"


def test_the_wall_draws_the_30_busiest_routes():
    names = [p.name for p in china_map.load_shapes()][:31]
    flows = {(names[i], names[i + 1]): 100 + i for i in range(30)} | {("Beijing", "Shanghai"): 1,
                                                                    ("Shanghai", "Beijing"): 2}
    drawn = wall.drawn_flows(parcels(flows=flows))
    assert len(drawn) == 30 and ("Beijing", "Shanghai") not in drawn and ("Shanghai", "Beijing") not in drawn
    assert list(drawn.values())[:2] == [129, 128]


def test_map_layers_fill_the_provinces_and_carry_exact_values():
    layer = china_map.layers({"Guangdong": 2_042_348, "Zhejiang": 0}, {("Zhejiang", "Guangdong"): 7,
                                                                      ("unknown", "Beijing"): 3},
                             label="GMV today", money=True)
    assert layer["fills"]["Guangdong"] == "rgb(255, 224, 138)"  # the largest value: the scale's top
    markers = layer["traces"][-1]
    assert dict(zip(markers["text"], markers["customdata"])) == {"Guangdong": "¥20,423.48", "Zhejiang": "¥0.00"}
    assert dict(zip(markers["text"], markers["marker"]["color"])) == {"Guangdong": 2_042_348, "Zhejiang": 0}
    (line,) = [t for t in layer["traces"] if t["mode"] == "lines"]
    assert line["name"] == "Zhejiang → Guangdong" and line["customdata"] == [7, 7]
    figure = china_map.assemble(china_map.base_figure(), layer)
    fills = {t["name"]: t["fillcolor"] for t in figure["data"] if t.get("fill") == "toself"}
    assert fills["Guangdong"] == "rgb(255, 224, 138)" and fills["Tibet"] == china_map.NO_VALUE_FILL
    go.Figure(figure)  # a valid figure
    assert not any("locationmode" in t or "locations" in t for t in figure["data"])  # nothing fetched


def test_the_funnel_lists_the_stages_top_to_bottom_exception_in_red():
    fig = figures.parcel_funnel([(wall.STAGE_LABELS[s], n) for s, n in parcels().stages.items()])
    go.Figure(fig)
    (trace,) = fig["data"]
    assert trace["y"] == ["waiting for pickup", "in transit", "out for delivery", "delivered today", "in exception"]
    assert trace["x"] == [1_204, 77, 5, 4, 2] and trace["customdata"][0] == "1,204"
    assert trace["marker"]["color"][-1] == figures.BAD


def test_the_payload_carries_the_parcels_and_the_map():
    snap = snapshot.WallSnapshot(
        now_s=NOW, written_ms=1_000_000, day_start_s=DAY0, festival=dict.fromkeys(q.MEASURES, 0),
        today={"gmv_fen": 0, "orders_created": 0, "orders_paid": 0}, minutes=[], last=[], orders_now=0,
        peak=(0, NOW), provinces=[order_row("Guangdong", 2_042_348)], logistics={"created": 42}, parcels=parcels())
    payload = wall.build_payload(snap, now_ms=1_003_000)
    assert payload["texts"]["wall-parcels-created"] == "42"
    assert payload["texts"]["wall-parcels-waiting_for_pickup"] == "1,204"
    assert set(payload["texts"]) == set(wall.TEXTS)  # every text the page applies
    assert set(payload["figures"]) == set(wall.FIGURES)
    assert set(payload["map"]["fills"]) == {"Guangdong"}


def test_the_replay_factor_is_a_setting_said_on_the_wall():
    assert load(env={"GMV_PARCEL_REPLAY": "720"}).parcel_replay == 720.0
    assert wall.replay_text(720.0) == "parcel delays compressed 720x"
    assert wall.replay_text(2.5) == "parcel delays compressed 2.5x"
    assert wall.replay_text(load(env={}).parcel_replay) == ""
    for bad in ("-1", "nan", "inf", "fast"):
        with pytest.raises(ConfigError, match="GMV_PARCEL_REPLAY"):
            load(env={"GMV_PARCEL_REPLAY": bad})


# -- explore's map ------------------------------------------------------------------------------


class _Answered:
    """A finished future's stand-in."""

    def __init__(self, value) -> None:
        self.value = value

    def result(self):
        return self.value


def test_explores_map_shades_by_the_selections_gmv_and_keeps_the_flows_into_the_chosen_province():
    rows = (order_row("Guangdong", 2_042_348), order_row("Zhejiang", 2_000_000), order_row("Atlantis", 5))
    assert explore.map_values(rows) == {"Guangdong": 2_042_348, "Zhejiang": 2_000_000}
    flows = {("Zhejiang", "Guangdong"): 7, ("Zhejiang", "Beijing"): 200, ("unknown", "Guangdong"): 3}
    assert explore.explore_flows(flows, None) == flows
    assert explore.explore_flows(flows, "Guangdong") == {("Zhejiang", "Guangdong"): 7, ("unknown", "Guangdong"): 3}
    fig = explore.map_figure(es.ExploreState(province="Guangdong"), rows, _Answered(flows))
    go.Figure(fig)
    (markers,) = [t for t in fig["data"] if t["name"] == "GMV"]
    assert dict(zip(markers["text"], markers["marker"]["color"])) == {"Guangdong": 2_042_348, "Zhejiang": 2_000_000}
    assert [t["name"] for t in fig["data"] if t["mode"] == "lines" and "→" in t["name"]] == ["Zhejiang → Guangdong"]


def test_explores_map_says_why_when_there_is_no_gmv_by_province():
    unanswerable = q.Unanswerable("The rollups keep brand only on its own and with its category.")
    said = explore.map_figure(es.ExploreState(), unanswerable, _Answered({}))
    assert said["layout"]["annotations"][0]["text"].startswith("The rollups keep brand only")
    buyers = explore.map_figure(es.ExploreState(), None, _Answered({}))
    assert "pick an order measure" in buyers["layout"]["annotations"][0]["text"]
