"""Figure builders: pure functions from query rows to Plotly figure dicts.

They return plain dicts rather than ``go.Figure`` objects: building a ``go.Figure``
validates every property (~10 ms a figure), which a wall that redraws six charts every
second does not need; the unit tests validate each builder's output with ``go.Figure``.
Money arrives in integer fen and becomes yuan only here, for display.
"""
from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from typing import Any

from dashboard import fmt
from dashboard import queries as q
from stream.contract import ORDER_MEASURES

TEXT = "#e8ecf4"
MUTED = "#8d97ad"
GRID = "rgba(141,151,173,0.16)"
ACCENT = "#ff6a2b"  # festival orange-red
ACCENT_2 = "#ffb02e"
COOL = "#3fb6ff"
GOOD = "#35d07f"
BACKGROUND = "#0b0f1a"  # the page's: text on a bright bar
CHANNEL_COLORS = {"app": "#ff6a2b", "livestream": "#ff3d7f", "mini_program": "#ffb02e", "web": "#3fb6ff"}
FONT = "'GMV CJK Units', Inter, 'Noto Sans CJK SC', 'Noto Sans', 'DejaVu Sans', sans-serif"
METRICS = {m.name: (m.label, m.is_money) for m in ORDER_MEASURES}  # measure -> (label, is money)
# buyer counts (explore's buyers metrics); bars of them are (value, count) rows
METRICS |= {"buyers": ("buyers per minute", False), "new_buyers": ("new buyers", False)}


def _column(metric: str) -> int:
    """Where ``metric`` is in a row: after the key, at its measure's place; a buyers row has one count."""
    return q.MEASURES.index(metric) + 1 if metric in q.MEASURES else 1


@functools.lru_cache(maxsize=8192)  # a day's minutes, formatted on every poll otherwise
def _iso(epoch_s: int) -> str:
    """Plotly date axes take local wall-clock strings; the festival's clock is Shanghai time."""
    return fmt.local(epoch_s).strftime("%Y-%m-%d %H:%M:%S")


def _layout(font_size: int = 15, **extra) -> dict:
    base: dict[str, Any] = {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": font_size},
        "margin": {"l": 8, "r": 12, "t": 8, "b": 8, "pad": 2},
        "showlegend": False, "hovermode": "closest",
        "xaxis": {"gridcolor": GRID, "zeroline": False, "automargin": True, "color": MUTED},
        "yaxis": {"gridcolor": GRID, "zeroline": False, "automargin": True, "color": MUTED},
    }
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return base


def shown(name: str) -> str:
    """A value from the data (a brand, a category) as Plotly text. Plotly reads some markup in
    its text: ``<a href>`` becomes a link, ``<b>`` bold, ``<br>`` a new line, ``&lt;`` a ``<``
    (unknown tags such as ``<img>`` stay text). Escaped, every name shows exactly as written:
    Plotly turns ``&lt;``, ``&gt;`` and ``&amp;`` back into the characters, and nothing in a name
    is ever markup."""
    return html.escape(name, quote=False)


def _value(row_value: int, metric: str) -> float:
    return row_value / 100 if METRICS[metric][1] else row_value


def _label(row_value: int, metric: str) -> str:
    return fmt.compact_money(row_value) if METRICS[metric][1] else fmt.count(row_value)


def message(text: str, font_size: int = 15) -> dict:
    """An empty chart that says why it is empty (no data, or not answerable from the rollups)."""
    return {"data": [], "layout": _layout(
        font_size, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5,
                      "y": 0.5, "font": {"color": MUTED, "size": font_size}}])}


# -- wall ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)  # the same day of last year on every poll: built once
def _last_year_trace(times: tuple[int, ...], yuan: tuple[float, ...]) -> dict:
    return {"type": "scatter", "mode": "lines", "x": [_iso(t) for t in times], "y": list(yuan),
            "name": "last year", "line": {"color": MUTED, "width": 1.2, "dash": "dash", "shape": "hv"},
            "hovertemplate": "%{x|%H:%M} last year<br>¥%{y:,.2f} a minute<extra></extra>"}


LAST_YEAR_AHEAD_S = 3600


def _minute_scale_top(rows: list, last_year: tuple[tuple[int, ...], tuple[float, ...]] | None,
                      now_s: int) -> float | None:
    """The GMV-per-minute chart's top: today's highest minute, or last year's over the span today
    covers so far and the next hour, if higher. Last year's surges outside it (its midnight is
    ~20x an evening) leave the top of the chart rather than flatten today's line; None
    (autorange) with nothing to show."""
    highest = max((r.gmv_fen / 100 for r in rows), default=0.0)
    if last_year:
        since = min((r.minute for r in rows), default=now_s)
        highest = max([highest, *(y for t, y in zip(*last_year) if since <= t <= now_s + LAST_YEAR_AHEAD_S)])
    return highest * 1.08 if highest > 0 else None


def gmv_per_minute(minutes: list, day_start_s: int, now_s: int,
                   last_year: tuple[tuple[int, ...], tuple[float, ...]] | None = None) -> dict:
    """Today's GMV per minute as an area over the whole Shanghai day (the day fills as it goes);
    with ``last_year`` (times, at this year's, and GMV per minute in yuan there), last year's same
    day dashed under it."""
    rows = [q.Minute(*m) for m in minutes]
    behind = [_last_year_trace(*last_year)] if last_year and last_year[0] else []
    trace = {
        "type": "scatter", "mode": "lines", "x": [_iso(r.minute) for r in rows],
        "y": [r.gmv_fen / 100 for r in rows], "line": {"color": ACCENT, "width": 1.5, "shape": "hv"},
        "fill": "tozeroy", "fillcolor": "rgba(255,106,43,0.28)",
        "hovertemplate": "%{x|%H:%M} CST<br>¥%{y:,.2f}<extra></extra>",
    }
    yaxis: dict[str, object] = {"tickprefix": "¥", "tickformat": "~s", "rangemode": "tozero"}
    if top := _minute_scale_top(rows, last_year, now_s):
        yaxis["range"] = [0, top]
    return {"data": [*behind, trace], "layout": _layout(
        xaxis={"type": "date", "range": [_iso(day_start_s), _iso(day_start_s + fmt.DAY_S)],
               "tickformat": "%H:%M", "dtick": 3 * 3600 * 1000},
        yaxis=yaxis,
        shapes=[{"type": "line", "x0": _iso(now_s), "x1": _iso(now_s), "yref": "paper", "y0": 0, "y1": 1,
                 "line": {"color": ACCENT_2, "width": 1, "dash": "dot"}}])}


def orders_last_minutes(last: list, now_s: int, span_s: int = 600,
                        buyers: list[tuple[int, int]] | None = None) -> dict:
    """Orders created per second over the last ``span_s`` seconds (missing seconds are zero), and,
    given ``(second, new buyers)`` rows, the new buyers of each second as a second line."""
    by_second = {int(s): int(n) for s, n, *_ in last}
    seconds = list(range(now_s - span_s + 1, now_s + 1))
    x = [_iso(s) for s in seconds]
    trace = {
        "type": "scatter", "mode": "lines", "x": x, "name": "orders / s",
        "y": [by_second.get(s, 0) for s in seconds], "line": {"color": COOL, "width": 1.5},
        "fill": "tozeroy", "fillcolor": "rgba(63,182,255,0.18)",
        "hovertemplate": "%{x|%H:%M:%S}<br>%{y:,} orders/s<extra></extra>",
    }
    data = [trace]
    if buyers is not None:
        new = {int(s): int(n) for s, n in buyers}
        data.append({"type": "scatter", "mode": "lines", "x": x, "name": "new buyers / s",
                     "y": [new.get(s, 0) for s in seconds], "line": {"color": GOOD, "width": 1.2},
                     "hovertemplate": "%{x|%H:%M:%S}<br>%{y:,} new buyers/s<extra></extra>"})
    return {"data": data, "layout": _layout(
        xaxis={"type": "date", "tickformat": "%H:%M", "range": [_iso(seconds[0]), _iso(now_s)]},
        yaxis={"rangemode": "tozero", "tickformat": "~s"})}


def ranked_bars(rows: Sequence, metric: str = "gmv_fen", top: int = 10, color: str = ACCENT,
                selected: str | None = None, others: bool = False, font_size: int = 15,
                labels: dict[str, str] | None = None, inside_labels: bool = False) -> dict:
    """Horizontal bars of ``(value, *MEASURES)`` rows, largest on top, labelled with the amount.
    ``others`` adds one bar summing the rows past ``top``; ``selected`` is highlighted;
    ``labels`` names values on the axis (else a value's underscores become spaces).
    ``inside_labels``: a label goes inside its bar (dark on it) when it fits there, else right of
    it, so no label is cut off however narrow the panel (the wall's); else every label is right
    of its bar, in a room kept for it."""
    if not rows:
        return message("no data", font_size)
    i = _column(metric)
    ranked = sorted(rows, key=lambda r: (-int(r[i]), str(r[0])))
    bars = [(str(r[0]), int(r[i])) for r in ranked[:top]]
    if others and len(ranked) > top:
        bars.append((f"{len(ranked) - top} others", sum(int(r[i]) for r in ranked[top:])))
    bars.reverse()  # plotly draws the first bar at the bottom
    colors = [ACCENT_2 if name == selected else (MUTED if name.endswith(" others") else color)
              for name, _ in bars]
    top_value = max((_value(v, metric) for _, v in bars), default=1) or 1
    # inside a bar, a thin space after the label: 万 and 亿 clear the bar's end
    texts = [_label(v, metric) + ("\u2009" if inside_labels else "") for _, v in bars]
    trace: dict[str, Any] = {
        "type": "bar", "orientation": "h", "y": [shown((labels or {}).get(n, n.replace("_", " "))) for n, _ in bars],
        "x": [_value(v, metric) for _, v in bars], "text": texts,
        "textposition": "outside", "marker": {"color": colors}, "cliponaxis": False,
        "hovertemplate": "%{y}: %{text}<extra></extra>", "textfont": {"color": TEXT},
        "customdata": [n for n, _ in bars],
    }
    if inside_labels:  # an empty bar has no inside: its "¥0" goes right of it
        trace["textposition"] = ["auto" if v > 0 else "outside" for _, v in bars]
        trace["insidetextfont"], trace["insidetextanchor"] = {"color": BACKGROUND}, "end"
    # Room right of the longest bar for its label (outside labels: so every label has the same size).
    return {"data": [trace], "layout": _layout(
        font_size, xaxis={"visible": False, "range": [0, top_value * (1.12 if inside_labels else 1.32)]},
        yaxis={"automargin": True, "color": TEXT, "gridcolor": "rgba(0,0,0,0)"}, bargap=0.22)}


def channel_donut(rows: list, metric: str = "gmv_fen", font_size: int = 15) -> dict:
    """Share of each channel as a donut."""
    if not rows:
        return message("no data", font_size)
    i = q.MEASURES.index(metric) + 1
    names = [str(r[0]) for r in rows]
    trace = {
        "type": "pie", "hole": 0.55, "labels": [shown(n.replace("_", " ")) for n in names],
        "values": [_value(int(r[i]), metric) for r in rows], "sort": True,
        "marker": {"colors": [CHANNEL_COLORS.get(n, COOL) for n in names],
                   "line": {"color": "#0b0f1a", "width": 2}},
        "textinfo": "label+percent", "textposition": "outside", "automargin": True,
        "hovertemplate": "%{label}: %{percent}<extra></extra>", "customdata": names,
    }
    return {"data": [trace], "layout": _layout(font_size, margin={"l": 30, "r": 30, "t": 20, "b": 20})}


BAD = "#ff4d5e"


def parcel_funnel(stages: Sequence[tuple[str, int]], font_size: int = 13) -> dict:
    """Parcels per stage, ``(label, count)`` top to bottom, as a funnel of bars named on the left
    (the last stage, parcels in exception, in red); the page writes each count right of its bar, a
    row per bar, so the counts are text a test and a screen reader can read."""
    if not stages:
        return message("parcels: not available", font_size)
    colors = [COOL] * (len(stages) - 1) + [BAD]
    trace = {
        "type": "funnel", "y": [shown(label) for label, _ in stages], "x": [int(n) for _, n in stages],
        "textinfo": "none", "marker": {"color": colors},
        "connector": {"fillcolor": "rgba(63,182,255,0.12)", "line": {"width": 0}},
        "customdata": [fmt.count(n) for _, n in stages], "hovertemplate": "%{y}: %{customdata}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(
        # room for the longest stage name ("waiting for pickup") left of the bars: plotly's automargin
        # does not widen a margin the panel's width leaves no room for
        font_size, margin={"l": int(10 * font_size), "r": 0, "t": 0, "b": 0, "pad": 4}, xaxis={"visible": False},
        yaxis={"autorange": "reversed", "color": MUTED, "gridcolor": "rgba(0,0,0,0)", "ticks": ""},
        funnelgap=0.25)}


# -- explore ----------------------------------------------------------------------------------


def timeseries(rows: list[tuple], metric: str, bucket_s: int, start_s: int, end_s: int,
               last_year: list[tuple] | None = None) -> dict:
    """``metric`` per bucket from ``(bucket, *MEASURES)`` rows (or ``(bucket, buyers, new buyers)``
    rows for a buyers metric), as bars over [start, end); with ``last_year`` (rows of the same
    shape, at this year's buckets), last year's as a dashed line."""
    if not rows and not last_year:
        return message("no rollups in this time range for this selection")
    i = q.MEASURES.index(metric) + 1 if metric in q.MEASURES else (1 if metric == "buyers" else 2)
    label, money = METRICS[metric]
    trace = {
        "type": "bar", "x": [_iso(r[0] + bucket_s / 2) for r in rows], "y": [_value(r[i], metric) for r in rows],
        "width": bucket_s * 1000 * 0.9, "marker": {"color": ACCENT},
        "hovertemplate": "%{x|%Y-%m-%d %H:%M} CST<br>" + label
                         + (": ¥%{y:,.2f}" if money else ": %{y:,}") + "<extra></extra>",
    }
    over = [] if not last_year else [{
        "type": "scatter", "mode": "lines", "name": "last year", "x": [_iso(r[0] + bucket_s / 2) for r in last_year],
        "y": [_value(r[i], metric) for r in last_year], "line": {"color": COOL, "width": 2, "dash": "dash"},
        "hovertemplate": "%{x|%m-%d %H:%M} last year<br>" + label
                         + (": ¥%{y:,.2f}" if money else ": %{y:,}") + "<extra></extra>",
    }]
    return {"data": [trace, *over], "layout": _layout(
        14, xaxis={"type": "date", "range": [_iso(start_s), _iso(end_s)]},
        yaxis={"tickprefix": "¥" if money else "", "tickformat": "~s", "rangemode": "tozero"},
        dragmode="zoom", uirevision="explore")}

