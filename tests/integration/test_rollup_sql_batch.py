"""The job's own rollup SQL (stream/job/rollup_sql.py's views, then stream/job/aggregates.py's
views and INSERTs), run in Flink's batch mode over hand-written messages, must give exactly the
rows written out below: the quick check of the SQL that the end-to-end tests (real Kafka, minutes)
make.

No Kafka, no ClickHouse: the raw topics are JSON-lines files with the Kafka source's columns
(``msg``, ``kafka_ts``, ``kafka_partition``, ``kafka_offset`` and the same computed ``ts``), and
each sink is a JSON-lines folder read back afterwards. The views and INSERTs are the streaming
job's, unchanged but for two parameters: arrival order is ``kafka_offset`` here, ``PROCTIME()`` in
the job (in batch processing time says nothing about order), and there is no watermark (the job
reads ``CURRENT_WATERMARK``). The message is written in base64, so that a message that is not
UTF-8 reaches the SQL as its bytes. The input files are written in reverse, so nothing leans on
read order. The job's buffered sinks (``rollup_statements(sinks, options, buffered)``: late rows,
the buyers, the pipeline's counts) are the same files as its other sinks here.

Final rows per key: in batch mode every window closes at the end of the input, and a continuous
aggregate or a Top-N is computed once over the whole input, so a sink receives inserts only (batch
mode has no changelog; a file sink could not take one), each key's final row once: what the
streaming job's upserts, kept per key in ClickHouse, end with. The check asserts one row per key,
so a run that wrote a key twice fails here rather than the test choosing which row counts.

Covered, by orders on two festival days (Asia/Shanghai: the day boundary is 16:00 UTC) and on two UTC
days (the time tiers' days: the boundary is 00:00 UTC, 08:00 in Shanghai, inside the second festival
day), the second festival day's in four hours (two from 00:00 in Shanghai, and one either side of
00:00 UTC), its first hour's in two 5-minute windows and its first 5 minutes' in two minutes:
- created, paid (one of 0 fen), a pre-sale deposit and its final payment, cancelled and refunded,
  over three categories, three provinces, four channels, a VIP, five promotions, three waves and
  both pre-sale phases: per second, hour and UTC day; each field on its own per second, minute
  (vip as '0' or '1'), hour and UTC day; the cube of the seven fields per 5 minutes, hour and UTC
  day; brands with their category per 5 minutes, hour and UTC day. The coarser windows are cascaded
  from closed finer windows (stream/job/aggregates.py), so a row of theirs here is the sum of
  several finer windows' rows;
- each festival day's top brands by GMV (TOP_BRANDS.n = 10), from the events (a continuous Top-N),
  over all brands and per category, in two rankings longer than ten: over all brands a tie in GMV at
  the tenth place goes to the brand whose name sorts first; in one category a paid order of 0 fen
  ranks before a brand with no paid event; the second day's rankings count orders either side of
  00:00 UTC;
- a redelivered order event counted once (first wins: its later copy is even behind the
  watermark, yet neither it nor a late correction is counted), and a redelivered parcel event;
- late events (at or behind the newest event time of their partition minus the 200 ms delay,
  one of them put there by a heartbeat, one exactly at the bound) in ``late = 1`` rows of their
  own windows, in every tier (in several 5-minute windows and hours, and on both UTC days), from
  one late aggregate per family, in the top brands (which count on-time and late events together),
  and in pipeline_events as kind 'late';
- every reason the SQL rejects an order for, and two for parcels, in the rejected sink with the
  message, its partition, offset and Kafka time, and counted per minute of Kafka time; among
  them the hostile and odd ones: 1.2 MB, nested 100 deep, not UTF-8, numbers past 2^63, NaN and
  -Infinity, a field twice, 1970, 2100, and an event eight days behind its partition;
- every message but heartbeats counted per minute of Kafka time ('received');
- heartbeats, neither counted nor rejected;
- buyers: new buyers per second (a consumer once a festival day, at the first of their paid events:
  one buys on both festival days; two either side of 00:00 UTC, new on the same festival day) and
  distinct buyers per minute, by VIP.
"""
from __future__ import annotations

import base64
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stream.contract import PARCEL_ROLLUPS, REJECTED_FIELDS, ROLLUPS
from stream.job import aggregates, rollup_sql, runner
from stream.settings import load

T0 = 1_636_560_000_000  # 2021-11-11 00:00:00 in Shanghai = 2021-11-10 16:00:00 UTC: a festival day's start
A = 1_636_560_000  # its first minute (5 minutes, hour, festival day), epoch seconds (UTC)
B = A + 60  # the next minute
EVE = A - 86_400  # the festival day before (Nov 10 in Shanghai), from 2021-11-09 16:00 UTC
# The tiers' days are UTC days: 2021-11-10 00:00 UTC (08:00 on Nov 10 in Shanghai) holds the festival
# day before's last 16 hours and Nov 11's first 8; the next starts at U, 08:00 on Nov 11 in Shanghai.
U = A + 8 * 3600  # 2021-11-11 00:00:00 UTC
UTC_NOV10 = U - 86_400
UTC_NOV11 = U

ORDER = ('{"event_id":"%s","event_time":%d,"order_id":"%s","consumer_id":"%s","status":"%s","brand":"%s",'
         '"category":"%s","province":"%s","channel":"%s","vip":%s,"items":%d,"list_fen":%d,'
         '"discount_fen":%d,"paid_fen":%d,"promotion":"%s","wave":"%s","presale_phase":"%s"}')
PARCEL = ('{"event_id":"%s","event_time":%d,"parcel_id":"%s","order_id":"%s","status":"%s",'
          '"province":"%s","carrier":"%s"}')


def order(event_id: str, ms: int, status: str, brand: str, category: str, province: str, channel: str,
          paid: int = 0, *, list_fen: int, discount: int, promotion: str = "none", wave: str = "wave1",
          phase: str = "none", vip: str = "false", items: int = 1, consumer: str = "") -> str:
    """An order event's JSON as the simulator writes it (schema order, no spaces); ``ms`` after T0
    (before it when negative). The consumer is c<n> of order o<n> unless given."""
    order_id = event_id.split(":")[0]
    return ORDER % (event_id, T0 + ms, order_id, consumer or "c" + order_id[1:], status, brand, category, province,
                    channel, vip, items, list_fen, discount, paid, promotion, wave, phase)


def parcel(event_id: str, ms: int, status: str) -> str:
    parcel_id = event_id.split(":")[0]
    return PARCEL % (event_id, T0 + ms, parcel_id, "o" + parcel_id[1:], status, "Zhejiang", "SF Express")


def parcel_from(event_id: str, ms: int, status: str) -> str:
    """A parcel event with its warehouse's province (origin), carried by ZTO Express to Zhejiang."""
    parcel_id = event_id.split(":")[0]
    event = PARCEL % (event_id, T0 + ms, parcel_id, "o" + parcel_id[1:], status, "Zhejiang", "ZTO Express")
    return event[:-1] + ',"origin":"Guangdong"}'


def heartbeat(ms: int) -> str:
    return f'{{"heartbeat":true,"event_time":{T0 + ms}}}'


def broken(msg: str, old: str, new: str) -> str:
    assert msg.count(old) == 1, (msg, old)
    return msg.replace(old, new)


# -- orders ------------------------------------------------------------------------------------
# o1: Perfect Diary (beauty), Zhejiang, app: created, paid, later refunded.
O1 = {"list_fen": 15900, "discount": 3000}
E1 = order("o1:c", 100, "created", "Perfect Diary", "beauty", "Zhejiang", "app", **O1)
E2 = order("o1:p", 300, "paid", "Perfect Diary", "beauty", "Zhejiang", "app", 12900, **O1)
E6 = order("o1:r", 61000, "refunded", "Perfect Diary", "beauty", "Zhejiang", "app", 12900, **O1)
# o3: a pre-sale Xiaomi (electronics), Guangdong, livestream: deposit, then final payment.
O3 = {"list_fen": 60000, "discount": 10000, "promotion": "presale_deposit", "wave": "presale"}
E3 = order("o3:d", 800, "paid", "Xiaomi", "electronics", "Guangdong", "livestream", 5000,
           phase="deposit", **O3)
E4 = order("o3:f", 1200, "paid", "Xiaomi", "electronics", "Guangdong", "livestream", 45000,
           phase="final", **O3)
# o5: Huawei (electronics), Zhejiang, web: cancelled.
E5 = order("o5:x", 1500, "cancelled", "Huawei", "electronics", "Zhejiang", "web", list_fen=29900, discount=0)
# o7: Perfect Diary, Guangdong, mini_program: created, arrives a minute late.
E7 = order("o7:c", 1700, "created", "Perfect Diary", "beauty", "Guangdong", "mini_program", list_fen=9900,
           discount=0)
# o8: Huawei, Guangdong, web: created and paid in the second minute.
O8 = {"list_fen": 99900, "discount": 10000, "promotion": "flash_sale", "wave": "wave2", "vip": "true",
      "items": 2}
E8 = order("o8:c", 61500, "created", "Huawei", "electronics", "Guangdong", "web", **O8)
E9 = order("o8:p", 61900, "paid", "Huawei", "electronics", "Guangdong", "web", 89900, **O8)
# o10: Perfect Diary, Zhejiang, livestream: created, exactly at its partition's watermark.
E10 = order("o10:c", 61800, "created", "Perfect Diary", "beauty", "Zhejiang", "livestream", list_fen=19900,
            discount=2000, promotion="livestream_deal")
# Later that day: Perfect Diary again, in the next 5 minutes and the next hour (two of them late).
# o11: paid in the second 5 minutes, by c20, who bought on the day before too.
E11 = order("o11:p", 400_000, "paid", "Perfect Diary", "beauty", "Zhejiang", "app", 20000, **O1, consumer="c20")
# o12: paid in the second 5 minutes, late; the same fields as o7.
E12 = order("o12:p", 350_000, "paid", "Perfect Diary", "beauty", "Guangdong", "mini_program", 7000, list_fen=9900,
            discount=2900)
# o13: paid in the second hour, by c1 (a buyer of this day already).
E13 = order("o13:p", 3_700_000, "paid", "Perfect Diary", "beauty", "Zhejiang", "app", 30000, **O1, consumer="c1")
# o14: created in the second hour, late; the same fields as o7.
E14 = order("o14:c", 3_650_000, "created", "Perfect Diary", "beauty", "Guangdong", "mini_program", list_fen=9900,
            discount=0)
# Either side of 08:00 in Shanghai (00:00 UTC: the UTC day turns, the festival day goes on), partition 4:
# o15: paid in the UTC day's last second, the same fields as o1.
E15 = order("o15:p", 28_799_000, "paid", "Perfect Diary", "beauty", "Zhejiang", "app", 8800, **O1)
# o16: paid 700 ms into the next UTC day, the same fields as o8 (a VIP).
E16 = order("o16:p", 28_800_700, "paid", "Huawei", "electronics", "Guangdong", "web", 6600, **O8)
# o17: created 100 ms into the next UTC day, arrives after o16: late; the same fields as o7.
E17 = order("o17:c", 28_800_100, "created", "Perfect Diary", "beauty", "Guangdong", "mini_program", list_fen=9900,
            discount=0)


def eve(n: int, brand: str, category: str, paid: int | None, ms: int) -> str:
    """An order event of the day before, in its last second: Sichuan, app, a coupon, pre-sale, all by
    c20; paid ``paid`` fen (a full discount when 0), or only created when ``paid`` is None."""
    status, amount = ("created", 0) if paid is None else ("paid", paid)
    return order(f"d{n}:{status[0]}", ms, status, brand, category, "Sichuan", "app", amount,
                 list_fen=amount or 9900, discount=0 if amount else 9900, promotion="coupon", wave="presale",
                 consumer="c20")


# The day before, 23:59:59 in Shanghai: thirteen brands, eleven of them food. The rankings' tenth
# places: over all brands, Bestore and Wahaha tie at 10,000 fen (Bestore's name sorts first); in
# food, Nongfu Spring's paid order of 0 fen ranks before Master Kong, who has no paid event (and
# whose name sorts first). Wahaha and Master Kong arrive before Bestore and Nongfu Spring, so
# neither arrival order nor name order alone gives the right rankings.
EVE_BRANDS = [  # (brand, category, paid fen)
    ("Apple", "electronics", 500000),
    ("Lancome", "beauty", 300000),
    ("Moutai", "food", 150000),
    ("Wuliangye", "food", 90000),
    ("Three Squirrels", "food", 60000),
    ("Haidilao", "food", 40000),
    ("Yili", "food", 30000),
    ("Mengniu", "food", 20000),
    ("Lee Kum Kee", "food", 15000),
    ("Wahaha", "food", 10000),
    ("Bestore", "food", 10000),
    ("Master Kong", "food", None),
    ("Nongfu Spring", "food", 0),
]
EVE_ORDERS = [eve(n, brand, category, paid, -900 + 50 * n) for n, (brand, category, paid) in enumerate(EVE_BRANDS)]
# d13: a Lancome order created on the day before, that arrives late (after the next day's o11)
EVE_LATE = order("d13:c", -100, "created", "Lancome", "beauty", "Sichuan", "app", list_fen=300000, discount=0,
                 promotion="coupon", wave="presale", consumer="c20")

# Malformed orders: a paid order, broken one way each.
BASE = order("o9:p", 2000, "paid", "Xiaomi", "electronics", "Guangdong", "app", 12900, **O1)
NOT_JSON = "<html><body>503 Service Unavailable</body></html>"
TRUNCATED = BASE[:60]
MISSING_FIELD = broken(BASE, '"consumer_id":"c9",', "")
STRING_MONEY = broken(BASE, '"paid_fen":12900', '"paid_fen":"129.00"')
FLOAT_MONEY = broken(BASE, '"paid_fen":12900', '"paid_fen":12900.5')
NEGATIVE = broken(BASE, '"paid_fen":12900', '"paid_fen":-12900')
BAD_STATUS = broken(BASE, '"status":"paid"', '"status":"pending_payment"')
BAD_CHANNEL = broken(BASE, '"channel":"app"', '"channel":"tv"')
BAD_VIP = broken(BASE, '"vip":false', '"vip":1')
BAD_PROMOTION = broken(BASE, '"promotion":"none"', '"promotion":"bogo"')
BAD_WAVE = broken(BASE, '"wave":"wave1"', '"wave":"wave3"')
BAD_PHASE = broken(BASE, '"presale_phase":"none"', '"presale_phase":"balance"')
NO_ITEMS = broken(BASE, '"items":1', '"items":0')
DISCOUNT_OVER_LIST = broken(BASE, '"discount_fen":3000', '"discount_fen":20000')
# the same field twice (a reader would take one or the other: which?); the quoted one is first
DUPLICATE = broken(BASE, '"paid_fen":12900', '"paid_fen":"1","paid_fen":12900')
# sent at T0 + 60.150 s, claims T0 + 120.151 s: 1 ms past the allowed minute ahead of Kafka time
FUTURE = broken(BASE, f'"event_time":{T0 + 2000}', f'"event_time":{T0 + 120151}')

# Hostile and odd messages (README: "Hostile and odd input")
YEAR_2100 = broken(BASE, f'"event_time":{T0 + 2000}', '"event_time":4102444800000')
YEAR_1970 = broken(BASE, f'"event_time":{T0 + 2000}', '"event_time":1000')  # before MIN_EVENT_TIME_MS
# a valid event eight days behind the newest event time of its partition (partition 0)
EIGHT_DAYS_OLD = broken(BASE, f'"event_time":{T0 + 2000}', f'"event_time":{T0 - 8 * 86_400_000}')
BEYOND_2_63 = broken(BASE, '"paid_fen":12900', '"paid_fen":18446744073709551616')  # 2^64
TIME_BEYOND_2_63 = broken(BASE, f'"event_time":{T0 + 2000}', '"event_time":99999999999999999999')
NAN = broken(BASE, '"paid_fen":12900', '"paid_fen":NaN')  # not JSON: JSON has no NaN or Infinity
INFINITY = broken(BASE, '"list_fen":15900', '"list_fen":-Infinity')
# the odd brand names are fine (the real-pipeline test counts them); a field given twice is not
ODD_BRAND_TWICE = broken(BASE, '"brand":"Xiaomi"', '"brand":"<img src=x onerror=alert(1)>","brand":"花西子🌸"')
DEEP = broken(BASE, '"items":1', '"items":1,"extra":' + "[" * 100 + "]" * 100)
TOO_LARGE = broken(BASE, '"items":1', '"items":1,"padding":"' + "花" * 400_000 + '"')  # 1.2 MB
BAD_UTF8 = broken(BASE, '"brand":"Xiaomi"', '"brand":"Xiaomi\udcff"').encode("utf-8", "surrogateescape")

# (partition, offset, Kafka time in ms after T0, message)
ORDERS = [
    (0, 0, 150, E1),
    (0, 1, 350, E2),
    (0, 2, 850, E3),
    (0, 3, 900, E2),  # redelivered: counted once (and 300 <= 800 - 200, so this copy is behind)
    (0, 4, 1250, E4),
    (0, 5, 1550, E5),
    (0, 6, 61050, E6),
    (0, 7, 61100, E7),  # late: 1700 <= 61000 - 200
    (1, 0, 61550, E8),
    (1, 1, 62000, heartbeat(62000)),  # moves partition 1's event time on; not counted, not rejected
    (1, 2, 62010, E9),  # on time: 61900 > 62000 - 200
    (1, 3, 62020, E10),  # late: 61800 <= 62000 - 200, exactly at the bound
    (2, 0, 2050, NOT_JSON),
    (2, 1, 2100, TRUNCATED),
    (2, 2, 2150, MISSING_FIELD),
    (2, 3, 2200, STRING_MONEY),
    (2, 4, 2250, FLOAT_MONEY),
    (2, 5, 2300, NEGATIVE),
    (2, 6, 2350, BAD_STATUS),
    (2, 7, 2400, BAD_CHANNEL),
    (2, 8, 2450, BAD_VIP),
    (2, 9, 2500, BAD_PROMOTION),
    (2, 10, 2550, BAD_WAVE),
    (2, 11, 2600, BAD_PHASE),
    (2, 12, 60050, NO_ITEMS),
    (2, 13, 60100, DISCOUNT_OVER_LIST),
    (2, 14, 60150, FUTURE),
    (2, 15, 60200, DUPLICATE),
    (2, 16, 60250, YEAR_2100),
    (2, 17, 60300, YEAR_1970),
    (2, 18, 60350, BEYOND_2_63),
    (2, 19, 60400, TIME_BEYOND_2_63),
    (2, 20, 60450, NAN),
    (2, 21, 60500, INFINITY),
    (2, 22, 60550, ODD_BRAND_TWICE),
    (2, 23, 60600, DEEP),
    (2, 24, 60650, TOO_LARGE),
    (2, 25, 60700, BAD_UTF8),
    (0, 8, 61150, EIGHT_DAYS_OLD),  # partition 0 has seen T0 + 61 s: too old
    *[(3, n, -880 + 50 * n, msg) for n, msg in enumerate(EVE_ORDERS)],  # the day before, in time order
    (3, 13, 400_050, E11),
    (3, 14, 400_100, E12),  # late: 350 s <= 400 s - 200 ms
    (3, 15, 400_150, EVE_LATE),  # late: the day before
    (3, 16, 3_700_050, E13),
    (3, 17, 3_700_100, E14),  # late: 3,650 s <= 3,700 s - 200 ms
    (4, 0, 28_799_050, E15),
    (4, 1, 28_800_750, E16),
    (4, 2, 28_800_800, E17),  # late: 28,800.1 s <= 28,800.7 s - 200 ms
]

# -- parcels -----------------------------------------------------------------------------------
L1 = parcel("p1:0", 200, "created")
L2 = parcel("p1:1", 900, "picked_up")
L3 = parcel("p3:1", 1100, "picked_up")
L4 = parcel("p1:2", 60500, "in_transit")
L5 = parcel("p5:3", 1300, "delivered")
PARCEL_BASE = parcel("p6:0", 3000, "created")
UNKNOWN_PARCEL_STATUS = broken(PARCEL_BASE, '"status":"created"', '"status":"shipped"')
STRING_TIME = broken(PARCEL_BASE, f'"event_time":{T0 + 3000}', f'"event_time":"{T0 + 3000}"')

# Parcels' stages, legs, exceptions, first delivery and flows (partition 2, carrier ZTO Express, from a
# warehouse in Guangdong; the events above have no origin: 'unknown'). Offsets in this order:
P10_EXCEPTION = parcel_from("p10:5", 5_000, "exception")  # only an exception seen: in exception
P7_CREATED = parcel_from("p7:0", 10_000, "created")
P8_CREATED = parcel_from("p8:0", 20_000, "created")
P11_CREATED = parcel_from("p11:0", 30_000, "created")
P11_EXCEPTION = parcel_from("p11:5", 40_000, "exception")
P11_PICKED_UP = parcel_from("p11:1", 90_000, "picked_up")  # after its exception: in transit; pickup 60 s
P7_PICKED_UP = parcel_from("p7:1", 130_000, "picked_up")  # pickup 120 s: the 2-5 min bucket
P7_EXCEPTION = parcel_from("p7:5", 200_000, "exception")
P8_DELIVERED = parcel_from("p8:4", 3_620_000, "delivered")  # delivery 1 h exactly: the 1-2 h bucket
P8_PICKED_UP = parcel_from("p8:1", 50_000, "picked_up")  # late; pickup 30 s
P7_IN_TRANSIT = parcel_from("p7:2", 150_000, "in_transit")  # late, and before its exception: still in exception

LOGISTICS = [
    (0, 0, 250, L1),
    (0, 1, 950, L2),
    (0, 2, 1150, L3),
    (0, 3, 1400, L3),  # redelivered, on time: counted once
    (0, 4, 60550, L4),
    (0, 5, 60600, L5),  # late: 1300 <= 60500 - 200
    (1, 0, 3050, UNKNOWN_PARCEL_STATUS),
    (1, 1, 3100, STRING_TIME),
    (1, 2, 3150, heartbeat(3100)),
    *[(2, n, ms + 50, msg) for n, (ms, msg) in enumerate((
        (5_000, P10_EXCEPTION), (10_000, P7_CREATED), (20_000, P8_CREATED), (30_000, P11_CREATED),
        (40_000, P11_EXCEPTION), (90_000, P11_PICKED_UP), (130_000, P7_PICKED_UP), (200_000, P7_EXCEPTION),
        (3_620_000, P8_DELIVERED), (3_620_100, P8_PICKED_UP), (3_620_150, P7_IN_TRANSIT)))],
]

# -- expected rows, counted by hand --------------------------------------------------------------
MEASURES = ("orders_created", "orders_paid", "gmv_fen", "refunds", "refund_fen", "cancellations", "deposits_paid")
TOTALS = ("window_start", "late", *MEASURES)
BY_DIMENSION = ("window_start", "dimension", "value", "late", *MEASURES)
CUBE = ("window_start", "category", "province", "channel", "vip", "promotion", "wave", "presale_phase", "late",
        *MEASURES)
BRANDS = ("window_start", "category", "brand", "late", *MEASURES)
COLUMNS = {
    "orders_second": TOTALS,
    "orders_hour": TOTALS,
    "orders_day": TOTALS,
    "dimensions_second": BY_DIMENSION,
    "dimensions_minute": BY_DIMENSION,
    "dimensions_hour": BY_DIMENSION,
    "dimensions_day": BY_DIMENSION,
    "cube_5min": CUBE,
    "cube_hour": CUBE,
    "cube_day": CUBE,
    "brands_5min": BRANDS,
    "brands_hour": BRANDS,
    "brands_day": BRANDS,
    "top_brands": ("window_start", "ranking", "brand", "category", *MEASURES),
    "logistics_second": ("window_start", "status", "late", "events"),
    "logistics_minute": ("window_start", "status", "late", "events"),
    "parcel_stages": ("window_start", "stage", "parcels"),
    "parcel_delivery_times": ("window_start", "province", "carrier", "leg", "bucket_s", "parcels"),
    "parcel_exceptions": ("window_start", "carrier", "parcels", "with_exception"),
    "parcel_first_delivery": ("window_start", "first_delivered_ms"),
    "parcel_flows_minute": ("window_start", "origin", "province", "late", "parcels"),
    "buyers_second": ("window_start", "vip", "new_buyers"),
    "buyers_minute": ("window_start", "vip", "buyers"),
    "pipeline_events": ("window_start", "source", "kind", "reason", "events"),
    "rejected": ("source", "reason", "kafka_partition", "kafka_offset", "kafka_time", "msg", "truncated",
                 "msg_chars", "msg_base64"),
}


def m(created=0, paid=0, gmv=0, refunds=0, refund_fen=0, cancellations=0, deposits=0) -> tuple:
    """The seven measures, in MEASURES' order."""
    return created, paid, gmv, refunds, refund_fen, cancellations, deposits


CREATED_ONLY = m(created=1)
REFUND = m(refunds=1, refund_fen=12900)  # e6
O8 = m(created=1, paid=1, gmv=89900)  # e8 and e9: the VIP's order

# The seven fields of the cube, in its key order, of the orders that share them:
K1 = ("beauty", "Zhejiang", "app", 0, "none", "wave1", "none")  # o1 (e1, e2, e6), o11, o13
K3D = ("electronics", "Guangdong", "livestream", 0, "presale_deposit", "presale", "deposit")  # e3
K3F = ("electronics", "Guangdong", "livestream", 0, "presale_deposit", "presale", "final")  # e4
K5 = ("electronics", "Zhejiang", "web", 0, "none", "wave1", "none")  # e5
K8 = ("electronics", "Guangdong", "web", 1, "flash_sale", "wave2", "none")  # e8, e9
K7 = ("beauty", "Guangdong", "mini_program", 0, "none", "wave1", "none")  # o7, o12, o14: all late
K10 = ("beauty", "Zhejiang", "livestream", 0, "livestream_deal", "wave1", "none")  # e10: late
FIELDS = ("category", "province", "channel", "vip", "promotion", "wave", "presale_phase")


def each(window: int, late: int, fields: tuple, measures: tuple) -> list[tuple]:
    """dimensions_* rows of orders that share all seven fields: one row per field, vip as text."""
    return [(window, f, str(v), late, *measures) for f, v in zip(FIELDS, fields)]


def each_of(window: int, late: int, *orders: tuple[tuple, tuple]) -> list[tuple]:
    """dimensions_* rows of orders with different fields, given as (fields, measures): one row per
    field and value, the measures of the orders with that value added up."""
    sums: dict[tuple, tuple] = {}
    for fields, measures in orders:
        for f, v in zip(FIELDS, fields):
            before = sums.get((f, str(v)), m())
            sums[(f, str(v))] = tuple(a + b for a, b in zip(before, measures))
    return [(window, f, v, late, *measures) for (f, v), measures in sums.items()]


def at(window: int, rows: list[tuple]) -> list[tuple]:
    return [(window, *row) for row in rows]


# The day before: every order in its last second (so its last minute, 5 minutes and hour), in the
# same six fields but the category. Its rows are the same in each tier, but for the window.
EVE_FIELDS = (("province", "Sichuan"), ("channel", "app"), ("vip", "0"), ("promotion", "coupon"),
              ("wave", "presale"), ("presale_phase", "none"))
EVE_TOTAL = m(created=1, paid=12, gmv=1_225_000)  # twelve paid (one of them 0 fen), Master Kong created
EVE_BY_DIMENSION = [
    ("category", "electronics", 0, *m(paid=1, gmv=500_000)),
    ("category", "beauty", 0, *m(paid=1, gmv=300_000)),
    ("category", "food", 0, *m(created=1, paid=10, gmv=425_000)),
    *[(field, value, 0, *EVE_TOTAL) for field, value in EVE_FIELDS],
    # d13, late
    *[(field, value, 1, *CREATED_ONLY) for field, value in (("category", "beauty"), *EVE_FIELDS)],
]
EVE_CUBE = [
    ("food", "Sichuan", "app", 0, "coupon", "presale", "none", 0, *m(created=1, paid=10, gmv=425_000)),
    ("electronics", "Sichuan", "app", 0, "coupon", "presale", "none", 0, *m(paid=1, gmv=500_000)),
    ("beauty", "Sichuan", "app", 0, "coupon", "presale", "none", 0, *m(paid=1, gmv=300_000)),
    ("beauty", "Sichuan", "app", 0, "coupon", "presale", "none", 1, *CREATED_ONLY),  # d13, late
]
EVE_BRANDS_ROWS = [
    ("electronics", "Apple", 0, *m(paid=1, gmv=500_000)),
    ("beauty", "Lancome", 0, *m(paid=1, gmv=300_000)),
    ("food", "Moutai", 0, *m(paid=1, gmv=150_000)),
    ("food", "Wuliangye", 0, *m(paid=1, gmv=90_000)),
    ("food", "Three Squirrels", 0, *m(paid=1, gmv=60_000)),
    ("food", "Haidilao", 0, *m(paid=1, gmv=40_000)),
    ("food", "Yili", 0, *m(paid=1, gmv=30_000)),
    ("food", "Mengniu", 0, *m(paid=1, gmv=20_000)),
    ("food", "Lee Kum Kee", 0, *m(paid=1, gmv=15_000)),
    ("food", "Wahaha", 0, *m(paid=1, gmv=10_000)),
    ("food", "Bestore", 0, *m(paid=1, gmv=10_000)),
    ("food", "Master Kong", 0, *CREATED_ONLY),
    ("food", "Nongfu Spring", 0, *m(paid=1)),
    ("beauty", "Lancome", 1, *CREATED_ONLY),  # d13, late
]
PERFECT_DIARY = ("beauty", "Perfect Diary")
XIAOMI = ("electronics", "Xiaomi", 0, *m(paid=1, gmv=50000, deposits=1))  # e3 and e4
HUAWEI = ("electronics", "Huawei", 0, *m(created=1, paid=1, gmv=89900, cancellations=1))  # e5, e8, e9

EXPECTED = {
    "orders_second": [
        (A - 1, 0, *EVE_TOTAL),  # the day before
        (A - 1, 1, *CREATED_ONLY),  # d13, late
        # e1 created; e2 paid 12900; e3 a deposit: GMV 5000 and a deposit paid, not yet a paid order
        (A, 0, *m(created=1, paid=1, gmv=17900, deposits=1)),
        # e4 final payment 45000: a paid order; e5 cancelled
        (A + 1, 0, *m(paid=1, gmv=45000, cancellations=1)),
        # e6 refunded 12900; e8 created; e9 paid 89900
        (B + 1, 0, *m(created=1, paid=1, gmv=89900, refunds=1, refund_fen=12900)),
        (A + 1, 1, *CREATED_ONLY),  # e7, late
        (B + 1, 1, *CREATED_ONLY),  # e10, late
        (A + 350, 1, *m(paid=1, gmv=7000)),  # e12, late
        (A + 400, 0, *m(paid=1, gmv=20000)),  # e11
        (A + 3650, 1, *CREATED_ONLY),  # e14, late
        (A + 3700, 0, *m(paid=1, gmv=30000)),  # e13
        (U - 1, 0, *m(paid=1, gmv=8800)),  # e15
        (U, 0, *m(paid=1, gmv=6600)),  # e16
        (U, 1, *CREATED_ONLY),  # e17, late
    ],
    "orders_hour": [
        (A - 3600, 0, *EVE_TOTAL),
        (A - 3600, 1, *CREATED_ONLY),
        # the first minutes' seconds above, and e11 in the next 5 minutes
        (A, 0, *m(created=2, paid=4, gmv=172800, refunds=1, refund_fen=12900, cancellations=1, deposits=1)),
        (A, 1, *m(created=2, paid=1, gmv=7000)),  # e7, e10, e12
        (A + 3600, 0, *m(paid=1, gmv=30000)),  # e13
        (A + 3600, 1, *CREATED_ONLY),  # e14
        (U - 3600, 0, *m(paid=1, gmv=8800)),  # e15
        (U, 0, *m(paid=1, gmv=6600)),  # e16
        (U, 1, *CREATED_ONLY),  # e17
    ],
    # UTC days: the day before's last second and Nov 11's first 8 hours are one day; e16 and e17 the next.
    "orders_day": [
        # the day before (created 1, paid 12, 1,225,000), the two hours above (created 2, paid 5,
        # 202,800 with the refund, the cancellation and the deposit) and e15 (paid 8,800)
        (UTC_NOV10, 0, *m(created=3, paid=18, gmv=1_436_600, refunds=1, refund_fen=12900, cancellations=1,
                          deposits=1)),
        (UTC_NOV10, 1, *m(created=4, paid=1, gmv=7000)),  # d13, e7, e10, e12, e14
        (UTC_NOV11, 0, *m(paid=1, gmv=6600)),  # e16
        (UTC_NOV11, 1, *CREATED_ONLY),  # e17
    ],
    # Each field on its own per second: the orders of each second, as in orders_second.
    "dimensions_second": [
        *at(A - 1, EVE_BY_DIMENSION),  # the day before, d13 late
        *each_of(A, 0, (K1, m(created=1, paid=1, gmv=12900)), (K3D, m(gmv=5000, deposits=1))),  # e1, e2, e3
        *each_of(A + 1, 0, (K3F, m(paid=1, gmv=45000)), (K5, m(cancellations=1))),  # e4, e5
        *each(A + 1, 1, K7, CREATED_ONLY),  # e7
        *each_of(B + 1, 0, (K1, REFUND), (K8, O8)),  # e6, e8, e9
        *each(B + 1, 1, K10, CREATED_ONLY),  # e10
        *each(A + 350, 1, K7, m(paid=1, gmv=7000)),  # e12
        *each(A + 400, 0, K1, m(paid=1, gmv=20000)),  # e11
        *each(A + 3650, 1, K7, CREATED_ONLY),  # e14
        *each(A + 3700, 0, K1, m(paid=1, gmv=30000)),  # e13
        *each(U - 1, 0, K1, m(paid=1, gmv=8800)),  # e15
        *each(U, 0, K8, m(paid=1, gmv=6600)),  # e16
        *each(U, 1, K7, CREATED_ONLY),  # e17
    ],
    "dimensions_minute": [
        *at(A - 60, EVE_BY_DIMENSION),
        # e1-e5
        (A, "category", "beauty", 0, *m(created=1, paid=1, gmv=12900)),
        (A, "category", "electronics", 0, *m(paid=1, gmv=50000, cancellations=1, deposits=1)),
        (A, "province", "Zhejiang", 0, *m(created=1, paid=1, gmv=12900, cancellations=1)),
        (A, "province", "Guangdong", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "channel", "app", 0, *m(created=1, paid=1, gmv=12900)),
        (A, "channel", "livestream", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "channel", "web", 0, *m(cancellations=1)),
        (A, "vip", "0", 0, *m(created=1, paid=2, gmv=62900, cancellations=1, deposits=1)),
        (A, "promotion", "none", 0, *m(created=1, paid=1, gmv=12900, cancellations=1)),
        (A, "promotion", "presale_deposit", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "wave", "wave1", 0, *m(created=1, paid=1, gmv=12900, cancellations=1)),
        (A, "wave", "presale", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "presale_phase", "none", 0, *m(created=1, paid=1, gmv=12900, cancellations=1)),
        (A, "presale_phase", "deposit", 0, *m(gmv=5000, deposits=1)),
        (A, "presale_phase", "final", 0, *m(paid=1, gmv=45000)),
        *each(A, 1, K7, CREATED_ONLY),  # e7
        # e6, e8, e9
        (B, "category", "beauty", 0, *REFUND),
        (B, "category", "electronics", 0, *O8),
        (B, "province", "Zhejiang", 0, *REFUND),
        (B, "province", "Guangdong", 0, *O8),
        (B, "channel", "app", 0, *REFUND),
        (B, "channel", "web", 0, *O8),
        (B, "vip", "0", 0, *REFUND),
        (B, "vip", "1", 0, *O8),
        (B, "promotion", "none", 0, *REFUND),
        (B, "promotion", "flash_sale", 0, *O8),
        (B, "wave", "wave1", 0, *REFUND),
        (B, "wave", "wave2", 0, *O8),
        (B, "presale_phase", "none", 0, *m(created=1, paid=1, gmv=89900, refunds=1, refund_fen=12900)),
        *each(B, 1, K10, CREATED_ONLY),  # e10
        *each(A + 300, 1, K7, m(paid=1, gmv=7000)),  # e12
        *each(A + 360, 0, K1, m(paid=1, gmv=20000)),  # e11
        *each(A + 3600, 1, K7, CREATED_ONLY),  # e14
        *each(A + 3660, 0, K1, m(paid=1, gmv=30000)),  # e13
        *each(U - 60, 0, K1, m(paid=1, gmv=8800)),  # e15
        *each(U, 0, K8, m(paid=1, gmv=6600)),  # e16
        *each(U, 1, K7, CREATED_ONLY),  # e17
    ],
    "dimensions_hour": [
        *at(A - 3600, EVE_BY_DIMENSION),
        # the two minutes above and e11
        (A, "category", "beauty", 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900)),
        (A, "category", "electronics", 0, *m(created=1, paid=2, gmv=139900, cancellations=1, deposits=1)),
        (A, "province", "Zhejiang", 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900,
                                           cancellations=1)),
        (A, "province", "Guangdong", 0, *m(created=1, paid=2, gmv=139900, deposits=1)),
        (A, "channel", "app", 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900)),
        (A, "channel", "livestream", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "channel", "web", 0, *m(created=1, paid=1, gmv=89900, cancellations=1)),
        (A, "vip", "0", 0, *m(created=1, paid=3, gmv=82900, refunds=1, refund_fen=12900, cancellations=1,
                              deposits=1)),
        (A, "vip", "1", 0, *O8),
        (A, "promotion", "none", 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900,
                                       cancellations=1)),
        (A, "promotion", "presale_deposit", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "promotion", "flash_sale", 0, *O8),
        (A, "wave", "wave1", 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900, cancellations=1)),
        (A, "wave", "presale", 0, *m(paid=1, gmv=50000, deposits=1)),
        (A, "wave", "wave2", 0, *O8),
        (A, "presale_phase", "none", 0, *m(created=2, paid=3, gmv=122800, refunds=1, refund_fen=12900,
                                           cancellations=1)),
        (A, "presale_phase", "deposit", 0, *m(gmv=5000, deposits=1)),
        (A, "presale_phase", "final", 0, *m(paid=1, gmv=45000)),
        # e7, e10, e12
        (A, "category", "beauty", 1, *m(created=2, paid=1, gmv=7000)),
        (A, "province", "Guangdong", 1, *m(created=1, paid=1, gmv=7000)),
        (A, "province", "Zhejiang", 1, *CREATED_ONLY),
        (A, "channel", "mini_program", 1, *m(created=1, paid=1, gmv=7000)),
        (A, "channel", "livestream", 1, *CREATED_ONLY),
        (A, "vip", "0", 1, *m(created=2, paid=1, gmv=7000)),
        (A, "promotion", "none", 1, *m(created=1, paid=1, gmv=7000)),
        (A, "promotion", "livestream_deal", 1, *CREATED_ONLY),
        (A, "wave", "wave1", 1, *m(created=2, paid=1, gmv=7000)),
        (A, "presale_phase", "none", 1, *m(created=2, paid=1, gmv=7000)),
        *each(A + 3600, 0, K1, m(paid=1, gmv=30000)),  # e13
        *each(A + 3600, 1, K7, CREATED_ONLY),  # e14
        *each(U - 3600, 0, K1, m(paid=1, gmv=8800)),  # e15
        *each(U, 0, K8, m(paid=1, gmv=6600)),  # e16
        *each(U, 1, K7, CREATED_ONLY),  # e17
    ],
    # UTC days: the day before's last second, Nov 11's two hours above and e15; then e16 and e17
    "dimensions_day": [
        (UTC_NOV10, "category", "beauty", 0, *m(created=1, paid=5, gmv=371700, refunds=1, refund_fen=12900)),
        (UTC_NOV10, "category", "electronics", 0, *m(created=1, paid=3, gmv=639900, cancellations=1, deposits=1)),
        (UTC_NOV10, "category", "food", 0, *m(created=1, paid=10, gmv=425000)),
        (UTC_NOV10, "province", "Sichuan", 0, *EVE_TOTAL),
        (UTC_NOV10, "province", "Zhejiang", 0, *m(created=1, paid=4, gmv=71700, refunds=1, refund_fen=12900,
                                                   cancellations=1)),
        (UTC_NOV10, "province", "Guangdong", 0, *m(created=1, paid=2, gmv=139900, deposits=1)),
        (UTC_NOV10, "channel", "app", 0, *m(created=2, paid=16, gmv=1_296_700, refunds=1, refund_fen=12900)),
        (UTC_NOV10, "channel", "livestream", 0, *m(paid=1, gmv=50000, deposits=1)),
        (UTC_NOV10, "channel", "web", 0, *m(created=1, paid=1, gmv=89900, cancellations=1)),
        (UTC_NOV10, "vip", "0", 0, *m(created=2, paid=17, gmv=1_346_700, refunds=1, refund_fen=12900,
                                      cancellations=1, deposits=1)),
        (UTC_NOV10, "vip", "1", 0, *O8),
        (UTC_NOV10, "promotion", "coupon", 0, *EVE_TOTAL),
        (UTC_NOV10, "promotion", "none", 0, *m(created=1, paid=4, gmv=71700, refunds=1, refund_fen=12900,
                                               cancellations=1)),
        (UTC_NOV10, "promotion", "presale_deposit", 0, *m(paid=1, gmv=50000, deposits=1)),
        (UTC_NOV10, "promotion", "flash_sale", 0, *O8),
        (UTC_NOV10, "wave", "presale", 0, *m(created=1, paid=13, gmv=1_275_000, deposits=1)),
        (UTC_NOV10, "wave", "wave1", 0, *m(created=1, paid=4, gmv=71700, refunds=1, refund_fen=12900,
                                           cancellations=1)),
        (UTC_NOV10, "wave", "wave2", 0, *O8),
        (UTC_NOV10, "presale_phase", "none", 0, *m(created=3, paid=17, gmv=1_386_600, refunds=1, refund_fen=12900,
                                                   cancellations=1)),
        (UTC_NOV10, "presale_phase", "deposit", 0, *m(gmv=5000, deposits=1)),
        (UTC_NOV10, "presale_phase", "final", 0, *m(paid=1, gmv=45000)),
        # d13, e7, e10, e12, e14
        (UTC_NOV10, "category", "beauty", 1, *m(created=4, paid=1, gmv=7000)),
        (UTC_NOV10, "province", "Sichuan", 1, *CREATED_ONLY),
        (UTC_NOV10, "province", "Guangdong", 1, *m(created=2, paid=1, gmv=7000)),
        (UTC_NOV10, "province", "Zhejiang", 1, *CREATED_ONLY),
        (UTC_NOV10, "channel", "app", 1, *CREATED_ONLY),
        (UTC_NOV10, "channel", "mini_program", 1, *m(created=2, paid=1, gmv=7000)),
        (UTC_NOV10, "channel", "livestream", 1, *CREATED_ONLY),
        (UTC_NOV10, "vip", "0", 1, *m(created=4, paid=1, gmv=7000)),
        (UTC_NOV10, "promotion", "coupon", 1, *CREATED_ONLY),
        (UTC_NOV10, "promotion", "none", 1, *m(created=2, paid=1, gmv=7000)),
        (UTC_NOV10, "promotion", "livestream_deal", 1, *CREATED_ONLY),
        (UTC_NOV10, "wave", "presale", 1, *CREATED_ONLY),
        (UTC_NOV10, "wave", "wave1", 1, *m(created=3, paid=1, gmv=7000)),
        (UTC_NOV10, "presale_phase", "none", 1, *m(created=4, paid=1, gmv=7000)),
        *each(UTC_NOV11, 0, K8, m(paid=1, gmv=6600)),  # e16
        *each(UTC_NOV11, 1, K7, CREATED_ONLY),  # e17
    ],
    "cube_5min": [
        *at(A - 300, EVE_CUBE),
        # e1, e2 and e6: one order, so one row of fields
        (A, *K1, 0, *m(created=1, paid=1, gmv=12900, refunds=1, refund_fen=12900)),
        # o3's deposit and final payment differ in their pre-sale phase
        (A, *K3D, 0, *m(gmv=5000, deposits=1)),
        (A, *K3F, 0, *m(paid=1, gmv=45000)),
        (A, *K5, 0, *m(cancellations=1)),
        (A, *K8, 0, *O8),
        (A, *K7, 1, *CREATED_ONLY),  # e7
        (A, *K10, 1, *CREATED_ONLY),  # e10
        (A + 300, *K1, 0, *m(paid=1, gmv=20000)),  # e11
        (A + 300, *K7, 1, *m(paid=1, gmv=7000)),  # e12
        (A + 3600, *K1, 0, *m(paid=1, gmv=30000)),  # e13
        (A + 3600, *K7, 1, *CREATED_ONLY),  # e14
        (U - 300, *K1, 0, *m(paid=1, gmv=8800)),  # e15
        (U, *K8, 0, *m(paid=1, gmv=6600)),  # e16
        (U, *K7, 1, *CREATED_ONLY),  # e17
    ],
    "cube_hour": [
        *at(A - 3600, EVE_CUBE),
        (A, *K1, 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900)),  # o1 and e11
        (A, *K3D, 0, *m(gmv=5000, deposits=1)),
        (A, *K3F, 0, *m(paid=1, gmv=45000)),
        (A, *K5, 0, *m(cancellations=1)),
        (A, *K8, 0, *O8),
        (A, *K7, 1, *m(created=1, paid=1, gmv=7000)),  # e7 and e12
        (A, *K10, 1, *CREATED_ONLY),
        (A + 3600, *K1, 0, *m(paid=1, gmv=30000)),
        (A + 3600, *K7, 1, *CREATED_ONLY),
        (U - 3600, *K1, 0, *m(paid=1, gmv=8800)),  # e15
        (U, *K8, 0, *m(paid=1, gmv=6600)),  # e16
        (U, *K7, 1, *CREATED_ONLY),  # e17
    ],
    "cube_day": [
        *at(UTC_NOV10, EVE_CUBE),
        (UTC_NOV10, *K1, 0, *m(created=1, paid=4, gmv=71700, refunds=1, refund_fen=12900)),  # o1, e11, e13, e15
        (UTC_NOV10, *K3D, 0, *m(gmv=5000, deposits=1)),
        (UTC_NOV10, *K3F, 0, *m(paid=1, gmv=45000)),
        (UTC_NOV10, *K5, 0, *m(cancellations=1)),
        (UTC_NOV10, *K8, 0, *O8),
        (UTC_NOV10, *K7, 1, *m(created=2, paid=1, gmv=7000)),  # e7, e12 and e14
        (UTC_NOV10, *K10, 1, *CREATED_ONLY),
        (UTC_NOV11, *K8, 0, *m(paid=1, gmv=6600)),  # e16
        (UTC_NOV11, *K7, 1, *CREATED_ONLY),  # e17
    ],
    "brands_5min": [
        *at(A - 300, EVE_BRANDS_ROWS),
        (A, *PERFECT_DIARY, 0, *m(created=1, paid=1, gmv=12900, refunds=1, refund_fen=12900)),  # o1
        (A, *XIAOMI),
        (A, *HUAWEI),
        (A, *PERFECT_DIARY, 1, *m(created=2)),  # e7, e10
        (A + 300, *PERFECT_DIARY, 0, *m(paid=1, gmv=20000)),  # e11
        (A + 300, *PERFECT_DIARY, 1, *m(paid=1, gmv=7000)),  # e12
        (A + 3600, *PERFECT_DIARY, 0, *m(paid=1, gmv=30000)),  # e13
        (A + 3600, *PERFECT_DIARY, 1, *CREATED_ONLY),  # e14
        (U - 300, *PERFECT_DIARY, 0, *m(paid=1, gmv=8800)),  # e15
        (U, "electronics", "Huawei", 0, *m(paid=1, gmv=6600)),  # e16
        (U, *PERFECT_DIARY, 1, *CREATED_ONLY),  # e17
    ],
    "brands_hour": [
        *at(A - 3600, EVE_BRANDS_ROWS),
        (A, *PERFECT_DIARY, 0, *m(created=1, paid=2, gmv=32900, refunds=1, refund_fen=12900)),  # o1, e11
        (A, *XIAOMI),
        (A, *HUAWEI),
        (A, *PERFECT_DIARY, 1, *m(created=2, paid=1, gmv=7000)),  # e7, e10, e12
        (A + 3600, *PERFECT_DIARY, 0, *m(paid=1, gmv=30000)),
        (A + 3600, *PERFECT_DIARY, 1, *CREATED_ONLY),
        (U - 3600, *PERFECT_DIARY, 0, *m(paid=1, gmv=8800)),  # e15
        (U, "electronics", "Huawei", 0, *m(paid=1, gmv=6600)),  # e16
        (U, *PERFECT_DIARY, 1, *CREATED_ONLY),  # e17
    ],
    "brands_day": [
        *at(UTC_NOV10, EVE_BRANDS_ROWS),
        # o1, e11, e13, e15
        (UTC_NOV10, *PERFECT_DIARY, 0, *m(created=1, paid=4, gmv=71700, refunds=1, refund_fen=12900)),
        (UTC_NOV10, *XIAOMI),
        (UTC_NOV10, *HUAWEI),
        (UTC_NOV10, *PERFECT_DIARY, 1, *m(created=3, paid=1, gmv=7000)),  # e7, e10, e12, e14
        (UTC_NOV11, "electronics", "Huawei", 0, *m(paid=1, gmv=6600)),  # e16
        (UTC_NOV11, *PERFECT_DIARY, 1, *CREATED_ONLY),  # e17
    ],
    # Each festival day's top ten brands by GMV, on-time and late events together.
    "top_brands": [
        # The day before, over all brands: Apple, Lancome (with its late order) and eight food brands;
        # Wahaha ties with Bestore at 10,000 fen and loses by name; Nongfu Spring (0 fen) and Master
        # Kong (no paid event) come after.
        (EVE, "", "Apple", "electronics", *m(paid=1, gmv=500_000)),
        (EVE, "", "Lancome", "beauty", *m(created=1, paid=1, gmv=300_000)),
        (EVE, "", "Moutai", "food", *m(paid=1, gmv=150_000)),
        (EVE, "", "Wuliangye", "food", *m(paid=1, gmv=90_000)),
        (EVE, "", "Three Squirrels", "food", *m(paid=1, gmv=60_000)),
        (EVE, "", "Haidilao", "food", *m(paid=1, gmv=40_000)),
        (EVE, "", "Yili", "food", *m(paid=1, gmv=30_000)),
        (EVE, "", "Mengniu", "food", *m(paid=1, gmv=20_000)),
        (EVE, "", "Lee Kum Kee", "food", *m(paid=1, gmv=15_000)),
        (EVE, "", "Bestore", "food", *m(paid=1, gmv=10_000)),
        # Food: its eleven brands but Master Kong, who has no paid event, after Nongfu Spring's 0 fen.
        (EVE, "food", "Moutai", "food", *m(paid=1, gmv=150_000)),
        (EVE, "food", "Wuliangye", "food", *m(paid=1, gmv=90_000)),
        (EVE, "food", "Three Squirrels", "food", *m(paid=1, gmv=60_000)),
        (EVE, "food", "Haidilao", "food", *m(paid=1, gmv=40_000)),
        (EVE, "food", "Yili", "food", *m(paid=1, gmv=30_000)),
        (EVE, "food", "Mengniu", "food", *m(paid=1, gmv=20_000)),
        (EVE, "food", "Lee Kum Kee", "food", *m(paid=1, gmv=15_000)),
        (EVE, "food", "Bestore", "food", *m(paid=1, gmv=10_000)),
        (EVE, "food", "Wahaha", "food", *m(paid=1, gmv=10_000)),
        (EVE, "food", "Nongfu Spring", "food", *m(paid=1)),
        (EVE, "electronics", "Apple", "electronics", *m(paid=1, gmv=500_000)),
        (EVE, "beauty", "Lancome", "beauty", *m(created=1, paid=1, gmv=300_000)),
        # Nov 11 in Shanghai, one festival day across 00:00 UTC: Perfect Diary's o1, e7, e10-e15, e17
        # (five paid: 12900 + 20000 + 7000 + 30000 + 8800); Huawei's o5, o8 and e16 (89900 + 6600)
        (A, "", "Huawei", "electronics", *m(created=1, paid=2, gmv=96500, cancellations=1)),
        (A, "", "Perfect Diary", "beauty", *m(created=5, paid=5, gmv=78700, refunds=1, refund_fen=12900)),
        (A, "", "Xiaomi", "electronics", *m(paid=1, gmv=50000, deposits=1)),
        (A, "beauty", "Perfect Diary", "beauty", *m(created=5, paid=5, gmv=78700, refunds=1, refund_fen=12900)),
        (A, "electronics", "Huawei", "electronics", *m(created=1, paid=2, gmv=96500, cancellations=1)),
        (A, "electronics", "Xiaomi", "electronics", *m(paid=1, gmv=50000, deposits=1)),
    ],
    "logistics_second": [
        (A, "created", 0, 1),
        (A, "picked_up", 0, 1),
        (A + 1, "picked_up", 0, 1),  # p3:1 twice, counted once
        (B, "in_transit", 0, 1),
        (A + 1, "delivered", 1, 1),
        (A + 5, "exception", 0, 1), (A + 10, "created", 0, 1), (A + 20, "created", 0, 1),
        (A + 30, "created", 0, 1), (A + 40, "exception", 0, 1), (A + 90, "picked_up", 0, 1),
        (A + 130, "picked_up", 0, 1), (A + 200, "exception", 0, 1), (A + 3620, "delivered", 0, 1),
        (A + 50, "picked_up", 1, 1), (A + 150, "in_transit", 1, 1),
    ],
    "logistics_minute": [
        (A, "created", 0, 4),
        (A, "picked_up", 0, 2),
        (B, "in_transit", 0, 1),
        (A, "delivered", 1, 1),
        (A, "exception", 0, 2), (B, "picked_up", 0, 1), (A + 120, "picked_up", 0, 1), (A + 180, "exception", 0, 1),
        (A + 3600, "delivered", 0, 1), (A, "picked_up", 1, 1), (A + 120, "in_transit", 1, 1),
    ],
    # parcels (stream/parcels.py's rules): p1 (created, picked up, in transit), p3 (picked up, twice) and
    # p11 (its exception followed by a pickup) in transit; p5 and p8 delivered on Nov 11; p7 (its
    # exception the latest, the late in_transit before it) and p10 (only an exception) in exception
    "parcel_stages": [(0, "in_transit", 3), (A, "delivered", 2), (0, "in_exception", 2)],
    # legs from creation: p1's pickup 0.7 s; p8's pickup 30 s (late) and delivery 1 h; p11's pickup 60 s;
    # p7's 120 s. p3 and p5 have no creation event: no leg.
    "parcel_delivery_times": [
        (A, "Zhejiang", "SF Express", "pickup", 0, 1),
        (A, "Zhejiang", "ZTO Express", "pickup", 0, 1),
        (A, "Zhejiang", "ZTO Express", "delivery", 3600, 1),
        (A, "Zhejiang", "ZTO Express", "pickup", 60, 1),
        (A, "Zhejiang", "ZTO Express", "pickup", 120, 1),
    ],
    "parcel_exceptions": [(0, "SF Express", 3, 0), (0, "ZTO Express", 4, 3)],
    "parcel_first_delivery": [(A, T0 + 1300)],  # p5's (late) delivery, before p8's
    # picked-up parcels per minute from their warehouse's province to the buyer's
    "parcel_flows_minute": [
        (A, "unknown", "Zhejiang", 0, 2),  # p1, p3 (twice, once)
        (B, "Guangdong", "Zhejiang", 0, 1),  # p11
        (A + 120, "Guangdong", "Zhejiang", 0, 1),  # p7
        (A, "Guangdong", "Zhejiang", 1, 1),  # p8, late
    ],
    # buyers: consumers with a valid paid event, each once a festival day at their first second. The
    # day before: c20 (twelve paid events). Nov 11: c1 (e2 and its redelivery; e13 in the next hour),
    # c3 (the deposit e3 and the final payment e4, a second later), c8 (e9, a VIP), c12 (e12, late)
    # and c20 again (e11); across 00:00 UTC, still Nov 11 in Shanghai: c15 (e15) and c16 (e16, a VIP).
    "buyers_second": [(A - 1, 0, 1), (A, 0, 2), (B + 1, 1, 1), (A + 350, 0, 1), (A + 400, 0, 1), (U - 1, 0, 1),
                      (U, 1, 1)],
    "buyers_minute": [(A - 60, 0, 1), (A, 0, 2), (B, 1, 1), (A + 300, 0, 1), (A + 360, 0, 1), (A + 3660, 0, 1),
                      (U - 60, 0, 1), (U, 1, 1)],
    "pipeline_events": [
        # rejected, per minute of Kafka time
        (A, "orders", "rejected", "not_json", 2),
        (A, "orders", "rejected", "missing_field", 1),
        (A, "orders", "rejected", "wrong_type", 1),
        (A, "orders", "rejected", "bad_number", 2),
        (A, "orders", "rejected", "bad_status", 1),
        (A, "orders", "rejected", "bad_channel", 1),
        (A, "orders", "rejected", "bad_vip", 1),
        (A, "orders", "rejected", "bad_promotion", 1),
        (A, "orders", "rejected", "bad_wave", 1),
        (A, "orders", "rejected", "bad_presale_phase", 1),
        (B, "orders", "rejected", "bad_items", 1),
        (B, "orders", "rejected", "discount_exceeds_list", 1),
        (B, "orders", "rejected", "event_time_in_future", 2),
        (B, "orders", "rejected", "duplicate_field", 2),
        (B, "orders", "rejected", "event_time_too_old", 2),
        (B, "orders", "rejected", "bad_number", 2),
        (B, "orders", "rejected", "not_json", 2),
        (B, "orders", "rejected", "too_deep", 1),
        (B, "orders", "rejected", "too_large", 1),
        (B, "orders", "rejected", "bad_encoding", 1),
        (A, "logistics", "rejected", "bad_status", 1),
        (A, "logistics", "rejected", "wrong_type", 1),
        # late, per minute of event time
        (A - 60, "orders", "late", "", 1),  # d13
        (A, "orders", "late", "", 1),  # e7
        (B, "orders", "late", "", 1),  # e10
        (A + 300, "orders", "late", "", 1),  # e12
        (A + 3600, "orders", "late", "", 1),  # e14
        (U, "orders", "late", "", 1),  # e17
        (A, "logistics", "late", "", 2),  # L5, P8_PICKED_UP
        (A + 120, "logistics", "late", "", 1),  # P7_IN_TRANSIT
    ],
    "rejected": [
        ("orders", "not_json", 2, 0, "2021-11-10 16:00:02.050", NOT_JSON),
        ("orders", "not_json", 2, 1, "2021-11-10 16:00:02.100", TRUNCATED),
        ("orders", "missing_field", 2, 2, "2021-11-10 16:00:02.150", MISSING_FIELD),
        ("orders", "wrong_type", 2, 3, "2021-11-10 16:00:02.200", STRING_MONEY),
        ("orders", "bad_number", 2, 4, "2021-11-10 16:00:02.250", FLOAT_MONEY),
        ("orders", "bad_number", 2, 5, "2021-11-10 16:00:02.300", NEGATIVE),
        ("orders", "bad_status", 2, 6, "2021-11-10 16:00:02.350", BAD_STATUS),
        ("orders", "bad_channel", 2, 7, "2021-11-10 16:00:02.400", BAD_CHANNEL),
        ("orders", "bad_vip", 2, 8, "2021-11-10 16:00:02.450", BAD_VIP),
        ("orders", "bad_promotion", 2, 9, "2021-11-10 16:00:02.500", BAD_PROMOTION),
        ("orders", "bad_wave", 2, 10, "2021-11-10 16:00:02.550", BAD_WAVE),
        ("orders", "bad_presale_phase", 2, 11, "2021-11-10 16:00:02.600", BAD_PHASE),
        ("orders", "bad_items", 2, 12, "2021-11-10 16:01:00.050", NO_ITEMS),
        ("orders", "discount_exceeds_list", 2, 13, "2021-11-10 16:01:00.100", DISCOUNT_OVER_LIST),
        ("orders", "event_time_in_future", 2, 14, "2021-11-10 16:01:00.150", FUTURE),
        ("orders", "duplicate_field", 2, 15, "2021-11-10 16:01:00.200", DUPLICATE),
        ("logistics", "bad_status", 1, 0, "2021-11-10 16:00:03.050", UNKNOWN_PARCEL_STATUS),
        ("logistics", "wrong_type", 1, 1, "2021-11-10 16:00:03.100", STRING_TIME),
        ("orders", "event_time_in_future", 2, 16, "2021-11-10 16:01:00.250", YEAR_2100),
        ("orders", "event_time_too_old", 2, 17, "2021-11-10 16:01:00.300", YEAR_1970),
        ("orders", "bad_number", 2, 18, "2021-11-10 16:01:00.350", BEYOND_2_63),
        ("orders", "bad_number", 2, 19, "2021-11-10 16:01:00.400", TIME_BEYOND_2_63),
        ("orders", "not_json", 2, 20, "2021-11-10 16:01:00.450", NAN),
        ("orders", "not_json", 2, 21, "2021-11-10 16:01:00.500", INFINITY),
        ("orders", "duplicate_field", 2, 22, "2021-11-10 16:01:00.550", ODD_BRAND_TWICE),
        ("orders", "too_deep", 2, 23, "2021-11-10 16:01:00.600", DEEP),
        ("orders", "too_large", 2, 24, "2021-11-10 16:01:00.650", TOO_LARGE),
        ("orders", "bad_encoding", 2, 25, "2021-11-10 16:01:00.700", BAD_UTF8),
        ("orders", "event_time_too_old", 0, 8, "2021-11-10 16:01:01.150", EIGHT_DAYS_OLD),
    ],
}


def _kept(source, reason, partition, offset, kafka_time, msg) -> tuple:
    """A rejected record as the sink writes it: the message (its first MAX_MESSAGE_BYTES bytes,
    cut at a character, when longer), whether it was cut, its length, and its exact bytes in
    base64 when they are not UTF-8 (the text shows U+FFFD for them)."""
    data = msg if isinstance(msg, bytes) else msg.encode()
    text = data.decode("utf-8", "replace")
    cut = rollup_sql.MAX_MESSAGE_BYTES
    if len(data) > cut:
        while data[cut] & 0xC0 == 0x80:
            cut -= 1
        text = data[:cut].decode()
    return (source, reason, partition, offset, kafka_time, text, int(len(data) > rollup_sql.MAX_MESSAGE_BYTES),
            len(data.decode("utf-8", "replace")),
            base64.b64encode(data).decode() if reason == "bad_encoding" else "")


EXPECTED["rejected"] = [_kept(*r) for r in EXPECTED["rejected"]]


def _received(messages: list) -> list[tuple]:
    """Every message but heartbeats, per minute of Kafka time (counted here from the lists)."""
    minutes: dict[int, int] = {}
    for _, _, ms, msg in messages:
        if not (isinstance(msg, str) and msg.startswith('{"heartbeat":true')):
            minute = (T0 + ms) // 60_000 * 60
            minutes[minute] = minutes.get(minute, 0) + 1
    return sorted(minutes.items())


EXPECTED["pipeline_events"] += [(m, source, "received", "", n)
                                for source, messages in (("orders", ORDERS), ("logistics", LOGISTICS))
                                for m, n in _received(messages)]

BATCH = rollup_sql.RollupOptions(arrival_order="kafka_offset", watermark=rollup_sql.NO_WATERMARK)


# -- the run -------------------------------------------------------------------------------------

def _kafka_time(ms_after_t0: int) -> str:
    stamp = datetime.fromtimestamp((T0 + ms_after_t0) / 1000, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _source_table(name: str, folder: Path, messages: list) -> str:
    """A raw topic as a file: the Kafka source's columns (metadata become plain columns), its
    computed ``ts`` and watermark as the job declares them. Lines in reverse arrival order."""
    folder.mkdir()
    lines = [json.dumps({"msg64": base64.b64encode(msg if isinstance(msg, bytes) else msg.encode()).decode(),
                         "kafka_ts": _kafka_time(ms), "kafka_partition": p, "kafka_offset": o})
             for p, o, ms, msg in reversed(messages)]
    (folder / "messages.json").write_text("\n".join(lines) + "\n")
    columns, metadata = re.subn(r" METADATA FROM '\w+' VIRTUAL", "", rollup_sql.source_columns(BATCH))
    assert metadata == 3, columns
    # The message's bytes arrive in base64 (FROM_BASE64 keeps them as they are, invalid UTF-8
    # too, as the job's raw Kafka format does).
    columns = columns.replace("msg STRING,", "msg64 STRING,\n    msg AS FROM_BASE64(msg64),", 1)
    columns = columns.replace("JSON_FIELDS(msg,", "JSON_FIELDS(FROM_BASE64(msg64),", 1)
    return f"""CREATE TEMPORARY TABLE {name} ({columns}
) WITH ('connector' = 'filesystem', 'path' = '{folder.as_uri()}', 'format' = 'json',
        'json.timestamp-format.standard' = 'ISO-8601')"""


def _sink_table(rollup: str, folder: Path) -> str:
    columns = rollup_sql.REJECTED_COLUMNS if rollup == "rejected" else rollup_sql.sink_columns(rollup)[0]
    return f"""CREATE TEMPORARY TABLE sink_{rollup} (
    {columns}
) WITH ('connector' = 'filesystem', 'path' = '{folder.as_uri()}', 'format' = 'json')"""


def _read_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("[!._]*")) if f.is_file()
            for line in f.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def outputs(stack_settings, tmp_path_factory) -> dict[str, list[dict]]:
    """Every sink's rows from one batch run of all the job's INSERTs (one statement set)."""
    tmp = tmp_path_factory.mktemp("rollup-batch")
    options = runner.JobOptions(parallelism=1, from_checkpoint=False)
    with pytest.MonkeyPatch.context() as env:  # as runner.table_environment does, unless already set
        if "JVM_ARGS" not in os.environ:
            env.setenv("JVM_ARGS", f"-Xmx{options.jvm_heap} -Xms256m")
        if "FLINK_LOG_DIR" not in os.environ:
            env.setenv("FLINK_LOG_DIR", str(tmp))
        from pyflink.common import Configuration
        from pyflink.table import EnvironmentSettings, TableEnvironment

        config = Configuration()
        for key, value in runner.flink_config(stack_settings, options).items():
            config.set_string(key, value)
        t_env = TableEnvironment.create(
            EnvironmentSettings.new_instance().in_batch_mode().with_configuration(config).build())
    sinks = {name: f"sink_{name}" for name in [*ROLLUPS, "rejected"]}
    ddl = [
        *rollup_sql.FUNCTIONS,
        _source_table("orders_raw", tmp / "orders", ORDERS),
        _source_table("logistics_raw", tmp / "logistics", LOGISTICS),
        *[_sink_table(name, tmp / "out" / name) for name in sinks],
        *rollup_sql.parsed_views("orders_raw", "logistics_raw", BATCH),
        *rollup_sql.valid_views(BATCH),
    ]
    for statement in ddl:
        t_env.execute_sql(statement)
    # the job's buffered sinks (late rows, the buyers, the pipeline's counts) are the same files here
    views, inserts = aggregates.rollup_statements(sinks, BATCH, buffered=sinks)
    for view in views:
        t_env.execute_sql(view)
    statement_set = t_env.create_statement_set()
    for insert in inserts:
        statement_set.add_insert_sql(insert)
    statement_set.execute().wait()
    return {name: _read_rows(tmp / "out" / name) for name in sinks}


def _check(outputs, rollup: str) -> None:
    columns = COLUMNS[rollup]
    rows = outputs[rollup]
    assert all(tuple(row) == columns for row in rows), [tuple(row) for row in rows][:1]
    got = sorted(tuple(row[c] for c in columns) for row in rows)
    assert got == sorted(EXPECTED[rollup])
    # final rows per key: batch mode writes each key once (the module's docstring); the job's sinks
    # are upserts by key, so two rows of one key would overwrite each other there
    if rollup in ROLLUPS:
        keys = [tuple(row[c.name] for c in ROLLUPS[rollup].keys) for row in rows]
        assert len(set(keys)) == len(keys), keys


@pytest.mark.slow
@pytest.mark.parametrize("rollup", list(COLUMNS))
def test_sink_rows_equal_the_hand_counted_rows(outputs, rollup):
    _check(outputs, rollup)


@pytest.mark.slow
def test_heartbeats_are_neither_counted_nor_rejected(outputs):
    assert not [r for r in outputs["rejected"] if "heartbeat" in r["msg"] or r["reason"] == "heartbeat"]
    assert not [r for r in outputs["pipeline_events"] if r["reason"] == "heartbeat"]


# -- fast checks of the test's own footing ---------------------------------------------------------

def test_expected_columns_are_the_contracts():
    assert set(COLUMNS) == {*ROLLUPS, "rejected"}  # every sink is checked
    for name, columns in COLUMNS.items():
        if name == "rejected":
            assert columns == tuple(c.name for c in REJECTED_FIELDS)
        else:
            assert columns == ROLLUPS[name].column_names, name


def test_every_reject_reason_of_the_sql_is_covered():
    """Each reason the orders' CASE can give (but the unreachable 'invalid') has its message here;
    the parcels' two are reasons their CASE gives (it is built by the same code)."""
    orders, _, orders_rejected, logistics, _, logistics_rejected = rollup_sql.parsed_views(
        "o", "l", rollup_sql.RollupOptions())
    # the *_checked views give the reasons, and the *_rejected views add the partition's TOO_OLD
    views = {"orders": orders + orders_rejected, "logistics": logistics + logistics_rejected}
    reasons = {source: set(re.findall(r"THEN '(\w+)'", view)) - {rollup_sql.HEARTBEAT, "invalid"}
               for source, view in views.items()}
    expected = {source: {r for s, r, *_ in EXPECTED["rejected"] if s == source} for source in views}
    assert expected["orders"] == reasons["orders"]
    assert expected["logistics"] <= reasons["logistics"]


def test_streaming_sql_is_unchanged_by_the_batch_parameters(tmp_path):
    """The job keeps ordering by PROCTIME and reads the watermark; the batch parameters only swap
    those four ORDER BYs and the two watermarks."""
    ddl, _ = runner.statements(load(env={}, home=tmp_path), runner.JobOptions())
    job = "\n".join(ddl)
    assert job.count("ORDER BY pt") == 4 and "kafka_offset)" not in job and "ORDER BY kafka_offset" not in job
    assert job.count("CURRENT_WATERMARK(ts)") == 2 and rollup_sql.NO_WATERMARK not in job
    default = [*rollup_sql.parsed_views("o", "l", rollup_sql.RollupOptions()), *rollup_sql.valid_views()]
    batch = [*rollup_sql.parsed_views("o", "l", BATCH), *rollup_sql.valid_views(BATCH)]
    assert [s.replace("ORDER BY kafka_offset", "ORDER BY pt").replace(rollup_sql.NO_WATERMARK, "CURRENT_WATERMARK(ts)")
            for s in batch] == default
    assert sum(s.count("ORDER BY kafka_offset") for s in batch) == 4


def test_the_event_time_horizon_is_the_late_ttl():
    assert rollup_sql.duration_s("7 d") == 604_800 and rollup_sql.duration_s("1 h") == 3600
    assert rollup_sql.interval_sql(604_800) == "INTERVAL '7' DAY"
    assert rollup_sql.interval_sql(302_400) == "INTERVAL '84' HOUR"  # half of it: when the text is carried
    assert rollup_sql.interval_sql(86_400 * 120) == "INTERVAL '120' DAY(3)"
    with pytest.raises(ValueError):
        rollup_sql.duration_s("7 weeks")
    parsed = rollup_sql.parsed_views("o", "l", rollup_sql.RollupOptions(late_ttl="2 d"))[1]
    assert "valid AND ts < newest - INTERVAL '2' DAY AS too_old" in parsed


def test_the_buyers_and_top_brands_state_outlives_the_late_horizon_by_a_day():
    """Every operator of the buyers' two-level aggregates and of the top brands' day aggregate keeps
    its state the late horizon plus a day (Flink treats a retraction on expired state as a first
    row; a day's key is written from the day's start until an event of it is too old), keyed by the
    Shanghai day; the late corrections keep theirs the late horizon."""
    options = rollup_sql.RollupOptions(late_ttl="2 d")
    assert aggregates.lifetime_ttl(options) == "259200 s"
    second, minute = aggregates.buyers_inserts({"buyers_second": "s", "buyers_minute": "m"}, options)
    for insert in (second, minute):
        assert insert.count("STATE_TTL(") == 2 and insert.count("'259200 s'") == 2
        assert "WHERE status = 'paid'" in insert and "GROUP BY" in insert
    assert "GROUP BY (event_time / 1000 + 28800) / 86400, consumer_id" in second
    assert "GROUP BY event_time / 60000 * 60, consumer_id" in minute
    views, inserts = aggregates.rollup_statements({name: name for name in [*ROLLUPS, "rejected"]}, options)
    top = [i for i in inserts if i.startswith("INSERT INTO top_brands\n")]
    assert len(top) == 2  # over all brands, and per category
    for insert in top:
        assert re.findall(r"STATE_TTL\('\w+' = '([^']*)'\)", insert) == ["259200 s"]
    late = [v for v in views if "_late AS" in v.split("\n")[0] and "VIEW pickups_" not in v]
    assert len(late) == 6  # one per family with late rows: orders, dimensions, cube, brands, logistics, flows
    for view in late:
        assert re.findall(r"STATE_TTL\('\w+' = '([^']*)'\)", view) == ["2 d"]


def test_the_parcels_state_lives_the_delivery_window():
    """The state per parcel, and every count over it, is kept PARCEL_STATE_TTL_S (15 days) after its
    last change: a parcel's events are spread over days, and an expired parcel would count again."""
    views, inserts = aggregates.rollup_statements({name: name for name in [*ROLLUPS, "rejected"]},
                                                  rollup_sql.RollupOptions())
    state = [v for v in views if v.startswith(f"CREATE TEMPORARY VIEW {aggregates.PARCEL_STATE} AS")]
    parcel = [i for i in inserts if i.split("\n")[0].removeprefix("INSERT INTO ") in PARCEL_ROLLUPS]
    assert len(state) == 1 and len(parcel) == len(PARCEL_ROLLUPS)
    for statement in [*state, *parcel]:
        assert re.findall(r"STATE_TTL\('\w+' = '([^']*)'\)", statement) == ["1296000 s"]
