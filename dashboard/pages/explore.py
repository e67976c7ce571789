"""Explore (``/explore``): filters, linked charts, a table of the rollups, CSV download.

The whole view lives in the URL (``explore-url``'s query string, see
:mod:`dashboard.explore_state`): changing a control rewrites the URL, loading a URL sets the
controls. One callback keeps the two in step (Dash allows a callback to write its own
inputs), so there is no ping-pong between a "controls -> URL" and a "URL -> controls"
callback. Clicking a bar drills down, keeping every filter that still combines (the cube's
fields all do; brand only with its category); zooming the time chart narrows the range.
Selections the rollups cannot answer exactly say so, in one sentence, instead of guessing:
the headline, the charts and the CSV show no numbers then.
"""
from __future__ import annotations

import csv
import io
import textwrap
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from dash import Input, Output, State, callback_context, dash_table, dcc, html, no_update

from dashboard import china_map, figures, fmt, lastyear
from dashboard import explore_state as es
from dashboard import queries as q
from dashboard.db import DataUnavailable
from dashboard.pages import Context, Page
from stream.contract import ORDER_MEASURES
from stream.history import year_shift_s

REFRESH_MS = 30_000
BARS = ("category", "province", "channel", "brand")  # the big bars
COMPACT_BARS = ("vip", "promotion", "wave", "presale_phase")  # a few values each: a smaller row
ALL_BARS = BARS + COMPACT_BARS
TABLE_COLUMNS = [("time", "time (CST)"), *((m.name, m.label) for m in ORDER_MEASURES)]
CONTROLS = ("range", "from", "to", *q.FILTERS, "metric", "last_year")
LOOKED_UP = ("category", "province")  # dropdowns whose options come from the rollups (brand: by search)
FILTER_TITLES = {"brand": "brand (type to search)", "vip": "VIP (APASS)", "presale_phase": "pre-sale phase"}
CHART_TITLES = {"vip": "VIP", "presale_phase": "pre-sale phase"}


# -- data ------------------------------------------------------------------------------------


# Explore's independent reads (the series, last year's, each bar) run side by side; the database
# pool caps the statements at once.
_POOL = ThreadPoolExecutor(4, thread_name_prefix="gmv-explore")


def view(ctx: Context, state: es.ExploreState, notes: list[str]) -> dict:
    """Everything the page shows for ``state``: figures, table rows, texts (no Dash here)."""
    run, db = ctx.db.run, ctx.db.database
    extent = q.extent(run, db)
    requested = es.resolve(state, extent)
    start, end, bucket, grain_note = _span(state, *requested)
    notes = list(notes) + ([grain_note] if grain_note else [])
    order_metric = state.metric not in es.BUYER_METRICS
    series = _POOL.submit(_series, ctx, state, start, end, bucket, extent)
    closed = _POOL.submit(_closed_note, run, db, state, start, end, extent) if order_metric and extent else None
    flows = _POOL.submit(q.parcel_flows, run, db, start, end, q.EXPLORE)
    bars, found = _bars(run, db, state, start, end, extent)
    rows, series_fig, total, more = series.result()
    more += [closed.result()] if closed and closed.result() else []
    return {
        "series": series_fig, "bars": bars, "rows": rows, "map": map_figure(state, found.get("province"), flows),
        "table": [_table_row(r) for r in rows],
        "asof": _asof_text(extent, start, end, bucket),
        "total": total, "notes": " · ".join(notes + more),
        "from": es.minute_text(requested[0]).replace("T", " "), "to": es.minute_text(requested[1]).replace("T", " "),
    }


def _span(state: es.ExploreState, start: int, end: int) -> tuple[int, int, int, str]:
    """``(start, end, bucket, note)`` of a view: when the selection's rows are per 5 minutes (the
    cube, brands), its range is read in whole 5-minute windows, in 5-minute buckets or wider (the
    note says so when the range's own size would have drawn 1-minute ones)."""
    bucket = es.bucket_for(start, end)
    try:
        grain = q.grain(state.filters())
    except q.Unanswerable:
        return start, end, bucket, ""
    if grain <= 60:
        return start, end, bucket, ""
    start, end = start // grain * grain, -(-end // grain) * grain
    if bucket % grain:
        minutes = grain // 60
        return start, end, grain, f"{minutes}-minute buckets: the cube and brands are kept per {minutes} minutes"
    return start, end, bucket, ""


def _series(ctx: Context, state: es.ExploreState, start: int, end: int, bucket: int,
            extent) -> tuple[list[tuple], dict, str, list[str]]:
    """The time chart: ``(table rows, figure, headline, notes)``."""
    run, db = ctx.db.run, ctx.db.database
    notes: list[str] = []
    order_metric = state.metric not in es.BUYER_METRICS
    try:
        rows = q.series(run, db, state.filters(), start, end, bucket, extent)
        last, note = (_last_year(ctx, state, start, end, bucket) if state.last_year and order_metric
                      else (None, ""))
        series_fig = figures.timeseries(rows, state.metric, bucket, start, end, last_year=last)
        total = _total_text(rows) + (_vs_last_year(rows, last, state.metric, extent) if last else "")
        notes += [note] if note else []
    except q.Unanswerable as exc:  # no numbers at all: the sentence instead
        rows, series_fig, total = [], figures.message(_wrap(str(exc), 90)), str(exc)
    if not order_metric:  # the chart and headline from the buyers rollups; the table stays
        if state.last_year:
            notes.append("last year: the history keeps order measures, not buyers")
        try:
            points = q.buyer_series(run, db, state.filters(), start, end, bucket)
            series_fig = figures.timeseries(points, state.metric, bucket, start, end)
            total = _buyers_text(points, bucket)
        except q.Unanswerable as exc:
            series_fig, total = figures.message(_wrap(str(exc), 90)), str(exc)
    return rows, series_fig, total, notes


def _closed_note(run, db: str, state: es.ExploreState, start: int, end: int, extent) -> str:
    """Rows per 5 minutes (the cube, brands) are written as each 5 minutes close: when the view
    reads some and its range reaches past the newest closed window, up to when they cover it."""
    filters = state.filters()
    sources = [_try(q.series_source, filters), *(_try(q.bar_source, dim, filters) for dim in ALL_BARS)]
    reach = min(end, extent[1] + 1)
    covered = {}
    for rollup in sorted({s.tiers[0] for s in sources if s is not None and s.grain > 60}, key=lambda r: r.name):
        newest = q.newest_window(run, db, rollup, start, end)
        until = newest + rollup.window_s if newest is not None else start
        if until < reach:
            covered[_NAMED[rollup.name]] = (until, rollup.window_s // 60)
    if not covered:
        return ""
    until, minutes = min(covered.values())
    return f"{' and '.join(covered)} up to {fmt.local(until):%H:%M} (written as each {minutes} minutes close)"


_NAMED = {q.CUBE[0].name: "cube", q.BRANDS[0].name: "brands"}


def _try(f, *args):
    """``f(*args)``, or None when the rollups cannot answer it."""
    try:
        return f(*args)
    except q.Unanswerable:
        return None


# What each family's finest rollup table holds, as a sentence about the history names it.
HISTORY_HOLDS = {q.SECONDS: "per-second totals", q.DIMENSIONS[0].table: "breakdowns by one field",
                 q.BRANDS[0].table: "brands", q.CUBE[0].table: "cube rows"}


def _last_year(ctx: Context, state: es.ExploreState, start: int, end: int,
               bucket: int) -> tuple[list[tuple] | None, str]:
    """Last year's series of the selection over the same calendar span (from the history, moved a
    year on so it lies over this year's), or None and a note saying why there is none."""
    history, filters = ctx.settings.history_database, state.filters()
    shift = year_shift_s(start)
    tiers = q.series_source(filters).tiers  # the selection is answerable: the caller's query passed
    try:
        if not q.has_rows(ctx.db.run, history, tiers):
            holds = f"it holds no {HISTORY_HOLDS[tiers[0].table]}"
            if not filters:
                return None, f"last year: the history is empty ({holds})"
            return None, (f"last year: {q.named(filters)} {'is' if len(filters) == 1 else 'are'} not in the "
                          f"history ({holds})")
        rows = q.series(ctx.db.run, history, filters, start - shift, end - shift, bucket)
    except DataUnavailable as exc:
        return None, f"last year: the history cannot be read ({exc})"
    if not rows:
        return None, f"last year: the history has nothing from {fmt.local(start - shift):%Y-%m-%d %H:%M} to " \
                     f"{fmt.local(end - shift):%Y-%m-%d %H:%M}"
    return [(b + shift, *measures) for b, *measures in rows], ""


def _vs_last_year(rows: list[tuple], last: list[tuple], metric: str, extent) -> str:
    """`` · last year ¥1,234.56 (+26.3%)``: the metric over the span, last year, and the growth;
    last year's buckets count up to the one holding this year's newest window (a span reaching
    past now compares what both years have so far, to the bucket)."""
    i = q.MEASURES.index(metric) + 1
    newest = extent[1] if extent else 0
    ours, theirs = sum(r[i] for r in rows), sum(r[i] for r in last if r[0] <= newest)
    shown = fmt.yuan(theirs) if METRIC_MONEY[metric] else fmt.count(theirs)
    return f" · last year {shown} ({lastyear.growth_text(ours, theirs)})"


METRIC_MONEY = {m.name: m.is_money for m in ORDER_MEASURES}


def _bars(run, db, state: es.ExploreState, start: int, end: int, extent) -> tuple[dict[str, dict], dict]:
    """Every bar chart: each field's values under the other filters (or a sentence why not); and
    the rows behind them, by field (none under a buyers metric)."""
    if state.metric in es.BUYER_METRICS:
        return {dim: _buyer_bar(run, db, dim, state, start, end) for dim in ALL_BARS}, {}
    found = q.breakdowns(run, db, ALL_BARS, start, end, state.filters(), order_by=state.metric, limit=50,
                         span=extent, pool=_POOL)
    return {dim: _bar(dim, state, rows) for dim, rows in found.items()}, found


_GMV_AT = 1 + q.MEASURES.index("gmv_fen")  # in a (value, *MEASURES) row


def map_values(rows: tuple[tuple, ...]) -> dict[str, int]:
    """GMV (fen) per province the map has a shape for, from the province bar's ``(value, *MEASURES)``
    rows: every province under the other filters, over the range."""
    where = china_map.centroids()
    return {str(r[0]): int(r[_GMV_AT]) for r in rows if str(r[0]) in where}


def explore_flows(flows: dict[tuple[str, str], int], province: str | None) -> dict[tuple[str, str], int]:
    """The range's parcel flows the map draws: the parcels carry no order field, so of the filters
    only province applies (the parcels going to it)."""
    return {pair: n for pair, n in flows.items() if not province or pair[1] == province}


def map_figure(state: es.ExploreState, rows: tuple[tuple, ...] | q.Unanswerable | None, flows) -> dict:
    """The map: provinces shaded by the selection's GMV over the range, the range's busiest parcel
    routes on top (``flows``: a future of :func:`queries.parcel_flows`); a sentence instead when
    the selection has no GMV by province."""
    if rows is None:
        return figures.message(_wrap("The map shades provinces by GMV: pick an order measure.", 60), 13)
    if isinstance(rows, q.Unanswerable):
        return figures.message(_wrap(str(rows), 60), 13)
    try:
        routes = explore_flows(flows.result(), state.province or None)
    except DataUnavailable:  # the parcel rollups not there (a database before them): the GMV alone
        routes = {}
    layer = china_map.layers(map_values(rows), routes, label="GMV", money=True)
    return china_map.assemble(china_map.base_figure(13), layer)


def _bar(dim: str, state: es.ExploreState, rows: tuple[tuple, ...] | q.Unanswerable) -> dict:
    compact = dim in COMPACT_BARS
    if isinstance(rows, q.Unanswerable):
        return figures.message(_wrap(str(rows), 34 if compact else 40), 12 if compact else 13)
    top = 15 if dim not in es.ENUMS else 10
    return figures.ranked_bars(rows, state.metric, top=top, selected=getattr(state, dim) or None,
                               color=figures.COOL if dim in ("province", "channel", "vip", "wave") else figures.ACCENT,
                               others=dim != "brand", font_size=12 if compact else 13,
                               labels={str(r[0]): es.label(dim, str(r[0])) for r in rows})


def _buyer_bar(run, db, dim: str, state: es.ExploreState, start: int, end: int) -> dict:
    """Under a buyers metric: the new buyers by VIP flag (the only field the buyers rollups keep;
    under any other filter, nothing), and a sentence in every other field's chart."""
    if dim != "vip":
        return figures.message(_wrap(f"Buyers are kept by VIP only, not by {q.FILTER_NAMES.get(dim, dim)}: "
                                     "pick an order measure to split by it.", 34 if dim in COMPACT_BARS else 40),
                               12 if dim in COMPACT_BARS else 13)
    others = [d for d in state.filters() if d != "vip"]
    if others:
        return figures.message(_wrap(f"No buyers by {' and '.join(q.FILTER_NAMES.get(d, d) for d in others)}.",
                                     34), 12)
    by_vip = q.new_buyers(run, db, start, end, q.EXPLORE)
    rows = [(str(v), n) for v, n in by_vip.items() if n]
    return figures.ranked_bars(rows, "new_buyers", top=2, selected=state.vip or None, color=figures.COOL,
                               font_size=12, labels={v: es.label("vip", v) for v, _ in rows})


def _buyers_text(points: list[tuple[int, int, int, int]], bucket: int) -> str:
    """The headline under a buyers metric: new buyers in the range (each consumer once a Shanghai
    day: a day's sum is its unique buyers), the busiest minute's buyers, and the repeat buyers'
    share of the minutes' buyers (those who had paid earlier that day)."""
    new, minutes = sum(p[2] for p in points), sum(p[3] for p in points)
    busiest = max(points, key=lambda p: (p[1], -p[0]), default=None)
    peak = (f" · busiest minute {fmt.count(busiest[1])} buyers"
            f"{' (each bar: its bucket’s busiest minute)' if bucket > 60 else ''}") if busiest and busiest[1] else ""
    repeat = (f" · repeat buyers {fmt.share(minutes - new, minutes)} of the minutes’ buyers"
              if minutes >= new and minutes else "")
    return f"{fmt.count(new)} new buyers (each consumer once a day){peak}{repeat}"


def _wrap(text: str, width: int) -> str:
    """A sentence in lines for a chart's note (Plotly does not wrap)."""
    return "<br>".join(textwrap.wrap(text, width))


def _table_row(row: tuple) -> dict:
    b, *values = row
    cells = {m.name: fmt.yuan(v) if m.is_money else v for m, v in zip(ORDER_MEASURES, values)}
    return {"time": fmt.local(b).strftime("%Y-%m-%d %H:%M"), **cells}


def _asof_text(extent, start: int, end: int, bucket: int) -> str:
    newest = f"rollups as of {fmt.clock(extent[1])}" if extent else "no rollups yet"
    span = f"{fmt.local(start):%Y-%m-%d %H:%M} → {fmt.local(end):%Y-%m-%d %H:%M} CST"
    unit = {60: "1-minute", 300: "5-minute", 3600: "hourly", 86400: "daily"}[bucket]
    return f"{newest} · showing {span} · {unit} buckets"


def _total_text(rows: list[tuple]) -> str:
    sums = {m: sum(r[i] for r in rows) for i, m in enumerate(q.MEASURES, 1)}
    return (f"GMV {fmt.yuan(sums['gmv_fen'])} · {fmt.count(sums['orders_created'])} orders · "
            f"{fmt.count(sums['orders_paid'])} paid · {fmt.count(sums['refunds'])} refunds")


# A spreadsheet reads a cell that starts with one of these as a formula (a tab or carriage
# return can hide one): =HYPERLINK(...), +cmd|' /C calc'!A0, -2+3, @SUM(...).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell of the CSV: one that starts like a formula gets a leading ``'``, so a
    spreadsheet shows it as the text it is instead of running it. Numbers never pass here."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(rows: list[tuple], filters: dict[str, str] | None = None) -> str:
    """The table as CSV: times in CST (ISO 8601), the selection's filters (a column each, so the
    file says what it holds), exact integer fen next to the yuan amount. Text cells (the time and
    the filter values, such as a brand's name) are neutralised against formula injection
    (:func:`text_cell`); the numbers are written as they are."""
    filters = filters or {}
    out = io.StringIO()
    writer = csv.writer(out)
    money = [i for i, m in enumerate(ORDER_MEASURES) if m.is_money]
    writer.writerow(["window_start_cst", *filters, *q.MEASURES,
                     *(ORDER_MEASURES[i].name.removesuffix("_fen") + "_yuan" for i in money)])
    selection = [text_cell(str(v)) for v in filters.values()]
    for b, *measures in rows:
        writer.writerow([text_cell(fmt.local(b).isoformat()), *selection, *(int(m) for m in measures),
                         *(_yuan_number(measures[i]) for i in money)])
    return out.getvalue()


def _yuan_number(fen: int) -> str:
    """``-123456`` fen -> ``-1234.56``: the yuan amount as a plain number (exact, signed)."""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


# -- layout ----------------------------------------------------------------------------------


def _options(ctx: Context, dim: str, current: str) -> list[dict]:
    """Best sellers of the whole festival (cached), plus the current value even if unknown; a
    field with fixed values lists them (no query)."""
    if dim in es.ENUMS:
        return _as_options(dim, list(es.ENUMS[dim]))
    try:
        extent = q.extent(ctx.db.run, ctx.db.database)
        found = q.values(ctx.db.run, ctx.db.database, dim, "", *es.resolve(es.ExploreState("festival"), extent),
                         limit=50) if extent else []
    except DataUnavailable:
        found = []
    return _as_options(dim, found + ([current] if current and current not in found else []))


def _as_options(dim: str, names: list[str]) -> list[dict]:
    return [{"label": es.label(dim, n), "value": n} for n in names]


def _filter(label: str, control, wide: bool = False) -> html.Div:
    return html.Div([html.Label(label, className="filter-label"), control],
                    className="filter filter-wide" if wide else "filter")


def _dropdown(ctx: Context, dim: str, state: es.ExploreState, **extra) -> dcc.Dropdown:
    current = getattr(state, dim)
    # fixed values are listed here; the state callback fills in the rest, so the layout never
    # waits on ClickHouse
    options = _options(ctx, dim, current) if dim in es.ENUMS else _as_options(dim, [current] if current else [])
    return dcc.Dropdown(id=f"explore-{dim}", value=current or None, options=options,
                        placeholder="any" if dim in es.ENUMS else f"any {dim}", clearable=True,
                        **({"searchable": False} if dim in es.ENUMS else {}), **extra)


def _chart(title: str, fig_id: str, cls: str, hint: str = "") -> html.Div:
    return html.Div([html.Div([title, html.Span(f"  {hint}", className="hint")], className="panel-title"),
                     dcc.Graph(id=fig_id, className=cls, figure=figures.message(""),
                               config={"displayModeBar": False})],
                    className="chart-card")


def layout(ctx: Context, params: dict[str, str]):
    """Filters, the time chart, four drill-down bars, the table; initial values from the URL."""
    state, _notes = es.parse("?" + urlencode(params))
    filters = html.Div([
        _filter("time range", dcc.Dropdown(id="explore-range", value=state.range, clearable=False,
                                           options=[{"label": v, "value": k} for k, v in es.RANGES.items()])),
        _filter("from (CST)", dcc.Input(id="explore-from", type="text", value=state.start.replace("T", " "),
                                        placeholder="2021-11-11 00:00", debounce=True)),
        _filter("to (CST)", dcc.Input(id="explore-to", type="text", value=state.end.replace("T", " "),
                                      placeholder="2021-11-11 12:00", debounce=True)),
        *[_filter(FILTER_TITLES.get(d, d), _dropdown(ctx, d, state)) for d in BARS],
        _filter("measure", dcc.Dropdown(id="explore-metric", value=state.metric, clearable=False,
                                        options=[{"label": v, "value": k} for k, v in es.METRIC_NAMES.items()])),
        *[_filter(FILTER_TITLES.get(d, d), _dropdown(ctx, d, state), wide=d == "promotion") for d in COMPACT_BARS],
        html.Div([dcc.Checklist(id="explore-lastyear", options=[{"label": "overlay last year", "value": "1"}],
                                value=["1"] if state.last_year else [], className="lastyear-toggle",
                                labelStyle={"display": "flex", "alignItems": "center"}),
                  html.Button("Reset", id="explore-reset", className="btn"),
                  html.Button("Download CSV", id="explore-csv", className="btn btn-primary")],
                 className="filter filter-buttons"),
    ], className="filters")
    charts = html.Div([_chart(f"by {d}", f"explore-fig-{d}", "explore-bar",
                              "click: its brands" if d == "category" else "click: filter")
                       for d in BARS], className="explore-charts")
    compact = html.Div([_chart(f"by {CHART_TITLES.get(d, d)}", f"explore-fig-{d}", "explore-bar-compact",
                               "click: filter")
                        for d in COMPACT_BARS], className="explore-charts")
    table = dash_table.DataTable(
        id="explore-table", columns=[{"id": i, "name": n} for i, n in TABLE_COLUMNS], data=[], page_size=12,
        style_as_list_view=True, style_header={"backgroundColor": "#121a2b", "color": "#8d97ad", "fontWeight": 600},
        style_cell={"backgroundColor": "#0e1524", "color": "#e8ecf4", "border": "1px solid #1e2a42",
                    "fontFamily": "inherit", "fontSize": 14, "padding": "5px 10px", "textAlign": "right"},
        style_cell_conditional=[{"if": {"column_id": "time"}, "textAlign": "left"}])
    return html.Div([
        dcc.Location(id="explore-url", refresh=False),
        dcc.Interval(id="explore-tick", interval=REFRESH_MS),
        dcc.Download(id="explore-download"),
        html.H1("Explore the rollups"), filters,
        html.Div([html.Span("", id="explore-total", className="explore-total"),
                  html.Span("", id="explore-asof"), html.Span("", id="explore-notice", className="notice")],
                 className="explore-meta"),
        html.Div(_chart("over time", "explore-fig-series", "explore-series", "drag to zoom into a time range"),
                 className="series-card"),
        html.Div(_chart("GMV by province · parcels from warehouse to buyer", "explore-fig-map", "explore-map",
                        "the busiest 40 routes of parcels picked up in the range; of the filters, only province "
                        "applies to them (its incoming parcels)"), className="map-card"),
        charts, compact, html.Div(table, className="table-card"),
    ], className="page explore")


# -- callbacks -------------------------------------------------------------------------------


def state_from_inputs(trigger: str | None, search: str, controls: dict, click: dict | None,
                      relayout: dict | None) -> tuple[es.ExploreState, list[str]]:
    """The state after the input that fired: the URL (load, back/forward), a control, a bar
    click (drill down), a zoom of the time chart, or Reset."""
    if trigger in (None, "explore-url", "explore-tick"):
        return es.parse(search)
    if trigger == "explore-reset":
        return es.ExploreState(), []
    if trigger in ("explore-from", "explore-to"):  # typing a time means a custom range
        controls = {**controls, "range": "custom"}
    current, notes = es.parse(_controls_search(controls))
    if trigger.startswith("explore-fig-") and trigger != "explore-fig-series":
        value = _clicked(click)
        return (es.from_click(current, trigger.removeprefix("explore-fig-"), value) if value else current), notes
    if trigger == "explore-fig-series":
        return _zoomed(current, relayout), notes
    return current, notes


def _controls_search(c: dict) -> str:
    rng = c.get("range") or "today"
    pairs = {"range": rng, "metric": c.get("metric") or "gmv_fen"}
    if rng == "custom":
        pairs.update({"from": (c.get("from") or "").strip(), "to": (c.get("to") or "").strip()})
    pairs.update({d: c[d] for d in q.FILTERS if c.get(d)})
    if "1" in (c.get("last_year") or []):
        pairs["ly"] = "1"
    return "?" + urlencode(pairs)


def _clicked(click: dict | None) -> str | None:
    points = (click or {}).get("points") or []
    if not points:
        return None
    value = points[0].get("customdata", points[0].get("y"))
    value = value[0] if isinstance(value, list) and value else value
    return None if not isinstance(value, str) or value.endswith(" others") else value


def _zoomed(state: es.ExploreState, relayout: dict | None) -> es.ExploreState:
    r = relayout or {}
    lo, hi = r.get("xaxis.range[0]"), r.get("xaxis.range[1]")
    if lo is None and "xaxis.range" in r:
        lo, hi = r["xaxis.range"][:2]
    start, end = es.parse_time(str(lo)[:16]), es.parse_time(str(hi)[:16])
    if start is None or end is None or end - start < 60:
        return state
    return state.replace(range="custom", start=es.minute_text(start), end=es.minute_text(end + 59))


def register(app, ctx: Context) -> None:
    """The state callback (URL <-> controls -> charts), brand search, and CSV download."""
    control_ids = {"range": "explore-range", "from": "explore-from", "to": "explore-to",
                   **{d: f"explore-{d}" for d in q.FILTERS}, "metric": "explore-metric",
                   "last_year": "explore-lastyear"}
    n_controls, n_bars = len(control_ids), len(ALL_BARS)

    @app.callback(
        Output("explore-url", "search"), *[Output(i, "value") for i in control_ids.values()],
        *[Output(f"explore-{d}", "options") for d in LOOKED_UP],
        Output("explore-fig-series", "figure"), *[Output(f"explore-fig-{d}", "figure") for d in ALL_BARS],
        Output("explore-fig-map", "figure"), Output("explore-table", "data"), Output("explore-asof", "children"),
        Output("explore-total", "children"),
        Output("explore-notice", "children"),
        Input("explore-url", "search"), *[Input(i, "value") for i in control_ids.values()],
        *[Input(f"explore-fig-{d}", "clickData") for d in ALL_BARS], Input("explore-fig-series", "relayoutData"),
        Input("explore-reset", "n_clicks"), Input("explore-tick", "n_intervals"))
    def update(search, *args):
        controls = dict(zip(control_ids, args[:n_controls]))
        clicks = dict(zip(ALL_BARS, args[n_controls:n_controls + n_bars]))
        trigger = callback_context.triggered_id
        dim = trigger.removeprefix("explore-fig-") if isinstance(trigger, str) else ""
        state, notes = state_from_inputs(trigger, search, controls, clicks.get(dim), args[n_controls + n_bars])
        out = _outputs(ctx, state, notes)
        if trigger in control_ids.values() and not notes and state == es.parse(search)[0]:
            # a control echoing the value this callback just gave it: nothing changed, so the note
            # about the URL's ignored parameters stays on the page
            out = (*out[:-1], no_update)
        return out

    @app.callback(Output("explore-brand", "options"), Input("explore-brand", "search_value"),
                  Input("explore-brand", "value"), State("explore-url", "search"))
    def brand_options(search_value, value, search):
        return _brand_options(ctx, search_value, value, search)

    @app.callback(Output("explore-download", "data"), Input("explore-csv", "n_clicks"),
                  State("explore-url", "search"), prevent_initial_call=True)
    def download(_clicks, search):
        state, notes = es.parse(search)
        rows = view(ctx, state, notes)["rows"]
        return dcc.send_string(to_csv(rows, state.filters()), "gmv-explore.csv", type="text/csv")


def _outputs(ctx: Context, state: es.ExploreState, notes: list[str]) -> tuple:
    def controls(start: str, end: str) -> tuple:  # the time inputs always show the window in use
        return (state.range, start, end, *[getattr(state, d) or None for d in q.FILTERS], state.metric,
                ["1"] if state.last_year else [])

    options = [_options(ctx, d, getattr(state, d)) for d in LOOKED_UP]
    try:
        v = view(ctx, state, notes)
    except DataUnavailable as exc:
        blank = figures.message("ClickHouse is not answering")
        return (state.to_search(), *controls(state.start, state.end), *options, blank, *[blank] * len(ALL_BARS),
                blank, [], "", "", f"No answer from ClickHouse: {exc}")
    return (state.to_search(), *controls(v["from"], v["to"]), *options, v["series"],
            *[v["bars"][d] for d in ALL_BARS], v["map"], v["table"], v["asof"], v["total"], v["notes"])


def _brand_options(ctx: Context, search_value: str | None, value: str | None, search: str | None) -> list[dict]:
    state, _ = es.parse(search)
    try:
        start, end = es.resolve(state, q.extent(ctx.db.run, ctx.db.database))
        found = q.values(ctx.db.run, ctx.db.database, "brand", (search_value or "")[:es.MAX_VALUE_CHARS],
                         start, end, limit=50)
    except DataUnavailable:
        found = []
    names = found + ([value] if value and value not in found else [])
    return [{"label": n, "value": n} for n in names]


PAGE = Page(path="/explore", name="Explore", layout=layout, register=register)
