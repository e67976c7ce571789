"""The wall screen (``/``): festival GMV ticking every second, readable across a room.

Polling, and the two traps of polling dashboards:

- ``wall-tick`` fires every second in the browser; a clientside callback turns a tick into a
  request (``wall-request``, with a sequence number) only when no request is in flight, so a
  slow answer never piles up requests (``assets/gmv.js`` aborts a poll unanswered for 10 s);
- the server answers from one payload shared by every screen (:class:`WallFeed`, cached for
  a second, single flight), so 50 screens cost the database what one costs;
- a clientside callback applies an answer only if its data is not older than what is shown
  (``as_of_ms``, then ``seq``), so two racing answers never put older numbers over newer.

If ClickHouse cannot answer, the answer says so; the page keeps its last numbers, greys
them and says since when they are stale. If the dashboard server itself does not answer (a
restart, a hang, a proxy's 5xx), ``assets/gmv.js`` answers the poll on the page to the same
effect, and the page polls on: the first answer of the server back makes it fresh, no reload.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard import china_map, explore_state, figures, fmt, lastyear, snapshot
from dashboard import queries as q
from dashboard.auth import KIOSK_FLAGS
from dashboard.db import DataUnavailable
from dashboard.pages import Context, Page
from stream.alerts.milestones import label as figure_label
from stream.parcels import (
    BUCKETS,
    DELIVERY_BUCKET_EDGES_S,
    STAGES,
    bucket_label,
    first_delivery_text,
    percentile_upper_edge_s,
)

log = logging.getLogger(__name__)

POLL_MS = 1000
FRESH_S, AMBER_S = 15, 60  # newest rollup younger than this: green; than AMBER_S: amber; else red
FIGURES = ("wall-fig-minutes", "wall-fig-last", "wall-fig-brands", "wall-fig-category",
           "wall-fig-channel", "wall-fig-promotion", "wall-fig-wave", "wall-fig-parcels")
# VIP (APASS) and pre-sale, today: (value id, money id, label)
FESTIVAL_ROWS = (("wall-vip-share", "wall-vip-gmv", "VIP (APASS) share"),
                 ("wall-deposits", "wall-deposits-gmv", "deposits paid"),
                 ("wall-finals", "wall-finals-gmv", "final payments paid"))
# Buyers today: (value id, detail id, label)
BUYER_ROWS = (("wall-buyers", "wall-buyers-new", "unique buyers"),
              ("wall-vip-buyers-share", "wall-vip-buyers", "VIP (APASS) share"),
              ("wall-repeat-share", "wall-repeat-buyers", "repeat, last min"))
# Parcels in each stage now, as the funnel names them (delivered: today)
STAGE_LABELS = {"waiting_for_pickup": "waiting for pickup", "in_transit": "in transit",
                "out_for_delivery": "out for delivery", "delivered": "delivered today", "in_exception": "in exception"}
assert tuple(STAGE_LABELS) == STAGES
# Delivery times today: (id, leg, percent); each id has a "-bucket" id beside it
PERCENTILES = (("wall-delivery-p50", "delivery", 50), ("wall-delivery-p90", "delivery", 90),
               ("wall-pickup-p50", "pickup", 50), ("wall-pickup-p90", "pickup", 90))
PARCEL_TEXTS = (*(f"wall-parcels-{s}" for s in STAGES), "wall-parcels-created",
                *(i for value, _, _ in PERCENTILES for i in (value, f"{value}-bucket")),
                "wall-delivery-n", "wall-pickup-n", "wall-first-delivery", "wall-first-delivery-at",
                "wall-exceptions", "wall-map-values", "wall-map-flows", "wall-map-note")
TEXTS = ("wall-asof", "wall-fresh-text", "wall-gmv-today", "wall-orders-total", "wall-ops-now",
         "wall-ops-peak", "wall-ops-peak-at", "wall-paid-today", *PARCEL_TEXTS,
         "wall-rejected", "wall-late", "wall-rejected-total", "wall-late-total",
         *(i for value, money, _ in FESTIVAL_ROWS for i in (value, money)),
         *(i for value, detail, _ in BUYER_ROWS for i in (value, detail)), *lastyear.TEXTS)
_GMV_AT = 1 + q.MEASURES.index("gmv_fen")  # in a (value, *MEASURES) row
MAP_TOP_FLOWS = 30  # routes drawn on the wall's map: the busiest of the last FLOW_MINUTES minutes


# -- data: one payload for every screen ------------------------------------------------------


class WallFeed:
    """Builds the wall's payload from the rollups, once per second for all screens."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.hint: int | None = None  # newest window seen: lets each poll scan one hour, not all
        # the snapshot's independent queries run side by side (the database pool caps them at 4)
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="gmv-wall")

    def payload(self) -> dict:
        """The shared answer (cached one second, single flight); falls back to the last good
        one, marked not ok, when ClickHouse cannot answer."""
        cache = self.ctx.db.cache
        try:
            return cache.get(("wall-payload", self.ctx.db.database), self._build, q.LIVE.ttl)
        except DataUnavailable as exc:
            last = cache.last_value(("wall-payload", self.ctx.db.database))
            return {**(last or {}), "ok": False, "error": str(exc), "has_data": bool(last and last.get("has_data"))}

    def _build(self) -> dict:
        snap = snapshot.wall_snapshot(self.ctx.db.run, self.ctx.db.database, self.hint, self.pool,
                                      self.ctx.settings.history_database)
        if snap is None:
            return {"ok": True, "has_data": False, "as_of_ms": 0, "error": None,
                    "message": "waiting for data: the rollup tables are empty"}
        self.hint = snap.now_s
        return build_payload(snap, int(time.time() * 1000))


def build_payload(snap: snapshot.WallSnapshot, now_ms: int) -> dict:
    """Everything the browser shows, pre-formatted: texts by id, figures by id, the GMV in
    each unit, and the data's as-of time that orders answers."""
    age_ms = max(now_ms - snap.written_ms, 0)
    level = "green" if age_ms < FRESH_S * 1000 else "amber" if age_ms < AMBER_S * 1000 else "red"
    fen = snap.festival["gmv_fen"]
    return {
        "ok": True, "has_data": True, "error": None, "message": "",
        "as_of_ms": snap.written_ms, "now_s": snap.now_s, "built_ms": now_ms,
        "gmv": {"fen": fen, **{unit: fmt.money(fen, unit) for unit in fmt.UNITS}},
        "fresh": level, "texts": _texts(snap, age_ms), "figures": _figures(snap),
        "milestones": milestones_view(snap.milestones, snap.day_start_s, now_ms),
        "map": map_layers(snap),
    }


def _texts(snap: snapshot.WallSnapshot, age_ms: int) -> dict[str, Any]:
    peak, peak_at = snap.peak
    texts = {
        "wall-asof": f"as of {fmt.clock(snap.now_s)}",
        "wall-fresh-text": f"rollups {fmt.age(age_ms)} old",
        "wall-gmv-today": fmt.money(snap.today["gmv_fen"], "yuan"),
        "wall-orders-total": fmt.count(snap.festival["orders_created"]),
        "wall-ops-now": fmt.count(snap.orders_now),
        "wall-ops-peak": fmt.count(peak),
        "wall-ops-peak-at": f"at {fmt.hms(peak_at)}" if peak else "",
        "wall-paid-today": fmt.count(snap.today["orders_paid"]),
        "wall-rejected": fmt.count(snap.pipeline_today.get("rejected", 0)),
        "wall-late": fmt.count(snap.pipeline_today.get("late", 0)),
        "wall-rejected-total": f"{fmt.count(snap.pipeline_total.get('rejected', 0))} so far",
        "wall-late-total": f"{fmt.count(snap.pipeline_total.get('late', 0))} so far",
    }
    texts["wall-parcels-created"] = fmt.count(snap.logistics.get("created", 0))
    texts.update(parcel_texts(snap.parcels, snap.day_start_s))
    texts.update(map_texts(map_values(snap.provinces), snap.parcels))
    texts.update(festival_texts(snap.splits))
    texts.update(buyer_texts(snap.buyers, snap.now_s))
    texts.update(lastyear.texts(snap.history, snap.festival["gmv_fen"], snap.minutes, snap.day_start_s, snap.now_s))
    return texts


def buyer_texts(buyers: snapshot.Buyers | None, now_s: int) -> dict[str, str]:
    """Unique buyers today (exact), the new ones of the newest complete second, the VIP share of
    today's buyers, and the repeat buyers' share of the last complete minute (dashes: no answer)."""
    if buyers is None:
        return {i: "–" for value, detail, _ in BUYER_ROWS for i in (value, detail)}
    new_now = next((n for s, n in buyers.last if s == now_s - 1), 0)
    repeat, at = buyers.repeat, fmt.hms(buyers.minute)[:5]  # the minute: said only while it has no share
    return {
        "wall-buyers": fmt.count(buyers.total),
        "wall-buyers-new": f"+{fmt.count(new_now)} new / s",
        "wall-vip-buyers-share": fmt.share(buyers.today[1], buyers.total),
        "wall-vip-buyers": f"{fmt.count(buyers.today[1])} VIP buyers",
        "wall-repeat-share": fmt.share(repeat, buyers.minute_buyers) if repeat is not None else "–",
        "wall-repeat-buyers": (f"{fmt.count(repeat)} of {fmt.count(buyers.minute_buyers)}"
                               if repeat is not None else f"at {at}"),
    }


def festival_texts(splits: dict[str, list[tuple]]) -> dict[str, str]:
    """VIP (APASS) share of today's GMV and the VIP GMV; pre-sale deposits and final payments
    paid today, and the GMV of each. All from one read of the cube (``splits``), so the share's
    two sides are the same rows; money stays exact fen until it is text."""
    vip, phases = splits.get("vip", []), splits.get("presale_phase", [])
    vip_fen = snapshot.measure(vip, "1", "gmv_fen")
    return {
        "wall-vip-share": fmt.share(vip_fen, sum(snapshot.measure(vip, v, "gmv_fen") for v, *_ in vip)),
        "wall-vip-gmv": fmt.money(vip_fen),
        # a deposit is a paid event but not yet a paid order: counted by its own measure
        "wall-deposits": fmt.count(snapshot.measure(phases, "deposit", "deposits_paid")),
        "wall-deposits-gmv": fmt.money(snapshot.measure(phases, "deposit", "gmv_fen")),
        "wall-finals": fmt.count(snapshot.measure(phases, "final", "orders_paid")),
        "wall-finals-gmv": fmt.money(snapshot.measure(phases, "final", "gmv_fen")),
    }


# -- parcels: the funnel, delivery times, the first delivery, exceptions by carrier ------------


def percentile_texts(counts: list[int], percent: int) -> tuple[str, str]:
    """``("p50 ≤ 2 h", "bucket 1-2 h")``: a percentile of a leg's bucket counts (the upper edge of
    the bucket it falls in) and that bucket; ``("p90 ≥ 15 d", "bucket >= 15 d")`` in the open-ended
    last one; a dash and nothing with no counts."""
    edge = percentile_upper_edge_s(counts, percent)
    if edge is None:
        return "–", ""
    if edge == float("inf"):
        return f"p{percent} ≥ {fmt.duration(DELIVERY_BUCKET_EDGES_S[-1])}", f"bucket {bucket_label(BUCKETS - 1)}"
    bucket = DELIVERY_BUCKET_EDGES_S.index(int(edge)) - 1
    return f"p{percent} ≤ {fmt.duration(int(edge))}", f"bucket {bucket_label(bucket)}"


def first_delivery_texts(first_delivered_ms: int | None, day0: int) -> dict[str, str]:
    """Today's first delivery, after the festival day's start (its midnight), and its clock time;
    a dash before it."""
    if first_delivered_ms is None:
        return {"wall-first-delivery": "–", "wall-first-delivery-at": ""}
    second = first_delivered_ms // 1000
    return {"wall-first-delivery": first_delivery_text(second - day0),
            "wall-first-delivery-at": f"at {fmt.hms(second)} CST"}


def exception_rows(exceptions: list[tuple[str, int, int]]) -> list[html.Tr]:
    """A table row per carrier, highest exception share first (shares compared exactly, then by
    name): its name, share (with_exception / parcels) and counts, each in a data attribute too."""
    def share_first(row: tuple[str, int, int]) -> tuple:
        carrier, parcels, excepted = row
        return Fraction(-excepted, parcels), carrier
    return [html.Tr([html.Td(carrier, className="exc-carrier"),
                     html.Td(fmt.share(excepted, parcels), className="exc-share"),
                     html.Td(f"{fmt.count(excepted)} of {fmt.count(parcels)}", className="exc-count")],
                    **{"data-carrier": carrier, "data-parcels": str(parcels), "data-with-exception": str(excepted)})
            for carrier, parcels, excepted in sorted(exceptions, key=share_first)]


def parcel_texts(parcels: snapshot.Parcels | None, day0: int) -> dict[str, Any]:
    """Parcels in each stage now (delivered: today), today's delivery and pickup times (p50, p90
    and their buckets, from the parcel's creation), the first delivery, exceptions by carrier;
    dashes when the parcel rollups cannot be read."""
    if parcels is None:
        dashes: dict[str, Any] = {f"wall-parcels-{s}": "–" for s in STAGES}
        dashes |= {i: "–" for i, _, _ in PERCENTILES} | {f"{i}-bucket": "" for i, _, _ in PERCENTILES}
        return dashes | {"wall-delivery-n": "", "wall-pickup-n": "", "wall-exceptions": []} | first_delivery_texts(
            None, day0)
    texts: dict[str, Any] = {f"wall-parcels-{s}": fmt.count(parcels.stages.get(s, 0)) for s in STAGES}
    for value_id, leg, percent in PERCENTILES:
        texts[value_id], texts[f"{value_id}-bucket"] = percentile_texts(parcels.legs[leg], percent)
    texts["wall-delivery-n"] = f"{fmt.count(sum(parcels.legs['delivery']))} delivered today"
    texts["wall-pickup-n"] = f"{fmt.count(sum(parcels.legs['pickup']))} picked up today"
    texts["wall-exceptions"] = exception_rows(parcels.exceptions)
    return texts | first_delivery_texts(parcels.first_delivered_ms, day0)


# -- the map: provinces by today's GMV, parcels flowing from warehouse to buyer -----------------


def map_values(provinces: list[tuple]) -> dict[str, int]:
    """Today's GMV (fen) per province the map has a shape for, from ``(value, *MEASURES)`` rows."""
    where = china_map.centroids()
    return {str(r[0]): int(r[_GMV_AT]) for r in provinces if str(r[0]) in where}


def drawn_flows(parcels: snapshot.Parcels | None) -> dict[tuple[str, str], int]:
    """The routes the wall's map draws: the MAP_TOP_FLOWS busiest between provinces it has."""
    if parcels is None:
        return {}
    flows, _ = china_map.mapped_flows(parcels.flows)
    busiest = sorted(flows.items(), key=lambda kv: (-kv[1], kv[0]))[:MAP_TOP_FLOWS]
    return dict(busiest)


def map_texts(values: dict[str, int], parcels: snapshot.Parcels | None) -> dict[str, Any]:
    """The map's numbers as hidden table rows a test (or a screen reader) reads: ``wall-map-values``
    a row per province (``data-province``, ``data-fen``: today's GMV in fen), ``wall-map-flows`` a
    row per drawn route (``data-origin``, ``data-province``, ``data-parcels``); and the note under the map."""
    flows = drawn_flows(parcels)
    rows = [html.Tr([html.Td(p), html.Td(fmt.yuan(fen))], **{"data-province": p, "data-fen": str(fen)})
            for p, fen in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))]
    routes = [html.Tr([html.Td(o), html.Td(d), html.Td(fmt.count(n))],
                      **{"data-origin": o, "data-province": d, "data-parcels": str(n)}) for (o, d), n in flows.items()]
    if parcels is None:
        note = "parcel flows: not available"
    else:
        start, end = parcels.flow_span
        _, unmapped = china_map.mapped_flows(parcels.flows)
        note = (f"{fmt.count(sum(parcels.flows.values()))} parcels picked up {fmt.hms(start)[:5]}–{fmt.hms(end)[:5]}"
                f" · top {len(flows)} routes")
        note += f" · {fmt.count(unmapped)} from an unknown origin" if unmapped else ""
    return {"wall-map-values": rows, "wall-map-flows": routes, "wall-map-note": note}


def map_layers(snap: snapshot.WallSnapshot) -> dict:
    """What changes on the map each poll (china_map.layers); its outlines are sent once, with the page."""
    return china_map.layers(map_values(snap.provinces), drawn_flows(snap.parcels), label="GMV today",
                            money=True, top=MAP_TOP_FLOWS)


def _figures(snap: snapshot.WallSnapshot) -> dict[str, dict]:
    return {
        "wall-fig-minutes": figures.gmv_per_minute(snap.minutes, snap.day_start_s, snap.now_s,
                                                   _last_year_day(snap)),
        "wall-fig-last": figures.orders_last_minutes(snap.last, snap.now_s, snapshot.LAST_SECONDS,
                                                     buyers=snap.buyers.last if snap.buyers else None),
        "wall-fig-brands": figures.ranked_bars(snap.brands, top=10, inside_labels=True),
        "wall-fig-category": figures.ranked_bars(snap.categories, top=8, others=True, color=figures.ACCENT_2,
                                                 inside_labels=True),
        "wall-fig-channel": figures.channel_donut(snap.channels),
        "wall-fig-promotion": _split_bars(snap, "promotion", figures.ACCENT_2),
        "wall-fig-wave": _split_bars(snap, "wave", figures.COOL),
        "wall-fig-parcels": figures.parcel_funnel([(STAGE_LABELS[s], snap.parcels.stages.get(s, 0)) for s in STAGES]
                                                  if snap.parcels else []),
    }


def _last_year_day(snap: snapshot.WallSnapshot) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    return lastyear.curve(snap.history.minutes) if snap.history else None


def _split_bars(snap: snapshot.WallSnapshot, dim: str, color: str) -> dict:
    """Today's GMV by every value of a festival field (those that sold nothing today at zero, so
    the panel keeps its bars where they were), named as explore names them."""
    rows = snap.splits.get(dim, [])
    sold = {str(r[0]) for r in rows}
    rows = [*rows, *((v, *[0] * len(q.MEASURES)) for v in explore_state.ENUMS[dim] if v not in sold)]
    return figures.ranked_bars(rows, top=len(rows), color=color, inside_labels=True,
                               labels={str(r[0]): explore_state.label(dim, str(r[0])) for r in rows})


# -- milestones: a banner and a timeline ------------------------------------------------------

MILESTONE_NEW_S = 60  # the banner stands out this long after a milestone was first recorded


def _at(second: int, day0: int) -> str:
    """A second as the wall says it: ``20:00:47``, with the date when it is not today's."""
    return fmt.hms(second) if second >= day0 else fmt.local(second).strftime("%m-%d %H:%M:%S")


def _milestone_note(p: q.Passed, day0: int) -> str:
    note = (f"festival GMV reached {figure_label(p.figure_fen)} first in the second {fmt.clock(p.second)} "
            f"({fmt.yuan(p.gmv_fen)} by its end)")
    if p.first_second != p.second:
        note += f"; first recorded as {_at(p.first_second, day0)}, moved by a late correction"
    return note


def milestones_view(passed: list[q.Passed], day0: int, now_ms: int) -> dict:
    """The banner (the newest milestone: its figure and second; it stands out for
    MILESTONE_NEW_S after it was first recorded) and the timeline (every milestone passed, in
    time order), for :func:`_milestone_banner` and :func:`_milestone_timeline`."""
    if not passed:
        return {"banner": "", "banner_class": "milestone milestone-none", "title": "", "second": "",
                "figure": "", "timeline": [html.Span("none passed yet", className="ms-none")]}
    newest = max(passed, key=lambda p: p.figure_fen)
    fresh = now_ms - newest.recorded_ms < MILESTONE_NEW_S * 1000
    timeline = [html.Span([html.Span(figure_label(p.figure_fen), className="ms-figure"),
                           html.Span(_at(p.second, day0), className="ms-time")],
                          className="ms-item" + (" ms-moved" if p.first_second != p.second else ""),
                          title=_milestone_note(p, day0), **{"data-second": str(p.second)})
                for p in sorted(passed, key=lambda p: (p.second, p.figure_fen))]
    return {
        "banner": f"{figure_label(newest.figure_fen)} passed at {_at(newest.second, day0)} CST",
        "banner_class": "milestone milestone-new" if fresh else "milestone",
        "title": _milestone_note(newest, day0), "second": str(newest.second), "figure": str(newest.figure_fen),
        "timeline": timeline,
    }


def _last_year() -> html.Div:
    """Beside the big number: against last year (+x%), the projection and its range, the
    countdown to the festival's next event (texts of :mod:`dashboard.lastyear`)."""
    pairs = (("wall-ly-growth", "wall-ly-vs"), ("wall-ly-projection", "wall-ly-range"),
             ("wall-countdown", "wall-countdown-what"))
    return html.Div([html.Div("", id=i, className="ly-value" if n == 0 else "ly-label")
                     for pair in pairs for n, i in enumerate(pair)], className="hero-ly")


def _milestone_banner() -> html.Div:
    """The newest GMV milestone, in the hero's title row (filled by ``gmv.milestonesApply``)."""
    return html.Div("", id="wall-milestone", className="milestone milestone-none", title="",
                    **{"data-second": "", "data-figure": ""})


def _milestone_timeline() -> html.Div:
    """Every GMV milestone passed, with its second, under the big number; at its end, today's
    first delivery, the festival's logistics milestone."""
    first = html.Span([html.Span("–", id="wall-first-delivery", className="first-delivery"),
                       html.Span("", id="wall-first-delivery-at", className="ms-time")], className="first-delivery-row")
    return html.Div([html.Span("GMV milestones", className="ms-label"),
                     html.Div([], id="wall-milestones", className="ms-list"), first], className="milestones")


def _register_milestones(app) -> None:
    """Banner and timeline from each answer, with the wall's own guard: never an older answer
    over a newer one, and nothing changed while ClickHouse or the server does not answer."""
    app.clientside_callback(
        ClientsideFunction("gmv", "milestonesApply"),
        [Output("wall-milestone", "children"), Output("wall-milestone", "className"),
         Output("wall-milestone", "title"), Output("wall-milestone", "data-second"),
         Output("wall-milestone", "data-figure"), Output("wall-milestones", "children")],
        Input("wall-payload", "data"), State("wall-shown", "data"))


# -- layout ----------------------------------------------------------------------------------


def _panel(title: str | list, body, cls: str = "") -> html.Div:
    return html.Div([html.Div(title, className="panel-title"), body], className=f"panel {cls}")


def _graph(fig_id: str) -> dcc.Graph:
    return dcc.Graph(id=fig_id, figure=figures.message(""), className="wall-graph",
                     config={"displayModeBar": False, "responsive": True, "staticPlot": False})


def _kpi(label: str, value_id: str, sub_id: str | None = None, cls: str = "") -> html.Div:
    parts = [html.Div(label, className="kpi-label"), html.Div("–", id=value_id, className="kpi-value")]
    if sub_id:
        parts.append(html.Div("", id=sub_id, className="kpi-sub"))
    return html.Div(parts, className=f"kpi {cls}")


def _festival_panel() -> html.Div:
    """VIP share and pre-sale counts as rows: the number, then what it is and its GMV."""
    cells = []
    for value_id, money_id, label in FESTIVAL_ROWS:
        cells += [html.Div("–", id=value_id, className="fest-value"),
                  html.Div([html.Div(label, className="fest-label"),
                            html.Div("–", id=money_id, className="fest-money")])]
    return _panel("VIP and pre-sale · today", html.Div(cells, className="fest-rows"), "p-presale")


def _buyers_panel() -> html.Div:
    """Today's buyers: the unique buyers across the panel, the VIP and repeat shares side by side
    under it; each a number, what it is, and a detail line."""
    cells = [html.Div([html.Div("–", id=value_id, className="counter-value"),
                       html.Div(label, className="counter-label"),
                       html.Div("–", id=detail_id, className="counter-sub")], className="counter")
             for value_id, detail_id, label in BUYER_ROWS]
    return _panel("buyers · today", html.Div(cells, className="buyers"), "p-buyers")


def _parcels_panel() -> html.Div:
    """Parcels in each stage now: the funnel (its bars named), each stage's count right of its bar."""
    counts = [html.Div("–", id=f"wall-parcels-{s}", title=STAGE_LABELS[s],
                       className="stage-value stage-bad" if s == "in_exception" else "stage-value") for s in STAGES]
    created = html.Div([html.Span("–", id="wall-parcels-created"), " parcels created today"],
                       className="parcels-created")
    funnel = html.Div([_graph("wall-fig-parcels"), html.Div(counts, className="stages")], className="parcel-funnel")
    return _panel("parcels now", html.Div([funnel, created], className="panel-fill"), "p-parcels")


def _delivery_panel() -> html.Div:
    """Today's delivery and pickup times, p50 and p90 with the bucket each falls in."""
    cells: list = []
    for leg, label in (("delivery", "delivered"), ("pickup", "picked up")):
        cells.append(html.Div([html.Div(label, className="leg-label"),
                               html.Div("", id=f"wall-{leg}-n", className="leg-n")], className="leg"))
        for percent in (50, 90):
            value_id = f"wall-{leg}-p{percent}"
            cells.append(html.Div([html.Div("–", id=value_id, className="pct-value"),
                                   html.Div("", id=f"{value_id}-bucket", className="pct-bucket")], className="pct"))
    cells.append(html.Div("times run from the parcel's creation", className="legs-note"))
    return _panel("delivery times · today", html.Div(cells, className="legs"), "p-delivery")


def _exceptions_panel() -> html.Div:
    """The share of each carrier's parcels that had an exception, highest first."""
    return _panel("exception share by carrier", html.Table(html.Tbody([], id="wall-exceptions"),
                                                            className="exc-table"), "p-exceptions")


def _map_panel() -> html.Div:
    """China: provinces shaded by today's GMV, the busiest routes of the last minutes' parcels. The
    outlines come once with the page (``wall-map-base``); each answer brings the colours and lines
    (``gmv.mapApply``). The exact numbers are in hidden tables (see :func:`map_texts`)."""
    hidden = html.Div([html.Table(html.Tbody([], id="wall-map-values")),
                       html.Table(html.Tbody([], id="wall-map-flows"))], className="map-values")
    body = html.Div([_graph("wall-fig-map"), html.Div("", id="wall-map-note", className="map-note"), hidden],
                    className="panel-fill")
    return _panel("GMV by province today · parcels from warehouse to buyer", body, "p-map")


def replay_text(factor: float) -> str:
    """The wall's line on compressed parcel delays: ``"parcel delays compressed 720x"`` (empty: not)."""
    return f"parcel delays compressed {factor:g}x" if factor > 0 else ""


def layout(ctx: Context, params: dict[str, str]):
    """The wall; ``?kiosk=1`` hides every control, ``?units=yuan|wan|yi`` picks the GMV unit."""
    kiosk = params.get("kiosk", "") in KIOSK_FLAGS
    units = params.get("units") if params.get("units") in fmt.UNITS else "yuan"
    controls = dcc.RadioItems(
        id="wall-units", value=units, inline=True, className="wall-units",
        options=[{"label": "¥", "value": "yuan"}, {"label": "万", "value": "wan"}, {"label": "亿", "value": "yi"}],
        style={"display": "none"} if kiosk else {})
    replay = html.Span(replay_text(ctx.settings.parcel_replay), id="wall-parcel-replay", className="replay")
    header = html.Div([
        html.Div([html.Span("11.11", className="brand-mark"), html.Span("GMV · festival so far"),
                  _milestone_banner()], className="hero-title"),
        html.Div("–", id="wall-gmv", className="hero-number", title="", **{"data-fen": ""}),
        _last_year(),
        html.Div([html.Span("", id="wall-asof", className="asof"),
                  html.Span([html.Span(className="dot"), html.Span("", id="wall-fresh-text")],
                            id="wall-fresh", className="fresh fresh-none"),
                  replay, controls], className="hero-meta"),
        _milestone_timeline(),
    ], className="hero")
    kpis = html.Div([
        _kpi("GMV today", "wall-gmv-today"), _kpi("orders so far", "wall-orders-total"),
        _kpi("orders / s now", "wall-ops-now", cls="kpi-live"),
        _kpi("peak today, orders / s", "wall-ops-peak", "wall-ops-peak-at"),
        _kpi("paid orders today", "wall-paid-today"),
    ], className="kpis")
    grid = html.Div([
        _panel("GMV per minute · today (CST)", _graph("wall-fig-minutes"), "p-minutes"),
        _panel("orders, new buyers / s · 10 min", _graph("wall-fig-last"), "p-last"),
        _panel("top 10 brands · GMV today", _graph("wall-fig-brands"), "p-brands"),
        _panel("by category · today", _graph("wall-fig-category"), "p-category"),
        _map_panel(),
        _panel("by channel · today", _graph("wall-fig-channel"), "p-channel"),
        html.Div([
            _parcels_panel(),
            _panel("pipeline · set aside today", html.Div([
                html.Div([html.Div("–", id="wall-rejected", className="counter-value"),
                          html.Div("rejected", className="counter-label"),
                          html.Div("", id="wall-rejected-total", className="counter-sub")], className="counter"),
                html.Div([html.Div("–", id="wall-late", className="counter-value"),
                          html.Div("late (added in)", className="counter-label"),
                          html.Div("", id="wall-late-total", className="counter-sub")], className="counter"),
            ], className="counters counters-2"), "p-pipeline"),
        ], className="wall-side"),
        html.Div([_delivery_panel(), _exceptions_panel()], className="wall-delivery"),
        html.Div([
            _buyers_panel(),
            _festival_panel(),
            _panel("by promotion · GMV today", _graph("wall-fig-promotion"), "p-promotion"),
            _panel("by sales wave · GMV today", _graph("wall-fig-wave"), "p-wave"),
        ], className="wall-fest"),
    ], className="wall-grid")
    return html.Div([
        dcc.Location(id="wall-url", refresh=False),
        dcc.Interval(id="wall-tick", interval=POLL_MS),
        dcc.Store(id="wall-request", data={"seq": 0, "t": 0}),
        dcc.Store(id="wall-payload"),
        dcc.Store(id="wall-map-base", data=china_map.base_figure()),
        dcc.Store(id="wall-shown", data={"seq": 0, "as_of_ms": -1, "answered": 0}),
        dcc.Store(id="wall-ids", data={"texts": list(TEXTS), "figures": list(FIGURES)}),
        html.Div("", id="wall-banner", className="banner banner-hidden"),
        header, kpis, grid,
    ], id="wall-root", className="wall" + (" kiosk" if kiosk else ""))


# -- callbacks -------------------------------------------------------------------------------


def register(app, ctx: Context) -> None:
    """Poll (clientside, one request in flight at most), answer (server, shared payload),
    apply (clientside, never older over newer), and keep the unit in the URL."""
    feed = ctx.state.setdefault("wall_feed", WallFeed(ctx))
    app.clientside_callback(
        ClientsideFunction("gmv", "wallTick"), Output("wall-request", "data"),
        Input("wall-tick", "n_intervals"), State("wall-request", "data"), State("wall-shown", "data"))

    @app.callback(Output("wall-payload", "data"), Input("wall-request", "data"), prevent_initial_call=True)
    def answer(request):
        return {**feed.payload(), "seq": int((request or {}).get("seq", 0))}

    app.clientside_callback(
        ClientsideFunction("gmv", "wallApply"),
        [Output("wall-shown", "data"), Output("wall-root", "className"), Output("wall-banner", "children"),
         Output("wall-banner", "className"), Output("wall-gmv", "children"), Output("wall-gmv", "title"),
         Output("wall-gmv", "data-fen"), Output("wall-fresh", "className"),
         *[Output(i, "children") for i in TEXTS], *[Output(i, "figure") for i in FIGURES]],
        Input("wall-payload", "data"), Input("wall-units", "value"),
        State("wall-shown", "data"), State("wall-ids", "data"), State("wall-root", "className"))
    app.clientside_callback(
        ClientsideFunction("gmv", "unitsToUrl"), Output("wall-url", "search"),
        Input("wall-units", "value"), State("wall-url", "search"), prevent_initial_call=True)
    _register_milestones(app)
    app.clientside_callback(
        ClientsideFunction("gmv", "mapApply"), Output("wall-fig-map", "figure"),
        Input("wall-payload", "data"), State("wall-shown", "data"), State("wall-map-base", "data"),
        State("wall-fig-map", "figure"))


PAGE = Page(path="/", name="Wall", layout=layout, register=register, kiosk=True)
