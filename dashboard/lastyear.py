"""Last year on the wall: festival GMV against the same moment last year (+x%), last year's day
under today's, the projection to the festival's end, and the countdown to the next event.

The history (``Settings.history_database``) holds last year's rollups at last year's own windows.
A moment ``t`` of this year compares with ``t - shift`` (:func:`stream.history.year_shift_s`: the
same calendar moment, China time, one year earlier).

- **The span compared** starts at ``start``: the later of the rollups' first window and the
  history's first window moved a year on, so both sides count the same span of calendar time.
  Today's side is the GMV of the rollups over [start, now] (the wall's festival GMV when the
  history covers the rollups' whole span); last year's is the history's over
  [start - shift, now - shift], both to the second, both ends included.
- **+x%** is ``(today - last year) / last year`` in percent with one decimal, rounded half up
  (towards +infinity) on the exact fraction of integer fen, sign always shown (:func:`growth_text`).
- **The projection** to the festival's end is today's side x last year's GMV from ``start`` to the
  festival's end / last year's side so far (last year's shape, today's ratio to it). **Its range**
  puts the ratio of the recent hours in place of the ratio so far: over each of the last
  :data:`RANGE_WINDOWS` hours of whole minutes before now (cut at ``start`` and at today's
  midnight; those at least :data:`RANGE_MIN_S` long with last-year GMV), today's GMV / last
  year's; the range is the rest of last year's festival x the lowest and the highest of those
  ratios and the ratio so far, added to today's side.
- **The countdown** is to the next event of the festival calendar after now
  (:func:`stream.history.next_event`).

Reads: all through the dashboard's cache, in the :data:`HISTORY` tier (history changes only when
it is written again), so a poll of the wall costs no history query of its own but once a minute
(the seconds of the open minute of last year).
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import accumulate

from dashboard import fmt
from dashboard import queries as q
from stream.history import festival_span, next_event, year_shift_s

HISTORY = q.Tier("history", 300.0, refresh_ahead=True)
RANGE_WINDOWS = 6  # hours of the range's ratios
RANGE_WINDOW_S = 3600
RANGE_MIN_S = 600  # a window shorter than this (cut at the start or midnight) gives no ratio


@dataclass(frozen=True)
class Sums:
    """GMV by time (minutes, say), sorted, with prefix sums: any span's sum in O(log n)."""

    times: tuple[int, ...]
    fens: tuple[int, ...]
    prefix: tuple[int, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int]]) -> Sums:
        """From ``(time, fen)`` pairs (sorted here; a time given twice is added up)."""
        merged: dict[int, int] = {}
        for t, fen in pairs:
            merged[t] = merged.get(t, 0) + fen
        times = tuple(sorted(merged))
        fens = tuple(merged[t] for t in times)
        return cls(times, fens, tuple(accumulate(fens, initial=0)))

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.times, self.fens))

    def per(self, step_s: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Sums over steps of ``step_s`` (aligned on the epoch), the steps that have times."""
        steps = sorted({t // step_s * step_s for t in self.times})
        return tuple(steps), tuple(self.between(s, s + step_s) for s in steps)

    def between(self, lo: int, hi: int) -> int:
        """The GMV of the times in [lo, hi)."""
        return self.prefix[bisect_left(self.times, max(hi, lo))] - self.prefix[bisect_left(self.times, lo)]


@dataclass(frozen=True)
class History:
    """What the history says about now (every time is this year's; amounts in fen)."""

    start_s: int  # the span compared starts here
    year: int  # last year
    last_fen: int  # last year's GMV over [start, now], a year back
    minutes: Sums  # last year's GMV per minute of today's day (this year's minutes)
    total_fen: int | None  # last year's GMV from start to the festival's end (None: no festival under way)
    end_s: int | None  # the festival's end (this year)
    before_start_fen: int  # today's GMV before start (0 when the history covers the rollups' whole span)


def read(run: q.Run, db: str, history_db: str, now_s: int, day0: int) -> History | None:
    """Last year's side of the comparison as of ``now_s``, or None when the history has no GMV
    before now (a year back). Raises what ``run`` raises (the caller keeps the wall going)."""
    hist = q.extent(run, history_db, HISTORY)
    ours = q.extent(run, db, q.MINUTE)
    if hist is None or ours is None:
        return None
    shift = year_shift_s(now_s)
    start = max(ours[0], hist[0] // 60 * 60 + shift)  # the history covers from its first row's minute
    if start > now_s:
        return None
    day1, minute = day0 + fmt.DAY_S, now_s // 60 * 60
    minutes = _shifted(q.minutes(run, history_db, day0 - shift, day1 - shift, HISTORY), shift)
    seconds = dict(_seconds(run, history_db, minute, shift))
    if start > day0 and start % 60 and start // 60 * 60 != minute:
        seconds.update(_seconds(run, history_db, start // 60 * 60, shift))
    before_day = (q.totals(run, history_db, start - shift, day0 - shift, hist, HISTORY)["gmv_fen"]
                  if start < day0 else 0)
    fest_start, fest_end = festival_span(fmt.local(now_s).year)
    total = None
    if fest_start <= now_s < fest_end:
        total = q.totals(run, history_db, start - shift, fest_end - shift, hist, HISTORY)["gmv_fen"]
    before = q.totals(run, db, ours[0], start, ours, q.SETTLED)["gmv_fen"] if start > ours[0] else 0
    return History(start_s=start, year=fmt.local(now_s - shift).year,
                   last_fen=so_far(start, now_s, before_day, minutes, seconds), minutes=minutes,
                   total_fen=total, end_s=fest_end if total is not None else None, before_start_fen=before)


CURVE_STEP_S = 300  # last year's day on the wall: its GMV per minute, averaged over 5 minutes


def curve(minutes: Sums) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Last year's day as the wall draws it: GMV per minute in yuan, the mean of each 5 minutes
    (288 points a day rather than 1,440: the shape, at a fifth of the bytes every poll)."""
    return _curve(minutes.times, minutes.fens)


@lru_cache(maxsize=4)  # the same day of last year on every poll
def _curve(times: tuple[int, ...], fens: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    steps, sums = Sums(times, fens, tuple(accumulate(fens, initial=0))).per(CURVE_STEP_S)
    return steps, tuple(fen * 60 / CURVE_STEP_S / 100 for fen in sums)


# The cache hands out the same rows object while an answer lasts: its Sums are built once.
_SHIFTED: dict[int, tuple[list, Sums]] = {}


def _shifted(rows: list[q.Minute], shift: int) -> Sums:
    """Last year's minutes (``q.minutes`` rows) moved a year on, as :class:`Sums` (memoized)."""
    known = q._recall(_SHIFTED, rows)
    if known is None:
        known = Sums.of((m + shift, fen) for m, fen, *_ in rows)
        q._remember(_SHIFTED, id(rows), (rows, known), 8)
    return known


def _seconds(run: q.Run, history_db: str, minute: int, shift: int) -> list[tuple[int, int]]:
    """Last year's GMV per second of this year's ``minute`` (cached for the minute, and beyond)."""
    rows = q.per_second(run, history_db, minute - shift, minute + 60 - shift, HISTORY)
    return [(s + shift, fen) for s, _orders, fen in rows]


def so_far(start: int, now: int, before_day_fen: int, minutes: Sums, seconds: dict[int, int]) -> int:
    """Last year's GMV over [start, now] (this year's times): before today's midnight (a sum given
    when ``start`` is before it), today's whole minutes in [start, now's minute), and the seconds
    of the minute ``start`` falls in and of now's minute that lie in [start, now]."""
    now_minute = now // 60 * 60
    total = before_day_fen + minutes.between(start, now_minute)
    total += sum(fen for s, fen in seconds.items()
                 if start <= s <= now and not start <= s // 60 * 60 < now_minute)
    return total


# -- what the wall shows ---------------------------------------------------------------------


def growth_tenths(today_fen: int, last_fen: int) -> int | None:
    """``(today - last) / last`` in tenths of a percent, rounded half up (towards +infinity) on
    the exact fraction; None when last year has nothing to compare with."""
    if last_fen <= 0:
        return None
    return (2000 * (today_fen - last_fen) + last_fen) // (2 * last_fen)  # floor(x + 1/2)


def growth_text(today_fen: int, last_fen: int) -> str:
    """``+26.3%``, ``-4.1%``, ``+0.0%``; a dash when there is nothing to compare with."""
    tenths = growth_tenths(today_fen, last_fen)
    if tenths is None:
        return "–"
    sign = "+" if tenths >= 0 else "-"
    whole, tenth = divmod(abs(tenths), 10)
    return f"{sign}{whole:,}.{tenth}%"


@dataclass(frozen=True)
class Projection:
    fen: int  # festival-end GMV projected (floor)
    low_fen: int
    high_fen: int
    ratios: int  # recent windows the range comes from


def projection(today_fen: int, last_fen: int, total_fen: int, recent: list[tuple[int, int]]) -> Projection | None:
    """Festival-end GMV from today's ratio to last year (``today / last x total``), and its range
    from the ratios of ``recent`` ``(today fen, last year fen)`` windows (see the module)."""
    if last_fen <= 0 or total_fen < last_fen:
        return None
    ratio = Fraction(today_fen, last_fen)
    ratios = [ratio, *(Fraction(t, ly) for t, ly in recent if ly > 0)]
    rest = total_fen - last_fen

    def at(r: Fraction) -> int:
        return int(today_fen + rest * r)  # floor: every term is non-negative

    return Projection(at(ratio), at(min(ratios)), at(max(ratios)), len(ratios) - 1)


def recent_windows(today: Sums, last: Sums, start: int, day0: int, now: int, windows: int = RANGE_WINDOWS,
                   width_s: int = RANGE_WINDOW_S, min_s: int = RANGE_MIN_S) -> list[tuple[int, int]]:
    """``(today fen, last year fen)`` over each of the last ``windows`` spans of ``width_s`` whole
    minutes before now's minute, cut at ``start`` (rounded up to a minute) and at ``day0``; those
    at least ``min_s`` long with last-year GMV. ``today`` and ``last`` are GMV per minute."""
    end = now // 60 * 60
    floor = max(-(-start // 60) * 60, day0)
    out = []
    for k in range(windows):
        hi, lo = end - k * width_s, max(end - (k + 1) * width_s, floor)
        if hi - lo < min_s:
            break
        theirs = last.between(lo, hi)
        if theirs > 0:
            out.append((today.between(lo, hi), theirs))
    return out


def countdown(now_s: int) -> tuple[str, str]:
    """``("03:59:12", "midnight of the 11th")``: the time to the next calendar event, and which."""
    when, what = next_event(now_s)
    left = when - now_s
    days, rest = divmod(left, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return (f"{days} d {clock}" if days else clock), what


def _minute_of(row: tuple[int, ...]) -> int:
    return row[0]


def texts(history: History | None, today_fen: int, today_minutes: Sequence[tuple[int, ...]], day0: int,
          now_s: int) -> dict[str, str]:
    """The wall's texts about last year, by element id (see :data:`TEXTS`); ``today_minutes`` are
    today's ``(minute, GMV fen, ...)`` rows in time order (the wall's ``q.Minute``s)."""
    left, what = countdown(now_s)
    out = {"wall-countdown": left, "wall-countdown-what": f"to {what}",
           "wall-ly-growth": "–", "wall-ly-vs": "no history of last year to compare with",
           "wall-ly-projection": "", "wall-ly-range": ""}
    if history is None:
        return out
    ours = today_fen - history.before_start_fen
    since = f" since {fmt.local(history.start_s):%m-%d %H:%M}" if history.before_start_fen else ""
    out |= {"wall-ly-growth": growth_text(ours, history.last_fen),
            "wall-ly-vs": f"vs {fmt.compact_money(history.last_fen)} this time in {history.year}{since}"}
    if history.total_fen is not None:
        recent_from = now_s // 60 * 60 - RANGE_WINDOWS * RANGE_WINDOW_S  # only the recent minutes are summed
        tail = today_minutes[bisect_left(today_minutes, recent_from, key=_minute_of):]
        recent = recent_windows(Sums.of((m, fen) for m, fen, *_ in tail), history.minutes, history.start_s, day0,
                                now_s)
        shown = projection(ours, history.last_fen, history.total_fen, recent)
        if shown is not None:
            out |= {"wall-ly-projection": fmt.compact_money(shown.fen),
                    "wall-ly-range": f"projected · {span_text(shown.low_fen, shown.high_fen)}"}
    return out


def span_text(low_fen: int, high_fen: int) -> str:
    """Two amounts joined by an en dash, the second without its ¥ (``¥8.12亿`` to ``8.54亿``)."""
    low, high = fmt.compact_money(low_fen), fmt.compact_money(high_fen)
    return f"{low}–{high[1:]}" if high.startswith("¥") and low.startswith("¥") else f"{low}–{high}"


TEXTS = ("wall-ly-growth", "wall-ly-vs", "wall-ly-projection", "wall-ly-range", "wall-countdown",
         "wall-countdown-what")
