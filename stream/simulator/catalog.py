"""The catalogue: brands with Zipf-like popularity, categories, provinces, channels, carriers, warehouses.

Built once per configuration (cached) and independent of the run's seed, so a
brand keeps its name and rank across runs. Each categorical value also has its
JSON fragment ready (quoted), which the encoder just looks up.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from stream.simulator import events, warehouses
from stream.simulator.config import FestivalConfig

# Brand names are prefix + ending + word; prefixes all have three letters, so a name
# determines its parts and every combination is a distinct name.
_PREFIXES = [
    "Lum", "Ver", "Kal", "Nor", "Zen", "Aur", "Bel", "Cor", "Dax", "Elo", "Fen", "Gal", "Hal", "Iva", "Jun", "Kor",
    "Lan", "Mir", "Nov", "Ola", "Pax", "Qin", "Ros", "Sol", "Tav", "Uma", "Vel", "Wen", "Xia", "Yun", "Zor", "Ami",
    "Bao", "Cel", "Dor", "Eva", "Fio", "Gen", "Hua", "Ira", "Jia", "Kai", "Lio", "Mei", "Nia", "Oro", "Pei", "Rui",
    "Sen", "Tao", "Ula", "Vio", "Wei", "Xin", "Yao", "Zhi", "Ari", "Bry", "Cai", "Dun", "Ema", "Fal", "Gio", "Hel",
    "Isa", "Jor", "Kes", "Lux", "Mon", "Nel",
]
_ENDINGS = [
    "a", "o", "ia", "ora", "ina", "ex", "on", "ix", "ara", "elle", "ova", "ani", "eon", "ity", "ano", "ura", "ique",
    "ant", "ero", "ika", "al", "en", "is", "us", "ada", "ette", "ine", "ory", "ian", "ea", "ena", "imo", "oni", "uxe",
    "ari", "etta", "ove", "ide", "ion", "elo", "ume", "ava", "ier", "ane", "ino", "ys", "ona", "ida", "ola", "ema",
    "ira", "ulo", "ace", "ade", "iva", "ito", "ica", "oko", "eli", "ase", "ilo", "ynn", "abe", "ori", "una", "ivo",
    "esh", "ami", "osa", "uno",
]
_WORDS = [
    "Home", "Studio", "Lab", "Works", "House", "Living", "Select", "Origin", "Craft", "Nature", "Style", "Goods",
    "Daily", "Life", "Plus", "Pro", "Go", "One", "Max", "Mini", "Smart", "Pure", "Fresh", "Urban", "Classic", "Garden",
    "Kids", "Sport", "Tech", "Beauty", "Kitchen", "Outdoor", "Co", "Care", "Field", "Harbor", "Peak", "River", "Stone",
    "Cloud", "Moon", "Sun", "Star", "Leaf", "Bloom", "Wave", "Spark", "Forest", "Valley", "Ocean", "Path", "Nest",
    "Loom", "Atelier", "Supply", "Trading", "Collective", "Union", "Factory", "Bureau",
]


@dataclass(frozen=True)
class Catalog:
    """Names, JSON fragments and sampling tables of every categorical field."""

    brand_names: tuple[str, ...]
    brand_json: np.ndarray  # object array of b'"Name"'
    brand_offsets: np.ndarray  # category c's brands are ids offsets[c] .. offsets[c+1]-1
    brand_cdfs: tuple[np.ndarray, ...]  # per category: Zipf CDF over its brands, by rank
    category_names: tuple[str, ...]
    category_cdf: np.ndarray
    log_median_fen: np.ndarray  # per category: log of the median unit price in fen
    sigma: np.ndarray
    province_names: tuple[str, ...]
    province_cdf: np.ndarray
    channel_cdf: np.ndarray
    promotion_cdf: np.ndarray
    carrier_names: tuple[str, ...]
    carrier_cdf: np.ndarray
    hubs: warehouses.HubTable  # where a parcel ships from, by its destination province

    @property
    def hub_names(self) -> tuple[str, ...]:
        """Warehouse provinces: an order's ``origin`` is an index into these."""
        return self.hubs.names


def cdf(weights) -> np.ndarray:
    """Cumulative distribution of ``weights`` (normalised; the last entry is exactly 1)."""
    c = np.cumsum(np.asarray(weights, dtype=np.float64))
    c /= c[-1]
    c[-1] = 1.0
    return c


def draw(cdf_: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn from a CDF with uniforms ``u`` in [0, 1)."""
    return np.searchsorted(cdf_, u, side="right").astype(np.int64)


def brand_name(index: int) -> str:
    """The ``index``-th of all possible brand names (a bijection, so names never repeat)."""
    word, rest = divmod(index, len(_PREFIXES) * len(_ENDINGS))
    ending, prefix = divmod(rest, len(_PREFIXES))
    return f"{_PREFIXES[prefix]}{_ENDINGS[ending]} {_WORDS[word]}"


def max_brands() -> int:
    return len(_PREFIXES) * len(_ENDINGS) * len(_WORDS)


def _category_sizes(n: int, weights: np.ndarray) -> np.ndarray:
    """Brands per category, proportional to the category's weight, at least one each."""
    sizes = np.maximum(1, np.floor(n * weights / weights.sum())).astype(np.int64)
    sizes[np.argmax(weights)] += n - sizes.sum()
    return sizes


def _by_code(enum: tuple[str, ...], weights: tuple[tuple[str, float], ...]) -> np.ndarray:
    """Weights laid out by the enum's codes (so config order does not matter)."""
    out = np.zeros(len(enum))
    for name, weight in weights:
        if name not in enum:
            raise ValueError(f"{name!r} is not one of {', '.join(enum)}")
        out[enum.index(name)] = weight
    return out


@functools.lru_cache(maxsize=4)
def build(config: FestivalConfig) -> Catalog:
    """The catalogue of ``config`` (cached: building 290,000 names takes a moment)."""
    if config.brands > max_brands():
        raise ValueError(f"at most {max_brands()} brands have names")
    rng = np.random.default_rng(config.catalog_seed)
    picks = rng.choice(max_brands(), size=config.brands, replace=False)
    names = tuple(brand_name(int(i)) for i in picks)
    weights = np.array([c.weight for c in config.categories])
    sizes = _category_sizes(config.brands, weights)
    ranks = [np.arange(1, s + 1, dtype=np.float64) for s in sizes]
    return Catalog(
        brand_names=names,
        brand_json=np.array([f'"{n}"'.encode() for n in names], dtype=object),
        brand_offsets=np.concatenate([[0], np.cumsum(sizes)]),
        brand_cdfs=tuple(cdf(r ** -config.brand_zipf) for r in ranks),
        category_names=tuple(c.name for c in config.categories),
        category_cdf=cdf(weights),
        log_median_fen=np.log([c.median_yuan * 100 for c in config.categories]),
        sigma=np.array([c.sigma for c in config.categories]),
        province_names=tuple(p for p, _ in config.provinces),
        province_cdf=cdf([w for _, w in config.provinces]),
        channel_cdf=cdf(_by_code(events.CHANNELS, config.channels)),
        promotion_cdf=cdf(_by_code(events.PROMOTIONS, config.promotions)),
        carrier_names=tuple(c for c, _ in config.carriers),
        carrier_cdf=cdf([w for _, w in config.carriers]),
        hubs=warehouses.hub_table(tuple(p for p, _ in config.provinces)),
    )
