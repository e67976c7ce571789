"""A few rows of the parcel rollups (migration 011) whose every answer is worked out by hand, with
the traps a reader must get right: superseded versions (a lower written_ms) to ignore, rows a
parcel left (0) to leave out, yesterday's rows beside today's, late flow corrections to add in,
flows from an unknown origin, and minutes outside the map's span. Today is synthetic.KNOWN_NOW's
festival day (2021-11-11 CST); see :data:`KNOWN_PARCELS` for the answers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from stream.contract import DAY_S, FESTIVAL_TZ, ROLLUPS
from tests.support.synthetic import COLUMNS_BY_TABLE, KNOWN_NOW, row, utc_naive

STAGES, TIMES, EXCEPTIONS, FIRST, FLOWS = (ROLLUPS[n] for n in (
    "parcel_stages", "parcel_delivery_times", "parcel_exceptions", "parcel_first_delivery", "parcel_flows_minute"))
DAY0 = int(datetime(2021, 11, 11, tzinfo=FESTIVAL_TZ).timestamp())
NOT_PER_DAY = datetime(1970, 1, 1)  # window_start 0: the rows not per day


def _day(day0: int) -> datetime:
    return utc_naive(datetime.fromtimestamp(day0, timezone.utc))


def _minute(h: int, m: int) -> datetime:
    return utc_naive(datetime(2021, 11, 11, h, m, tzinfo=FESTIVAL_TZ))


def known_parcel_rows(w: int) -> dict[str, tuple[str, list[tuple]]]:
    """``{table: (column list, rows)}`` written at ``w`` (ms) and before."""
    today, yesterday = _day(DAY0), _day(DAY0 - DAY_S)
    stages = [row(STAGES, written, window_start=day, stage=stage, parcels=n) for day, stage, n, written in (
        (NOT_PER_DAY, "waiting_for_pickup", 120, w), (NOT_PER_DAY, "waiting_for_pickup", 999, w - 5000),
        (NOT_PER_DAY, "in_transit", 7, w),
        (NOT_PER_DAY, "out_for_delivery", 0, w), (NOT_PER_DAY, "out_for_delivery", 3, w - 1000),  # emptied
        (NOT_PER_DAY, "in_exception", 2, w),
        (today, "delivered", 9, w), (today, "delivered", 8, w - 100),
        (yesterday, "delivered", 50, w),  # delivered yesterday: not today's
    )]
    times = [row(TIMES, written, window_start=day, province=p, carrier=c, leg=leg, bucket_s=b, parcels=n)
             for day, p, c, leg, b, n, written in (
                 (today, "Guangdong", "ZTO Express", "delivery", 3600, 2, w),
                 (today, "Zhejiang", "YTO Express", "delivery", 3600, 1, w),
                 (today, "Zhejiang", "YTO Express", "delivery", 6 * 3600, 1, w),
                 (today, "Zhejiang", "YTO Express", "delivery", 6 * 3600, 5, w - 1000),  # superseded
                 (today, "Guangdong", "ZTO Express", "delivery", 2 * 3600, 0, w),  # emptied
                 (today, "Guangdong", "ZTO Express", "pickup", 0, 1, w),
                 (today, "Zhejiang", "ZTO Express", "pickup", 45 * 60, 1, w),
                 (yesterday, "Guangdong", "ZTO Express", "delivery", 15 * DAY_S, 40, w),
             )]
    exceptions = [row(EXCEPTIONS, written, window_start=NOT_PER_DAY, carrier=c, parcels=n, with_exception=e)
                  for c, n, e, written in (("ZTO Express", 520, 12, w), ("ZTO Express", 500, 30, w - 1000),
                                           ("EMS", 8, 1, w), ("Deppon", 16, 2, w), ("Yunda", 0, 0, w))]
    first = [row(FIRST, written, window_start=day, first_delivered_ms=ms) for day, ms, written in (
        (today, (DAY0 + 807) * 1000 + 999, w),  # 00:13:27.999: a late event moved it earlier
        (today, (DAY0 + 900) * 1000, w - 1000),
        (yesterday, (DAY0 - DAY_S + 100) * 1000, w),
    )]
    flows = [row(FLOWS, written, window_start=minute, origin=o, province=p, late=late, parcels=n)
             for minute, o, p, late, n, written in (
                 (_minute(19, 55), "Zhejiang", "Guangdong", 0, 5, w),
                 (_minute(19, 55), "Zhejiang", "Guangdong", 1, 2, w),  # a late correction: added in
                 (_minute(19, 50), "Guangdong", "Guangdong", 0, 2, w),
                 (_minute(19, 50), "Guangdong", "Guangdong", 0, 9, w - 1000),  # superseded
                 (_minute(19, 59), "unknown", "Beijing", 0, 3, w),
                 (_minute(19, 56), "Jiangsu", "Shanghai", 0, 0, w),  # emptied
                 (_minute(19, 49), "Zhejiang", "Beijing", 0, 100, w),  # before the last 10 minutes
                 (_minute(20, 0), "Zhejiang", "Beijing", 0, 100, w),  # the open minute
             )]
    return {r.table: (COLUMNS_BY_TABLE[r.table], rows) for r, rows in (
        (STAGES, stages), (TIMES, times), (EXCEPTIONS, exceptions), (FIRST, first), (FLOWS, flows))}


def _counts(**by_bucket: int) -> list[int]:
    out = [0] * 26
    for name, n in by_bucket.items():
        out[int(name[1:])] = n
    return out


KNOWN_PARCELS = {
    "day0": DAY0,
    "stages": {"waiting_for_pickup": 120, "in_transit": 7, "out_for_delivery": 0, "delivered": 9, "in_exception": 2},
    # deliveries: 3 in [1 h, 2 h) (bucket 9), 1 in [6 h, 8 h) (bucket 13); pickups: [0, 1 min), [45 min, 1 h)
    "legs": {"delivery": _counts(b9=3, b13=1), "pickup": _counts(b0=1, b8=1)},
    "exceptions": [("Deppon", 16, 2), ("EMS", 8, 1), ("ZTO Express", 520, 12)],
    "first_delivered_ms": (DAY0 + 807) * 1000 + 999,
    # 19:50 to 20:00 (KNOWN_NOW is 20:00:05: the 10 minutes before the open one)
    "flow_span": (int((KNOWN_NOW - timedelta(minutes=10, seconds=5)).timestamp()),
                  int((KNOWN_NOW - timedelta(seconds=5)).timestamp())),
    "flows": {("Zhejiang", "Guangdong"): 7, ("Guangdong", "Guangdong"): 2, ("unknown", "Beijing"): 3},
    # the wall's texts of them
    "texts": {"wall-parcels-waiting_for_pickup": "120", "wall-parcels-in_transit": "7",
              "wall-parcels-out_for_delivery": "0", "wall-parcels-delivered": "9", "wall-parcels-in_exception": "2",
              "wall-delivery-p50": "p50 ≤ 2 h", "wall-delivery-p50-bucket": "bucket 1-2 h",
              "wall-delivery-p90": "p90 ≤ 8 h", "wall-delivery-p90-bucket": "bucket 6-8 h",
              "wall-pickup-p50": "p50 ≤ 1 min", "wall-pickup-p50-bucket": "bucket 0-1 min",
              "wall-pickup-p90": "p90 ≤ 1 h", "wall-pickup-p90-bucket": "bucket 45 min-1 h",
              "wall-first-delivery": "first parcel delivered 00:13:27 after the start",
              "wall-first-delivery-at": "at 00:13:27 CST",
              "wall-map-note": "12 parcels picked up 19:50–20:00 · top 2 routes · 3 from an unknown origin"},
    # today's GMV per province, from synthetic.known_rows (the superseded 5 fen dropped, the late 30,003 added)
    "map_fen": {"Guangdong": 1_000_000 + 30_003 + 1_012_345, "Zhejiang": 2_000_000},
}
