"""Plausible rollup rows of a replayed festival, for screenshots, the benchmark and demos.

This is not the pipeline: it draws orders minute by minute with numpy and aggregates them
the way the rollup contract says (per second, per minute by dimension, per minute by pair,
logistics per status, late and rejected counts), with the traps a reader must handle:
``late = 1`` correction rows and superseded row versions (lower ``written_ms``).
Every breakdown adds up exactly to the per-second totals, so pages can be cross-checked.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from stream.contract import FESTIVAL_TZ

MEASURES = ("orders_created", "orders_paid", "gmv_fen", "refunds", "refund_fen", "cancellations")

CATEGORIES = (  # name, share of orders, median unit price in yuan
    ("Apparel", 0.18, 109), ("Beauty & Cosmetics", 0.13, 149), ("Food & Grocery", 0.14, 45),
    ("Home & Furniture", 0.08, 159), ("Shoes & Bags", 0.07, 199), ("Mobile Phones", 0.012, 2499),
    ("Computers & Office", 0.008, 2999), ("Home Appliances", 0.03, 799),
    ("Baby & Maternity", 0.08, 99), ("Sports & Outdoors", 0.06, 159),
    ("Health & Supplements", 0.06, 129), ("Pet Supplies", 0.05, 79),
    ("Jewelry & Watches", 0.01, 899), ("Books & Media", 0.05, 39), ("Auto & Tools", 0.04, 129),
)
PROVINCES = (
    ("Guangdong", 126.0), ("Shandong", 101.5), ("Henan", 99.4), ("Jiangsu", 84.8), ("Sichuan", 83.7),
    ("Hebei", 74.6), ("Hunan", 66.4), ("Zhejiang", 64.6), ("Anhui", 61.0), ("Hubei", 57.8),
    ("Guangxi", 50.1), ("Yunnan", 47.2), ("Jiangxi", 45.2), ("Liaoning", 42.6), ("Fujian", 41.5),
    ("Shaanxi", 39.5), ("Guizhou", 38.6), ("Shanxi", 34.9), ("Chongqing", 32.1),
    ("Heilongjiang", 31.9), ("Xinjiang", 25.9), ("Gansu", 25.0), ("Shanghai", 24.9), ("Jilin", 24.1),
    ("Inner Mongolia", 24.1), ("Beijing", 21.9), ("Tianjin", 13.9), ("Hainan", 10.1),
    ("Ningxia", 7.2), ("Qinghai", 5.9), ("Tibet", 3.7),
)
CHANNELS = (("app", 0.62), ("web", 0.06), ("livestream", 0.22), ("mini_program", 0.10))
PARCEL_STATUSES = ("created", "picked_up", "in_transit", "out_for_delivery", "delivered", "exception")
_PARCEL_LAG_S = (20 * 60, 8 * 3600, 14 * 3600, 36 * 3600, 40 * 3600, 20 * 3600)
_PARCEL_SHARE = (1.0, 0.99, 0.98, 0.97, 0.96, 0.015)
_PREFIX = ("Lum", "Ver", "Kal", "Nor", "Zen", "Aur", "Bel", "Cor", "Dax", "Elo", "Fen", "Gal", "Hal",
           "Jun", "Kor", "Lan", "Mir", "Nov", "Pax", "Qin", "Sol", "Tav", "Wen", "Xia", "Yun")
_END = ("a", "o", "ia", "ora", "ina", "ex", "on", "ix", "ara", "elle", "ova", "eon", "ity", "ura")
_WORD = ("Home", "Studio", "Lab", "Works", "Living", "Select", "Origin", "Craft", "Nature", "Style",
         "Daily", "Plus", "Pro", "Smart", "Pure", "Fresh", "Urban", "Classic", "Kids", "Sport")


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
    seed: int = 1111


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def rate(t_s: np.ndarray) -> np.ndarray:
    """Relative intensity at epoch seconds (mean ~1 on a festival day): a day curve, the 20:00
    spike, and the midnight surge when a wave opens (Nov 1 and, three times higher, Nov 11)."""
    local = np.asarray(t_s, dtype=np.int64) + 8 * 3600
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


def _catalogue(fest: Festival, rng: np.random.Generator):
    shares = np.array([c[1] for c in CATEGORIES])
    brand_cat = rng.choice(len(CATEGORIES), size=fest.brands, p=shares / shares.sum())
    weights = 1.0 / np.arange(1, fest.brands + 1) ** 1.1
    names = np.array([f"{_PREFIX[i % 25]}{_END[i // 25 % 14]} {_WORD[i // 350 % 20]}"
                      + (f" {i // 7000 + 1}" if i >= 7000 else "") for i in range(fest.brands)], dtype=object)
    return brand_cat, weights / weights.sum(), names


def _orders(fest: Festival, t0: int, t1: int, rng, brand_p) -> dict[str, np.ndarray]:
    """Orders of seconds [t0, t1): columns as arrays, one entry per order."""
    seconds = np.arange(t0, t1, dtype=np.int64)
    counts = rng.poisson(fest.orders_per_s * rate(seconds))
    n = int(counts.sum())
    prov = np.array([p[1] for p in PROVINCES])
    chan = np.array([c[1] for c in CHANNELS])
    paid = rng.random(n) < 0.93
    return {
        "t": np.repeat(seconds, counts),
        "brand": rng.choice(len(brand_p), size=n, p=brand_p),
        "province": rng.choice(len(PROVINCES), size=n, p=prov / prov.sum()),
        "channel": rng.choice(len(CHANNELS), size=n, p=chan / chan.sum()),
        "paid": paid,
        "refund": paid & (rng.random(n) < 0.02),
        "cancel": ~paid & (rng.random(n) < 0.7),
        "late": rng.random(n) < fest.late_share,
    }


def _measures(o: dict, cat_of_brand: np.ndarray, rng) -> dict[str, np.ndarray]:
    median = np.array([c[2] for c in CATEGORIES], dtype=np.float64)[cat_of_brand[o["brand"]]]
    price = np.round(median * 100 * rng.lognormal(0.0, 0.6, len(median))).astype(np.int64)
    return {"orders_created": np.ones(len(price), dtype=np.int64),
            "orders_paid": o["paid"].astype(np.int64), "gmv_fen": np.where(o["paid"], price, 0),
            "refunds": o["refund"].astype(np.int64), "refund_fen": np.where(o["refund"], price, 0),
            "cancellations": o["cancel"].astype(np.int64)}


def _aggregate(keys: list[np.ndarray], values: dict[str, np.ndarray]):
    """Distinct rows of ``keys`` (non-negative int arrays) and the sums of ``values`` for each."""
    base = [k.min() if len(k) else 0 for k in keys]
    radix = [int(k.max() - b) + 1 if len(k) else 1 for k, b in zip(keys, base)]
    code = np.zeros(len(keys[0]), dtype=np.int64)
    for k, b, r in zip(keys, base, radix):  # one int64 per key row: a 1-D unique is ~20x faster
        code = code * r + (k - b)
    uniq, inverse = np.unique(code, return_inverse=True)
    sums = {m: np.bincount(inverse, weights=v, minlength=len(uniq)).round().astype(np.int64)
            for m, v in values.items()}
    cols = []
    for b, r in zip(reversed(base), reversed(radix)):
        uniq, digit = np.divmod(uniq, r)
        cols.append(digit + b)
    return cols[::-1], sums


class _Tables:
    """Collects columns per table and versions rows as the job would (written after the window)."""

    def __init__(self, fest: Festival, newest_s: int, rng) -> None:
        now_ms = fest.written_at_ms if fest.written_at_ms is not None else int(datetime.now().timestamp() * 1000)
        self.offset_ms = now_ms - (newest_s + 3) * 1000  # replay clock: the newest window is written now
        self.fest, self.rng = fest, rng
        self.parts: dict[str, list[dict]] = {}

    def add(self, table: str, window: np.ndarray, span_s: int, cols: dict, late: np.ndarray) -> None:
        written = self.offset_ms + (window + span_s + 2 + 20 * late) * 1000
        block = {"window_start": window, **cols, "late": late, "written_ms": written}
        self.parts.setdefault(table, []).append(block)
        # Some windows were written twice (a restart): an older version with other numbers,
        # which ReplacingMergeTree(written_ms) must drop.
        old = (late == 0) & (self.rng.random(len(window)) < self.fest.superseded_share)
        if old.any():
            stale = {k: v[old] for k, v in block.items()}
            first = next(k for k in cols if k in MEASURES or k == "events")
            stale[first] = stale[first] + 7
            stale["written_ms"] = stale["written_ms"] - 1500
            self.parts[table].append(stale)

    def add_plain(self, table: str, cols: dict) -> None:
        self.parts.setdefault(table, []).append(cols)

    def columns(self) -> dict[str, dict[str, np.ndarray]]:
        return {t: {c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]}
                for t, blocks in self.parts.items()}


def generate(fest: Festival = Festival()) -> dict[str, dict[str, np.ndarray]]:
    """Rollup columns per table: ``{table: {column: array}}``, window_start as epoch seconds."""
    rng = np.random.default_rng(fest.seed)
    cat_of_brand, brand_p, brand_names = _catalogue(fest, rng)
    t0, t1 = _unix(fest.start), _unix(fest.end)
    out = _Tables(fest, t1 - 1, rng)
    paid = np.zeros(t1 - t0, dtype=np.float64)
    names = {"category": np.array([c[0] for c in CATEGORIES], dtype=object), "brand": brand_names,
             "province": np.array([p[0] for p in PROVINCES], dtype=object),
             "channel": np.array([c[0] for c in CHANNELS], dtype=object)}
    for day0 in range(t0, t1, 86400):
        o = _orders(fest, day0, min(day0 + 86400, t1), rng, brand_p)
        o["category"] = cat_of_brand[o["brand"]]
        values = _measures(o, cat_of_brand, rng)
        paid[day0 - t0: min(day0 + 86400, t1) - t0] = np.bincount(
            o["t"] - day0, weights=o["paid"], minlength=min(86400, t1 - day0))
        _orders_tables(out, o, values, names)
        _pipeline(out, o, rng)
    _logistics(out, t0, paid, rng)
    return out.columns()


def _orders_tables(out: _Tables, o: dict, values: dict, names: dict) -> None:
    late = o["late"].astype(np.int64)
    (t, lt), sums = _aggregate([o["t"], late], values)
    out.add("orders_per_second", t, 1, {m: sums[m] for m in MEASURES}, lt)
    minute = o["t"] - o["t"] % 60
    for dim in ("category", "province", "channel", "brand"):
        (t, v, lt), sums = _aggregate([minute, o[dim], late], values)
        cols = {"dimension": np.full(len(t), dim, dtype=object), "value": names[dim][v], **sums}
        out.add("orders_per_minute", t, 60, cols, lt)
    for parent, child in (("category", "brand"), ("province", "channel")):
        (t, p, v, lt), sums = _aggregate([minute, o[parent], o[child], late], values)
        cols = {"parent_dimension": np.full(len(t), parent, dtype=object), "parent_value": names[parent][p],
                "dimension": np.full(len(t), child, dtype=object), "value": names[child][v], **sums}
        out.add("orders_per_minute_pair", t, 60, cols, lt)


def _pipeline(out: _Tables, o: dict, rng) -> None:
    """Late counts (events behind the watermark: the late orders' events) and a few rejects."""
    minute = o["t"] - o["t"] % 60
    late_min, late_n = np.unique(minute[o["late"]], return_counts=True)
    all_min = np.unique(minute)
    rej_min = all_min[rng.random(len(all_min)) < 0.05]
    k = len(rej_min)
    reasons = np.array(["invalid_json", "schema_violation", "unknown_status"], dtype=object)
    out.add_plain("pipeline_events_per_minute", {
        "window_start": np.concatenate([late_min, rej_min]),
        "source": np.concatenate([np.full(len(late_min), "orders", dtype=object),
                                  np.where(rng.random(k) < 0.8, "orders", "logistics").astype(object)]),
        "kind": np.concatenate([np.full(len(late_min), "late", dtype=object), np.full(k, "rejected", dtype=object)]),
        "reason": np.concatenate([np.full(len(late_min), "", dtype=object), reasons[rng.integers(0, 3, k)]]),
        "events": np.concatenate([late_n * 2, rng.integers(1, 4, k)]).astype(np.int64),
        "written_ms": out.offset_ms + (np.concatenate([late_min, rej_min]) + 62) * 1000,
    })


def _logistics(out: _Tables, t0: int, paid: np.ndarray, rng) -> None:
    """Parcel events: each status follows payments with its own lag, smoothed over an hour."""
    n = len(paid)
    smooth = np.convolve(np.concatenate([np.full(3600, paid.mean()), paid]), np.ones(3600) / 3600, "same")[3600:]
    seconds = np.arange(t0, t0 + n, dtype=np.int64)
    for status, lag, share in zip(PARCEL_STATUSES, _PARCEL_LAG_S, _PARCEL_SHARE):
        lagged = np.concatenate([np.full(min(lag, n), paid.mean()), smooth])[:n] * share
        counts = rng.poisson(np.maximum(lagged, 0))
        late = rng.binomial(counts, 0.005)
        for flag, arr in ((0, counts - late), (1, late)):
            nz = np.flatnonzero(arr)
            status_col = np.full(len(nz), status, dtype=object)
            out.add("logistics_per_second", seconds[nz], 1, {"status": status_col, "events": arr[nz]},
                    np.full(len(nz), flag, dtype=np.int64))
            minute = (seconds - seconds % 60)
            (m,), sums = _aggregate([minute], {"events": arr})
            keep = sums["events"] > 0
            out.add("logistics_per_minute", m[keep], 60,
                    {"status": np.full(int(keep.sum()), status, dtype=object), "events": sums["events"][keep]},
                    np.full(int(keep.sum()), flag, dtype=np.int64))


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


# -- a tiny hand-made set with known totals (tests) -------------------------------------------

KNOWN_NOW = datetime(2021, 11, 11, 20, 0, 5, tzinfo=FESTIVAL_TZ)  # the newest window


def known_rows(written_ms: int) -> dict[str, tuple[str, list[tuple]]]:
    """A few rollup rows whose totals are known to the fen, with the traps a reader must get
    right: a ``late = 1`` correction to add in, and a superseded version (lower written_ms) to
    ignore. ``{table: (column list, rows)}``; see :data:`KNOWN` for the totals."""
    def at(h: int, m: int, s: int, day: int = 11) -> datetime:
        return datetime(2021, 11, day, h, m, s, tzinfo=FESTIVAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)

    w = written_ms
    ops = [  # window, late, created, paid, gmv_fen, refunds, refund_fen, cancellations, written_ms
        (at(20, 0, 0), 0, 10, 8, 1_234_567, 1, 500, 2, w - 5000),
        (at(20, 0, 0), 0, 10, 8, 999_999_999, 1, 500, 2, w - 6000),  # superseded: must not count
        (at(20, 0, 1), 0, 7, 6, 2_000_001, 0, 0, 1, w - 4000),
        (at(20, 0, 1), 1, 1, 1, 30_003, 0, 0, 0, w - 1000),  # late correction: must count
        (at(20, 0, 5), 0, 5, 5, 777_777, 0, 0, 0, w),
        (at(23, 59, 59, day=10), 0, 3, 3, 100_000, 0, 0, 0, w - 86_400_000),  # yesterday
    ]
    minute = at(20, 0, 0)
    m = [  # dimension, value, late, gmv_fen, written offset (superseded rows written earlier)
        ("category", "Apparel", 0, 3_000_000, 0), ("category", "Apparel", 1, 30_003, 0),
        ("category", "Beauty & Cosmetics", 0, 1_012_345, 0), ("category", "Beauty & Cosmetics", 0, 5, -900),
        ("brand", "Lumora Home", 0, 2_500_000, 0), ("brand", "Verix Studio", 0, 500_000, 0),
        ("brand", "Verix Studio", 1, 30_003, 0), ("brand", "Kalon Lab", 0, 1_012_345, 0),
        ("province", "Guangdong", 0, 2_042_348, 0), ("province", "Zhejiang", 0, 2_000_000, 0),
        ("channel", "app", 0, 3_000_000, 0), ("channel", "livestream", 0, 1_042_348, 0),
    ]
    per_minute = [(minute, d, v, late, 1, 1, g, 0, 0, 0, w + off) for d, v, late, g, off in m]
    pairs = [("category", "Apparel", "brand", "Lumora Home", 0, 2_500_000),
             ("category", "Apparel", "brand", "Verix Studio", 0, 500_000),
             ("category", "Apparel", "brand", "Verix Studio", 1, 30_003),
             ("category", "Beauty & Cosmetics", "brand", "Kalon Lab", 0, 1_012_345),
             ("province", "Guangdong", "channel", "app", 0, 1_000_000),
             ("province", "Guangdong", "channel", "livestream", 0, 1_042_348),
             ("province", "Zhejiang", "channel", "app", 0, 2_000_000)]
    pair_rows = [(minute, pd, pv, d, v, late, 1, 1, g, 0, 0, 0, w) for pd, pv, d, v, late, g in pairs]
    logistics = [(minute, "created", 0, 40, w), (minute, "created", 1, 2, w), (minute, "delivered", 0, 9, w),
                 (minute, "exception", 0, 1, w), (minute, "delivered", 0, 999, w - 900)]
    pipeline = [(minute, "orders", "rejected", "invalid_json", 3, w), (minute, "orders", "late", "", 1, w)]
    return {
        "orders_per_second": (COLUMNS_BY_TABLE["orders_per_second"], ops),
        "orders_per_minute": (COLUMNS_BY_TABLE["orders_per_minute"], per_minute),
        "orders_per_minute_pair": (COLUMNS_BY_TABLE["orders_per_minute_pair"], pair_rows),
        "logistics_per_minute": (COLUMNS_BY_TABLE["logistics_per_minute"], logistics),
        "pipeline_events_per_minute": (COLUMNS_BY_TABLE["pipeline_events_per_minute"], pipeline),
    }


KNOWN = {  # totals of known_rows
    "festival_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777 + 100_000,
    "today_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777,
    "festival_orders": 10 + 7 + 1 + 5 + 3,
    "orders_now": 5,
    "peak": (10, int(datetime(2021, 11, 11, 20, 0, 0, tzinfo=FESTIVAL_TZ).timestamp())),
    "logistics": {"created": 42, "delivered": 9, "exception": 1},
}
_MEASURE_COLS = ", ".join(MEASURES)
COLUMNS_BY_TABLE = {
    "orders_per_second": f"window_start, late, {_MEASURE_COLS}, written_ms",
    "orders_per_minute": f"window_start, dimension, value, late, {_MEASURE_COLS}, written_ms",
    "orders_per_minute_pair": "window_start, parent_dimension, parent_value, dimension, value, late, "
                              f"{_MEASURE_COLS}, written_ms",
    "logistics_per_second": "window_start, status, late, events, written_ms",
    "logistics_per_minute": "window_start, status, late, events, written_ms",
    "pipeline_events_per_minute": "window_start, source, kind, reason, events, written_ms",
}


def insert_rows(client, database: str, tables: dict[str, tuple[str, list[tuple]]]) -> None:
    """Insert ``{table: (columns, rows)}`` with any client that has ``execute(sql, rows)``."""
    for table, (columns, rows) in tables.items():
        client.execute(f"INSERT INTO {database}.{table} ({columns}) VALUES", rows)
