"""GMV milestones as pure functions: per-second GMV -> the second each round figure was passed.

No I/O here. A milestone is a round figure of festival GMV (integer fen, from the config's
``[milestones] figures_fen``) and the **first second** (event time) whose cumulative festival
GMV, summed over every second up to and including it, reaches the figure. Rows come from
``orders_per_second`` (newest version of each row, ``FINAL``); a second may have several rows
(the on-time row and ``late = 1`` corrections), which are added. A late correction to an
earlier second raises the cumulative GMV of every second from it on, so it can move a
milestone earlier; the functions here are simply run again on the new rows.

- :func:`milestones`: rows of ``(second, gmv_fen)`` -> the figures reached, with their second;
- :func:`reconcile`: what was found against what is stored -> the rows to (re)write;
- :func:`due`: the stored milestones whose webhook announcement is due;
- :func:`label`: ``10_000_000_000`` fen -> ``"¥1亿"``.

The shell (:mod:`stream.alerts.milestone_watch`) reads the rollups, calls these and writes the
``milestones`` table (migration 006), which the wall shows.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from stream.contract import FESTIVAL_TZ

YUAN = 100  # fen
WAN, YI, WAN_YI = 10**4 * YUAN, 10**8 * YUAN, 10**12 * YUAN  # 万, 亿, 万亿 yuan in fen

# Every power of ten from ¥10万 to ¥1万亿. At `make run`'s 500 orders/s (about ¥130,000 of GMV a
# second once payments flow) ¥10万 is passed ~15 s after the first order, ¥100万 ~35 s, ¥1000万
# ~2 min, ¥1亿 ~13 min; the real 2020 festival (¥4,982亿) would pass ¥1000亿.
DEFAULT_FIGURES_FEN = tuple(10**e for e in range(7, 15))

# Announcement states of a stored milestone (its webhook), as in alert_events' delivery column
# plus WAITING: the milestone's second is not settled yet (the pipeline may still fill it), and
# OLD: first found more than NEWS_WITHIN_S of event time after its second (the service started on
# a festival already under way, or was stopped for over an hour): recorded, not announced.
WAITING, PENDING, DELIVERED, FAILED, NONE, OLD = "waiting", "pending", "delivered", "failed", "none", "old"
NEWS_WITHIN_S = 3600


@dataclass(frozen=True)
class Milestone:
    """``figure_fen`` was first reached in ``second`` (epoch s), whose end saw ``gmv_fen`` in all."""

    figure_fen: int
    second: int
    gmv_fen: int


def per_second(rows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(second, gmv_fen)`` rows summed per second (on-time and late rows), in time order."""
    totals: dict[int, int] = {}
    for second, fen in rows:
        totals[int(second)] = totals.get(int(second), 0) + int(fen)
    return sorted(totals.items())


def milestones(rows: Iterable[tuple[int, int]], figures: Iterable[int], before_fen: int = 0) -> list[Milestone]:
    """The figures the cumulative GMV of ``rows`` reaches, each with the first second that reaches it.

    ``rows``: ``(second, gmv_fen)`` in any order; rows of the same second are added (an on-time
    row and its late corrections). ``before_fen``: the cumulative GMV before the first of these
    seconds (0: the rows start at the beginning of the festival). A figure counts as reached at
    the first second whose cumulative GMV is at least the figure (exactly at it counts); several
    figures can be reached in one second. Figures ``before_fen`` already reaches, or that the
    rows never reach, are not returned. Integer fen throughout: exact.
    """
    pending = sorted({int(f) for f in figures if int(f) > before_fen})
    found: list[Milestone] = []
    cumulative, i = int(before_fen), 0
    for second, fen in per_second(rows):
        if i == len(pending):
            break
        cumulative += fen
        while i < len(pending) and cumulative >= pending[i]:
            found.append(Milestone(pending[i], second, cumulative))
            i += 1
    return found


@dataclass(frozen=True)
class Record:
    """One row of the ``milestones`` table: a milestone as stored, and its announcement."""

    figure_fen: int
    second: int  # epoch s: the first second whose cumulative GMV reaches the figure (as now known)
    gmv_fen: int  # cumulative GMV at the end of that second
    first_second: int  # the second as first recorded (a late correction may have moved it since)
    recorded_ms: int  # wall clock: when the service first recorded it
    moved_ms: int = 0  # wall clock: when it last moved (0: never)
    announce: str = WAITING  # waiting | pending | delivered | failed | none | old
    announced_ms: int = 0  # wall clock: when its announcement was queued (0: not yet)
    attempts: int = 0  # webhook tries in all

    @property
    def label(self) -> str:
        """How logs and webhooks name it: ``milestone ¥1亿``."""
        return f"milestone {label(self.figure_fen)}"

    @property
    def moved(self) -> bool:
        return self.second != self.first_second


def reconcile(found: Iterable[Milestone], stored: Mapping[int, Record], now_ms: int,
              newest: int | None = None) -> list[Record]:
    """The records to write: a figure reached for the first time, or one whose second (or the
    cumulative GMV at that second) changed. A moved milestone keeps its first second, when it was
    first recorded and its announcement (a move is never announced again). A figure found for the
    first time more than NEWS_WITHIN_S before ``newest`` (the newest window, event time) is old
    news: stored as OLD, never announced. Figures stored but not in ``found`` are left alone."""
    changed = []
    for m in found:
        old = stored.get(m.figure_fen)
        if old is None:
            news = newest is None or newest - m.second <= NEWS_WITHIN_S
            changed.append(Record(m.figure_fen, m.second, m.gmv_fen, m.second, now_ms,
                                  announce=WAITING if news else OLD))
        elif (old.second, old.gmv_fen) != (m.second, m.gmv_fen):
            moved_ms = now_ms if old.second != m.second else old.moved_ms
            changed.append(dataclasses.replace(old, second=m.second, gmv_fen=m.gmv_fen, moved_ms=moved_ms))
    return changed


def due(stored: Mapping[int, Record], horizon: int | None) -> list[Record]:
    """Milestones still to announce whose second is settled: before ``horizon`` (the exclusive end
    of the windows the pipeline has finished, as for the drop rule; None: none finished yet), so a
    second still filling is not announced and then moved by the rest of its own rows."""
    if horizon is None:
        return []
    return [r for _, r in sorted(stored.items()) if r.announce == WAITING and r.second < horizon]


def label(fen: int) -> str:
    """A round figure as people say it: ``¥10万``, ``¥1,000万``, ``¥1.5亿``, ``¥1万亿``; exact
    (``¥12,345.67`` when no unit says it in at most two decimals)."""
    fen = int(fen)
    for unit, name in ((WAN_YI, "万亿"), (YI, "亿"), (WAN, "万")):
        if fen >= unit and fen % (unit // 100) == 0:
            whole, hundredths = divmod(fen // (unit // 100), 100)
            decimals = f".{hundredths:02d}".rstrip("0") if hundredths else ""
            return f"¥{whole:,}{decimals}{name}"
    whole, cents = divmod(fen, YUAN)
    return f"¥{whole:,}" + (f".{cents:02d}" if cents else "")


def when(second: int) -> str:
    """``11-11 20:00:05 CST``: how messages name a second (festival time)."""
    return datetime.fromtimestamp(second, FESTIVAL_TZ).strftime("%m-%d %H:%M:%S CST")


def message(record: Record) -> str:
    """One sentence for the webhook and the log."""
    return (f"festival GMV passed {label(record.figure_fen)} at {when(record.second)} "
            f"(¥{record.gmv_fen // YUAN:,}.{record.gmv_fen % YUAN:02d} by the end of that second)")
