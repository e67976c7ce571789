"""The ground truth: what was sent, per event-time window and dimension (see docs/simulator.md).

Only events actually sent are counted, once each (a redelivery is not counted
again; malformed messages are counted apart). Windows are by *event* time, so a
late event lands in the window it happened in. Aggregation is vectorised: each
batch is reduced to (key, sums) and the partial tables are merged now and then.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from stream.contract import (
    BRAND,
    BUYER_STATUS,
    CUBE_DIMENSIONS,
    MEASURES,
    ORDER_MEASURES,
    ROLLUPS,
    TOP_BRANDS,
    UTC_OFFSET_S,
    family,
    festival_day_start,
)
from stream.contract import window_start as window_of
from stream.simulator import events as ev
from stream.simulator.catalog import Catalog
from stream.simulator.parcel_ledger import PARCEL_KINDS, ParcelLedger

_COMPACT_EVERY = 1_000_000
# A cube row's fields packed into one integer, 5 bits each (every enum has fewer than 32 values).
_CUBE_BITS = 5
# How a key packs a window index (above) and a code (below) into one integer, per grouping.
_CODE_BITS = {"dimensions": 10, "cube": _CUBE_BITS * len(CUBE_DIMENSIONS), "brands": 20}
# A dimension value's code: the field's base plus the value's index (each field has < 100 values).
_DIM_BASE = {d: 100 * i for i, d in enumerate(CUBE_DIMENSIONS)}


def _reduce(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``values`` rows per distinct key; keys come back sorted."""
    if len(keys) == 0:
        return keys, values
    order = np.argsort(keys)  # sums do not depend on the order of equal keys
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(values, starts, axis=0)


class _Table:
    """A growing sum table: key -> vector of int64 measures."""

    def __init__(self, width: int):
        self.width = width
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.rows = 0

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.parts.append(_reduce(keys, values))
        self.rows += len(self.parts[-1][0])
        if self.rows > _COMPACT_EVERY and len(self.parts) > 1:
            self.parts = [self.result()]
            self.rows = len(self.parts[0][0])

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.parts:
            return np.empty(0, np.int64), np.empty((0, self.width), np.int64)
        return _reduce(np.concatenate([k for k, _ in self.parts]), np.concatenate([v for _, v in self.parts]))


def _tiers(table: _Table, name: str, bits: int, grain_s: int | None = None
           ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{rollup: (window starts, codes, sums)}`` of a rollup and its time tiers from ``table``,
    whose keys are window index << ``bits`` | code at ``grain_s`` (default: the finest tier's
    window): the tier of that window as counted, each coarser one its rows summed per tier window (a
    day: a festival day, see window_of); a finer tier than the table's is left out."""
    keys, sums = table.result()
    tiers = [r for r in family(name) if r.window_s >= (grain_s or family(name)[0].window_s)]
    finest, *tiers = tiers
    starts, codes = (keys >> bits) * finest.window_s, keys & ((1 << bits) - 1)
    out = {finest.name: (starts, codes, sums)}
    for tier in tiers:
        rekeyed, tier_sums = _reduce((window_of(starts, tier.window_s) // 60 << bits) | codes, sums)
        out[tier.name] = ((rekeyed >> bits) * 60, rekeyed & ((1 << bits) - 1), tier_sums)
    return out


class _Firsts:
    """Per key (a window or a day, and a consumer, packed in one integer: see ``_CONSUMER_BITS``):
    the earliest event time and whether any event was a VIP's."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0
        self.compacted = 0  # rows after the last compaction

    def add(self, keys: np.ndarray, times: np.ndarray, vip: np.ndarray) -> None:
        self.parts.append(self._reduce(keys, times.astype(np.int64), vip.astype(np.int64)))
        self.rows += len(self.parts[-1][0])
        # Keys of a consumer and a minute hardly repeat, so a compaction keeps most rows: compact
        # when the rows have doubled since the last one (amortised), not at every batch past a size.
        if self.rows > max(_COMPACT_EVERY, 2 * self.compacted) and len(self.parts) > 1:
            self.parts = [self.result()]
            self.rows = self.compacted = len(self.parts[0][0])

    @staticmethod
    def _reduce(keys: np.ndarray, times: np.ndarray, vip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(keys) == 0:
            return keys, times, vip
        order = np.argsort(keys, kind="stable")
        keys, times, vip = keys[order], times[order], vip[order]
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        return keys[starts], np.minimum.reduceat(times, starts), np.maximum.reduceat(vip, starts)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        keys, times, vip = (np.concatenate([p[i] for p in self.parts]) for i in range(3))
        return self._reduce(keys, times, vip)


# A consumer number in the low bits of a buyer key (the simulator's consumers are int32).
_CONSUMER_BITS = 32


def buyer_counts(firsts: _Firsts, window_of, width: int) -> list[tuple[int, int, int]]:
    """``(window, vip, consumers)`` from per-(period, consumer) firsts: each consumer counted in
    the window ``window_of(first time)`` (epoch seconds), as a VIP if any of their events was."""
    _, times, vip = firsts.result()
    if len(times) == 0:
        return []
    codes = window_of(times) * 2 + vip
    found, counts = np.unique(codes, return_counts=True)
    return [(int(c) // 2 * width, int(c) % 2, int(n)) for c, n in zip(found, counts)]


def order_measures(rows: np.ndarray) -> np.ndarray:
    """What each order event contributes to each measure of the contract (n x measures, int64)."""
    columns = []
    for measure in ORDER_MEASURES:
        hit = rows["status"] == ev.ORDER_STATUSES.index(measure.status)
        if measure.except_phase:
            hit &= rows["phase"] != ev.PHASES.index(measure.except_phase)
        if measure.phase:
            hit &= rows["phase"] == ev.PHASES.index(measure.phase)
        columns.append(np.where(hit, rows[measure.amount], 0) if measure.amount else hit)
    return np.stack(columns, axis=1).astype(np.int64)


class Ledger:
    """Accumulates sent events; :meth:`lines` renders the JSON Lines file."""

    def __init__(self, catalog: Catalog, kinds: Iterable[str] | None = None):
        """``kinds``: the rows to keep (default: every rollup the contract has the ledger count);
        the buyers, the per-second rows and the top brands are counted only when asked for (last
        year's history writes none of them: without the seconds the dimension and parcel rows are
        counted per minute, a fraction of the memory over a festival). The parcels' kinds
        (``PARCEL_KINDS``, see :mod:`.parcel_ledger`) keep a row per parcel (72 bytes)."""
        self.catalog = catalog
        self.kinds = set(kinds) if kinds is not None else {r.name for r in ROLLUPS.values() if r.in_ledger}
        self.order_seconds = _Table(len(MEASURES))
        self.dimensions_s = 1 if "dimensions_second" in self.kinds else 60
        self.order_dimensions = _Table(len(MEASURES))  # per dimensions_s and dimension value
        self.order_cube = _Table(len(MEASURES))  # per 5 minutes and combination
        self.order_brands = _Table(len(MEASURES))  # per 5 minutes and brand
        too_many = [n for n in (catalog.category_names, catalog.province_names) if len(n) >= 1 << _CUBE_BITS]
        assert not too_many, "the ledger's cube packs each field in 5 bits: at most 31 categories and provinces"
        assert len(catalog.brand_names) < 1 << _CODE_BITS["brands"], "the ledger packs a brand in 20 bits"
        self.brand_category = np.repeat(np.arange(len(catalog.category_names)), np.diff(catalog.brand_offsets))
        self.logistics_s = 1 if "logistics_second" in self.kinds else 60
        self.logistics_seconds = _Table(1)  # per logistics_s and status
        # buyers: per (festival day, consumer) and per (minute, consumer), from the paid events
        self.buyer_days = _Firsts()
        self.buyer_minutes = _Firsts()
        self.parcels = ParcelLedger(catalog) if self.kinds & set(PARCEL_KINDS) else None

    def add(self, rows: np.ndarray) -> None:
        """Count rows that were sent (valid, first delivery only)."""
        orders = ev.take(rows, rows["topic"] == ev.ORDERS_TOPIC)
        parcels = ev.take(rows, rows["topic"] == ev.LOGISTICS_TOPIC)
        if len(orders):
            measures = order_measures(orders)
            self.order_seconds.add(orders["t"] // 1000, measures)
            window = (orders["t"] // (self.dimensions_s * 1000)) << _CODE_BITS["dimensions"]
            fields = _fields(orders)
            codes = [fields[d].astype(np.int64) + _DIM_BASE[d] for d in CUBE_DIMENSIONS]
            self.order_dimensions.add(np.concatenate([window + c for c in codes]),
                                      np.tile(measures, (len(codes), 1)))
            five = ROLLUPS["cube_5min"].window_s * 1000
            self.order_cube.add(((orders["t"] // five) << _CODE_BITS["cube"]) | _cube_codes(fields), measures)
            brand = orders["o"]["brand"].astype(np.int64)
            self.order_brands.add(((orders["t"] // five) << _CODE_BITS["brands"]) | brand, measures)
            if self.kinds & {"buyers_second", "buyers_minute"}:
                self._add_buyers(orders)
        if len(parcels):
            status = parcels["status"].astype(np.int64)
            ones = np.ones((len(parcels), 1), dtype=np.int64)
            self.logistics_seconds.add(((parcels["t"] // (self.logistics_s * 1000)) << 3) | status, ones)
            if self.parcels is not None:
                self.parcels.add(parcels)

    def _add_buyers(self, orders: np.ndarray) -> None:
        paid = ev.take(orders, orders["status"] == ev.ORDER_STATUSES.index(BUYER_STATUS))
        consumer, t, vip = paid["o"]["consumer"].astype(np.int64), paid["t"], paid["o"]["vip"]
        day = (t // 1000 + UTC_OFFSET_S) // 86_400
        self.buyer_days.add((day << _CONSUMER_BITS) | consumer, t, vip)
        self.buyer_minutes.add(((t // 60_000) << _CONSUMER_BITS) | consumer, t, vip)

    def _names(self) -> dict[str, np.ndarray]:
        """Each cube field's values by code, as the events spell them (the VIP flag as 0 and 1)."""
        names = {"category": self.catalog.category_names, "province": self.catalog.province_names,
                 "channel": ev.CHANNELS, "vip": (0, 1), "promotion": ev.PROMOTIONS, "wave": ev.WAVES,
                 "presale_phase": ev.PHASES}
        return {d: np.asarray(v, dtype=object) for d, v in names.items()}

    def columns(self) -> dict[str, dict[str, list]]:
        """The ledger's rows by kind, as columns of Python values (``window``, its keys, its
        counts, in the order of the file's lines), all-zero rows left out. Decoded with numpy: a
        festival's millions of rows take seconds, not minutes. Every rollup the contract has the
        ledger count (``in_ledger``), each time tier summed from its finest rows."""
        names = self._names()
        out: dict[str, dict[str, list]] = {}
        for name, (starts, _, sums) in _tiers(self.order_seconds, "orders_second", 0).items():
            keep = sums.any(axis=1)
            out[name] = {"window": starts[keep].tolist(), **_measures(sums[keep])}
        for name, (starts, codes, sums) in _tiers(self.order_dimensions, "dimensions_second",
                                                  _CODE_BITS["dimensions"], self.dimensions_s).items():
            keep = sums.any(axis=1)
            starts, codes, sums = starts[keep], codes[keep], sums[keep]
            dims = codes // 100
            value = np.empty(len(codes), dtype=object)
            for i, dim in enumerate(CUBE_DIMENSIONS):
                hit = dims == i
                value[hit] = names[dim][codes[hit] - _DIM_BASE[dim]]
            out[name] = {"window": starts.tolist(),
                         "dimension": np.asarray(CUBE_DIMENSIONS, dtype=object)[dims].tolist(),
                         "value": [str(v) for v in value.tolist()], **_measures(sums)}
        for name, (starts, codes, sums) in _tiers(self.order_cube, "cube_5min", _CODE_BITS["cube"]).items():
            keep = sums.any(axis=1)
            starts, codes = starts[keep], codes[keep]
            cube = {"window": starts.tolist()}
            for i, dim in enumerate(CUBE_DIMENSIONS):
                code = (codes >> (_CUBE_BITS * (len(CUBE_DIMENSIONS) - 1 - i))) & ((1 << _CUBE_BITS) - 1)
                cube[dim] = names[dim][code].tolist()
            out[name] = {**cube, **_measures(sums[keep])}
        brands = _tiers(self.order_brands, "brands_5min", _CODE_BITS["brands"])
        brand_names = np.asarray(self.catalog.brand_names, dtype=object)
        for name, (starts, codes, sums) in brands.items():
            keep = sums.any(axis=1)
            starts, codes = starts[keep], codes[keep]
            out[name] = {"window": starts.tolist(), "category": names["category"][self.brand_category[codes]].tolist(),
                         BRAND: brand_names[codes].tolist(), **_measures(sums[keep])}
        if "top_brands" in self.kinds:
            # the rankings are per festival day (Asia/Shanghai): the brands' 5 minutes summed per such day
            starts, codes, sums = brands["brands_5min"]
            bits = _CODE_BITS["brands"]
            days, day_sums = _reduce(((festival_day_start(starts) // 60) << bits) | codes, sums)
            out["top_brands"] = self._top_brands((days >> bits) * 60, days & ((1 << bits) - 1), day_sums,
                                                 names["category"], brand_names)
        for name, (starts, status, sums) in _tiers(self.logistics_seconds, "logistics_second", 3,
                                                   self.logistics_s).items():
            out[name] = {"window": starts.tolist(),
                         "status": np.asarray(ev.LOGISTICS_STATUSES, dtype=object)[status].tolist(),
                         "events": sums[:, 0].tolist()}
        # new buyers per second (each consumer once a day, at their first paid second), buyers per minute
        for kind, firsts, window_of_ms, width, count in (
                ("buyers_second", self.buyer_days, lambda t: t // 1000, 1, "new_buyers"),
                ("buyers_minute", self.buyer_minutes, lambda t: t // 60_000, 60, "buyers")):
            rows = buyer_counts(firsts, window_of_ms, width) if kind in self.kinds else []
            out[kind] = {"window": [r[0] for r in rows], "vip": [r[1] for r in rows], count: [r[2] for r in rows]}
        if self.parcels is not None:
            out.update(self.parcels.columns())
        return {kind: rows for kind, rows in out.items() if kind in self.kinds}

    def _top_brands(self, days: np.ndarray, codes: np.ndarray, sums: np.ndarray, categories: np.ndarray,
                    brand_names: np.ndarray) -> dict[str, list]:
        """The rankings of stream.contract's top brands per festival day, from the brands' day sums:
        over all brands (ranking '') and within each category (ranking = its name), each the
        TOP_BRANDS.n brands first by TOP_BRANDS.rank_key (GMV, largest first; a brand with no paid
        event after every brand with one; ties by brand name)."""
        gmv = sums[:, MEASURES.index(TOP_BRANDS.measure)]
        paid = sum(sums[:, MEASURES.index(e)] for e in TOP_BRANDS.events)
        name_rank = np.argsort(np.argsort(brand_names.astype(str), kind="stable"), kind="stable")
        category = self.brand_category[codes]
        picked: list[tuple[str, int]] = []  # (ranking, row)
        for overall, groups in ((True, days), (False, days * 64 + category)):
            order = np.lexsort((name_rank[codes], -gmv, np.asarray(paid == 0), groups))  # the last key sorts first
            grouped = groups[order]
            first = np.concatenate([[True], grouped[1:] != grouped[:-1]]) if len(order) else np.zeros(0, bool)
            position = np.arange(len(order)) - np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
            for row in order[position < TOP_BRANDS.n].tolist():
                picked.append(("" if overall else str(categories[category[row]]), row))
        rows = np.array([r for _, r in picked], dtype=np.int64)
        return {"window": days[rows].tolist(), "ranking": [s for s, _ in picked],
                BRAND: brand_names[codes[rows]].tolist(), "category": categories[category[rows]].tolist(),
                **_measures(sums[rows])}

    def records(self) -> Iterator[dict]:
        """Every row of the ledger as a dict (``kind``, ``window``, its keys and counts), in the
        order of the file."""
        for kind, columns in self.columns().items():
            names = list(columns)
            for values in zip(*columns.values()):
                yield {"kind": kind, **dict(zip(names, values))}

    def lines(self, summary: dict) -> list[str]:
        """Every ledger line (JSON text), all-zero rows left out, the summary last."""
        return [*map(_line, self.records()), _line({"kind": "summary", **summary})]

    def write(self, path: Path, summary: dict) -> None:
        """Write the ledger to ``path`` (replacing it) as JSON Lines."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in self.lines(summary)), encoding="utf-8")
        tmp.replace(path)


def _measures(sums: np.ndarray) -> dict[str, list]:
    return {m: sums[:, i].tolist() for i, m in enumerate(MEASURES)}


def _fields(orders: np.ndarray) -> dict[str, np.ndarray]:
    """Each order event's cube fields as codes (see Ledger._names)."""
    o = orders["o"]
    return {"category": o["category"], "province": o["province"], "channel": o["channel"], "vip": o["vip"],
            "promotion": o["promotion"], "wave": orders["wave"], "presale_phase": orders["phase"]}


def _cube_codes(fields: dict[str, np.ndarray]) -> np.ndarray:
    """Each order event's cube fields packed into one integer (see ``_CUBE_BITS``)."""
    key = np.zeros(len(fields["category"]), dtype=np.int64)
    for dim in CUBE_DIMENSIONS:
        key = (key << _CUBE_BITS) | fields[dim].astype(np.int64)
    return key


def _line(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
