"""Last year's festival from CSV (``gmv history import PATH``): parsing and validation, no I/O
beyond reading the text. The format is :data:`FORMAT` (``gmv history import --help`` prints it).

:func:`parse` reads every row of every file and raises on the first problem (one line naming
``file:line``, and how many more there are), so an import loads all of it or nothing.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime

from stream.contract import (
    CHANNELS,
    CUBE_DIMENSIONS,
    MEASURE_BY_NAME,
    MEASURES,
    PARCEL_STATUSES,
    PRESALE_PHASES,
    PROMOTIONS,
    ROLLUPS,
    WAVES,
)
from stream.errors import GmvError

FORMAT = """\
A file is one rollup, named by its header (the first line that is not empty or a # comment):
  window_start + measures                      per-second totals (orders_per_second); per-minute
                                               totals go in the same way, each at its minute's
                                               first second (sums over minutes stay exact)
  window_start,dimension,value + measures      per-minute breakdowns (orders_per_minute); dimension
                                               is category, province, channel or brand
  window_start + category,province,channel,vip,promotion,wave,presale_phase + measures
                                               the per-minute cube (orders_per_minute_cube)
  window_start,status,events                   parcel events per minute (logistics_per_minute)
Measures: any of orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations,
deposits_paid, in any order (one left out is 0). window_start: epoch seconds, or ISO 8601 with
its offset (2020-11-11T00:00:00+08:00); a per-minute rollup's windows start on the minute.
Counts and amounts are whole numbers, 0 or more; money is integer fen (12345 is ¥123.45, never
123.45). Each window and key appears once. Example:
  window_start,gmv_fen,orders_created,orders_paid
  2020-11-11T00:00:00+08:00,1834500,120,97
Every file is checked before anything is written: one bad row and nothing is imported. Import
the same file again and its rows replace themselves (nothing counts twice).
"""

WINDOW = "window_start"
# rollup -> the key columns (besides window_start) its header names
KEYS = {
    "orders_second": (),
    "dimensions_minute": ("dimension", "value"),
    "cube_5min": CUBE_DIMENSIONS,
    "logistics_minute": ("status",),
}
ENUMS: dict[str, tuple[str, ...]] = {"channel": CHANNELS, "vip": ("0", "1"), "promotion": PROMOTIONS,
                                     "wave": WAVES, "presale_phase": PRESALE_PHASES, "status": PARCEL_STATUSES,
                                     "dimension": CUBE_DIMENSIONS}
OLDEST, NEWEST = 946684800, 4102444800  # 2000-01-01 and 2100-01-01 UTC: a window outside is a mistake
MAX_DIGITS = 18  # below 2^63: fits Int64 (fen) and UInt64 (counts)
MAX_TEXT = 200  # characters of a dimension value
SHOWN_PROBLEMS = 10  # problems `gmv history import` prints, one a line (the rest are counted)
_WHOLE = re.compile(r"[0-9]+")


class HistoryCsvError(GmvError):
    """Files that cannot be imported: the message is one line (``file:line: the problem``, and how
    many more there are); ``problems`` lists each, one line each."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass
class Parsed:
    """What the files hold: rollup -> columns shaped like the simulator's ledger (``window``, the
    keys, the counts), ready for :func:`stream.history.insert`; and where each row came from."""

    tables: dict[str, dict[str, list]] = field(default_factory=dict)
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (name, rollup, rows)

    def rows(self) -> int:
        return sum(len(t["window"]) for t in self.tables.values())


def rollup_of(header: list[str], where: str) -> tuple[str, tuple[str, ...]]:
    """The rollup a header names, and its counted columns (raises :class:`HistoryCsvError`)."""
    known = {WINDOW, *MEASURES, "events", *(k for keys in KEYS.values() for k in keys)}
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise HistoryCsvError(f"{where}: column {name!r} is named twice; keep one.")
        seen.add(name)
        if name not in known:
            raise HistoryCsvError(f"{where}: unknown column {name!r}; the columns are window_start, the measures "
                                  f"({', '.join(MEASURES)}) and one rollup's keys (gmv history import --help).")
    if WINDOW not in seen:
        raise HistoryCsvError(f"{where}: no window_start column; name the window's start in the header.")
    keys = seen - {WINDOW, *MEASURES, "events"}
    if keys & {"dimension", "value"}:
        rollup = "dimensions_minute"
    elif keys & set(CUBE_DIMENSIONS):
        rollup = "cube_5min"
    elif "status" in seen or "events" in seen:
        rollup = "logistics_minute"
    else:
        rollup = "orders_second"
    wanted = set(KEYS[rollup])
    if keys != wanted:
        missing, extra = sorted(wanted - keys), sorted(keys - wanted)
        what = {"dimensions_minute": "a breakdown", "cube_5min": "the cube",
                "logistics_minute": "parcel events"}.get(rollup, "per-second totals")
        problem = " and ".join(([f"lacks {', '.join(missing)}"] if missing else [])
                               + ([f"also names {', '.join(extra)}"] if extra else []))
        raise HistoryCsvError(f"{where}: a header of {what} ({', '.join([WINDOW, *KEYS[rollup]])}) {problem}.")
    counted = ("events",) if rollup == "logistics_minute" else tuple(m for m in MEASURES if m in seen)
    if rollup == "logistics_minute" and "events" not in seen:
        raise HistoryCsvError(f"{where}: a header of parcel events (window_start, status) lacks events.")
    if rollup == "logistics_minute" and seen & set(MEASURES):
        named = ", ".join(sorted(seen & set(MEASURES)))
        raise HistoryCsvError(f"{where}: parcel events take no order measures ({named}).")
    if not counted:
        raise HistoryCsvError(f"{where}: no measure; name at least one of {', '.join(MEASURES)}.")
    return rollup, counted


def window(text: str) -> int:
    """Epoch seconds of a ``window_start`` cell (raises ValueError with the reason)."""
    text = text.strip()
    if _WHOLE.fullmatch(text):
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"window_start {text[:40]!r} is neither epoch seconds nor an ISO time like "
                             "2020-11-11T00:00:00+08:00") from None
        if moment.tzinfo is None:
            raise ValueError(f"window_start {text[:40]!r} has no UTC offset; write it like 2020-11-11T00:00:00+08:00")
        if moment.microsecond:
            raise ValueError(f"window_start {text[:40]!r} is not a whole second")
        value = int(moment.timestamp())
    if not OLDEST <= value < NEWEST:
        raise ValueError(f"window_start {text[:40]!r} is not between 2000 and 2100")
    return value


def count(column: str, text: str) -> int:
    """A count or an amount in fen: a whole non-negative number (raises ValueError with the reason)."""
    text = text.strip()
    money = column in MEASURE_BY_NAME and MEASURE_BY_NAME[column].is_money
    if not _WHOLE.fullmatch(text):
        if not text:
            raise ValueError(f"{column} is empty; write 0 for none")
        if re.fullmatch(r"-[0-9]+", text):
            raise ValueError(f"{column} {text[:40]} is negative; counts and amounts are 0 or more")
        if money:
            raise ValueError(f"{column} {text[:40]!r} is not whole fen; money is an integer number of fen "
                             "(¥123.45 is 12345)")
        raise ValueError(f"{column} {text[:40]!r} is not a whole number")
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise ValueError(f"{column} {text[:40]} is too large (at most {MAX_DIGITS} digits)")
    return int(text)


def key_value(column: str, text: str) -> str | int:
    """A key cell: an enum's value, 0/1 for vip, else non-empty text (raises ValueError)."""
    text = text.strip()
    if column in ENUMS and text not in ENUMS[column]:
        raise ValueError(f"{column} {text[:40]!r} is not one of {', '.join(ENUMS[column])}")
    if not text:
        raise ValueError(f"{column} is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{column} is longer than {MAX_TEXT} characters")
    return int(text) if column == "vip" else text


def parse(files: list[tuple[str, str]]) -> Parsed:
    """Every row of ``files`` (``(name, text)``), validated; raises :class:`HistoryCsvError` naming
    the first problem (``name:line: ...``) and how many more there are. Nothing is returned unless
    every row of every file is good, so an import loads all of it or nothing."""
    parsed = Parsed()
    problems: list[str] = []
    seen: dict[str, dict[tuple, str]] = {}
    for name, text in files:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise HistoryCsvError(f"{name}: no header and no rows; see gmv history import --help for the format.")
        head_no, head = lines[0]
        header = [h.strip() for h in next(csv.reader([head]))]
        rollup, counted = rollup_of(header, f"{name}:{head_no}")
        keys = KEYS[rollup]
        columns: dict[str, list] = parsed.tables.setdefault(
            rollup, {"window": [], **{k: [] for k in keys}, **{c: [] for c in _counted(rollup)}})
        origin = seen.setdefault(rollup, {})
        rows = 0
        for number, line in lines[1:]:
            where = f"{name}:{number}"
            cells = next(csv.reader([line]))
            if len(cells) != len(header):
                problems.append(f"{where}: has {len(cells)} fields, the header has {len(header)}")
                continue
            cell = dict(zip(header, cells))
            try:
                start = window(cell[WINDOW])
                if ROLLUPS[rollup].window_s == 60 and start % 60:
                    raise ValueError(f"window_start {cell[WINDOW].strip()[:40]!r} is not on a minute; "
                                     f"{ROLLUPS[rollup].table} has a row per minute")
                key_values = tuple(key_value(k, cell[k]) for k in keys)
                values = {c: count(c, cell[c]) for c in counted}
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            key = (start, *key_values)
            if key in origin:
                problems.append(f"{where}: repeats the window and keys of {origin[key]}; keep one row per key")
                continue
            origin[key] = where
            columns["window"].append(start)
            for k, v in zip(keys, key_values):
                columns[k].append(v)
            for c in _counted(rollup):
                columns[c].append(values.get(c, 0))
            rows += 1
        if rows == 0 and not problems:
            raise HistoryCsvError(f"{name}: a header and no rows; nothing to import.")
        parsed.files.append((name, rollup, rows))
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise HistoryCsvError(f"{problems[0]}{more}; nothing was imported.", problems)
    return parsed


def _counted(rollup: str) -> tuple[str, ...]:
    return ("events",) if rollup == "logistics_minute" else MEASURES
