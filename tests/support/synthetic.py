"""Plausible rollup rows of a replayed festival, for tests, benchmarks and the README's pictures.

Test and bench support, not part of the product. This is not the pipeline: it draws orders
second by second with numpy and aggregates them the way the rollup contract declares them: the
live path (totals and each low-cardinality field on its own per second, the festival day's top
brands), the explore path (the cube and brands with their category per 5 minutes) and every time
tier of each (minutes, hours and UTC days), logistics per status, late and rejected counts, buyers.
The explore path's windows and every coarser tier are written only once closed (ended by the
newest second), as the job writes them. With the traps a reader must handle: ``late = 1``
correction rows, superseded row versions (lower ``written_ms``), and in the top brands a brand
that left a ranking (a row of zeros) and an extra row past the ranking's length. Every breakdown
adds up exactly to the per-second totals, so pages can be cross-checked; and
:func:`generate_with_orders` hands out the order draws themselves, so a test can sum any
selection on its own.

It works an hour of orders at a time (a festival day of 200 orders/s and 50,000 brands fits in
memory), and :func:`generate_days` hands out a UTC day's rows at a time for a benchmark to insert.
Per-second breakdowns are written for the last :attr:`Festival.live_s` only: the job writes them
all along, but no reader takes them once their minute has closed, and eleven days of them would be
most of a benchmark's rows.

What it derives, not repeats:

- from :mod:`stream.contract`: the rollup tables and their columns (in the declared order, plus
  ``VERSION_COLUMN``), the families of time tiers and their grains, the festival day, the order
  measures (each one's status, amount and excepted or only pre-sale phase), the cube's fields,
  the top brands' length and order, the promotion, wave and pre-sale phase enums, the parcel
  statuses and the festival's time zone;
- from the simulator (:mod:`stream.simulator.config` and its catalogue): categories with their
  shares and prices, provinces with their populations, channels with their shares, brand names
  and each brand's category, the promotions' shares and the livestream deals, the festival
  calendar (pre-sale and wave windows), the pre-sale share, deposit share and final payments,
  VIPs' prices, the payment and refund probabilities and the parcel steps.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate

import numpy as np

from stream.contract import (
    COUNT,
    CUBE_DIMENSIONS,
    DAY_S,
    EXPLORE,
    FEN,
    FESTIVAL_TZ,
    HOUR_S,
    MEASURES,
    ORDER_MEASURES,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    ROLLUPS,
    TEXT,
    TOP_BRANDS,
    UTC_OFFSET_S,
    VERSION_COLUMN,
    WAVES,
    Rollup,
    family,
    festival_day_start,
    window_start,
)
from stream.simulator import catalog
from stream.simulator.config import CATEGORIES, CHANNELS, DEFAULT, PARCEL_STEPS, PROVINCES

ORDERS_SECOND, ORDERS_HOUR, ORDERS_DAY = family("orders_second")
DIMENSIONS_SECOND, DIMENSIONS_MINUTE, DIMENSIONS_HOUR, DIMENSIONS_DAY = family("dimensions_second")
CUBE_5MIN, CUBE_HOUR, CUBE_DAY = family("cube_5min")
BRANDS_5MIN, BRANDS_HOUR, BRANDS_DAY = family("brands_5min")
TOP_BRANDS_DAY = ROLLUPS["top_brands"]
LOGISTICS_SECOND = ROLLUPS["logistics_second"]
LOGISTICS_MINUTE = ROLLUPS["logistics_minute"]
PIPELINE = ROLLUPS["pipeline_events"]
NEW_BUYERS = ROLLUPS["buyers_second"]
BUYERS = ROLLUPS["buyers_minute"]


def columns(rollup: Rollup) -> tuple[str, ...]:
    """Every column of a rollup's table, in the contract's order: keys, values, the version."""
    return (*rollup.column_names, VERSION_COLUMN)


COLUMNS_BY_TABLE = {r.table: ", ".join(columns(r)) for r in ROLLUPS.values()}

# Parcel events follow payments with a lag: the simulator's steps, added up (an exception
# comes the simulator's extra delay after pick-up); and the share of paid orders that get there.
_PARCEL_LAG_S = dict(zip([status for status, _ in PARCEL_STEPS], accumulate(int(d) for _, d in PARCEL_STEPS)))
_PARCEL_LAG_S["exception"] = _PARCEL_LAG_S["picked_up"] + int(DEFAULT.exception_extra_s)
_PARCEL_SHARE = {"created": 1.0, "picked_up": 0.99, "in_transit": 0.98, "out_for_delivery": 0.97,
                 "delivered": 0.96, "exception": DEFAULT.exception_prob}
# VIP (APASS) orders: far more than the simulator's ~0.8%, so that even a small test set has VIP
# rows in most cells of the cube.
VIP_SHARE = 0.1
# Of the orders placed while a wave is open: final payments of pre-sale orders (whose deposit
# was paid in the pre-sale window before the wave).
_FINAL_SHARE = DEFAULT.presale_share * DEFAULT.final_pay_prob
# Reasons the job gives rejected messages (a sample of them).
_REJECT_REASONS = np.array(["not_json", "missing_field", "bad_status"], dtype=object)


@dataclass(frozen=True)
class Festival:
    """What to generate: Shanghai-time span, mean orders per second, brand catalogue size."""

    start: datetime = datetime(2021, 11, 11, tzinfo=FESTIVAL_TZ)
    end: datetime = datetime(2021, 11, 11, 20, 0, 5, tzinfo=FESTIVAL_TZ)
    orders_per_s: float = 20.0  # daily mean of a festival day; the 11th is 3x, its midnight 40x
    brands: int = 5000
    late_share: float = 0.01  # orders that reach the job behind the watermark
    superseded_share: float = 0.02  # windows written twice (the older version must be ignored)
    written_at_ms: int | None = None  # when the newest window was written (default: now)
    live_s: int = 2 * HOUR_S  # per-second breakdowns kept this long before the newest second
    seed: int = 1111


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def rate(t_s: np.ndarray) -> np.ndarray:
    """Relative intensity at epoch seconds (mean ~1 on a festival day): a day curve, the 20:00
    spike, and the midnight surge when a wave opens (Nov 1 and, three times higher, Nov 11)."""
    local = np.asarray(t_s, dtype=np.int64) + UTC_OFFSET_S
    sec_of_day = local % 86400
    hour = sec_of_day / 3600.0
    curve = np.full(hour.shape, 0.07)
    for centre, amplitude, width in ((10.5, 0.3, 1.8), (13.5, 0.45, 2.2), (21.3, 0.95, 2.0)):
        d = np.abs(hour - centre)
        curve += amplitude * np.exp(-0.5 * (np.minimum(d, 24 - d) / width) ** 2)
    since_20 = (hour - 20.0) * 3600
    curve += np.where(since_20 >= 0, 0.8 * np.exp(-np.maximum(since_20, 0) / 720.0), 0.0)
    boost = np.ones(hour.shape)
    for day_index in np.unique(local // 86400):
        day = datetime(1970, 1, 1) + timedelta(days=int(day_index))
        if day.month == 11 and day.day in (1, 11):
            boost[local // 86400 == day_index] = 3.0 if day.day == 11 else 1.5
    surge = np.where(boost > 1, 12.0 * np.exp(-sec_of_day / 300.0), 0.0)
    return (curve * boost + surge) / 0.55


def _shares(weighted: tuple[tuple[str, float], ...]) -> np.ndarray:
    w = np.array([share for _, share in weighted], dtype=np.float64)
    return w / w.sum()


def _catalogue(brands: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each brand's category, its probability per order and its name: the simulator's catalogue
    (a category by its share of orders, then a brand by Zipf popularity within the category)."""
    built = catalog.build(DEFAULT.replace(brands=brands))  # DEFAULT's categories are CATEGORIES
    brand_cat = np.repeat(np.arange(len(CATEGORIES)), np.diff(built.brand_offsets))
    within = np.concatenate([np.diff(cdf, prepend=0.0) for cdf in built.brand_cdfs])
    weight = np.array([c.weight for c in CATEGORIES], dtype=np.float64)
    p = within * (weight / weight.sum())[brand_cat]
    return brand_cat, p / p.sum(), np.array(built.brand_names, dtype=object)


def _orders(fest: Festival, t0: int, t1: int, rng, brand_p) -> dict[str, np.ndarray]:
    """Orders of seconds [t0, t1): columns as arrays, one entry per order. Enum columns are
    indexes into the simulator's weighted tuples (province, channel) or the contract's enums
    (promotion, wave, presale_phase); ``vip`` is 0 or 1."""
    seconds = np.arange(t0, t1, dtype=np.int64)
    counts = rng.poisson(fest.orders_per_s * rate(seconds))
    n = int(counts.sum())
    paid = rng.random(n) < DEFAULT.pay_prob
    o = {
        "t": np.repeat(seconds, counts),
        "brand": rng.choice(len(brand_p), size=n, p=brand_p),
        "province": rng.choice(len(PROVINCES), size=n, p=_shares(PROVINCES)),
        "channel": rng.choice(len(CHANNELS), size=n, p=_shares(CHANNELS)),
        "paid": paid,
        "refund": paid & (rng.random(n) < DEFAULT.refund_prob),
        "cancel": ~paid,  # unpaid orders are cancelled (within 15 minutes)
        "late": rng.random(n) < fest.late_share,
    }
    return {**o, **_festival_fields(fest, o["t"], o["channel"], rng)}


def _festival_fields(fest: Festival, t: np.ndarray, channel: np.ndarray, rng) -> dict[str, np.ndarray]:
    """VIP flag, promotion, wave and pre-sale phase of orders at epoch seconds ``t``: the wave
    from the festival calendar; in a pre-sale window some orders are deposits, in a wave some
    are the final payments of earlier deposits (both promotion 'presale_deposit'); the others
    get the simulator's promotions, livestream orders often a livestream deal."""
    n = len(t)
    wave = np.full(n, WAVES.index("other"), dtype=np.int64)
    for start_ms, end_ms, window in DEFAULT.replace(year=fest.start.year).window_bounds():
        wave[(t * 1000 >= start_ms) & (t * 1000 < end_ms)] = WAVES.index(window.wave)
    u = rng.random(n)
    deposit = (wave == WAVES.index("presale")) & (u < DEFAULT.presale_share)
    final = np.isin(wave, [WAVES.index("wave1"), WAVES.index("wave2")]) & (u < _FINAL_SHARE)
    promo = np.array([PROMOTIONS.index(p) for p, _ in DEFAULT.promotions])[
        rng.choice(len(DEFAULT.promotions), size=n, p=_shares(DEFAULT.promotions))]
    livestream = channel == [c for c, _ in CHANNELS].index("livestream")
    promo = np.where(livestream & (rng.random(n) < DEFAULT.livestream_deal_share),
                     PROMOTIONS.index("livestream_deal"), promo)
    phase = np.select([deposit, final], [PRESALE_PHASES.index("deposit"), PRESALE_PHASES.index("final")],
                      PRESALE_PHASES.index("none"))
    return {"vip": (rng.random(n) < VIP_SHARE).astype(np.int64),
            "promotion": np.where(deposit | final, PROMOTIONS.index("presale_deposit"), promo),
            "wave": wave, "presale_phase": phase}


def _measures(o: dict, rng) -> dict[str, np.ndarray]:
    """Each order measure of the contract, per order: 1 if the order has an event with the
    measure's status in a phase the measure counts (or that event's amount, for a money
    measure), else 0. VIPs pay the simulator's VIP multiple; a deposit is the simulator's
    deposit share of the price, its final payment the rest."""
    category = o["category"]
    median = np.array([c.median_yuan for c in CATEGORIES], dtype=np.float64)[category]
    sigma = np.array([c.sigma for c in CATEGORIES], dtype=np.float64)[category]
    spend = np.where(o["vip"] == 1, DEFAULT.vip_spend_multiplier, 1.0)
    price = np.round(median * 100 * spend * rng.lognormal(0.0, sigma)).astype(np.int64)  # fen
    phase = o["presale_phase"]
    deposit = np.maximum(100, np.round(price * DEFAULT.deposit_share / 100).astype(np.int64) * 100)
    price = np.select([phase == PRESALE_PHASES.index("deposit"), phase == PRESALE_PHASES.index("final")],
                      [deposit, np.maximum(price - deposit, 0)], price)
    has = {"created": np.ones(len(price), dtype=bool), "paid": o["paid"], "refunded": o["refund"],
           "cancelled": o["cancel"]}
    counted = {m.name: has[m.status] & (phase != (PRESALE_PHASES.index(m.except_phase) if m.except_phase else -1))
               & ((phase == PRESALE_PHASES.index(m.phase)) if m.phase else True)
               for m in ORDER_MEASURES}
    return {m.name: np.where(counted[m.name], price, 0) if m.is_money else counted[m.name].astype(np.int64)
            for m in ORDER_MEASURES}


# Key spaces up to this many codes are summed by counting into every code (np.bincount), larger
# ones by sorting (np.unique): counting is several times faster while its arrays stay small.
_DENSE_CODES = 1 << 22


def _aggregate(keys: list[np.ndarray], values: dict[str, np.ndarray], steps: list[int] | None = None):
    """Distinct rows of ``keys`` (non-negative int arrays) and the sums of ``values`` for each;
    ``steps``: how far apart each key's values are (a window's grain), 1 when not given."""
    n = len(keys[0])
    base = [int(k.min()) if n else 0 for k in keys]
    step = steps or [1] * len(keys)
    radix = [int(k.max() - b) // s + 1 if n else 1 for k, b, s in zip(keys, base, step)]
    code = np.zeros(n, dtype=np.int64)
    for k, b, s, r in zip(keys, base, step, radix):  # one int64 per key row: a 1-D sum is ~20x faster
        code = code * r + (k - b) // s
    if math.prod(radix) <= _DENSE_CODES:
        uniq = np.flatnonzero(np.bincount(code, minlength=math.prod(radix)))
        sums = {m: np.bincount(code, weights=v, minlength=math.prod(radix))[uniq].round().astype(np.int64)
                for m, v in values.items()}
    else:
        uniq, inverse = np.unique(code, return_inverse=True)
        sums = {m: np.bincount(inverse, weights=v, minlength=len(uniq)).round().astype(np.int64)
                for m, v in values.items()}
    cols = []
    for b, s, r in zip(reversed(base), reversed(step), reversed(radix)):
        uniq, digit = np.divmod(uniq, r)
        cols.append(digit * s + b)
    return cols[::-1], sums


def _group(cols: dict[str, np.ndarray], window_s: int, shift_s: int = 0) -> dict[str, np.ndarray]:
    """Coded rows summed per key (every column but the measures) per ``window_s`` window (each
    row's window moved to the start of its own: for a coarser time tier); ``shift_s``: windows
    aligned that much ahead of UTC (a festival day: UTC_OFFSET_S)."""
    keys = [c for c in cols if c not in MEASURES]
    window = window_start(cols["window_start"] + shift_s, window_s) - shift_s
    found, sums = _aggregate([window if c == "window_start" else cols[c] for c in keys],
                             {m: cols[m] for m in MEASURES if m in cols},
                             [window_s if c == "window_start" else 1 for c in keys])
    return {**dict(zip(keys, found)), **sums}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]} if parts else {}


def _block(rollup: Rollup, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``cols`` in the order of the rollup's table; exactly its columns, or an error naming the difference."""
    if set(cols) != set(columns(rollup)):
        raise ValueError(f"{rollup.table}: generated columns {sorted(cols)} are not the contract's "
                         f"{sorted(columns(rollup))}")
    return {c: cols[c] for c in columns(rollup)}


class _Tables:
    """Collects columns per table and versions rows as the job would: a row is written when its
    window closes (a late correction 20 s later), a live window still open with the newest second.
    The explore path's windows are kept only once closed (ended by the newest second)."""

    def __init__(self, fest: Festival, newest_s: int, rng) -> None:
        now_ms = fest.written_at_ms if fest.written_at_ms is not None else int(datetime.now().timestamp() * 1000)
        self.offset_ms = now_ms - (newest_s + 3) * 1000  # replay clock: the newest window is written now
        self.newest_s = newest_s
        self.fest, self.rng = fest, rng
        self.parts: dict[str, list[dict]] = {}

    def written(self, window: np.ndarray, window_s: int, late: np.ndarray) -> np.ndarray:
        return self.offset_ms + np.minimum(window + window_s + 2 + 20 * late, self.newest_s + 3) * 1000

    def add(self, rollup: Rollup, cols: dict[str, np.ndarray]) -> None:
        """Rows of a rollup (versioned here), and an older version of a few of them."""
        if rollup.path == EXPLORE:
            closed = cols["window_start"] + rollup.window_s <= self.newest_s
            cols = {c: v[closed] for c, v in cols.items()}
        window = cols["window_start"]
        late = cols.get("late", np.zeros(len(window), dtype=np.int64))
        block = _block(rollup, {**cols, VERSION_COLUMN: self.written(window, rollup.window_s, late)})
        self.parts.setdefault(rollup.table, []).append(block)
        # Some windows were written twice (a restart, or a live window rewritten as it filled): an
        # older version with other numbers, which ReplacingMergeTree(written_ms) must drop.
        old = (late == 0) & (self.rng.random(len(window)) < self.fest.superseded_share)
        if old.any():
            stale = {k: v[old] for k, v in block.items()}
            first = next(c.name for c in rollup.values if c.kind in (COUNT, FEN))
            stale[first] = stale[first] + 7
            stale[VERSION_COLUMN] = stale[VERSION_COLUMN] - 1500
            self.parts[rollup.table].append(stale)

    def add_plain(self, rollup: Rollup, cols: dict[str, np.ndarray]) -> None:
        self.parts.setdefault(rollup.table, []).append(_block(rollup, cols))

    def columns(self) -> dict[str, dict[str, np.ndarray]]:
        return {t: _concat(blocks) for t, blocks in self.parts.items()}


def generate(fest: Festival = Festival()) -> dict[str, dict[str, np.ndarray]]:
    """Rollup columns per table: ``{table: {column: array}}``, window_start as epoch seconds."""
    return _merged(generate_days(fest))


def generate_days(fest: Festival = Festival()) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """:func:`generate`'s rows a festival day at a time (the parcels last): what a benchmark
    inserts as they come, so a festival of any size is never in memory at once."""
    return _generate(fest, None)


def generate_with_orders(fest: Festival = Festival()) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                dict[str, np.ndarray]]:
    """:func:`generate`'s tables and the orders they were aggregated from, one entry per order:
    ``t`` (epoch second), ``late`` (bool), each of ``CUBE_DIMENSIONS`` and ``brand`` by its
    value as the rollups write it (``vip`` 0 or 1), and each measure. Superseded versions are a
    trap of the tables only: these are the numbers a correct reader must find."""
    orders: list[dict[str, np.ndarray]] = []
    tables = _merged(_generate(fest, orders))
    return tables, _concat(orders)


def _merged(days: Iterator[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    parts: dict[str, list[dict]] = {}
    for tables in days:
        for table, cols in tables.items():
            parts.setdefault(table, []).append(cols)
    return {t: _concat(p) for t, p in parts.items()}


def _spans(t0: int, t1: int, window_s: int) -> Iterator[tuple[int, int]]:
    """[t0, t1) cut at the starts of ``window_s`` windows (UTC days for a day)."""
    at = t0
    while at < t1:
        nxt = min(window_start(at, window_s) + window_s, t1)
        yield at, nxt
        at = nxt


@dataclass(frozen=True)
class _Names:
    """Each coded field's values as the rollups write them."""

    fields: dict[str, np.ndarray]  # cube field -> values by code (vip: 0 and 1), and brand
    category_of_brand: np.ndarray
    value_text: np.ndarray  # dimensions' ``value`` by code (a field's index * 100 + the value's code)

    @classmethod
    def of(cls, cat_of_brand: np.ndarray, brand_names: np.ndarray) -> _Names:
        fields = {"category": np.array([c.name for c in CATEGORIES], dtype=object), "brand": brand_names,
                  "province": np.array([p for p, _ in PROVINCES], dtype=object),
                  "channel": np.array([c for c, _ in CHANNELS], dtype=object),
                  "vip": np.array([0, 1], dtype=np.int64), "promotion": np.array(PROMOTIONS, dtype=object),
                  "wave": np.array(WAVES, dtype=object), "presale_phase": np.array(PRESALE_PHASES, dtype=object)}
        text = np.full(100 * len(CUBE_DIMENSIONS), "", dtype=object)
        for i, dim in enumerate(CUBE_DIMENSIONS):
            text[100 * i: 100 * i + len(fields[dim])] = [str(v) for v in fields[dim]]
        return cls(fields, cat_of_brand, text)

    def named(self, family_name: str, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Coded rows of a family as its table's columns."""
        if family_name == "dimensions":
            return {**cols, "dimension": np.asarray(CUBE_DIMENSIONS, dtype=object)[cols["dimension"]],
                    "value": self.value_text[cols["value"]]}
        if family_name == "cube":
            return {**cols, **{d: self.fields[d][cols[d]] for d in CUBE_DIMENSIONS}}
        if family_name == "brands":
            return {**cols, "brand": self.fields["brand"][cols["brand"]],
                    "category": self.fields["category"][self.category_of_brand[cols["brand"]]]}
        return cols


# family -> its tiers, finest first
_FAMILIES = {"orders": (ORDERS_SECOND, ORDERS_HOUR, ORDERS_DAY),
             "dimensions": (DIMENSIONS_SECOND, DIMENSIONS_MINUTE, DIMENSIONS_HOUR, DIMENSIONS_DAY),
             "cube": (CUBE_5MIN, CUBE_HOUR, CUBE_DAY), "brands": (BRANDS_5MIN, BRANDS_HOUR, BRANDS_DAY)}


def _finest(o: dict, values: dict, dims_s: int) -> dict[str, dict[str, np.ndarray]]:
    """Coded rows of each family at its finest grain, from an hour's orders (or part of one); the
    breakdowns per ``dims_s`` seconds (1, or 60 where no per-second rows are kept)."""
    late = o["late"].astype(np.int64)

    def at(window_s: int) -> np.ndarray:
        return o["t"] - o["t"] % window_s

    window, five = at(dims_s), at(CUBE_5MIN.window_s)
    dims = _concat([_group({"window_start": window, "dimension": np.full(len(window), i, dtype=np.int64),
                            "value": o[d] + 100 * i, "late": late, **values}, dims_s)
                    for i, d in enumerate(CUBE_DIMENSIONS)])
    return {"orders": _group({"window_start": o["t"], "late": late, **values}, ORDERS_SECOND.window_s),
            "dimensions": dims,
            "cube": _group({"window_start": five, **{d: o[d] for d in CUBE_DIMENSIONS}, "late": late, **values},
                           CUBE_5MIN.window_s),
            "brands": _group({"window_start": five, "brand": o["brand"], "late": late, **values}, BRANDS_5MIN.window_s)}


def _generate(fest: Festival, keep: list | None) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(fest.seed)
    cat_of_brand, brand_p, brand_names = _catalogue(fest.brands)
    names = _Names.of(cat_of_brand, brand_names)
    brand_order = np.argsort(np.argsort(brand_names.astype(str), kind="stable"), kind="stable")
    t0, t1 = _unix(fest.start), _unix(fest.end)
    live_from = t1 - 1 - fest.live_s  # per-second breakdowns from here on
    paid = np.zeros(t1 - t0, dtype=np.float64)
    buyers_rng = np.random.default_rng(fest.seed + 1)  # its own, so the other tables stay as they were
    buyers, festival_brands = None, []  # of the festival day under way (it spans two UTC days)
    for day_start, day_end in _spans(t0, t1, DAY_S):
        out = _Tables(fest, t1 - 1, rng)
        hours: dict[str, list[dict]] = {f: [] for f in _FAMILIES}
        for h0, h1 in _spans(day_start, day_end, HOUR_S):
            festival_day = festival_day_start(h0)
            if buyers is None or buyers.day != festival_day:
                buyers = _DayBuyers(fest, festival_day, max(t0, festival_day), min(t1, festival_day + DAY_S),
                                    buyers_rng)
            o = _orders(fest, h0, h1, rng, brand_p)
            o["category"] = cat_of_brand[o["brand"]]
            values = _measures(o, rng)
            paid[h0 - t0: h1 - t0] = np.bincount(o["t"] - h0, weights=o["paid"], minlength=h1 - h0)
            dims_s = 1 if h1 > live_from else 60
            for name, rows in _finest(o, values, dims_s).items():
                _add_tiers(out, names, name, rows, dims_s if name == "dimensions" else _FAMILIES[name][0].window_s,
                           live_from)
                hours[name].append(_group(rows, HOUR_S))
            festival_brands.append({c: v for c, v in hours["brands"][-1].items() if c != "late"})
            _pipeline(out, o, rng)
            buyers.add(out, o)
            if keep is not None:
                keep.append({"t": o["t"], "late": o["late"], **{d: names.fields[d][o[d]] for d in names.fields},
                             **values})
            if h1 == t1 or festival_day_start(h1) == h1:  # the festival day's last hour
                _top_brands(out, _group(_concat(festival_brands), DAY_S, UTC_OFFSET_S), names, brand_order)
                festival_brands = []
        for name, parts in hours.items():
            out.add(_FAMILIES[name][-1], names.named(name, _group(_concat(parts), DAY_S)))
        yield out.columns()
    out = _Tables(fest, t1 - 1, rng)
    _logistics(out, t0, paid, rng)
    yield out.columns()


def _add_tiers(out: _Tables, names: _Names, name: str, rows: dict[str, np.ndarray], grain_s: int,
               live_from: int) -> None:
    """A family's rows of an hour, per ``grain_s`` seconds, in each of its tiers up to the hour
    (each coarser one summed from them); per-second breakdowns only from ``live_from`` on."""
    for tier in _FAMILIES[name]:
        if tier.window_s < grain_s or tier.window_s > HOUR_S:  # days: summed per UTC day
            continue
        tier_rows = rows if tier.window_s == grain_s else _group(rows, tier.window_s)
        if tier is DIMENSIONS_SECOND:
            tier_rows = {c: v[rows["window_start"] >= live_from] for c, v in tier_rows.items()}
        out.add(tier, names.named(name, tier_rows))


def _top_brands(out: _Tables, days: dict[str, np.ndarray], names: _Names, brand_order: np.ndarray) -> None:
    """Each festival day's rankings of stream.contract's TOP_BRANDS: over all brands (ranking '')
    and within each category, first to last by its rank_key (GMV, largest first; a brand with no
    paid event after every one with one; ties by name). Past the ranking's n, the next brand with
    its numbers (an extra row a state expiry left) and two more as rows of zeros (brands that
    left the ranking): a reader takes the first n non-zero rows."""
    n = TOP_BRANDS.n
    brand, gmv = days["brand"], days[TOP_BRANDS.measure]
    unpaid = sum(days[e] for e in TOP_BRANDS.events) == 0
    category = names.category_of_brand[brand]
    picked: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, ranking) per ranking
    for overall, groups in ((True, days["window_start"] * 0), (False, category + 1)):
        order = np.lexsort((brand_order[brand], -gmv, unpaid, groups, days["window_start"]))
        key = days["window_start"][order] * 64 + groups[order]
        first = np.concatenate([[True], key[1:] != key[:-1]]) if len(order) else np.zeros(0, bool)
        position = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        rows = order[position < n + 3]
        ranking = np.full(len(rows), "", dtype=object) if overall else names.fields["category"][category[rows]]
        picked.append((rows, ranking, position[position < n + 3]))
    rows = np.concatenate([r for r, _, _ in picked])
    position = np.concatenate([p for _, _, p in picked])
    zero = position > n  # the (n+2)th and (n+3)th: left the ranking
    cols = {"window_start": days["window_start"][rows], "ranking": np.concatenate([k for _, k, _ in picked]),
            "brand": names.fields["brand"][brand[rows]], "category": names.fields["category"][category[rows]],
            **{m: np.where(zero, 0, days[m][rows]) for m in MEASURES}}
    out.add(TOP_BRANDS_DAY, cols)


def _pipeline(out: _Tables, o: dict, rng) -> None:
    """Late counts (events behind the watermark: the late orders' events) and a few rejects."""
    minute = o["t"] - o["t"] % 60
    late_min, late_n = np.unique(minute[o["late"]], return_counts=True)
    all_min = np.unique(minute)
    rej_min = all_min[rng.random(len(all_min)) < 0.05]
    k = len(rej_min)
    out.add_plain(PIPELINE, {
        "window_start": np.concatenate([late_min, rej_min]),
        "source": np.concatenate([np.full(len(late_min), "orders", dtype=object),
                                  np.where(rng.random(k) < 0.8, "orders", "logistics").astype(object)]),
        "kind": np.concatenate([np.full(len(late_min), "late", dtype=object), np.full(k, "rejected", dtype=object)]),
        "reason": np.concatenate([np.full(len(late_min), "", dtype=object),
                                  _REJECT_REASONS[rng.integers(0, len(_REJECT_REASONS), k)]]),
        "events": np.concatenate([late_n * 2, rng.integers(1, 4, k)]).astype(np.int64),
        VERSION_COLUMN: out.offset_ms + (np.concatenate([late_min, rej_min]) + PIPELINE.window_s + 2) * 1000,
    })


class _DayBuyers:
    """Buyers of a festival day's paid orders, an hour of them at a time: each order's consumer
    drawn from a pool about as large as the day's paid orders (VIPs from a hundredth of it, so
    they buy again and again); new buyers per second at each consumer's first paid second of the
    day, distinct buyers per minute."""

    def __init__(self, fest: Festival, day: int, day_start: int, day_end: int, rng) -> None:
        self.day = day  # the festival day's start
        expected = fest.orders_per_s * float(rate(np.arange(day_start, day_end)).sum()) * DEFAULT.pay_prob
        self.pool = max(1000, int(expected))
        self.vips = self.pool // 100
        self.seen = np.zeros(self.pool, dtype=bool)
        self.rng = rng

    def add(self, out: _Tables, o: dict) -> None:
        paid = o["paid"]
        t, n = o["t"][paid], int(paid.sum())
        if not n:
            return
        consumer = np.where(o["vip"][paid] == 1, self.rng.integers(0, self.vips, n),
                            self.rng.integers(self.vips, self.pool, n))
        who, first = np.unique(consumer, return_index=True)  # t is sorted: each one's first order here
        new = ~self.seen[who]
        self.seen[who] = True
        first = first[new]
        (s, v), sums = _aggregate([t[first], (consumer[first] < self.vips).astype(np.int64)],
                                  {"new_buyers": np.ones(len(first))})
        out.add_plain(NEW_BUYERS, {"window_start": s, "vip": v, "new_buyers": sums["new_buyers"],
                                   VERSION_COLUMN: out.offset_ms + (s + 3) * 1000})
        (m, c), _ = _aggregate([t - t % 60, consumer], {}, [60, 1])
        (m, v), sums = _aggregate([m, (c < self.vips).astype(np.int64)], {"buyers": np.ones(len(m))}, [60, 1])
        out.add_plain(BUYERS, {"window_start": m, "vip": v, "buyers": sums["buyers"],
                               VERSION_COLUMN: out.offset_ms + (m + 62) * 1000})


def _logistics(out: _Tables, t0: int, paid: np.ndarray, rng) -> None:
    """Parcel events: each status follows payments with its own lag, smoothed over an hour."""
    n = len(paid)
    smooth = np.convolve(np.concatenate([np.full(3600, paid.mean()), paid]), np.ones(3600) / 3600, "same")[3600:]
    seconds = np.arange(t0, t0 + n, dtype=np.int64)
    minute = seconds - seconds % 60
    for status in PARCEL_STATUSES:
        lag, share = _PARCEL_LAG_S[status], _PARCEL_SHARE[status]
        lagged = np.concatenate([np.full(min(lag, n), paid.mean()), smooth])[:n] * share
        counts = rng.poisson(np.maximum(lagged, 0))
        late = rng.binomial(counts, 0.005)
        for flag, arr in ((0, counts - late), (1, late)):
            nz = np.flatnonzero(arr)
            out.add(LOGISTICS_SECOND, {"window_start": seconds[nz], "status": np.full(len(nz), status, dtype=object),
                                       "late": np.full(len(nz), flag, dtype=np.int64), "events": arr[nz]})
            (m,), sums = _aggregate([minute], {"events": arr}, [60])
            keep = sums["events"] > 0
            k = int(keep.sum())
            out.add(LOGISTICS_MINUTE, {"window_start": m[keep], "status": np.full(k, status, dtype=object),
                                       "late": np.full(k, flag, dtype=np.int64), "events": sums["events"][keep]})


def insert(client, database: str, tables: dict[str, dict[str, np.ndarray]], batch: int = 500_000) -> int:
    """Insert generated columns with a writer client of clickhouse-driver; returns rows inserted."""
    total = 0
    for table, cols in tables.items():
        names = list(cols)
        n = len(cols[names[0]])
        for i in range(0, n, batch):
            data = [cols[c][i: i + batch].tolist() for c in names]
            client.execute(f"INSERT INTO {database}.{table} ({', '.join(names)}) VALUES", data, columnar=True)
        total += n
    return total


def rows(tables: dict[str, dict[str, np.ndarray]], table: str) -> tuple[str, list[tuple]]:
    """One table as (column list, row tuples with datetimes), for clients that take rows (chDB)."""
    cols = tables[table]
    names = list(cols)
    data = [cols[c].tolist() for c in names]
    at = names.index("window_start")
    data[at] = [datetime.fromtimestamp(s, timezone.utc).replace(tzinfo=None) for s in data[at]]
    return ", ".join(names), list(zip(*data))


def row(rollup: Rollup, written_ms: int, **values) -> tuple:
    """One row of ``rollup``'s table, in its column order; values left out (measures) are 0."""
    unknown = set(values) - set(rollup.column_names)
    if unknown:
        raise ValueError(f"{rollup.table} has no column {', '.join(sorted(unknown))}")
    given = {**{c.name: 0 for c in rollup.values if c.kind != TEXT}, **values, VERSION_COLUMN: written_ms}
    return tuple(given[c] for c in columns(rollup))  # a missing key or text column: KeyError naming it


# -- a tiny hand-made set with known totals (tests) -------------------------------------------

KNOWN_NOW = datetime(2021, 11, 11, 20, 0, 5, tzinfo=FESTIVAL_TZ)  # the newest window


def utc_naive(moment: datetime) -> datetime:
    """A DateTime column's value: UTC, without tzinfo."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


# Orders of the minute 20:00 by every low-cardinality field at once (one order each): category,
# province, channel, vip, promotion, wave, presale_phase, late, gmv_fen, written offset (ms; a
# superseded version is written earlier). Its margins are the rows by each field on its own of the
# second 20:00:00 (the open minute's breakdowns are per second).
_KNOWN_CUBE = (
    ("Apparel", "Zhejiang", "app", 0, "coupon", "wave2", "none", 0, 2_000_000, 0),
    ("Apparel", "Guangdong", "app", 1, "cross_store", "wave2", "none", 0, 1_000_000, 0),
    ("Apparel", "Guangdong", "livestream", 0, "livestream_deal", "wave2", "none", 1, 30_003, 0),
    ("Beauty & Cosmetics", "Guangdong", "livestream", 0, "presale_deposit", "wave2", "final", 0, 1_012_345, 0),
    ("Beauty & Cosmetics", "Guangdong", "livestream", 0, "presale_deposit", "wave2", "final", 0, 5, -900),
)
# The same orders by brand: category, brand, late, gmv_fen, written offset.
_KNOWN_BRANDS = (
    ("Apparel", "Lumora Home", 0, 2_500_000, 0), ("Apparel", "Verix Studio", 0, 500_000, 0),
    ("Apparel", "Verix Studio", 1, 30_003, 0), ("Beauty & Cosmetics", "Kalon Lab", 0, 1_012_345, 0),
    ("Beauty & Cosmetics", "Kalon Lab", 0, 5, -900),
)


def _margins(cube: tuple[tuple, ...]) -> list[tuple[str, str, int, int, int]]:
    """(dimension, value, late, gmv_fen, written offset) of each field on its own, from cube rows
    (one order each): the rows of one version added up."""
    sums: dict[tuple, list[int]] = {}
    for *cells, late, gmv, off in cube:
        for dim, value in zip(CUBE_DIMENSIONS, cells):
            sums.setdefault((dim, str(value), late, off), [0, 0])
            sums[(dim, str(value), late, off)][0] += gmv
            sums[(dim, str(value), late, off)][1] += 1
    return [(d, v, late, gmv, off, n) for (d, v, late, off), (gmv, n) in sums.items()]


def known_rows(written_ms: int) -> dict[str, tuple[str, list[tuple]]]:
    """A few rollup rows whose totals are known to the fen, with the traps a reader must get
    right: a ``late = 1`` correction to add in, a superseded version (lower written_ms) to
    ignore, closed hours and days in the tiers, and in the top brands a brand that left (zeros).
    ``{table: (column list, rows)}``; see :data:`KNOWN` for the totals. The 5-minute rows of
    20:00 are there as if that window had closed (an explore reader reads what is there)."""
    def at(h: int, m: int, s: int, day: int = 11) -> datetime:
        return utc_naive(datetime(2021, 11, day, h, m, s, tzinfo=FESTIVAL_TZ))

    w = written_ms

    def second(window, late, written, created, paid, gmv, refunds=0, refund_fen=0, cancellations=0):
        return row(ORDERS_SECOND, written, window_start=window, late=late, orders_created=created,
                   orders_paid=paid, gmv_fen=gmv, refunds=refunds, refund_fen=refund_fen,
                   cancellations=cancellations)

    ops = [
        second(at(20, 0, 0), 0, w - 5000, 10, 8, 1_234_567, 1, 500, 2),
        second(at(20, 0, 0), 0, w - 6000, 10, 8, 999_999_999, 1, 500, 2),  # superseded: must not count
        second(at(20, 0, 1), 0, w - 4000, 7, 6, 2_000_001, cancellations=1),
        second(at(20, 0, 1), 1, w - 1000, 1, 1, 30_003),  # late correction: must count
        second(at(20, 0, 5), 0, w, 5, 5, 777_777),
        second(at(23, 59, 59, day=10), 0, w - 86_400_000, 3, 3, 100_000),  # yesterday
    ]
    # yesterday's last hour and the day, closed: the tiers of its second (one superseded version each)
    tiers = {rollup.table: (COLUMNS_BY_TABLE[rollup.table], [
        row(rollup, w - 86_000_000, window_start=window, late=0, orders_created=3, orders_paid=3, gmv_fen=100_000),
        row(rollup, w - 86_100_000, window_start=window, late=0, orders_created=3, orders_paid=3, gmv_fen=5)])
        for rollup, window in ((ORDERS_HOUR, at(23, 0, 0, day=10)), (ORDERS_DAY, at(0, 0, 0, day=10)))}
    minute = at(20, 0, 0)
    per_second = [row(DIMENSIONS_SECOND, w + off, window_start=minute, dimension=d, value=v, late=late,
                      orders_created=n, orders_paid=n, gmv_fen=g) for d, v, late, g, off, n in _margins(_KNOWN_CUBE)]
    cube_rows = [row(CUBE_5MIN, w + off, window_start=minute, late=late, orders_created=1, orders_paid=1,
                     gmv_fen=g, **dict(zip(CUBE_DIMENSIONS, cells)))
                 for *cells, late, g, off in _KNOWN_CUBE]
    brand_rows = [row(BRANDS_5MIN, w + off, window_start=minute, category=c, brand=b, late=late, orders_created=1,
                      orders_paid=1, gmv_fen=g) for c, b, late, g, off in _KNOWN_BRANDS]
    # today's rankings (late events count in them), a superseded version, a brand that left (zeros)
    # and yesterday's ranking
    top = [row(TOP_BRANDS_DAY, w + off, window_start=day, ranking=ranking, brand=b, category=c, orders_created=n,
               orders_paid=n, gmv_fen=g)
           for day, ranking, c, b, n, g, off in (
               (at(0, 0, 0), "", "Apparel", "Lumora Home", 1, 2_500_000, 0),
               (at(0, 0, 0), "", "Beauty & Cosmetics", "Kalon Lab", 1, 1_012_345, 0),
               (at(0, 0, 0), "", "Apparel", "Verix Studio", 2, 530_003, 0),
               (at(0, 0, 0), "", "Apparel", "Verix Studio", 1, 9_999_999, -900),
               (at(0, 0, 0), "", "Apparel", "Left Brand", 0, 0, 0),
               (at(0, 0, 0), "Apparel", "Apparel", "Lumora Home", 1, 2_500_000, 0),
               (at(0, 0, 0), "Apparel", "Apparel", "Verix Studio", 2, 530_003, 0),
               (at(0, 0, 0), "Beauty & Cosmetics", "Beauty & Cosmetics", "Kalon Lab", 1, 1_012_345, 0),
               (at(0, 0, 0, day=10), "", "Apparel", "Yesterday Co", 3, 100_000, -86_400_000))]
    logistics = [row(LOGISTICS_SECOND, written, window_start=minute, status=s, late=late, events=n)
                 for s, late, n, written in (("created", 0, 40, w), ("created", 1, 2, w), ("delivered", 0, 9, w),
                                             ("exception", 0, 1, w), ("delivered", 0, 999, w - 900))]
    pipeline = [row(PIPELINE, w, window_start=minute, source="orders", kind="rejected", reason="not_json", events=3),
                row(PIPELINE, w, window_start=minute, source="orders", kind="late", reason="", events=1),
                # every message the job got: not something set aside, so never shown as such
                row(PIPELINE, w, window_start=minute, source="orders", kind="received", reason="", events=40)]
    # new buyers per second: a superseded version, and a second whose buyer moved to an earlier
    # one (its newest version is 0); buyers of the minute 19:59 (the wall's last complete minute)
    new_buyers = [row(NEW_BUYERS, written, window_start=window, vip=vip, new_buyers=n)
                  for window, vip, n, written in (
                      (at(18, 30, 0), 0, 4, w), (at(19, 59, 30), 0, 3, w), (at(20, 0, 0), 0, 5, w),
                      (at(20, 0, 0), 0, 99, w - 900), (at(20, 0, 1), 1, 2, w), (at(20, 0, 2), 0, 0, w),
                      (at(20, 0, 2), 0, 1, w - 500), (at(20, 0, 4), 0, 3, w), (at(23, 59, 59, day=10), 0, 7, w))]
    buyers = [row(BUYERS, written, window_start=at(19, 59, 0), vip=vip, buyers=n)
              for vip, n, written in ((0, 6, w), (1, 2, w), (0, 50, w - 900))]
    tables = ((NEW_BUYERS, new_buyers), (BUYERS, buyers), (ORDERS_SECOND, ops), (DIMENSIONS_SECOND, per_second),
              (CUBE_5MIN, cube_rows), (BRANDS_5MIN, brand_rows), (TOP_BRANDS_DAY, top), (LOGISTICS_SECOND, logistics),
              (PIPELINE, pipeline))
    return {**{r.table: (COLUMNS_BY_TABLE[r.table], rs) for r, rs in tables}, **tiers}


KNOWN = {  # totals of known_rows
    "festival_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777 + 100_000,
    "today_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777,
    "festival_orders": 10 + 7 + 1 + 5 + 3,
    # the wall's "orders now" is the newest complete second, the one before the newest window
    # (20:00:04), which has no orders; the newest (20:00:05) has 5
    "orders_now": 0,
    "peak": (10, int(datetime(2021, 11, 11, 20, 0, 0, tzinfo=FESTIVAL_TZ).timestamp())),
    "logistics": {"created": 42, "delivered": 9, "exception": 1},
    # the minute's rows by VIP flag and pre-sale phase today (the superseded one dropped, the late
    # one added): the VIP (APASS) row of 1,000,000 fen of 4,042,348 is 24.738%; one final
    # payment, no deposit
    "vip_gmv_fen": 1_000_000,
    "vip_share": "24.7%",
    "finals": (1, 1_012_345),  # (paid, fen)
    "deposits": (0, 0),
    # today's top brands, largest GMV first (the brand that left and yesterday's left out)
    "top_brands": [("Lumora Home", 2_500_000), ("Kalon Lab", 1_012_345), ("Verix Studio", 530_003)],
    # buyers today per VIP flag (yesterday's, the superseded and the moved-away rows left out); the
    # newest complete second's new buyers; the minute 19:59's buyers, 3 of them new, 5 repeat
    "buyers_today": {0: 15, 1: 2},
    "buyers_vip_share": "11.8%",
    "new_buyers_now": 3,
    "minute_buyers": (8, 3),
    "repeat_share": "62.5%",
}


def insert_rows(client, database: str, tables: dict[str, tuple[str, list[tuple]]]) -> None:
    """Insert ``{table: (columns, rows)}`` with any client that has ``execute(sql, rows)``."""
    for table, (cols, table_rows) in tables.items():
        client.execute(f"INSERT INTO {database}.{table} ({cols}) VALUES", table_rows)
