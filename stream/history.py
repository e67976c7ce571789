"""Last year's festival: where it lives and how its moments line up with this year's.

History is stored in ``Settings.history_database``: a database migrated with the same
migrations as the rollups, so last year's rows have exactly the rollup shape (written by
``gmv simulate`` for last year, or imported from CSV). Its windows keep last year's own
timestamps; a reader compares a moment with the same calendar moment (month, day and time of
day, China time) one year earlier.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from stream.contract import (
    DAY_S,
    FESTIVAL_PERIODS,
    FESTIVAL_TZ,
    LATE_COLUMN,
    ROLLUPS,
    SPIKE_HOUR,
    VERSION_COLUMN,
    WINDOW,
    Rollup,
    family,
    window_start,
)
from stream.errors import GmvError


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


# -- the festival's calendar: its events and its span -----------------------------------------

# what the countdown counts down to: "03:59:12 to midnight of the 11th"
_OPENINGS = {"presale": "the pre-sale's opening", "wave1": "wave 1's opening", "wave2": "midnight of the 11th"}
FESTIVAL_ENDS = "the festival's end"
SPIKE = f"the {SPIKE_HOUR}:00 spike"


def _local_s(year: int, month: int, day: int, hour: int = 0) -> int:
    return int((datetime(year, month, day, tzinfo=FESTIVAL_TZ) + timedelta(hours=hour)).timestamp())


def festival_span(year: int) -> tuple[int, int]:
    """``(start, end)`` epoch seconds of ``year``'s festival: the first period's start (the pre-sale's
    opening) to the last one's end (midnight after the 11th)."""
    return (min(_local_s(year, *p.start) for p in FESTIVAL_PERIODS),
            max(_local_s(year, *p.end) for p in FESTIVAL_PERIODS))


def calendar(year: int) -> list[tuple[int, str]]:
    """``year``'s festival events as ``(epoch s, name)`` in time order: each period's opening
    (pre-sale, wave 1, wave 2 at midnight of the 11th), the spike at SPIKE_HOUR on every festival
    day that is not also an opening, and the festival's end."""
    events = {_local_s(year, *p.start): _OPENINGS[p.wave] for p in FESTIVAL_PERIODS}
    for p in FESTIVAL_PERIODS:
        start, end = _local_s(year, *p.start), _local_s(year, *p.end)
        day = datetime.fromtimestamp(start, FESTIVAL_TZ).replace(hour=0)
        while (spike := int(day.timestamp()) + SPIKE_HOUR * 3600) < end:
            if spike >= start:
                events.setdefault(spike, SPIKE)
            day += timedelta(days=1)
    events[festival_span(year)[1]] = FESTIVAL_ENDS
    return sorted(events.items())


def next_event(epoch_s: int) -> tuple[int, str]:
    """The first event of the festival calendar after ``epoch_s`` (this year's, else next year's)."""
    year = datetime.fromtimestamp(epoch_s, FESTIVAL_TZ).year
    return next(e for y in (year, year + 1) for e in calendar(y) if e[0] > epoch_s)


# -- writing history: rollup rows, column by column ------------------------------------------


def insert(client, database: str, tables: dict[str, dict[str, list]], written_ms: int, batch: int = 500_000) -> int:
    """Insert rollup rows given as columns into ``database``: ``tables`` maps a rollup name to its
    columns, shaped like the simulator's ledger (``window`` epoch seconds, the rollup's dimensions
    and values; ``late`` is 0). Columnar inserts of up to ``batch`` rows; returns the rows written."""
    count = 0
    for name, columns in tables.items():
        rollup = ROLLUPS[name]
        n = len(columns["window"])
        if not n:
            continue
        ordered = [columns["window"] if c == "window_start" else [0] * n if c == LATE_COLUMN else columns[c]
                   for c in rollup.column_names] + [[written_ms] * n]
        sql = f"INSERT INTO {database}.{rollup.table} ({', '.join(rollup.column_names)}, {VERSION_COLUMN}) VALUES"
        for i in range(0, n, batch):
            client.execute(sql, [c[i:i + batch] for c in ordered], columnar=True)
        count += n
    return count


# -- the time tiers of imported rows ----------------------------------------------------------


def tier_days(first_s: int, last_s: int) -> tuple[int, int]:
    """``(start, end)``: the day windows (UTC days, as the tiers align: contract.window_start) that
    hold windows ``first_s`` to ``last_s``; every coarser tier's windows lie whole inside them."""
    return window_start(first_s, DAY_S), window_start(last_s, DAY_S) + DAY_S


def tier_sql(tier: Rollup, source: Rollup, database: str, start_s: int, end_s: int, written_ms: int) -> str:
    """``INSERT ... SELECT``: ``tier``'s rows of the windows in [start_s, end_s), each the sum of
    the rows of the finer ``source`` there (FINAL: the newest copy of each), written at
    ``written_ms``. Windows by arithmetic on epoch seconds (aligned in UTC, as the job's), so the
    server's time zone plays no part."""
    window = f"toDateTime(intDiv(toUInt32(window_start), {tier.window_s}) * {tier.window_s})"
    keys = ", ".join(c.name for c in tier.keys if c.kind != WINDOW)
    sums = ", ".join(f"sum({v})" for v in tier.value_names)
    return (f"INSERT INTO {database}.{tier.table} ({', '.join(tier.column_names)}, {VERSION_COLUMN}) "
            f"SELECT {window} AS tier_window, {keys}, {sums}, toUInt64({int(written_ms)}) "
            f"FROM {database}.{source.table} FINAL "
            f"WHERE window_start >= toDateTime({int(start_s)}) AND window_start < toDateTime({int(end_s)}) "
            f"GROUP BY tier_window, {keys}")


def derive_tiers(client, database: str, tables: dict[str, dict[str, list]], written_ms: int) -> dict[str, int]:
    """Write the coarser time tiers (hour, day) of the rollups in ``tables`` over the days their
    windows touch: each tier's rows there summed again from every row of that rollup ``database``
    holds for those days (not only the ones just written), so a day imported in parts adds up and
    an import repeated replaces its sums. Returns the rows written per tier."""
    written = {}
    for name, columns in tables.items():
        if not columns["window"]:
            continue
        start, end = tier_days(min(columns["window"]), max(columns["window"]))
        for tier in (r for r in family(name) if r.window_s > ROLLUPS[name].window_s):
            client.execute(tier_sql(tier, ROLLUPS[name], database, start, end, written_ms))
            written[tier.name] = client.execute(
                f"SELECT count() FROM {database}.{tier.table} WHERE window_start >= toDateTime({start}) "
                f"AND window_start < toDateTime({end}) AND {VERSION_COLUMN} = {int(written_ms)}")[0][0]
    return written


def clear(client, database: str, names: Iterable[str], start_s: int, end_s: int, timeout_s: float = 120.0) -> None:
    """Delete the rows of rollups ``names`` whose windows hold a moment of [start_s, end_s) from
    ``database`` (before a span is written again, so what it holds is exactly what was written last):
    a window that starts before ``start_s`` too (a UTC day holds the first hours of a span of
    festival days). Every table's deletion started, then all of them waited for (side by side)."""
    from stream.probes import wait_for

    spans = {ROLLUPS[name].table: _windows_holding(ROLLUPS[name], start_s, end_s) for name in names}
    deleting = [t for t, where in spans.items()
                if client.execute(f"SELECT count() FROM {database}.{t} WHERE {where}")[0][0]]
    for table in deleting:
        client.execute(f"ALTER TABLE {database}.{table} DELETE WHERE {spans[table]}")
    if deleting and not wait_for(_deleted(client, database, deleting), timeout_s, interval=0.1):
        raise GmvError(f"ClickHouse did not delete the old rows of {database} within {timeout_s:.0f} s; "
                       "try again.")


def _windows_holding(rollup: Rollup, start_s: int, end_s: int) -> str:
    """A WHERE clause: ``rollup``'s windows that hold a moment of [start_s, end_s)."""
    first = window_start(int(start_s), rollup.window_s)
    return f"window_start >= toDateTime({first}) AND window_start < toDateTime({int(end_s)})"


def _deleted(client, database: str, tables: list[str]):
    """A check that no mutation of ``tables`` in ``database`` is still running."""
    names = ", ".join(f"'{t}'" for t in tables)
    sql = (f"SELECT count() FROM system.mutations WHERE database = '{database}' AND table IN ({names}) "
           "AND is_done = 0")

    def done() -> bool:
        return client.execute(sql)[0][0] == 0

    return done


@contextmanager
def reaching(settings) -> Iterator[None]:
    """ClickHouse's connection failures and refusals as one-line :class:`GmvError`s."""
    from clickhouse_driver.errors import Error, NetworkError, ServerException, SocketTimeoutError

    try:
        yield
    except (NetworkError, SocketTimeoutError, OSError, EOFError) as exc:
        raise GmvError(f"cannot reach ClickHouse at {settings.clickhouse_host}:{settings.clickhouse_port} "
                       f"({_first_line(exc)}); start it with `gmv up clickhouse`.") from None
    except (ServerException, Error) as exc:
        raise GmvError(f"ClickHouse refused to write the history ({_first_line(exc)}).") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


_WIDEST = max(len(r.table) for r in ROLLUPS.values())


def status_lines(client, database: str) -> list[str]:
    """What the history database holds, one line per rollup table with rows (rows, first and last
    window in China time, GMV for the per-second totals); a hint when it holds nothing."""
    exists = client.execute("SELECT count() FROM system.databases WHERE name = %(db)s", {"db": database})
    lines = []
    for rollup in ROLLUPS.values() if exists and exists[0][0] else ():
        found = client.execute("SELECT count() FROM system.tables WHERE database = %(db)s AND name = %(t)s",
                               {"db": database, "t": rollup.table})
        if not found[0][0]:
            continue
        gmv = ", sum(gmv_fen)" if "gmv_fen" in rollup.value_names else ""
        rows, first, last, *money = client.execute(
            f"SELECT count(), toUInt32(min(window_start)), toUInt32(max(window_start)){gmv} "
            f"FROM {database}.{rollup.table} FINAL")[0]
        if rows:
            lines.append(f"{rollup.table:<{_WIDEST}} {rows:>10,} rows  {local_text(first)} → {local_text(last)} CST"
                         + (f"  GMV {_yuan(money[0])}" if money and rollup.name == "orders_second" else ""))
    return lines or [f"{database} holds no history yet: write last year's festival with `gmv simulate "
                     "--only-history` or import your own with `gmv history import PATH`."]


def local_text(epoch_s: int) -> str:
    """``2020-11-11 00:00:00``: a moment as China time."""
    return datetime.fromtimestamp(int(epoch_s), FESTIVAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _yuan(fen: int) -> str:
    whole, cents = divmod(int(fen), 100)
    return f"¥{whole:,}.{cents:02d}"
