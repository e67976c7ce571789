"""The in-memory layout of orders and events (numpy structured arrays) and the schema enums.

Events are generated, queued and counted as rows of :data:`EVENT`; only the
encoder turns them into JSON. Every categorical field is a small integer code
into one of the enums of ``stream.contract``, which list exactly the values the JSON Schemas allow;
the constants below name the codes the generator uses.
"""
from __future__ import annotations

import numpy as np

from stream.contract import CHANNELS, ORDER_STATUSES, PROMOTIONS, WAVES
from stream.contract import PARCEL_STATUSES as LOGISTICS_STATUSES
from stream.contract import PRESALE_PHASES as PHASES

CREATED, PAID, CANCELLED, REFUNDED = map(ORDER_STATUSES.index, ("created", "paid", "cancelled", "refunded"))
NO_PHASE, DEPOSIT, FINAL = map(PHASES.index, ("none", "deposit", "final"))
PRESALE, WAVE1, WAVE2, OTHER = map(WAVES.index, ("presale", "wave1", "wave2", "other"))
APP, WEB, LIVESTREAM, MINI_PROGRAM = map(CHANNELS.index, ("app", "web", "livestream", "mini_program"))
NONE, COUPON, CROSS_STORE, FLASH_SALE, LIVESTREAM_DEAL, PRESALE_DEPOSIT = map(PROMOTIONS.index, (
    "none", "coupon", "cross_store", "flash_sale", "livestream_deal", "presale_deposit"))
EXCEPTION = LOGISTICS_STATUSES.index("exception")

ORDERS_TOPIC, LOGISTICS_TOPIC = 0, 1

# ``sub`` of an order event picks the suffix of its id after the order id (one of each per
# order); of a logistics event it is the step number within the parcel.
ORDER_SUFFIXES = ("c", "d", "p", "x", "r", "f")
SUB_CREATED, SUB_DEPOSIT, SUB_PAID, SUB_CANCELLED, SUB_REFUNDED, SUB_FINAL = range(6)

# An order as drawn: everything its events repeat.
ORDER = np.dtype([
    ("seq", "<i8"),  # order number within the run; order_id = run tag + seq
    ("consumer", "<i4"),
    ("vip", "?"),
    ("brand", "<i4"),
    ("category", "<i1"),
    ("province", "<i1"),
    ("channel", "<i1"),
    ("promotion", "<i1"),
    ("carrier", "<i1"),
    ("origin", "<i1"),  # the parcel's warehouse province: an index into the catalogue's hub_names
    ("items", "<i2"),
    ("list_fen", "<i8"),
    ("discount_fen", "<i8"),
    ("deposit_fen", "<i8"),  # 0 unless a pre-sale order
])

# One event (either topic): its order first (offset 0, see :func:`from_orders`), then its own
# fields. ``sub`` makes the event id unique within its order/parcel.
EVENT = np.dtype([
    ("o", ORDER),
    ("t", "<i8"),  # event time, epoch ms
    ("topic", "<i1"),
    ("status", "<i1"),
    ("phase", "<i1"),
    ("wave", "<i1"),
    ("sub", "<i1"),
    ("dup", "?"),  # a redelivery of an event already sent
    ("late", "?"),  # held back and sent late on purpose
    ("paid_fen", "<i8"),
])


def empty_events(n: int = 0) -> np.ndarray:
    return np.zeros(n, dtype=EVENT)


# numpy copies structured rows field by field when fancy-indexing them, which is ~30x
# slower than copying them as opaque blobs; every row gather goes through these two.
def take(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``rows[index]`` (integer or boolean index), copied as raw records."""
    if index.dtype == np.bool_:
        index = np.flatnonzero(index)
    blobs = rows.view(np.dtype((np.void, rows.dtype.itemsize)))
    return blobs[index].view(rows.dtype)


def concat(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate`` of event rows, as raw records (skips numpy's structured-dtype checks)."""
    if len(parts) == 1:
        return parts[0]
    blob = np.dtype((np.void, EVENT.itemsize))
    return np.concatenate([p.view(blob) for p in parts]).view(EVENT)


def from_orders(orders: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Zeroed event rows whose ``o`` part is ``orders[index]``."""
    raw = np.zeros((len(index), EVENT.itemsize), dtype=np.uint8)
    raw[:, : ORDER.itemsize] = orders.view(np.uint8).reshape(len(orders), ORDER.itemsize)[index]
    return raw.view(EVENT).reshape(-1)
