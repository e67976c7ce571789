"""The ground truth: what was sent, per event-time window and dimension (see docs/simulator.md).

Only events actually sent are counted, once each (a redelivery is not counted
again; malformed messages are counted apart). Windows are by *event* time, so a
late event lands in the window it happened in. Aggregation is vectorised: each
batch is reduced to (key, sums) and the partial tables are merged now and then.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stream.contract import BUYER_STATUS, CUBE_DIMENSIONS, DIMENSIONS, MEASURES, ORDER_MEASURES, UTC_OFFSET_S
from stream.simulator import events as ev
from stream.simulator.catalog import Catalog

_DIM_BASE = {"category": 0, "province": 100, "channel": 200, "brand": 1000}
_CODE_BITS = 20  # brand codes stay below 2**20
_COMPACT_EVERY = 1_000_000
# A cube row's fields packed into one integer, 5 bits each (every enum has fewer than 32 values).
_CUBE_BITS = 5


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

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.order_seconds = _Table(len(MEASURES))
        self.order_minutes = _Table(len(MEASURES))
        self.order_cube = _Table(len(MEASURES))
        too_many = [n for n in (catalog.category_names, catalog.province_names) if len(n) >= 1 << _CUBE_BITS]
        assert not too_many, "the ledger's cube packs each field in 5 bits: at most 31 categories and provinces"
        self.logistics_seconds = _Table(1)
        self.logistics_minutes = _Table(1)
        # buyers: per (festival day, consumer) and per (minute, consumer), from the paid events
        self.buyer_days = _Firsts()
        self.buyer_minutes = _Firsts()

    def add(self, rows: np.ndarray) -> None:
        """Count rows that were sent (valid, first delivery only)."""
        orders = ev.take(rows, rows["topic"] == ev.ORDERS_TOPIC)
        parcels = ev.take(rows, rows["topic"] == ev.LOGISTICS_TOPIC)
        if len(orders):
            measures = order_measures(orders)
            self.order_seconds.add(orders["t"] // 1000, measures)
            minute = (orders["t"] // 60_000) << _CODE_BITS
            o = orders["o"]
            codes = [o[d].astype(np.int64) + _DIM_BASE[d] for d in DIMENSIONS]
            self.order_minutes.add(np.concatenate([minute + c for c in codes]), np.tile(measures, (len(codes), 1)))
            self.order_cube.add(_cube_codes(orders), measures)
            paid = ev.take(orders, orders["status"] == ev.ORDER_STATUSES.index(BUYER_STATUS))
            consumer, t, vip = paid["o"]["consumer"].astype(np.int64), paid["t"], paid["o"]["vip"]
            day = (t // 1000 + UTC_OFFSET_S) // 86_400
            self.buyer_days.add((day << _CONSUMER_BITS) | consumer, t, vip)
            self.buyer_minutes.add(((t // 60_000) << _CONSUMER_BITS) | consumer, t, vip)
        if len(parcels):
            status = parcels["status"].astype(np.int64)
            ones = np.ones((len(parcels), 1), dtype=np.int64)
            self.logistics_seconds.add((parcels["t"] // 1000) * 8 + status, ones)
            self.logistics_minutes.add((parcels["t"] // 60_000) * 8 + status, ones)

    def columns(self) -> dict[str, dict[str, list]]:
        """The ledger's rows by kind, as columns of Python values (``window``, its keys, its
        counts, in the order of the file's lines), all-zero rows left out. Decoded with numpy: a
        festival's millions of rows take seconds, not minutes."""
        out = {}
        keys, sums = _nonzero(*self.order_seconds.result())
        out["orders_second"] = {"window": keys.tolist(), **_measures(sums)}
        keys, sums = _nonzero(*self.order_minutes.result())
        codes = keys & ((1 << _CODE_BITS) - 1)
        dims = np.searchsorted(np.array([_DIM_BASE[d] for d in DIMENSIONS]), codes, side="right") - 1
        names = {"category": self.catalog.category_names, "province": self.catalog.province_names,
                 "channel": ev.CHANNELS, "brand": self.catalog.brand_names}
        value = np.empty(len(keys), dtype=object)
        for i, dim in enumerate(DIMENSIONS):
            hit = dims == i
            value[hit] = np.asarray(names[dim], dtype=object)[codes[hit] - _DIM_BASE[dim]]
        out["orders_minute"] = {"window": ((keys >> _CODE_BITS) * 60).tolist(),
                                "dimension": np.asarray(DIMENSIONS, dtype=object)[dims].tolist(),
                                "value": value.tolist(), **_measures(sums)}
        keys, sums = _nonzero(*self.order_cube.result())
        names = {"category": self.catalog.category_names, "province": self.catalog.province_names,
                 "channel": ev.CHANNELS, "promotion": ev.PROMOTIONS, "wave": ev.WAVES, "presale_phase": ev.PHASES}
        cube = {"window": ((keys >> (_CUBE_BITS * len(CUBE_DIMENSIONS))) * 60).tolist()}
        for i, dim in enumerate(CUBE_DIMENSIONS):
            code = (keys >> (_CUBE_BITS * (len(CUBE_DIMENSIONS) - 1 - i))) & ((1 << _CUBE_BITS) - 1)
            cube[dim] = code.tolist() if dim == "vip" else np.asarray(names[dim], dtype=object)[code].tolist()
        out["orders_minute_cube"] = {**cube, **_measures(sums)}
        for kind, table, width in (("logistics_second", self.logistics_seconds, 1),
                                   ("logistics_minute", self.logistics_minutes, 60)):
            keys, sums = table.result()
            window, status = np.divmod(keys, 8)
            out[kind] = {"window": (window * width).tolist(),
                         "status": np.asarray(ev.LOGISTICS_STATUSES, dtype=object)[status].tolist(),
                         "events": sums[:, 0].tolist()}
        # new buyers per second (each consumer once a day, at their first paid second), buyers per minute
        for kind, firsts, window_of, width, count in (
                ("buyers_second", self.buyer_days, lambda t: t // 1000, 1, "new_buyers"),
                ("buyers_minute", self.buyer_minutes, lambda t: t // 60_000, 60, "buyers")):
            rows = buyer_counts(firsts, window_of, width)
            out[kind] = {"window": [r[0] for r in rows], "vip": [r[1] for r in rows], count: [r[2] for r in rows]}
        return out

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


def _nonzero(keys: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = sums.any(axis=1)
    return keys[keep], sums[keep]


def _measures(sums: np.ndarray) -> dict[str, list]:
    return {m: sums[:, i].tolist() for i, m in enumerate(MEASURES)}


def _cube_codes(orders: np.ndarray) -> np.ndarray:
    """Each order event's minute and cube fields as one integer (see ``_CUBE_BITS``)."""
    fields = {"category": orders["o"]["category"], "province": orders["o"]["province"],
              "channel": orders["o"]["channel"], "vip": orders["o"]["vip"], "promotion": orders["o"]["promotion"],
              "wave": orders["wave"], "presale_phase": orders["phase"]}
    key = orders["t"] // 60_000
    for dim in CUBE_DIMENSIONS:
        key = (key << _CUBE_BITS) | fields[dim].astype(np.int64)
    return key


def _line(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
