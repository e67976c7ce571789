"""Last year's festival: where it lives and how its moments line up with this year's.

History is stored in ``Settings.history_database``: a database migrated with the same
migrations as the rollups, so last year's rows have exactly the rollup shape (written by
``gmv simulate`` for last year, or imported from CSV). Its windows keep last year's own
timestamps; a reader compares a moment with the same calendar moment (month, day and time of
day, China time) one year earlier.
"""
from __future__ import annotations

from datetime import datetime

from stream.contract import FESTIVAL_TZ


def same_moment_last_year(epoch_s: int) -> int:
    """The same month, day and time of day (China time) one year before ``epoch_s``.

    Feb 29 maps to Feb 28 (no festival date is affected)."""
    moment = datetime.fromtimestamp(epoch_s, FESTIVAL_TZ)
    day = min(moment.day, 28) if (moment.month, moment.day) == (2, 29) else moment.day
    return int(moment.replace(year=moment.year - 1, day=day).timestamp())


def year_shift_s(epoch_s: int) -> int:
    """Seconds to add to a moment of last year to land on the same moment of ``epoch_s``'s year
    (365 or 366 days; constant across a festival)."""
    return epoch_s - same_moment_last_year(epoch_s)
