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
    BRAND,
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
  window_start + measures                      order totals per second (orders_per_second);
                                               per-minute totals go in the same way, each at its
                                               minute's first second (sums over minutes stay exact)
  window_start,dimension,value + measures      per minute, each field on its own
                                               (orders_by_dimension_per_minute); dimension is
                                               category, province, channel, vip (value 0 or 1),
                                               promotion, wave or presale_phase
  window_start + category,province,channel,vip,promotion,wave,presale_phase + measures
                                               the cube per 5 minutes (orders_cube_per_5min)
  window_start,category,brand + measures       brands with their category per 5 minutes
                                               (brands_per_5min)
  window_start,status,events                   parcel events per minute (logistics_per_minute)
Measures: any of orders_created, orders_paid, gmv_fen, refunds, refund_fen, cancellations,
deposits_paid, in any order (one left out is 0). window_start: epoch seconds, or ISO 8601 with
its offset (2020-11-11T00:00:00+08:00); per-minute rows start on the minute, per-5-minute rows on
:00, :05, ... Counts and amounts are whole numbers, 0 or more; money is integer fen (12345 is
¥123.45, never 123.45). Each window and key appears once. Example:
  window_start,gmv_fen,orders_created,orders_paid
  2020-11-11T00:00:00+08:00,1834500,120,97
Brand rows in a breakdown and a cube per minute (the format of old) are refused, each file in one
line saying what to do instead. Every file is checked before anything is written: one bad row and
nothing is imported. The hour and day rows of each rollup (a day from midnight China time) are
then summed from what the history holds for the days imported. Import the same file again and
its rows replace themselves (nothing counts twice).
"""

WINDOW = "window_start"
# rollup -> the key columns (besides window_start) its header names
KEYS = {
    "orders_second": (),
    "dimensions_minute": ("dimension", "value"),
    "cube_5min": CUBE_DIMENSIONS,
    "brands_5min": ("category", BRAND),
    "logistics_minute": ("status",),
}
# what a header of each rollup is called in a message
WHAT = {"orders_second": "per-second totals", "dimensions_minute": "a breakdown", "cube_5min": "the cube",
        "brands_5min": "brands", "logistics_minute": "parcel events"}
ENUMS: dict[str, tuple[str, ...]] = {"channel": CHANNELS, "vip": ("0", "1"), "promotion": PROMOTIONS,
                                     "wave": WAVES, "presale_phase": PRESALE_PHASES, "status": PARCEL_STATUSES,
                                     "dimension": CUBE_DIMENSIONS}
OLDEST, NEWEST = 946684800, 4102444800  # 2000-01-01 and 2100-01-01 UTC: a window outside is a mistake
MAX_DIGITS = 18  # below 2^63: fits Int64 (fen) and UInt64 (counts)
MAX_TEXT = 200  # characters of a dimension value
SHOWN_PROBLEMS = 10  # problems `gmv history import` prints, one a line (the rest are counted)
_WHOLE = re.compile(r"[0-9]+")
# What to do with the rows of files in the format before the rollups had time tiers (one line each).
OLD_BRANDS = ("brand is no longer a breakdown dimension: put the brand rows in a brands file with their "
              "category (header window_start,category,brand + measures), summed per 5 minutes")
OFF_GRID = "{table} has a row per {grain}: sum the rows of each {grain} into one row at its start ({example})"
_GRID = {60: ("minute", "hh:mm:00"), 300: ("5 minutes", "hh:00, hh:05, hh:10, ...")}  # window_s -> its words


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
    seen = _columns(header, where)
    keys = seen - {WINDOW, *MEASURES, "events"}
    rollup = _named(keys, seen)
    wanted = set(KEYS[rollup])
    if keys != wanted:
        missing, extra = sorted(wanted - keys), sorted(keys - wanted)
        problem = " and ".join(([f"lacks {', '.join(missing)}"] if missing else [])
                               + ([f"also names {', '.join(extra)}"] if extra else []))
        raise HistoryCsvError(f"{where}: a header of {WHAT[rollup]} ({', '.join([WINDOW, *KEYS[rollup]])}) {problem}.")
    if rollup == "logistics_minute":
        if "events" not in seen:
            raise HistoryCsvError(f"{where}: a header of parcel events (window_start, status) lacks events.")
        if seen & set(MEASURES):
            named = ", ".join(sorted(seen & set(MEASURES)))
            raise HistoryCsvError(f"{where}: parcel events take no order measures ({named}).")
        return rollup, ("events",)
    counted = tuple(m for m in MEASURES if m in seen)
    if not counted:
        raise HistoryCsvError(f"{where}: no measure; name at least one of {', '.join(MEASURES)}.")
    return rollup, counted


def _columns(header: list[str], where: str) -> set[str]:
    """The header's column names, each known and named once, window_start among them."""
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
    return seen


def _named(keys: set[str], seen: set[str]) -> str:
    """The rollup whose keys a header's key columns are most like (checked exactly after)."""
    if BRAND in keys:
        return "brands_5min"
    if keys & {"dimension", "value"}:
        return "dimensions_minute"
    if keys & set(CUBE_DIMENSIONS):
        return "cube_5min"
    if "status" in seen or "events" in seen:
        return "logistics_minute"
    return "orders_second"


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


def dimension_value(dimension: str, text: str) -> str:
    """A breakdown's value: one of the dimension's values when it has a fixed set (raises ValueError)."""
    key_value("value", text)
    text = text.strip()
    if dimension in ENUMS and text not in ENUMS[dimension]:
        raise ValueError(f"value {text[:40]!r} is not a {dimension} ({', '.join(ENUMS[dimension])})")
    return text


class _File:
    """One file's rows as they are read: each row checked, its problems one line each; rows in a
    format of old (brand breakdowns, windows off the rollup's grid) counted into one line."""

    def __init__(self, name: str, rollup: str, counted: tuple[str, ...], header: list[str]) -> None:
        self.name, self.rollup, self.counted, self.header = name, rollup, counted, header
        self.problems: list[str] = []
        self.old: dict[str, list[str]] = {}  # the old format's message -> where its rows are
        self.rows = 0

    def read(self, number: int, line: str) -> tuple[tuple, dict[str, int]] | None:
        """A row's key (window first) and counts, or None (its problem noted)."""
        where = f"{self.name}:{number}"
        cells = next(csv.reader([line]))
        if len(cells) != len(self.header):
            self.problems.append(f"{where}: has {len(cells)} fields, the header has {len(self.header)}")
            return None
        cell = dict(zip(self.header, cells))
        try:
            old = self._old_format(cell)
            if old:
                self.old.setdefault(old, []).append(where)
                return None
            key = (window(cell[WINDOW]), *self._keys(cell))
            return key, {c: count(c, cell[c]) for c in self.counted}
        except ValueError as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    def _keys(self, cell: dict[str, str]) -> tuple:
        """The row's key columns in KEYS order (a breakdown's value checked against its dimension)."""
        return tuple(dimension_value(cell["dimension"], cell[k]) if k == "value" else key_value(k, cell[k])
                     for k in KEYS[self.rollup])

    def _old_format(self, cell: dict[str, str]) -> str | None:
        """What to do instead, when a row is in a format of old: a brand breakdown, or a window
        off the rollup's grid (the cube was per minute)."""
        if self.rollup == "dimensions_minute" and cell["dimension"].strip() == BRAND:
            return OLD_BRANDS
        rollup = ROLLUPS[self.rollup]
        if rollup.window_s > 1 and window(cell[WINDOW]) % rollup.window_s:
            grain, example = _GRID[rollup.window_s]
            return OFF_GRID.format(table=rollup.table, grain=grain, example=example)
        return None

    def all_problems(self) -> list[str]:
        """Every problem, a line each: those of single rows, then one per format of old."""
        return self.problems + [f"{wheres[0]}: {message}" + (f" ({len(wheres):,} rows like it)" if len(wheres) > 1
                                                             else "")
                                for message, wheres in self.old.items()]


def parse(files: list[tuple[str, str]]) -> Parsed:
    """Every row of ``files`` (``(name, text)``), validated; raises :class:`HistoryCsvError` naming
    the first problem (``name:line: ...``) and how many more there are. Nothing is returned unless
    every row of every file is good, so an import loads all of it or nothing."""
    parsed = Parsed()
    problems: list[str] = []
    seen: dict[str, dict[tuple, str]] = {}  # rollup -> key -> where it was first
    for name, text in files:
        file = _read(name, text, parsed, seen)
        problems += file.all_problems()
        if file.rows == 0 and not problems:
            raise HistoryCsvError(f"{name}: a header and no rows; nothing to import.")
        parsed.files.append((name, file.rollup, file.rows))
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise HistoryCsvError(f"{problems[0]}{more}; nothing was imported.", problems)
    return parsed


def _read(name: str, text: str, parsed: Parsed, seen: dict[str, dict[tuple, str]]) -> _File:
    """One file's good rows into ``parsed``'s columns of its rollup (a key already ``seen`` in this
    import is a problem); the file, with its problems."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise HistoryCsvError(f"{name}: no header and no rows; see gmv history import --help for the format.")
    head_no, head = lines[0]
    header = [h.strip() for h in next(csv.reader([head]))]
    file = _File(name, *rollup_of(header, f"{name}:{head_no}"), header)
    columns = parsed.tables.setdefault(file.rollup, {"window": [], **{k: [] for k in KEYS[file.rollup]},
                                                     **{c: [] for c in _counted(file.rollup)}})
    origin = seen.setdefault(file.rollup, {})
    for number, line in lines[1:]:
        row = file.read(number, line)
        if row is None:
            continue
        key, values = row
        if key in origin:
            file.problems.append(f"{name}:{number}: repeats the window and keys of {origin[key]}; keep one row per key")
            continue
        origin[key] = f"{name}:{number}"
        _append(columns, file.rollup, key, values)
        file.rows += 1
    return file


def _append(columns: dict[str, list], rollup: str, key: tuple, values: dict[str, int]) -> None:
    """A row into the rollup's columns (a measure the file leaves out is 0)."""
    columns["window"].append(key[0])
    for k, v in zip(KEYS[rollup], key[1:]):
        columns[k].append(v)
    for c in _counted(rollup):
        columns[c].append(values.get(c, 0))


def _counted(rollup: str) -> tuple[str, ...]:
    return ("events",) if rollup == "logistics_minute" else MEASURES
