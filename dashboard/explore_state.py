"""The explore page's whole state, as it lives in the URL's query string.

A link reproduces the view: ``/explore?range=custom&from=2021-11-11T00:00&to=2021-11-11T02:00
&category=Apparel&vip=1&promotion=coupon&metric=gmv_fen``. Parsing never fails: a value that is
not valid is dropped with a note saying so (a field with a fixed set of values takes only
those: ``vip`` is 1 or 0, channel, promotion, wave and presale_phase the contract's enums), and
other filter values are kept as plain text (they reach ClickHouse only as bound parameters).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from dashboard import fmt
from dashboard import queries as q
from stream.contract import CHANNELS, FESTIVAL_TZ, ORDER_MEASURES, PRESALE_PHASES, PROMOTIONS, WAVES

RANGES = {"1h": "last hour", "6h": "last 6 hours", "today": "today", "yesterday": "yesterday",
          "festival": "whole festival", "custom": "custom"}
# Buyers (stream.contract's buyers rollups), kept by VIP only: "buyers" is the distinct buyers of
# a minute (of a bucket's busiest minute), "new_buyers" those whose first paid event of their
# Shanghai day it was (additive: a day's sum is its unique buyers).
BUYER_METRICS = {"buyers": "buyers per minute", "new_buyers": "new buyers (first of their day)"}
METRIC_NAMES = {m.name: m.label for m in ORDER_MEASURES} | BUYER_METRICS
MAX_VALUE_CHARS = 120
# The filters with a fixed set of values (no query needed for their options), and how the page
# says a value where its spelling is not enough.
ENUMS: dict[str, tuple[str, ...]] = {"channel": CHANNELS, "vip": ("1", "0"), "promotion": PROMOTIONS,
                                     "wave": WAVES, "presale_phase": PRESALE_PHASES}
VALUE_LABELS: dict[str, dict[str, str]] = {
    "vip": {"1": "VIP (APASS)", "0": "not VIP"},
    "wave": {"presale": "pre-sale", "wave1": "wave 1 (Nov 1-3)", "wave2": "wave 2 (Nov 11)", "other": "other days"},
    "presale_phase": {"none": "not pre-sale", "deposit": "deposit", "final": "final payment"},
    "promotion": {"none": "no promotion", "cross_store": "cross-store", "presale_deposit": "pre-sale deposit"},
}
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


@dataclass(frozen=True)
class ExploreState:
    range: str = "today"
    start: str = ""  # custom range, Shanghai time "YYYY-MM-DDTHH:MM"
    end: str = ""
    category: str = ""
    province: str = ""
    channel: str = ""
    brand: str = ""
    vip: str = ""  # "1" or "0"
    promotion: str = ""
    wave: str = ""
    presale_phase: str = ""
    metric: str = "gmv_fen"
    last_year: str = ""  # "1": last year's same span drawn over the series (from the history)

    def filters(self) -> dict[str, str]:
        return {d: getattr(self, d) for d in q.FILTERS if getattr(self, d)}

    def replace(self, **changes) -> ExploreState:
        return dataclasses.replace(self, **{k: (v or "") for k, v in changes.items()})

    def to_search(self) -> str:
        """The canonical query string (defaults left out), with a leading ``?`` or empty."""
        pairs = [("range", self.range)] if self.range != "today" else []
        if self.range == "custom":
            pairs += [("from", self.start), ("to", self.end)]
        pairs += [(d, getattr(self, d)) for d in q.FILTERS if getattr(self, d)]
        if self.metric != "gmv_fen":
            pairs.append(("metric", self.metric))
        if self.last_year:
            pairs.append(("ly", "1"))
        return "?" + urlencode(pairs) if pairs else ""


def parse(search: str | None) -> tuple[ExploreState, list[str]]:
    """State from a query string, and a note for each value that was not valid."""
    params = dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=False))
    notes: list[str] = []
    values: dict[str, str] = {}
    for dim in q.FILTERS:
        value = params.get(dim, "").strip()
        if len(value) > MAX_VALUE_CHARS:
            notes.append(f"ignored {dim}: longer than {MAX_VALUE_CHARS} characters")
        elif value and dim in ENUMS and value not in ENUMS[dim]:
            notes.append(f"ignored {dim}={value[:40]!r}: use one of {', '.join(ENUMS[dim])}")
        elif value:
            values[dim] = value
    metric = params.get("metric", "gmv_fen")
    if metric not in METRIC_NAMES:
        notes.append(f"ignored metric={metric[:40]!r}: use one of {', '.join(METRIC_NAMES)}")
        metric = "gmv_fen"
    rng, start, end = _parse_range(params, notes)
    last_year = params.get("ly", "")
    if last_year not in ("", "1"):
        notes.append(f"ignored ly={last_year[:40]!r}: use ly=1 to overlay last year")
        last_year = ""
    return ExploreState(range=rng, start=start, end=end, metric=metric, last_year=last_year, **values), notes


def _parse_range(params: dict[str, str], notes: list[str]) -> tuple[str, str, str]:
    rng = params.get("range", "custom" if "from" in params or "to" in params else "today")
    if rng not in RANGES:
        notes.append(f"ignored range={rng[:40]!r}: use one of {', '.join(RANGES)}")
        return "today", "", ""
    if rng != "custom":
        return rng, "", ""
    start, end = parse_time(params.get("from", "")), parse_time(params.get("to", ""))
    if start is None or end is None or end <= start:
        notes.append("ignored the custom range: give from and to like 2021-11-11T20:00 (CST), from before to")
        return "today", "", ""
    return "custom", minute_text(start), minute_text(end)


def parse_time(text: str | None) -> int | None:
    """Epoch seconds of a Shanghai-time text like ``2021-11-11T20:00``, or None."""
    for form in _TIME_FORMATS:
        try:
            moment = datetime.strptime((text or "").strip(), form)
        except ValueError:
            continue
        return int(moment.replace(tzinfo=FESTIVAL_TZ).timestamp())
    return None


def minute_text(epoch_s: int) -> str:
    """``2021-11-11T20:00``: how the URL writes a Shanghai time."""
    return fmt.local(epoch_s).strftime("%Y-%m-%dT%H:%M")


def resolve(state: ExploreState, extent: tuple[int, int] | None) -> tuple[int, int]:
    """[start, end) epoch seconds of the state's range; relative ranges count back from the
    newest window (``extent`` = oldest and newest window_start in the rollups)."""
    oldest, newest = extent or (0, 0)
    day0 = fmt.day_start(newest)
    if state.range == "custom":
        return parse_time(state.start) or day0, parse_time(state.end) or day0 + fmt.DAY_S
    if state.range in ("1h", "6h"):
        span = 3600 if state.range == "1h" else 6 * 3600
        return (newest + 60) // 60 * 60 - span, (newest + 60) // 60 * 60
    if state.range == "yesterday":
        return day0 - fmt.DAY_S, day0
    if state.range == "festival":
        return fmt.day_start(oldest), day0 + fmt.DAY_S
    return day0, day0 + fmt.DAY_S


def bucket_for(start: int, end: int) -> int:
    """Bucket seconds so a chart has a few hundred bars at most (always a multiple of 60); past a
    week, festival days (read from the hour rollups: a long range costs what its hours cost)."""
    span = end - start
    return 60 if span <= 6 * 3600 else 300 if span <= 2 * 86400 else 3600 if span <= 7 * 86400 else 86400


def label(dim: str, value: str) -> str:
    """How the page shows a value of ``dim``: ``VIP (APASS)``, ``pre-sale deposit``, ``mini program``."""
    return VALUE_LABELS.get(dim, {}).get(value, value.replace("_", " ") if dim in ENUMS else value)


def combines(dims) -> bool:
    """Whether the rollups answer a selection on all of ``dims`` exactly: any set of the cube's
    fields, brand alone, or brand with its category."""
    dims = set(dims)
    return "brand" not in dims or dims <= {"brand", "category"}


def from_click(state: ExploreState, dim: str, value: str) -> ExploreState:
    """Drill down: filter on the clicked ``value`` of ``dim``, keeping every other filter that
    still combines with it: the cube's fields all combine, brand only with category (a brand
    goes when a province is picked; a province goes when a brand is)."""
    others = {d: v for d, v in state.filters().items() if d != dim}
    if dim == "brand":
        keep = {d: v for d, v in others.items() if combines({dim, d})}
    else:  # a cube field: the other cube fields stay; brand too if that still combines
        keep = {d: v for d, v in others.items() if d != "brand"}
        if "brand" in others and combines({dim, "brand", *keep}):
            keep["brand"] = others["brand"]
    cleared = dict.fromkeys(q.FILTERS, "")
    return state.replace(**{**cleared, **keep, dim: value})
