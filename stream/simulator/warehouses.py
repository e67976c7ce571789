"""Where a parcel ships from: the warehouse hub provinces, and a vectorised draw of an origin per parcel.

On Singles' Day most parcels leave a few coastal e-commerce provinces, and some leave a warehouse
in the buyer's own region, where the platforms pre-stock bestsellers for the festival. So each
parcel's origin is drawn from the regional hubs of its destination with probability
``LOCAL_SHARE``, and from the national hub table otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Hub province -> weight: roughly its percent of the parcels China's express carriers collected in
# a year (after the State Post Bureau's yearly bulletins around 2021, rounded: the ranking and the
# rough sizes matter here, not the decimals): Guangdong (Guangzhou,
# Shenzhen, Dongguan) and Zhejiang (Hangzhou, Yiwu, Jinhua) together send about half of all parcels;
# Jiangsu (Suzhou, Kunshan) next; Hebei (Langfang) and Tianjin serve Beijing; Shandong (Linyi),
# Fujian (Quanzhou, Xiamen), Henan (Zhengzhou), Hubei (Wuhan, Ezhou's cargo airport), Sichuan
# (Chengdu), Shaanxi (Xi'an) and Liaoning (Shenyang) are the regional gateways. Provinces that send
# little (Tibet, Qinghai, ...) are not hubs: the listed ones send ~94% of parcels, and the draw
# normalises the weights, so the rest is folded into them.
HUBS: tuple[tuple[str, float], ...] = (
    ("Guangdong", 27.0), ("Zhejiang", 21.0), ("Jiangsu", 8.0), ("Shandong", 5.5), ("Hebei", 5.0),
    ("Fujian", 4.0), ("Henan", 4.0), ("Shanghai", 3.5), ("Sichuan", 2.8), ("Hubei", 2.5), ("Beijing", 2.2),
    ("Anhui", 2.2), ("Hunan", 2.0), ("Tianjin", 1.2), ("Shaanxi", 1.2), ("Liaoning", 1.2), ("Chongqing", 1.0),
)

# China's seven customary geographic regions (华北, 东北, 华东, 华中, 华南, 西南, 西北): each has a hub.
REGIONS: dict[str, tuple[str, ...]] = {
    "North": ("Beijing", "Tianjin", "Hebei", "Shanxi", "Inner Mongolia"),
    "Northeast": ("Liaoning", "Jilin", "Heilongjiang"),
    "East": ("Shanghai", "Jiangsu", "Zhejiang", "Anhui", "Fujian", "Jiangxi", "Shandong"),
    "Central": ("Henan", "Hubei", "Hunan"),
    "South": ("Guangdong", "Guangxi", "Hainan"),
    "Southwest": ("Chongqing", "Sichuan", "Guizhou", "Yunnan", "Tibet"),
    "Northwest": ("Shaanxi", "Gansu", "Qinghai", "Ningxia", "Xinjiang"),
}

LOCAL_SHARE = 0.3  # of parcels shipped from a hub in the buyer's region (pre-stocked for the festival)


@dataclass(frozen=True)
class HubTable:
    """Sampling tables of a parcel's origin, by destination province code."""

    names: tuple[str, ...]  # hub provinces: a drawn origin is an index into this
    destinations: tuple[str, ...]  # destination provinces, by their code (the simulator's province order)
    # Row d < len(destinations): CDF over hubs of destination d's region; the last row: the national CDF.
    # Row r's values are offset by r (row r lies in [r, r + 1]), so one searchsorted draws for every row.
    offset_cdfs: np.ndarray
    local_share: float


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Cumulative distribution; exactly 1 from the last hub with a weight on, so a uniform below 1
    never lands on a zero-weight hub after it through rounding."""
    c = np.cumsum(weights)
    c /= c[-1]
    c[np.flatnonzero(weights)[-1]:] = 1.0
    return c


def hub_table(destinations: tuple[str, ...], hubs: tuple[tuple[str, float], ...] = HUBS,
              regions: dict[str, tuple[str, ...]] = REGIONS, local_share: float = LOCAL_SHARE) -> HubTable:
    """The tables for parcels to ``destinations`` (province names, in code order)."""
    if not 0.0 <= local_share <= 1.0:
        raise ValueError(f"local_share {local_share} is not a probability")
    names = tuple(h for h, _ in hubs)
    weights = np.array([w for _, w in hubs], dtype=np.float64)
    region_of = {p: r for r, members in regions.items() for p in members}
    rows = []
    for destination in destinations:
        if destination not in region_of:
            raise ValueError(f"{destination!r} is in no region")
        members = regions[region_of[destination]]
        regional = np.where([h in members for h in names], weights, 0.0)
        if not regional.any():
            raise ValueError(f"no hub in {region_of[destination]}, the region of {destination}")
        rows.append(_cdf(regional))
    rows.append(_cdf(weights))
    cdfs = np.array(rows) + np.arange(len(rows))[:, None]
    return HubTable(names, tuple(destinations), cdfs.ravel(), local_share)


def draw_origins(table: HubTable, destinations: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each parcel's origin hub (an index into ``table.names``) from its destination's code and one
    uniform in [0, 1): below ``local_share`` it picks a hub of the destination's region (reusing the
    rest of the uniform), otherwise one from the national table."""
    destinations = np.asarray(destinations, dtype=np.int64)
    u = np.asarray(u, dtype=np.float64)
    hubs = len(table.names)
    local = u < table.local_share
    rest = np.empty_like(u)  # the uniform's part past the regional-or-national choice, again in [0, 1)
    rest[local] = u[local] / table.local_share
    rest[~local] = (u[~local] - table.local_share) / (1.0 - table.local_share)
    row = np.where(local, destinations, len(table.destinations))
    # row + rest can round up to row + 1 (the next row's start): keep it inside its own row
    at = np.minimum(row + rest, np.nextafter(row + 1.0, 0.0))
    flat = np.searchsorted(table.offset_cdfs, at, side="right")
    return (flat - row * hubs).astype(np.int64)
