"""Display formatting, the only place money stops being integer fen.

Amounts arrive as integer fen (1/100 yuan) and are turned into text with integer
arithmetic, so a displayed yuan amount is exactly the fen total, never a float's rounding.
Times are shown in the festival's time zone, Asia/Shanghai (CST, UTC+8, no DST).
"""
from __future__ import annotations

from datetime import datetime

from stream.contract import FESTIVAL_TZ, UTC_OFFSET_S

DAY_S = 86400
UNITS = ("yuan", "wan", "yi")  # ¥ in full, 万 (10^4 yuan), 亿 (10^8 yuan)


def yuan(fen: int, decimals: bool = True) -> str:
    """``123456789`` fen -> ``"¥1,234,567.89"`` (exact; negative amounts keep their sign)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}" if decimals else f"{sign}¥{whole + (cents >= 50):,}"


def money(fen: int, unit: str = "yuan") -> str:
    """An amount in the chosen unit: ``yuan`` (exact), ``wan`` (万, 2 decimals), ``yi`` (亿, 4 decimals).

    万 and 亿 round half up on the integer fen value, so they tick as the total grows.
    """
    if unit == "wan":
        return f"¥{_scaled(fen, 10**6, 2)}万"
    if unit == "yi":
        return f"¥{_scaled(fen, 10**10, 4)}亿"
    return yuan(fen)


def _scaled(fen: int, per_unit_fen: int, places: int) -> str:
    step = per_unit_fen // 10**places
    sign = "-" if fen < 0 else ""
    q = (abs(int(fen)) + step // 2) // step
    whole, frac = divmod(q, 10**places)
    return f"{sign}{whole:,}.{frac:0{places}d}"


def compact_money(fen: int) -> str:
    """Short labels for axes and bars: ¥1.23亿, ¥45.6万, ¥789."""
    y = int(fen) / 100
    if abs(y) >= 1e8:
        return f"¥{y / 1e8:.2f}亿"
    if abs(y) >= 1e4:
        return f"¥{y / 1e4:.1f}万"
    return f"¥{y:,.0f}"


def count(n: int) -> str:
    return f"{int(n):,}"


def share(part: int, whole: int, places: int = 1) -> str:
    """``part`` of ``whole`` (non-negative integers, fen or counts) in percent: ``share(1, 8)`` ->
    ``"12.5%"``. Rounded half up with integer arithmetic, so it is exactly the fen ratio's rounding;
    a dash (as the wall shows before its first answer) when ``whole`` is 0 (nothing to take a share of)."""
    if whole <= 0:
        return "–"
    scale = 10 ** places
    quotient, rest = divmod(int(part) * 100 * scale, int(whole))
    quotient += 2 * rest >= whole
    units, fraction = divmod(quotient, scale)
    return f"{units}.{fraction:0{places}d}%" if places else f"{units}%"


def duration(seconds: int) -> str:
    """A whole number of seconds in its largest unit, as the delivery-time buckets say their
    edges (stream.parcels.bucket_label): ``"45 min"``, ``"2 h"``, ``"1.5 d"``, ``"30 s"``."""
    for unit, width in (("d", DAY_S), ("h", 3600), ("min", 60)):
        if seconds >= width:
            return f"{seconds / width:g} {unit}"
    return f"{int(seconds)} s"


def local(epoch_s: int) -> datetime:
    return datetime.fromtimestamp(int(epoch_s), FESTIVAL_TZ)


def clock(epoch_s: int) -> str:
    """``2021-11-11 20:00:05 CST``."""
    return local(epoch_s).strftime("%Y-%m-%d %H:%M:%S CST")


def hms(epoch_s: int) -> str:
    return local(epoch_s).strftime("%H:%M:%S")


def day_start(epoch_s: int) -> int:
    """Epoch seconds of 00:00 Asia/Shanghai of the day holding ``epoch_s``."""
    offset = UTC_OFFSET_S
    return (int(epoch_s) + offset) // DAY_S * DAY_S - offset


def age(ms: int) -> str:
    """A duration in milliseconds as "850 ms", "12 s", "4 min", "3 h"."""
    if ms < 1000:
        return f"{max(ms, 0)} ms"
    s = ms // 1000
    if s < 120:
        return f"{s} s"
    return f"{s // 60} min" if s < 7200 else f"{s // 3600} h"
