"""Last year's history on the real ClickHouse: `gmv simulate --only-history` writes exactly its
ledger, every time tier of it, `gmv history import` loads all or nothing, sums the hour and day
tiers from what the history holds, and again without counting twice; and the wall and explore
read it through the dashboard's cache."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stream import history
from stream.contract import FESTIVAL_TZ, MEASURES, ROLLUPS, family
from stream.job import verify
from stream.simulator.history import WRITTEN
from stream.stack import clickhouse

pytestmark = pytest.mark.slow


def at(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=FESTIVAL_TZ).timestamp())


def gmv(settings, cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *cmd], env={**os.environ, **settings.to_env()},
                          capture_output=True, text=True, timeout=300, check=False)


def totals(settings, database: str) -> tuple[int, ...]:
    with clickhouse.connect(settings, "reader") as client:
        return tuple(int(v) for v in client.execute(
            f"SELECT {', '.join(f'sum({m})' for m in MEASURES)}, count() "
            f"FROM {database}.orders_per_second FINAL")[0])


def utc_hour(epoch_s: int) -> int:
    """Epoch s of the start of the UTC hour (the time-zone database's) that holds ``epoch_s``."""
    return int(datetime.fromtimestamp(epoch_s, ZoneInfo("UTC")).replace(minute=0, second=0).timestamp())


def utc_day(epoch_s: int) -> int:
    """Epoch s of the midnight in UTC (08:00 in Shanghai) that starts ``epoch_s``'s day: the tiers' day."""
    return int(datetime.fromtimestamp(epoch_s, ZoneInfo("UTC")).replace(hour=0, minute=0, second=0).timestamp())


def stored(settings, name: str) -> dict[tuple, tuple[int, ...]]:
    """A rollup's rows in the history database, as a reader adds them up (FINAL, late rows added
    in): ``{(window, *keys): values}``."""
    rollup = ROLLUPS[name]
    keys = "".join(f", {d}" for d in rollup.dimensions)
    sums = ", ".join(f"sum({v})" for v in rollup.value_names)
    with clickhouse.connect(settings, "reader") as client:
        rows = client.execute(f"SELECT toUInt32(window_start){keys}, {sums} "
                              f"FROM {settings.history_database}.{rollup.table} FINAL GROUP BY window_start{keys}")
    width = len(rollup.value_names)
    return {tuple(r[:-width]): tuple(int(v) for v in r[-width:]) for r in rows}


def summed(rows: dict[tuple, tuple[int, ...]], window_of) -> dict[tuple, tuple[int, ...]]:
    """Rows summed per ``(window_of(window), *keys)``."""
    out: dict[tuple, list[int]] = {}
    for (window, *keys), values in rows.items():
        key = (window_of(window), *keys)
        out[key] = [a + b for a, b in zip(out.get(key, [0] * len(values)), values)]
    return {k: tuple(v) for k, v in out.items()}


def assert_tiers_add_up(settings, finest: str) -> None:
    """Each tier coarser than ``finest`` (the finest the history holds of its family) equals its
    rows there summed in Python per UTC hour and per UTC day (as the job's tiers align)."""
    rows = stored(settings, finest)
    coarser = [t for t in family(finest) if t.window_s > ROLLUPS[finest].window_s]
    assert {t.grain for t in coarser} == {"hour", "day"}
    for tier in coarser:
        window_of = utc_day if tier.grain == "day" else utc_hour
        assert stored(settings, tier.name) == summed(rows, window_of), tier.name


@pytest.mark.parametrize("budget", [None, 3000])
def test_simulate_only_history_writes_exactly_its_ledger(clickhouse_settings, tmp_path, budget):
    """Last year's Nov 11 evening, straight into the history database: the rows there are the
    history's ledger, every key of every tier to the fen (sampled too: each count multiplied
    alike), and each tier is its finest rows summed."""
    ledger = tmp_path / "history.jsonl"
    run = ["simulate", "--clock", "replay", "--start", "2021-11-11T19:58+08:00", "--speed", "120", "--scale", "2e-5",
           "--only-history", "--seed", "5"]
    if budget:  # written over an earlier history of the same span (other rows): only the new ones remain
        assert gmv(clickhouse_settings, [*run[:-1], "6", "--growth", "0"]).returncode == 0
        assert all(stored(clickhouse_settings, name) for name in WRITTEN)  # every table has rows to clear
    result = gmv(clickhouse_settings, [*run, "--history-ledger", str(ledger),
                                       *(["--history-budget", str(budget)] if budget else [])])
    assert result.returncode == 0, result.stderr
    lines = ledger.read_text().splitlines()
    expected, summary = verify.ledger_totals(lines)
    with clickhouse.connect(clickhouse_settings, "reader") as client:
        found = verify.rollup_totals(client, clickhouse_settings.history_database)
    assert found == expected and len(expected) > 1000
    assert {key[0] for key in expected} == set(WRITTEN)
    assert summary["year"] == 2020 and (summary["weight"] > 1) == bool(budget)
    windows = [w for kind, w, *_ in expected if kind == "orders_second"]
    assert at(2020, 11, 11) <= min(windows) and max(windows) < at(2020, 11, 12)
    assert sum(v[MEASURES.index("gmv_fen")] for (kind, *_), v in expected.items() if kind == "orders_second") \
        == summary["gmv_fen"] > 0
    assert all(v[MEASURES.index("orders_created")] % summary["weight"] == 0 for v in expected.values()
               if len(v) == len(MEASURES))
    for finest in ("orders_second", "dimensions_minute", "cube_5min", "brands_5min"):
        assert_tiers_add_up(clickhouse_settings, finest)
    assert totals(clickhouse_settings, clickhouse_settings.clickhouse_database)[-1] == 0  # this year untouched
    status = gmv(clickhouse_settings, ["history", "status"])
    assert status.returncode == 0 and "orders_cube_per_5min" in status.stdout and "brands_per_day" in status.stdout
    assert "2020-11-11 00:00:" in status.stdout and "GMV ¥" in status.stdout


CSV = """window_start,gmv_fen,orders_created,orders_paid
2020-11-11T00:00:00+08:00,1834500,120,97
2020-11-11T00:00:01+08:00,100,1,1
"""
# Last year's evening around midnight in Shanghai, one file per rollup (the second part of the
# same days is imported apart, with a newer copy of one row).
PART_ONE = {
    "seconds.csv": "window_start,gmv_fen,orders_paid\n2020-11-10T23:59:59+08:00,700,1\n"
                   "2020-11-11T00:00:00+08:00,1834500,97\n2020-11-11T00:59:59+08:00,5,1\n",
    "dimensions.csv": "window_start,dimension,value,gmv_fen\n2020-11-10T23:59:00+08:00,vip,1,700\n"
                      "2020-11-11T00:00:00+08:00,vip,0,1834500\n2020-11-11T00:00:00+08:00,channel,app,1834500\n",
    "cube.csv": "window_start,category,province,channel,vip,promotion,wave,presale_phase,gmv_fen,refunds\n"
                "2020-11-10T23:55:00+08:00,Beauty,Guangdong,app,1,none,wave1,none,700,0\n"
                "2020-11-11T00:00:00+08:00,Beauty,Guangdong,app,0,coupon,wave2,final,1834500,2\n",
    "brands.csv": "window_start,category,brand,gmv_fen,orders_paid\n2020-11-10T23:55:00+08:00,Beauty,花西子,700,1\n"
                  "2020-11-11T00:00:00+08:00,Beauty,花西子,1834500,97\n2020-11-11T00:05:00+08:00,Home,Olaex,5,1\n",
    "parcels.csv": "window_start,status,events\n2020-11-11T00:00:00+08:00,delivered,41\n",
}
PART_TWO = {
    "brands2.csv": "window_start,category,brand,gmv_fen,orders_paid\n2020-11-11T00:05:00+08:00,Home,Olaex,50,2\n"
                   "2020-11-11T20:00:00+08:00,Home,Olaex,9000,3\n",
    "seconds2.csv": "window_start,gmv_fen,orders_paid\n2020-11-11T20:00:00+08:00,9050,5\n",
}


def write(folder: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (folder / name).write_text(text)
    return [str(folder / name) for name in files]


def test_history_import_is_all_or_nothing_and_idempotent(clickhouse_settings, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(CSV)
    bad.write_text("window_start,gmv_fen\n2020-11-11T00:00:02+08:00,12.50\n")
    refused = gmv(clickhouse_settings, ["history", "import", str(good), str(bad)])
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"gmv: {bad}:2: gmv_fen '12.50' is not whole fen; money is an integer number of fen (¥123.45 is 12345)",
        "gmv: 1 problem; nothing was imported."]
    with clickhouse.connect(clickhouse_settings, "reader") as client:  # nothing written: not even the database
        assert not client.execute("SELECT count() FROM system.databases WHERE name = %(d)s",
                                  {"d": clickhouse_settings.history_database})[0][0]
    for _ in range(2):  # again: the same rows replace themselves
        done = gmv(clickhouse_settings, ["history", "import", str(good)])
        assert done.returncode == 0, done.stderr
        assert f"{good}: 2 rows of orders_second" in done.stdout
    expected = (97 + 1, 1834500 + 100)
    found = totals(clickhouse_settings, clickhouse_settings.history_database)
    assert (found[MEASURES.index("orders_paid")], found[MEASURES.index("gmv_fen")], found[-1]) == (*expected, 2)
    day = stored(clickhouse_settings, "orders_day")
    # 00:00 in Shanghai is 16:00 UTC on Nov 10: the UTC day from 08:00 on Nov 10 in Shanghai holds both seconds
    assert day == {(at(2020, 11, 10, 8),): tuple(found[:len(MEASURES)])}  # the day's sum, once


def test_history_import_fills_every_tier_and_a_day_imported_in_parts_adds_up(clickhouse_settings, tmp_path):
    """Every rollup the readers use, from the files' rows: the finest as imported, each UTC hour and
    day summed from everything the history holds for it (the second import's days again whole),
    nothing counted twice when the same files are imported again. The rows lie either side of
    midnight in Shanghai (16:00 UTC, one UTC day) and on the next UTC day (from 08:00 in Shanghai)."""
    old = tmp_path / "old.csv"
    old.write_text("window_start,dimension,value,gmv_fen\n1605024000,brand,花西子,4\n1605024060,brand,花西子,6\n")
    refused = gmv(clickhouse_settings, ["history", "import", *write(tmp_path, PART_ONE), str(old)])
    assert refused.returncode == 1 and f"gmv: {old}:2: brand is no longer a breakdown dimension" in refused.stderr
    assert "(2 rows like it)" in refused.stderr and "nothing was imported" in refused.stderr
    for files in (PART_ONE, PART_ONE, PART_TWO):  # part one twice: its rows replace themselves
        done = gmv(clickhouse_settings, ["history", "import", *write(tmp_path, files)])
        assert done.returncode == 0, done.stderr
    assert "summed per hour and day: " in done.stdout and "rows of brands_day" in done.stdout
    brands = stored(clickhouse_settings, "brands_5min")
    gmv_at = MEASURES.index("gmv_fen")
    assert brands[(at(2020, 11, 11, 0, 5), "Home", "Olaex")][gmv_at] == 50  # part two's copy
    nov10, nov11 = at(2020, 11, 10, 8), at(2020, 11, 11, 8)  # 00:00 UTC
    assert stored(clickhouse_settings, "brands_day")[(nov10, "Home", "Olaex")][gmv_at] == 50
    assert stored(clickhouse_settings, "brands_day")[(nov11, "Home", "Olaex")][gmv_at] == 9000
    assert stored(clickhouse_settings, "orders_day") == {(nov10,): (0, 1 + 97 + 1, 700 + 1834500 + 5, 0, 0, 0, 0),
                                                         (nov11,): (0, 5, 9050, 0, 0, 0, 0)}
    for finest in ("orders_second", "dimensions_minute", "cube_5min", "brands_5min"):
        assert stored(clickhouse_settings, finest)
        assert_tiers_add_up(clickhouse_settings, finest)
    assert not stored(clickhouse_settings, "dimensions_second")  # the import's minutes are its finest
    assert stored(clickhouse_settings, "logistics_minute") == {(at(2020, 11, 11), "delivered"): (41,)}


# -- the wall and explore against a known history ----------------------------------------------------


def _columns(rows: list[dict]) -> dict[str, list]:
    """Ledger-shaped columns of per-second rows given as ``{"window": s, "gmv_fen": fen, ...}``."""
    return {"window": [r["window"] for r in rows], **{m: [r.get(m, 0) for r in rows] for m in MEASURES}}


NOW = at(2021, 11, 11, 0, 1, 10)
TODAY = [{"window": at(2021, 11, 11, 0, 0, 5), "gmv_fen": 1000, "orders_created": 1},
         {"window": at(2021, 11, 11, 0, 0, 30), "gmv_fen": 2000, "orders_created": 1},
         {"window": NOW, "gmv_fen": 500, "orders_created": 1}]
LAST_YEAR = [{"window": at(2020, 11, 10, 23), "gmv_fen": 7777},  # before the span this year covers
             {"window": at(2020, 11, 11, 0, 0, 0), "gmv_fen": 100},  # before this year's first window
             {"window": at(2020, 11, 11, 0, 0, 5), "gmv_fen": 800},
             {"window": at(2020, 11, 11, 0, 0, 59), "gmv_fen": 400},
             {"window": at(2020, 11, 11, 0, 1, 10), "gmv_fen": 300},  # the same second as now: counted
             {"window": at(2020, 11, 11, 0, 1, 11), "gmv_fen": 9999},  # a second after
             {"window": at(2020, 11, 11, 12), "gmv_fen": 5000}]
CUBE = {"window": [at(2020, 11, 11, 0, 0)], "category": ["Apparel"], "province": ["Guangdong"], "channel": ["app"],
        "vip": [1], "promotion": ["coupon"], "wave": ["wave2"], "presale_phase": ["none"],
        **{m: [700 if m == "gmv_fen" else 1] for m in MEASURES}}


@pytest.fixture
def known_history(history_settings):
    with clickhouse.connect(history_settings, "writer") as writer:
        history.insert(writer, history_settings.clickhouse_database, {"orders_second": _columns(TODAY)}, 1)
        history.insert(writer, history_settings.history_database, {"orders_second": _columns(LAST_YEAR)}, 1)
    return history_settings


def feed_for(settings):
    from dashboard.db import Database
    from dashboard.pages import Context
    from dashboard.pages.wall import WallFeed

    return WallFeed(Context(settings=settings, db=Database(settings), alerts_config=Path("none.toml"), state={}))


def test_the_wall_compares_with_the_same_moment_last_year(known_history):
    from dashboard import lastyear, snapshot

    feed = feed_for(known_history)
    db = feed.ctx.db
    read = lastyear.read(db.run, db.database, known_history.history_database, NOW, at(2021, 11, 11))
    assert read is not None
    assert (read.start_s, read.year, read.last_fen, read.total_fen, read.before_start_fen) == (
        TODAY[0]["window"], 2020, 800 + 400 + 300, 800 + 400 + 300 + 9999 + 5000, 0)
    assert read.minutes.pairs() == [(at(2021, 11, 11, 0, 0), 1300), (at(2021, 11, 11, 0, 1), 10299),
                                    (at(2021, 11, 11, 12), 5000)]
    payload = feed.payload()
    assert payload["ok"] and payload["gmv"]["fen"] == 3500
    texts = payload["texts"]
    assert texts["wall-ly-growth"] == "+133.3%"  # (3500 - 1500) / 1500
    assert texts["wall-ly-projection"] == "¥385"  # 3500 x 16499 / 1500 fen = ¥384.98, to the yuan
    assert texts["wall-countdown"] == "19:58:50" and texts["wall-countdown-what"] == "to the 20:00 spike"
    behind = payload["figures"]["wall-fig-minutes"]["data"][0]
    assert behind["line"]["dash"] == "dash" and behind["y"] == [(13.0 + 102.99) / 5, 50.0 / 5]  # 5-minute means
    sent: list[str] = []
    execute = db._execute
    db._execute = lambda sql, params: sent.append(sql) or execute(sql, params)  # type: ignore[method-assign]
    again = snapshot.wall_snapshot(db.run, db.database, NOW, None, known_history.history_database)
    assert again is not None and again.history == read
    assert not [sql for sql in sent if known_history.history_database in sql]  # every history read is cached


def test_no_history_leaves_the_wall_as_it_was(clickhouse_settings):
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        history.insert(writer, clickhouse_settings.clickhouse_database, {"orders_second": _columns(TODAY)}, 1)
    payload = feed_for(clickhouse_settings).payload()  # no history database at all
    assert payload["ok"] and payload["gmv"]["fen"] == 3500
    assert payload["texts"]["wall-ly-growth"] == "–" and payload["texts"]["wall-ly-projection"] == ""
    assert len(payload["figures"]["wall-fig-minutes"]["data"]) == 1


def test_explore_overlays_what_the_history_holds_and_says_what_it_does_not(known_history):
    from dashboard import queries as q
    from dashboard.db import Database
    from dashboard.explore_state import parse as parse_state
    from dashboard.pages import Context, explore

    ctx = Context(settings=known_history, db=Database(known_history), alerts_config=Path("none.toml"), state={})
    state, notes = parse_state("?range=custom&from=2021-11-11T00:00&to=2021-11-11T00:10&ly=1")
    v = explore.view(ctx, state, notes)
    line = v["series"]["data"][1]
    assert line["name"] == "last year" and sum(line["y"]) == pytest.approx((1300 + 10299) / 100)
    assert v["total"].endswith("· last year ¥115.99 (-69.8%)")  # 3500 vs 11599 fen
    # this year's brands: none written yet (their 5-minute windows close at 00:05 of event time)
    assert v["notes"] == "brands up to 00:00 (written as each 5 minutes close)"
    state, notes = parse_state("?range=custom&from=2021-11-11T00:00&to=2021-11-11T00:10&vip=1&ly=1")
    v = explore.view(ctx, state, notes)
    assert v["notes"].startswith("last year: VIP is not in the history (it holds no breakdowns by one field)")
    assert len(v["series"]["data"]) <= 1
    state, notes = parse_state("?range=custom&from=2021-11-11T00:00&to=2021-11-11T00:10&vip=1&category=Apparel&ly=1")
    v = explore.view(ctx, state, notes)
    assert "last year: category and VIP are not in the history (it holds no cube rows)" in v["notes"]
    with clickhouse.connect(known_history, "writer") as writer:
        history.insert(writer, known_history.history_database, {"cube_5min": CUBE}, 1)
    ctx.db.cache.clear()
    v = explore.view(ctx, state, notes)
    assert "last year" not in v["notes"] and v["series"]["data"][-1]["y"] == [7.0]
    assert q.has_rows(ctx.db.run, known_history.history_database, q.CUBE)
