"""The wall after the whole pipeline ran: simulator -> Kafka -> Flink job -> ClickHouse -> browser.

The numbers the wall shows are compared with the simulator's ledger file, read here on its own
(not with the dashboard's code): the festival's GMV, and today's VIP (APASS) share and GMV,
pre-sale deposits and final payments paid and their GMV, to the fen; today's unique buyers and the
VIP (APASS) share of them, exactly; and the festival's GMV against the same moment last year
(+x%), from the stream's ledger and the ledger of the history that `gmv simulate --only-history`
wrote for last year; and the GMV milestones the alert service records from the rollups (the
first second whose running total reaches each figure), on the banner and the timeline."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from stream import parcels
from stream.alerts.config import parse
from stream.alerts.service import AlertService
from tests.support.browser import console, select_one, wait_until
from tests.support.stack import simulate, wait_exact

pytestmark = pytest.mark.slow

# Nov 10's last pre-sale minutes into wave 2's midnight surge (at a thousandth of the festival's
# volume, so the run reaches a minute into Nov 11): the wall's "today", Nov 11, then has final
# payments and a few deposits (orders placed before midnight, paid after), over two minutes, so
# its settled and open-minute halves both count.
START, SCALE = "2021-11-10T23:50+08:00", 0.001
FESTIVAL_TEXTS = ("wall-vip-share", "wall-vip-gmv", "wall-deposits", "wall-deposits-gmv", "wall-finals",
                  "wall-finals-gmv", "wall-buyers", "wall-vip-buyers-share")


def ledger_today(ledger: Path) -> dict[str, int | str]:
    """What the wall must show for today, from the ledger's lines: its rows of each field on its
    own per minute of the Asia/Shanghai day (UTC+8) of the newest second; amounts in fen, the
    share as the wall rounds it (half up, one decimal)."""
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    newest = max(r["window"] for r in lines if r["kind"] == "orders_second")
    day0 = (newest + 8 * 3600) // 86400 * 86400 - 8 * 3600
    minutes = [r for r in lines if r["kind"] == "dimensions_minute" and day0 <= r["window"] < day0 + 86400]

    def total(measure: str, field: str = "vip", value: str | None = None) -> int:
        """``measure`` over the rows of ``field`` = ``value`` (of every value: the whole day)."""
        return sum(r[measure] for r in minutes if r["dimension"] == field and value in (None, r["value"]))

    def percent(part: int, whole: int) -> str:  # floor of x + 1/2: half up, one decimal
        tenths = int(Fraction(1000 * part, whole) + Fraction(1, 2))
        return f"{tenths // 10}.{tenths % 10}%"

    # buyers: each consumer once a day, in the second of their first paid event
    new = [r for r in lines if r["kind"] == "buyers_second" and day0 <= r["window"] < day0 + 86400]
    buyers, vip_buyers = sum(r["new_buyers"] for r in new), sum(r["new_buyers"] for r in new if r["vip"])
    vip, gmv = total("gmv_fen", "vip", "1"), total("gmv_fen")
    return {"wall-buyers": buyers, "wall-vip-buyers-share": percent(vip_buyers, buyers),
            "wall-vip-share": percent(vip, gmv), "wall-vip-gmv": vip,
            "wall-deposits": total("deposits_paid", "presale_phase", "deposit"),
            "wall-deposits-gmv": total("gmv_fen", "presale_phase", "deposit"),
            "wall-finals": total("orders_paid", "presale_phase", "final"),
            "wall-finals-gmv": total("gmv_fen", "presale_phase", "final")}


# The ledger's parcel kinds for the wall's festival day, read here on their own: parcels per stage
# (delivered: today's), the delivery and pickup legs' p50 / p90 (the upper edge of the first bucket
# whose running count reaches the share, the bucket's width said), today's first delivery, and the
# map's per-province GMV (the day's province rows of the ledger's per-minute breakdowns).
STAGE_IDS = ("waiting_for_pickup", "in_transit", "out_for_delivery", "delivered", "in_exception")


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def percentile_bucket(counts: dict[int, int], percent: int) -> int:
    """The first bucket (by lower edge) whose running count reaches ``percent`` % of all."""
    total = sum(counts.values())
    running = 0
    for i, lower in enumerate(parcels.DELIVERY_BUCKET_EDGES_S):
        running += counts.get(lower, 0)
        if 100 * running >= percent * total:
            return i
    raise AssertionError("the running count reaches the total")


def ledger_parcels(ledger: Path) -> tuple[dict[str, str], dict[str, int]]:
    """``({element id: text}, {province: GMV fen})`` the wall must show for today."""
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    newest = max(r["window"] for r in lines if r["kind"] == "orders_second")
    day0 = (newest + 8 * 3600) // 86400 * 86400 - 8 * 3600
    stages = {r["stage"]: r["parcels"] for r in lines if r["kind"] == "parcel_stages"
              and r["window"] == (day0 if r["stage"] == "delivered" else 0)}
    texts = {f"wall-parcels-{stage}": f"{stages.get(stage, 0):,}" for stage in STAGE_IDS}
    for leg in ("delivery", "pickup"):
        counts: dict[int, int] = {}
        for r in lines:
            if r["kind"] == "parcel_delivery_times" and r["window"] == day0 and r["leg"] == leg:
                counts[r["bucket_s"]] = counts.get(r["bucket_s"], 0) + r["parcels"]
        assert counts, f"no {leg} today in the ledger"
        for percent in (50, 90):
            i = percentile_bucket(counts, percent)
            texts[f"wall-{leg}-p{percent}-bucket"] = f"bucket {parcels.bucket_label(i)}"
            texts[f"wall-{leg}-p{percent}"] = f"p{percent} ≤ {parcels.bucket_label(i).split('-')[-1]}"
    first = next(r["first_delivered_ms"] for r in lines if r["kind"] == "parcel_first_delivery" and r["window"] == day0)
    texts["wall-first-delivery"] = f"first parcel delivered {_clock(first // 1000 - day0)} after the start"
    gmv: dict[str, int] = {}
    for r in lines:
        if r["kind"] == "dimensions_minute" and r["dimension"] == "province" and day0 <= r["window"] < day0 + 86400:
            gmv[r["value"]] = gmv.get(r["value"], 0) + r["gmv_fen"]
    return texts, {p: fen for p, fen in gmv.items() if fen}


MAP_VALUES = ("return Array.from(document.querySelectorAll('#wall-map-values tr'))"
              ".map(r => [r.dataset.province, r.dataset.fen])")


def shown_parcels(browser, ids) -> tuple[dict[str, str], dict[str, int]]:
    texts = {i: browser.find_element(By.ID, i).text for i in ids}
    return texts, {p: int(fen) for p, fen in browser.execute_script(MAP_VALUES)}


def shown(browser) -> dict[str, int | str]:
    """The wall's VIP and pre-sale texts, amounts ("¥1,234.56") and counts ("1,234") as integers."""
    out: dict[str, int | str] = {}
    for element_id in FESTIVAL_TEXTS:
        text = browser.find_element(By.ID, element_id).text
        money = re.fullmatch(r"¥([\d,]+)\.(\d\d)", text)
        out[element_id] = (int(money[1].replace(",", "") + money[2]) if money
                           else text if text.endswith("%") else int(text.replace(",", "")))
    return out


YEAR_S = 365 * 86400  # Nov 2020 to Nov 2021 (no Feb 29 between)


def write_history(settings, history_ledger: Path) -> None:
    """Last year's festival days of this run (Nov 10-11 2020), sampled to 100,000 simulated orders."""
    result = subprocess.run(
        [sys.executable, "-m", "stream.cli", "simulate", "--clock", "replay", "--start", START, "--scale", str(SCALE),
         "--seed", "21", "--only-history", "--history-budget", "100000", "--history-ledger", str(history_ledger)],
        env={**os.environ, **settings.to_env()}, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    print(result.stdout)


def ledger_growth(ledger: Path, history_ledger: Path) -> str:
    """The +x% the wall must show, from the two ledgers: festival GMV over [start, newest second]
    against last year's over the same span a year back, where start is the later of the stream's
    first second and the minute of the history's first second a year on; in tenths of a percent,
    half up (towards +infinity) on the exact fraction."""
    def seconds(path: Path) -> dict[int, int]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return {r["window"]: r["gmv_fen"] for r in rows if r["kind"] == "orders_second"}

    ours, theirs = seconds(ledger), seconds(history_ledger)
    newest = max(ours)
    start = max(min(ours), min(theirs) // 60 * 60 + YEAR_S)
    today = sum(fen for s, fen in ours.items() if start <= s <= newest)
    last = sum(fen for s, fen in theirs.items() if start - YEAR_S <= s <= newest - YEAR_S)
    assert today > 0 and last > 0
    x = Fraction(1000 * (today - last), last) + Fraction(1, 2)
    tenths = x.numerator // x.denominator
    return f"{'+' if tenths >= 0 else '-'}{abs(tenths) // 10}.{abs(tenths) % 10}%"


def ledger_milestones(ledger: Path) -> tuple[list[int], list[str]]:
    """Two round figures the run passes (a tenth and a half of its GMV, in whole yuan) and, for
    each, the first second whose running total of the ledger's per-second GMV reaches it."""
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    seconds = sorted((r["window"], r["gmv_fen"]) for r in rows if r["kind"] == "orders_second")
    total = sum(fen for _, fen in seconds)
    figures = [total // 10 // 100 * 100, total // 2 // 100 * 100]
    passed, running = [], 0
    for second, fen in seconds:
        running += fen
        while len(passed) < len(figures) and running >= figures[len(passed)]:
            passed.append(str(second))
    return figures, passed


def record_milestones(settings, figures: list[int]) -> None:
    """One evaluation of the alert service (as `gmv alerts` runs it) with these figures."""
    service = AlertService(parse({"milestones": {"figures_fen": figures}}), settings)
    service.start()
    try:
        service.step()
    finally:
        service.close()


TIMELINE_SECONDS = ("return Array.from(document.querySelectorAll('#wall-milestones .ms-item'))"
                    ".map(i => i.dataset.second)")


def test_the_wall_shows_the_pipelines_exact_numbers(running_job, browser, dashboard, tmp_path):
    ledger, history_ledger = tmp_path / "ledger.jsonl", tmp_path / "history.jsonl"
    write_history(running_job, history_ledger)
    # parcel delays compressed 720x, as make run's: parcels created before midnight are delivered after it
    simulate(running_job, ledger, events=50_000, seed=21, start=START, scale=SCALE, delay_compression=720)
    wait_exact(running_job, ledger)  # the rollups equal the ground truth, to the fen
    truth = select_one(running_job, "SELECT sum(gmv_fen) FROM {db}.orders_per_second FINAL")
    summary = next(json.loads(line) for line in ledger.read_text().splitlines() if '"summary"' in line)
    assert truth == summary["gmv_fen"] > 0
    today = ledger_today(ledger)
    assert today["wall-deposits"] > 0 and today["wall-finals"] > 0 and today["wall-vip-gmv"] > 0
    assert today["wall-buyers"] > 0 and today["wall-vip-buyers-share"] != "0.0%"

    figures, passed = ledger_milestones(ledger)
    record_milestones(running_job, figures)

    browser.get(dashboard(running_job).url + "/")
    wait_until(lambda: browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen") == str(truth),
               what="the wall's GMV")
    wait_until(lambda: shown(browser) == today, what=f"the wall's VIP, pre-sale and buyers numbers {today}")
    growth = ledger_growth(ledger, history_ledger)
    wait_until(lambda: browser.find_element(By.ID, "wall-ly-growth").text == growth,
               what=f"the wall's growth on last year {growth}")
    milestone = browser.find_element(By.ID, "wall-milestone")
    wait_until(lambda: (milestone.get_attribute("data-figure"), milestone.get_attribute("data-second"))
               == (str(figures[1]), passed[1]), what=f"the banner: {figures[1]} fen passed in {passed[1]}")
    wait_until(lambda: browser.execute_script(TIMELINE_SECONDS) == passed, what=f"the timeline's seconds {passed}")
    texts, map_fen = ledger_parcels(ledger)
    assert texts["wall-parcels-delivered"] != "0" and texts["wall-parcels-waiting_for_pickup"] != "0"
    assert len(map_fen) > 5
    wait_until(lambda: shown_parcels(browser, texts) == (texts, map_fen),
               what=f"the wall's parcels, delivery times, first delivery and map {texts}")
    assert console(browser) == []
