"""Plausible rollup rows of a replayed festival, for tests, benchmarks and the README's pictures.

Test and bench support, not part of the product. This is not the pipeline: it draws orders
second by second with numpy and aggregates them the way the rollup contract declares them (per
second, per minute by dimension, per minute by drill-down pair, per minute by the cube of the
low-cardinality fields, logistics per status, late and rejected counts), with the traps a reader
must handle: ``late = 1`` correction rows and superseded row versions (lower ``written_ms``).
Every breakdown adds up exactly to the per-second totals, so pages can be cross-checked; and
:func:`generate_with_orders` hands out the order draws themselves, so a test can sum any
selection on its own.

What it derives, not repeats:

- from :mod:`stream.contract`: the rollup tables and their columns (in the declared order, plus
  ``VERSION_COLUMN``), the order measures (each one's status, amount and excepted or only
  pre-sale phase), the dimensions, the drill-down pairs, the cube's dimensions, the promotion, wave and
  pre-sale phase enums, the parcel statuses and the festival's time zone;
- from the simulator (:mod:`stream.simulator.config` and its catalogue): categories with their
  shares and prices, provinces with their populations, channels with their shares, brand names
  and each brand's category, the promotions' shares and the livestream deals, the festival
  calendar (pre-sale and wave windows), the pre-sale share, deposit share and final payments,
  VIPs' prices, the payment and refund probabilities and the parcel steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate

import numpy as np

from stream.contract import (
    CUBE_DIMENSIONS,
    DIMENSIONS,
    FESTIVAL_TZ,
    ORDER_MEASURES,
    PAIRS,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    ROLLUPS,
    UTC_OFFSET_S,
    VERSION_COLUMN,
    WAVES,
    Rollup,
)
from stream.simulator import catalog
from stream.simulator.config import CATEGORIES, CHANNELS, DEFAULT, PARCEL_STEPS, PROVINCES

ORDERS_SECOND = ROLLUPS["orders_second"]
ORDERS_MINUTE = ROLLUPS["orders_minute"]
ORDERS_PAIR = ROLLUPS["orders_minute_pair"]
ORDERS_CUBE = ROLLUPS["orders_minute_cube"]
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


def _block(rollup: Rollup, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``cols`` in the order of the rollup's table; exactly its columns, or an error naming the difference."""
    if set(cols) != set(columns(rollup)):
        raise ValueError(f"{rollup.table}: generated columns {sorted(cols)} are not the contract's "
                         f"{sorted(columns(rollup))}")
    return {c: cols[c] for c in columns(rollup)}


class _Tables:
    """Collects columns per table and versions rows as the job would (written after the window)."""

    def __init__(self, fest: Festival, newest_s: int, rng) -> None:
        now_ms = fest.written_at_ms if fest.written_at_ms is not None else int(datetime.now().timestamp() * 1000)
        self.offset_ms = now_ms - (newest_s + 3) * 1000  # replay clock: the newest window is written now
        self.fest, self.rng = fest, rng
        self.parts: dict[str, list[dict]] = {}

    def add(self, rollup: Rollup, cols: dict[str, np.ndarray]) -> None:
        """Rows of a rollup with a late flag; the version is set here (late corrections later)."""
        window, late = cols["window_start"], cols["late"]
        written = self.offset_ms + (window + rollup.window_s + 2 + 20 * late) * 1000
        block = _block(rollup, {**cols, VERSION_COLUMN: written})
        self.parts.setdefault(rollup.table, []).append(block)
        # Some windows were written twice (a restart): an older version with other numbers,
        # which ReplacingMergeTree(written_ms) must drop.
        old = (late == 0) & (self.rng.random(len(window)) < self.fest.superseded_share)
        if old.any():
            stale = {k: v[old] for k, v in block.items()}
            first = rollup.value_names[0]
            stale[first] = stale[first] + 7
            stale[VERSION_COLUMN] = stale[VERSION_COLUMN] - 1500
            self.parts[rollup.table].append(stale)

    def add_plain(self, rollup: Rollup, cols: dict[str, np.ndarray]) -> None:
        self.parts.setdefault(rollup.table, []).append(_block(rollup, cols))

    def columns(self) -> dict[str, dict[str, np.ndarray]]:
        return {t: {c: np.concatenate([b[c] for b in blocks]) for c in blocks[0]}
                for t, blocks in self.parts.items()}


def generate(fest: Festival = Festival()) -> dict[str, dict[str, np.ndarray]]:
    """Rollup columns per table: ``{table: {column: array}}``, window_start as epoch seconds."""
    return _generate(fest, None)


def generate_with_orders(fest: Festival = Festival()) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                dict[str, np.ndarray]]:
    """:func:`generate`'s tables and the orders they were aggregated from, one entry per order:
    ``t`` (epoch second), ``late`` (bool), each of ``DIMENSIONS`` and ``CUBE_DIMENSIONS`` by its
    value as the rollups write it (``vip`` 0 or 1), and each measure. Superseded versions are a
    trap of the tables only: these are the numbers a correct reader must find."""
    orders: list[dict[str, np.ndarray]] = []
    tables = _generate(fest, orders)
    return tables, {c: np.concatenate([day[c] for day in orders]) for c in orders[0]} if orders else {}


def _generate(fest: Festival, keep: list | None) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(fest.seed)
    cat_of_brand, brand_p, brand_names = _catalogue(fest.brands)
    t0, t1 = _unix(fest.start), _unix(fest.end)
    out = _Tables(fest, t1 - 1, rng)
    paid = np.zeros(t1 - t0, dtype=np.float64)
    names = {"category": np.array([c.name for c in CATEGORIES], dtype=object), "brand": brand_names,
             "province": np.array([p for p, _ in PROVINCES], dtype=object),
             "channel": np.array([c for c, _ in CHANNELS], dtype=object),
             "vip": np.array([0, 1], dtype=np.int64), "promotion": np.array(PROMOTIONS, dtype=object),
             "wave": np.array(WAVES, dtype=object), "presale_phase": np.array(PRESALE_PHASES, dtype=object)}
    buyers_rng = np.random.default_rng(fest.seed + 1)  # its own, so the other tables stay as they were
    for day0 in range(t0, t1, 86400):
        o = _orders(fest, day0, min(day0 + 86400, t1), rng, brand_p)
        o["category"] = cat_of_brand[o["brand"]]
        values = _measures(o, rng)
        paid[day0 - t0: min(day0 + 86400, t1) - t0] = np.bincount(
            o["t"] - day0, weights=o["paid"], minlength=min(86400, t1 - day0))
        _orders_tables(out, o, values, names)
        _pipeline(out, o, rng)
        _buyers(out, o, buyers_rng)
        if keep is not None:
            keep.append({"t": o["t"], "late": o["late"], **{d: names[d][o[d]] for d in names}, **values})
    _logistics(out, t0, paid, rng)
    return out.columns()


def _orders_tables(out: _Tables, o: dict, values: dict, names: dict) -> None:
    late = o["late"].astype(np.int64)
    (t, lt), sums = _aggregate([o["t"], late], values)
    out.add(ORDERS_SECOND, {"window_start": t, "late": lt, **sums})
    minute = o["t"] - o["t"] % 60
    for dim in DIMENSIONS:
        (t, v, lt), sums = _aggregate([minute, o[dim], late], values)
        out.add(ORDERS_MINUTE, {"window_start": t, "dimension": np.full(len(t), dim, dtype=object),
                                "value": names[dim][v], "late": lt, **sums})
    for parent, child in PAIRS:
        (t, p, v, lt), sums = _aggregate([minute, o[parent], o[child], late], values)
        out.add(ORDERS_PAIR, {"window_start": t, "parent_dimension": np.full(len(t), parent, dtype=object),
                              "parent_value": names[parent][p], "dimension": np.full(len(t), child, dtype=object),
                              "value": names[child][v], "late": lt, **sums})
    (t, *cells, lt), sums = _aggregate([minute, *(o[d] for d in CUBE_DIMENSIONS), late], values)
    out.add(ORDERS_CUBE, {"window_start": t, **{d: names[d][c] for d, c in zip(CUBE_DIMENSIONS, cells)},
                          "late": lt, **sums})


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


def _buyers(out: _Tables, o: dict, rng) -> None:
    """Buyers of the paid orders: each order's consumer drawn from a pool about as large as the
    orders (VIPs from a hundredth of it, so they buy again and again); new buyers per second at
    each consumer's first paid second of their Shanghai day, distinct buyers per minute."""
    paid = o["paid"]
    t, n = o["t"][paid], int(paid.sum())
    if not n:
        return
    pool = max(1000, n)
    vips = pool // 100
    consumer = np.where(o["vip"][paid] == 1, rng.integers(0, vips, n), rng.integers(vips, pool, n))
    day = (t + UTC_OFFSET_S) // 86400
    order = np.argsort(t, kind="stable")
    _, first = np.unique((day * pool + consumer)[order], return_index=True)
    first = order[first]
    (s, v), sums = _aggregate([t[first], (consumer[first] < vips).astype(np.int64)],
                              {"new_buyers": np.ones(len(first))})
    out.add_plain(NEW_BUYERS, {"window_start": s, "vip": v, "new_buyers": sums["new_buyers"],
                               VERSION_COLUMN: out.offset_ms + (s + 3) * 1000})
    (m, c), _ = _aggregate([t - t % 60, consumer], {})
    (m, v), sums = _aggregate([m, (c < vips).astype(np.int64)], {"buyers": np.ones(len(m))})
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
            (m,), sums = _aggregate([minute], {"events": arr})
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
    given = {**dict.fromkeys(rollup.value_names, 0), **values, VERSION_COLUMN: written_ms}
    return tuple(given[c] for c in columns(rollup))  # a missing key column: KeyError naming it


# -- a tiny hand-made set with known totals (tests) -------------------------------------------

KNOWN_NOW = datetime(2021, 11, 11, 20, 0, 5, tzinfo=FESTIVAL_TZ)  # the newest window


def utc_naive(moment: datetime) -> datetime:
    """A DateTime column's value: UTC, without tzinfo."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def known_rows(written_ms: int) -> dict[str, tuple[str, list[tuple]]]:
    """A few rollup rows whose totals are known to the fen, with the traps a reader must get
    right: a ``late = 1`` correction to add in, and a superseded version (lower written_ms) to
    ignore. ``{table: (column list, rows)}``; see :data:`KNOWN` for the totals."""
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
    minute = at(20, 0, 0)
    m = [  # dimension, value, late, gmv_fen, written offset (superseded rows written earlier)
        ("category", "Apparel", 0, 3_000_000, 0), ("category", "Apparel", 1, 30_003, 0),
        ("category", "Beauty & Cosmetics", 0, 1_012_345, 0), ("category", "Beauty & Cosmetics", 0, 5, -900),
        ("brand", "Lumora Home", 0, 2_500_000, 0), ("brand", "Verix Studio", 0, 500_000, 0),
        ("brand", "Verix Studio", 1, 30_003, 0), ("brand", "Kalon Lab", 0, 1_012_345, 0),
        ("province", "Guangdong", 0, 2_042_348, 0), ("province", "Zhejiang", 0, 2_000_000, 0),
        ("channel", "app", 0, 3_000_000, 0), ("channel", "livestream", 0, 1_042_348, 0),
    ]
    per_minute = [row(ORDERS_MINUTE, w + off, window_start=minute, dimension=d, value=v, late=late,
                      orders_created=1, orders_paid=1, gmv_fen=g) for d, v, late, g, off in m]
    pairs = [("category", "Apparel", "brand", "Lumora Home", 0, 2_500_000),
             ("category", "Apparel", "brand", "Verix Studio", 0, 500_000),
             ("category", "Apparel", "brand", "Verix Studio", 1, 30_003),
             ("category", "Beauty & Cosmetics", "brand", "Kalon Lab", 0, 1_012_345),
             ("province", "Guangdong", "channel", "app", 0, 1_000_000),
             ("province", "Guangdong", "channel", "livestream", 0, 1_042_348),
             ("province", "Zhejiang", "channel", "app", 0, 2_000_000)]
    pair_rows = [row(ORDERS_PAIR, w, window_start=minute, parent_dimension=pd, parent_value=pv, dimension=d,
                     value=v, late=late, orders_created=1, orders_paid=1, gmv_fen=g)
                 for pd, pv, d, v, late, g in pairs]
    cube = [  # the same minute by every low-cardinality field at once; each margin is a row above
        # category, province, channel, vip, promotion, wave, presale_phase, late, gmv_fen, written offset
        ("Apparel", "Zhejiang", "app", 0, "coupon", "wave2", "none", 0, 2_000_000, 0),
        ("Apparel", "Guangdong", "app", 1, "cross_store", "wave2", "none", 0, 1_000_000, 0),
        ("Apparel", "Guangdong", "livestream", 0, "livestream_deal", "wave2", "none", 1, 30_003, 0),
        ("Beauty & Cosmetics", "Guangdong", "livestream", 0, "presale_deposit", "wave2", "final", 0, 1_012_345, 0),
        ("Beauty & Cosmetics", "Guangdong", "livestream", 0, "presale_deposit", "wave2", "final", 0, 5, -900),
    ]
    cube_rows = [row(ORDERS_CUBE, w + off, window_start=minute, late=late, orders_created=1, orders_paid=1,
                     gmv_fen=g, **dict(zip(CUBE_DIMENSIONS, cells)))
                 for *cells, late, g, off in cube]
    logistics = [row(LOGISTICS_MINUTE, written, window_start=minute, status=s, late=late, events=n)
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
    return {
        NEW_BUYERS.table: (COLUMNS_BY_TABLE[NEW_BUYERS.table], new_buyers),
        BUYERS.table: (COLUMNS_BY_TABLE[BUYERS.table], buyers),
        ORDERS_SECOND.table: (COLUMNS_BY_TABLE[ORDERS_SECOND.table], ops),
        ORDERS_MINUTE.table: (COLUMNS_BY_TABLE[ORDERS_MINUTE.table], per_minute),
        ORDERS_PAIR.table: (COLUMNS_BY_TABLE[ORDERS_PAIR.table], pair_rows),
        ORDERS_CUBE.table: (COLUMNS_BY_TABLE[ORDERS_CUBE.table], cube_rows),
        LOGISTICS_MINUTE.table: (COLUMNS_BY_TABLE[LOGISTICS_MINUTE.table], logistics),
        PIPELINE.table: (COLUMNS_BY_TABLE[PIPELINE.table], pipeline),
    }


KNOWN = {  # totals of known_rows
    "festival_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777 + 100_000,
    "today_gmv_fen": 1_234_567 + 2_000_001 + 30_003 + 777_777,
    "festival_orders": 10 + 7 + 1 + 5 + 3,
    # the wall's "orders now" is the newest complete second, the one before the newest window
    # (20:00:04), which has no orders; the newest (20:00:05) has 5
    "orders_now": 0,
    "peak": (10, int(datetime(2021, 11, 11, 20, 0, 0, tzinfo=FESTIVAL_TZ).timestamp())),
    "logistics": {"created": 42, "delivered": 9, "exception": 1},
    # the cube's rows today (the superseded one dropped, the late one added): the VIP (APASS) row
    # of 1,000,000 fen of 4,042,348 is 24.738%; one final payment, no deposit
    "vip_gmv_fen": 1_000_000,
    "vip_share": "24.7%",
    "finals": (1, 1_012_345),  # (paid, fen)
    "deposits": (0, 0),
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
