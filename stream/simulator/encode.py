"""Event rows to JSON bytes: one ``%`` template per topic, fields in schema order.

Every categorical value's JSON (quoted) is looked up, numbers are formatted by
``%d``: no float ever reaches the output, and the same row always gives the same
bytes (so a redelivered event repeats its original byte for byte).
Ids: order ``o<tag>-<seq>``, parcel ``p<tag>-<seq>``, consumer ``c<n>``; an event id is
its order's (or parcel's) id plus ``:`` and a suffix unique within it.
"""
from __future__ import annotations

import numpy as np

from stream.simulator import events as ev
from stream.simulator.catalog import Catalog

ORDER_TEMPLATE = (
    b'{"event_id":"oTAG-%d:%s","event_time":%d,"order_id":"oTAG-%d","consumer_id":"c%d",'
    b'"status":%s,"brand":%s,"category":%s,"province":%s,"channel":%s,"vip":%s,"items":%d,'
    b'"list_fen":%d,"discount_fen":%d,"paid_fen":%d,"promotion":%s,"wave":%s,"presale_phase":%s}'
)
LOGISTICS_TEMPLATE = (
    b'{"event_id":"pTAG-%d:%d","event_time":%d,"parcel_id":"pTAG-%d","order_id":"oTAG-%d",'
    b'"status":%s,"province":%s,"carrier":%s,"origin":%s}'
)


def quoted(values) -> np.ndarray:
    """JSON strings (UTF-8 bytes) of plain names: no quotes or backslashes in them."""
    for v in values:
        if '"' in v or "\\" in v or not v.isprintable():
            raise ValueError(f"name {v!r} needs JSON escaping")
    return np.array([f'"{v}"'.encode() for v in values], dtype=object)


class Encoder:
    """Formats rows of one run (its ``tag`` is part of every id) straight to bytes."""

    def __init__(self, catalog: Catalog, tag: str):
        if not tag.isalnum():
            raise ValueError("run tag must be alphanumeric")
        self.tag = tag
        self.order_template = ORDER_TEMPLATE.replace(b"TAG", tag.encode())
        self.logistics_template = LOGISTICS_TEMPLATE.replace(b"TAG", tag.encode())
        self.key_template = f"o{tag}-%d".encode()
        self.brand = catalog.brand_json
        self.category = quoted(catalog.category_names)
        self.province = quoted(catalog.province_names)
        self.carrier = quoted(catalog.carrier_names)
        self.hub = quoted(catalog.hub_names)
        self.order_status = quoted(ev.ORDER_STATUSES)
        self.logistics_status = quoted(ev.LOGISTICS_STATUSES)
        self.channel = quoted(ev.CHANNELS)
        self.promotion = quoted(ev.PROMOTIONS)
        self.wave = quoted(ev.WAVES)
        self.phase = quoted(ev.PHASES)
        self.boolean = np.array([b"false", b"true"], dtype=object)
        self.suffix = np.array([s.encode() for s in ev.ORDER_SUFFIXES], dtype=object)

    def orders(self, rows: np.ndarray) -> list[bytes]:
        """JSON of order event rows."""
        o = rows["o"]
        seq = o["seq"].tolist()
        columns = (
            seq, self.suffix[rows["sub"]].tolist(), rows["t"].tolist(), seq, o["consumer"].tolist(),
            self.order_status[rows["status"]].tolist(), self.brand[o["brand"]].tolist(),
            self.category[o["category"]].tolist(), self.province[o["province"]].tolist(),
            self.channel[o["channel"]].tolist(), self.boolean[o["vip"].view(np.int8)].tolist(),
            o["items"].tolist(), o["list_fen"].tolist(), o["discount_fen"].tolist(), rows["paid_fen"].tolist(),
            self.promotion[o["promotion"]].tolist(), self.wave[rows["wave"]].tolist(),
            self.phase[rows["phase"]].tolist(),
        )
        return list(map(self.order_template.__mod__, zip(*columns)))

    def logistics(self, rows: np.ndarray) -> list[bytes]:
        """JSON of logistics event rows (one parcel per order, numbered like it)."""
        o = rows["o"]
        seq = o["seq"].tolist()
        columns = (
            seq, rows["sub"].tolist(), rows["t"].tolist(), seq, seq,
            self.logistics_status[rows["status"]].tolist(), self.province[o["province"]].tolist(),
            self.carrier[o["carrier"]].tolist(), self.hub[o["origin"]].tolist(),
        )
        return list(map(self.logistics_template.__mod__, zip(*columns)))

    def values(self, rows: np.ndarray) -> list[bytes]:
        """UTF-8 JSON of rows of both topics, in the rows' order."""
        is_order = rows["topic"] == ev.ORDERS_TOPIC
        if is_order.all():
            return self.orders(rows)
        if not is_order.any():
            return self.logistics(rows)
        texts = np.empty(len(rows), dtype=object)
        texts[is_order] = self.orders(ev.take(rows, is_order))
        texts[~is_order] = self.logistics(ev.take(rows, ~is_order))
        return texts.tolist()

    def keys(self, rows: np.ndarray) -> list[bytes]:
        """Kafka keys: the order id of each row."""
        return list(map(self.key_template.__mod__, rows["o"]["seq"].tolist()))
