"""The parcels' ground truth: what the sent logistics events say of each parcel, by the rules of
:mod:`stream.parcels` (vectorised numpy; the job is verified against it).

Like the rest of the ledger it counts only events actually sent, once each: it is fed the rows the
run sent first (a redelivery is not among them), and its per-parcel state is made of maxima and
minima, so even a row fed twice would change nothing. Kept per parcel (one row per parcel seen, 72
bytes with its key): the highest rank reached, the latest progress and exception times, the earliest created,
picked-up and delivered times, the destination province and the carrier. From it, at the end:

- ``parcel_stages``: parcels per stage now (``window``: the festival day of a delivered parcel's
  delivery, 0 for the other stages);
- ``parcel_delivery_times``: legs (creation -> pickup, creation -> delivery) per festival day of the
  leg's end (``window``), destination province, carrier and bucket (``bucket_s``: the bucket's lower edge);
- ``parcel_exceptions``: per carrier (``window`` 0), parcels seen and those with an exception;
- ``parcel_first_delivery``: each festival day's (``window``) earliest delivered event time;
- ``parcel_flows_minute``: parcels picked up per minute (``window``), from the warehouse's province
  (``origin``) to the buyer's, counted from the events (no per-parcel state), on-time and late together.

Every kind's ``window`` is the key ``gmv verify`` matches with the rollup's ``window_start``.
"""
from __future__ import annotations

import numpy as np

from stream.contract import DAY_S, UTC_OFFSET_S
from stream.parcels import (
    DELIVERED_RANK,
    DELIVERY_BUCKET_EDGES_S,
    EXCEPTION,
    LEGS,
    NONE_MS,
    NOT_PER_DAY,
    RANK,
    STAGE_OF_RANK,
    STAGES,
)
from stream.simulator import events as ev
from stream.simulator.catalog import Catalog

PARCEL_KINDS = ("parcel_stages", "parcel_delivery_times", "parcel_exceptions", "parcel_first_delivery",
                "parcel_flows_minute")

_COMPACT_EVERY = 1_000_000
# The state's columns, every one reduced by max: a minimum is kept negated (-t), "none" is _LOW.
RANK_, PROGRESS, EXCEPTION_T, NEG_CREATED, NEG_PICKED, NEG_DELIVERED, PROVINCE, CARRIER = range(8)
_LOW = np.iinfo(np.int64).min
# An event's status code -> its rank (-1: the exception, which has none)
_RANK_OF_CODE = np.array([RANK.get(s, -1) for s in ev.LOGISTICS_STATUSES], dtype=np.int64)
_EXCEPTION_CODE, _DELIVERED_CODE, _PICKED_UP_CODE = map(ev.LOGISTICS_STATUSES.index,
                                                       (EXCEPTION, "delivered", "picked_up"))
_EDGES_MS = np.asarray(DELIVERY_BUCKET_EDGES_S, dtype=np.int64) * 1000
assert len(DELIVERY_BUCKET_EDGES_S) <= 64, "a delivery-time key packs the bucket in 6 bits"


def _reduce(keys: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The max of each column per distinct key; keys come back sorted."""
    if len(keys) == 0:
        return keys, state
    order = np.argsort(keys, kind="stable")
    keys, state = keys[order], state[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.maximum.reduceat(state, starts, axis=0)


def _reduce_min(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The min of ``values`` per distinct key (keys sorted)."""
    found, negated = _reduce(keys, -values[:, None])
    return found, -negated[:, 0]


def event_state(parcels: np.ndarray) -> np.ndarray:
    """What each logistics event row says of its parcel, as a row of the state (n x 8, int64)."""
    n = len(parcels)
    t, code = parcels["t"].astype(np.int64), parcels["status"].astype(np.int64)
    state = np.full((n, 8), _LOW, dtype=np.int64)
    rank = _RANK_OF_CODE[code]
    ranked = rank >= 0
    state[:, RANK_] = rank
    state[:, PROGRESS] = np.where(ranked, t, NONE_MS)
    state[:, EXCEPTION_T] = np.where(code == _EXCEPTION_CODE, t, NONE_MS)
    for column, status in ((NEG_CREATED, "created"), (NEG_PICKED, "picked_up"), (NEG_DELIVERED, "delivered")):
        state[:, column] = np.where(rank == RANK[status], -t, _LOW)
    state[:, PROVINCE] = parcels["o"]["province"]
    state[:, CARRIER] = parcels["o"]["carrier"]
    return state


class ParcelLedger:
    """Per-parcel state of the logistics events sent; :meth:`columns` gives the parcel kinds."""

    def __init__(self, catalog: Catalog):
        assert max(len(catalog.province_names), len(catalog.carrier_names)) <= 64, "keys pack them in 6 bits"
        assert len(catalog.hub_names) <= 64, "a flow's key packs its origin in 6 bits"
        self.catalog = catalog
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.rows = self.compacted = 0
        self.first_delivered_ms: dict[int, int] = {}  # festival day start (s) -> earliest delivered time (ms)
        self.flows: dict[int, int] = {}  # (minute, origin, province) packed -> parcels picked up

    def add(self, parcels: np.ndarray) -> None:
        """Count logistics event rows that were sent (valid, first delivery only)."""
        if len(parcels) == 0:
            return
        self.parts.append(_reduce(parcels["o"]["seq"].astype(np.int64), event_state(parcels)))
        self.rows += len(self.parts[-1][0])
        # a parcel's events are spread over hours: compact when the rows have doubled (amortised)
        if self.rows > max(_COMPACT_EVERY, 2 * self.compacted) and len(self.parts) > 1:
            self.parts = [self.state()]
            self.rows = self.compacted = len(self.parts[0][0])
        t = parcels["t"][parcels["status"] == _DELIVERED_CODE].astype(np.int64)
        days, first = _reduce_min(_day_start(_day_index(t)), t)
        for day, ms in zip(days.tolist(), first.tolist()):
            self.first_delivered_ms[day] = min(self.first_delivered_ms.get(day, ms), ms)
        picked = parcels[parcels["status"] == _PICKED_UP_CODE]
        minute = picked["t"].astype(np.int64) // 60_000 * 60
        key = (minute * 64 + picked["o"]["origin"].astype(np.int64)) * 64 + picked["o"]["province"].astype(np.int64)
        for k, n in zip(*(a.tolist() for a in np.unique(key, return_counts=True))):
            self.flows[k] = self.flows.get(k, 0) + n

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """``(parcel numbers, state rows)``, one row per parcel seen."""
        if not self.parts:
            return np.empty(0, np.int64), np.empty((0, 8), np.int64)
        return _reduce(np.concatenate([k for k, _ in self.parts]), np.concatenate([s for _, s in self.parts]))

    def columns(self) -> dict[str, dict[str, list]]:
        """The parcel kinds' rows as columns of Python values (see the module's docstring)."""
        _, s = self.state()
        provinces = np.asarray(self.catalog.province_names, dtype=object)
        carriers = np.asarray(self.catalog.carrier_names, dtype=object)
        out = {"parcel_stages": _stages(s), "parcel_delivery_times": _delivery_times(s, provinces, carriers)}
        seen = np.bincount(s[:, CARRIER], minlength=len(carriers))
        hit = np.bincount(s[:, CARRIER][s[:, EXCEPTION_T] != NONE_MS], minlength=len(carriers))
        some = np.flatnonzero(seen)
        out["parcel_exceptions"] = {"carrier": carriers[some].tolist(), "parcels": seen[some].tolist(),
                                    "with_exception": hit[some].tolist()}
        out["parcel_exceptions"]["window"] = [0] * len(some)
        days = sorted(self.first_delivered_ms)
        out["parcel_first_delivery"] = {"window": days,
                                        "first_delivered_ms": [self.first_delivered_ms[d] for d in days]}
        hubs = np.asarray(self.catalog.hub_names, dtype=object)
        keys = np.asarray(sorted(self.flows), dtype=np.int64)
        out["parcel_flows_minute"] = {"window": (keys // 64**2).tolist(), "origin": hubs[keys // 64 % 64].tolist(),
                                      "province": provinces[keys % 64].tolist(),
                                      "parcels": [self.flows[k] for k in keys.tolist()]}
        return out


def _earliest(column: np.ndarray) -> np.ndarray:
    """A negated-minimum state column as times (ms), ``NONE_MS`` where none."""
    none = column == _LOW
    return np.where(none, NONE_MS, -np.where(none, 0, column))


def _day_index(t_ms: np.ndarray) -> np.ndarray:
    """The festival day (Asia/Shanghai) of each time, as a day number (see _day_start)."""
    return (t_ms // 1000 + UTC_OFFSET_S) // DAY_S


def _day_start(index: np.ndarray) -> np.ndarray:
    return index * DAY_S - UTC_OFFSET_S


def _stages(s: np.ndarray) -> dict[str, list]:
    """Parcels per (stage, day) from the state rows, as stream.parcels.stage says."""
    rank = s[:, RANK_]
    delivered = rank == DELIVERED_RANK
    stage = np.asarray([STAGES.index(name) for name in STAGE_OF_RANK])[np.maximum(rank, 0)]
    stage[~delivered & (s[:, EXCEPTION_T] > s[:, PROGRESS])] = STAGES.index("in_exception")
    day = np.where(delivered, _day_start(_day_index(_earliest(s[:, NEG_DELIVERED]))), NOT_PER_DAY)
    found, counts = np.unique(np.stack([stage, day], axis=1), axis=0, return_counts=True)
    return {"window": found[:, 1].tolist(), "stage": [STAGES[i] for i in found[:, 0].tolist()],
            "parcels": counts.tolist()}


def _delivery_times(s: np.ndarray, provinces: np.ndarray, carriers: np.ndarray) -> dict[str, list]:
    """Legs per (day of the leg's end, province, carrier, leg, bucket) from the state rows."""
    created = _earliest(s[:, NEG_CREATED])
    columns: dict[str, list] = {k: [] for k in ("window", "province", "carrier", "leg", "bucket_s", "parcels")}
    for leg, column in zip(LEGS, (NEG_PICKED, NEG_DELIVERED)):
        end = _earliest(s[:, column])
        both = (created != NONE_MS) & (end != NONE_MS)
        end = end[both]
        bucket = np.maximum(np.searchsorted(_EDGES_MS, end - created[both], side="right") - 1, 0)
        # one integer per (day, province, carrier, bucket): each of the last three < 64
        key = ((_day_index(end) * 64 + s[both, PROVINCE]) * 64 + s[both, CARRIER]) * 64 + bucket
        found, counts = np.unique(key, return_counts=True)
        columns["window"] += _day_start(found // 64**3).tolist()
        columns["province"] += provinces[found // 64**2 % 64].tolist()
        columns["carrier"] += carriers[found // 64 % 64].tolist()
        columns["leg"] += [leg] * len(found)
        columns["bucket_s"] += [DELIVERY_BUCKET_EDGES_S[b] for b in (found % 64).tolist()]
        columns["parcels"] += counts.tolist()
    return columns
