"""The festival curve's shape: how many orders are *expected* in each second, up to a factor.

The simulator's curve (``stream.simulator.curve``) models the day: diurnal peaks and the night
trough, the 20:00 spike, the hush before midnight and the midnight surge, livestream flash
sales at their timetabled times. A drop rule with ``baseline = "curve"`` scales this shape by
the level it observed in earlier windows, so a decay the festival always has (the surge
fading after midnight, the evening going to sleep) is expected, not a drop.

Only orders *created* are modelled here (the metric of the drop rule): final payments of
pre-sale deposits paid before a run enter the stream as ``paid`` events, without ``created``.
"""
from __future__ import annotations

import functools
from datetime import datetime

import numpy as np

from stream.simulator import curve as curve_mod
from stream.simulator.config import DEFAULT, FESTIVAL_TZ

CREATED_COMPONENTS = ("base", "spike", "surge", "flash")


def festival_shape(start: int, end: int) -> np.ndarray:
    """Expected orders created (real festival volume) in each second of [start, end) (epoch s).

    The calendar is the one of the year (in Shanghai) ``start`` falls in.
    """
    curve = _curve(datetime.fromtimestamp(start, FESTIVAL_TZ).year)
    seconds = np.arange(start, end, dtype=np.float64) + 0.5  # each second's midpoint
    parts = curve_mod.components(curve, seconds, {})
    return np.sum([parts[name] for name in CREATED_COMPONENTS], axis=0)


@functools.lru_cache(maxsize=4)
def _curve(year: int) -> curve_mod.Curve:
    return curve_mod.build(DEFAULT.replace(year=year))
