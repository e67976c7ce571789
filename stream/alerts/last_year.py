"""Last year's orders per second, for the drop rules' ``last_year`` baseline: the reading shell.

Last year's festival lives in ``Settings.history_database`` (see :mod:`stream.history`): the
rollup tables, migrated the same, with last year's own timestamps, written by ``gmv simulate``
for last year or imported from CSV. :class:`LastYear` answers "orders created in each of these
seconds of today, one calendar year earlier" (:func:`stream.history.same_moment_last_year`;
the shift is constant across a festival):

- what the history covers (its first to its last second, :func:`store.read_extent`) is read
  when first needed and again every ``refresh_s`` seconds, so history written or imported
  while the service runs is used within a minute, and a database dropped is noticed;
- counts are read an hour of last year at a time (``FINAL``, late rows added in, 0 for a
  second without a row, as for today) and kept while the extent stays the same: history is
  not written while the festival it is compared with runs, so the service reads it about once
  an hour instead of every second;
- history imported as per-minute totals (``gmv history import`` takes them in orders_per_second,
  each at its minute's first second) is spread evenly over its minute (:func:`spread_minutes`),
  so a window that does not start on the minute gets its share of each minute it overlaps;
- a history database that is missing, empty or unreadable is "no history", with a one-line
  :attr:`LastYear.why`; the drop rules then judge against the median and the service says so
  once (:mod:`stream.alerts.service`). Reading history never raises.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import numpy as np

from stream.alerts import store
from stream.contract import FESTIVAL_TZ, ROLLUPS
from stream.errors import one_line
from stream.history import year_shift_s

BLOCK_S = 3600  # last year's seconds read at once (a whole number of minutes)
KEEP_BLOCKS = 6
REFRESH_S = 60.0
MINUTE_EVIDENCE = 10  # rows, all on a minute's first second, that make a block per-minute totals


def spread_minutes(counts: np.ndarray) -> np.ndarray:
    """``counts`` (per second, from a minute's first second) as they are when every row sits on a
    minute's first second and there are at least ``MINUTE_EVIDENCE`` of them: per-minute totals,
    spread evenly over their minute (floats); per-second counts otherwise, unchanged. (Ten
    per-second rows falling on minute starts by chance: about 60^-10.)"""
    minutes = counts.reshape(-1, 60)
    rows = np.count_nonzero(minutes)
    if rows < MINUTE_EVIDENCE or np.count_nonzero(minutes[:, 1:]):
        return counts
    return np.repeat(minutes[:, 0] / 60.0, 60)


def _day(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).strftime("%Y-%m-%d %H:%M")


class LastYear:
    """Reads last year's orders per second from ``db`` through ``run`` (see the module docstring)."""

    def __init__(self, run: store.Run, db: str, clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = REFRESH_S) -> None:
        self.run, self.db, self.clock, self.refresh_s = run, db, clock, refresh_s
        self.extent: store.Extent | None = None
        self.why = "not read yet"  # why there is no history, when there is none
        self._checked: float | None = None
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    def covered(self, start: int) -> tuple[int, int] | None:
        """``[first, end)`` in the seconds of ``start``'s year that last year's history covers,
        None without history (then :attr:`why` says why)."""
        self._refresh()
        if self.extent is None:
            return None
        shift = year_shift_s(start)
        return self.extent.first + shift, self.extent.last + 1 + shift

    def read(self, start: int, end: int) -> tuple[np.ndarray | None, tuple[int, int] | None]:
        """Last year's orders created in each second of [start, end) of this year (0 where no row)
        and the span history covers (see :meth:`covered`); ``(None, None)`` without history, and
        ``(None, span)`` when [start, end) lies wholly outside it."""
        span = self.covered(start)
        if span is None:
            return None, None
        if end <= span[0] or start >= span[1]:
            return None, span
        shift = year_shift_s(start)
        try:
            counts = np.concatenate([self._block(b) for b in range((start - shift) // BLOCK_S * BLOCK_S,
                                                                   end - shift, BLOCK_S)])
        except Exception as exc:  # noqa: BLE001 - history that cannot be read is no history
            self._lost(f"{self.db} cannot be read ({one_line(exc)})")
            return None, None
        offset = (start - shift) - (start - shift) // BLOCK_S * BLOCK_S
        return counts[offset:offset + end - start], span

    def describe(self) -> str:
        """One line: what the history covers, or why there is none."""
        if self.extent is None:
            return self.why
        return f"{self.db} covers {_day(self.extent.first)} to {_day(self.extent.last)} CST"

    def _refresh(self) -> None:
        now = self.clock()
        if self._checked is not None and now - self._checked < self.refresh_s:
            return
        self._checked = now
        try:
            extent = store.read_extent(self.run, self.db)
        except Exception as exc:  # noqa: BLE001 - a missing database is the usual case here
            self._lost(f"{self.db} cannot be read ({one_line(exc)})")
            return
        if extent is None:
            self._lost(f"{self.db}.{ROLLUPS['orders_second'].table} has no rows")
            return
        if extent != self.extent:
            self._blocks.clear()
        self.extent = extent

    def _lost(self, why: str) -> None:
        self.extent, self.why = None, why
        self._blocks.clear()

    def _block(self, first: int) -> np.ndarray:
        if first in self._blocks:
            self._blocks.move_to_end(first)
            return self._blocks[first]
        counts = spread_minutes(store.read_counts(self.run, self.db, first, first + BLOCK_S))
        self._blocks[first] = counts
        while len(self._blocks) > KEEP_BLOCKS:
            self._blocks.popitem(last=False)
        return counts
