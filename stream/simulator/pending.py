"""A calendar of rows due in the future: a hierarchical timing wheel over numpy chunks.

Orders are drawn with their whole lifecycle, so most events (parcels, refunds) are
due hours or days later. Re-sorting everything pending on every tick would cost
O(pending) per tick; here a row is filed in a slot whose width grows with how far
ahead it is due (x64 per level) and is re-filed at most once per level as its time
approaches, so each row is touched a handful of times however long it waits.
"""
from __future__ import annotations

import heapq

import numpy as np

from stream.simulator.events import concat, take


class Pending:
    """Rows with due times (ms); :meth:`release` hands back those due before a frontier."""

    def __init__(self, base_ms: int = 1000, levels: int = 5, fanout: int = 64):
        self.widths = [base_ms * fanout**k for k in range(levels)]
        self._slots: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
        self._heap: list[tuple[int, int, int]] = []  # (slot start ms, level, slot number)
        self.size = 0

    def add(self, rows: np.ndarray, due: np.ndarray, now_ms: int) -> None:
        """File ``rows`` due at ``due`` (ms), as seen at time ``now_ms``."""
        if len(rows) == 0:
            return
        ahead = due - now_ms
        level = np.zeros(len(due), dtype=np.int64)
        for k, width in enumerate(self.widths[1:], start=1):
            level[ahead >= width] = k  # far enough ahead that a coarser slot starts after now
        slot = due // np.asarray(self.widths, dtype=np.int64)[level]
        key = slot * len(self.widths) + level
        order = np.argsort(key, kind="stable")
        key, rows, due = key[order], take(rows, order), due[order]  # then each slot is a slice
        cuts = np.flatnonzero(np.diff(key)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(key)]]).tolist()):
            k, lvl = divmod(int(key[lo]), len(self.widths))
            self._file((lvl, k), rows[lo:hi], due[lo:hi])
        self.size += len(rows)

    def _file(self, slot: tuple[int, int], rows: np.ndarray, due: np.ndarray) -> None:
        chunks = self._slots.get(slot)
        if chunks is None:
            self._slots[slot] = chunks = []
            heapq.heappush(self._heap, (slot[1] * self.widths[slot[0]], slot[0], slot[1]))
        chunks.append((rows, due))

    def release(self, frontier_ms: int, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows due before ``frontier_ms`` and their due times, in a deterministic order.

        ``template`` is an empty array of the rows' dtype (returned when nothing is due).
        """
        opened = []
        while self._heap and self._heap[0][0] < frontier_ms:
            _, level, number = heapq.heappop(self._heap)
            opened.append(self._slots.pop((level, number)))
        if not opened:
            return template, np.empty(0, dtype=np.int64)
        chunks = [c for slot in opened for c in slot]
        rows = concat([r for r, _ in chunks])
        due = np.concatenate([d for _, d in chunks])
        ready = due < frontier_ms
        self.size -= len(rows)
        if ready.all():
            return rows, due
        self.add(take(rows, ~ready), due[~ready], frontier_ms)  # file again, finer, now they are closer
        return take(rows, ready), due[ready]
