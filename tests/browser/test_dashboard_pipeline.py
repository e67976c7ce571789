"""The wall after the whole pipeline ran: simulator -> Kafka -> Flink job -> ClickHouse -> browser."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import console, select_one, wait_until
from tests.support.stack import simulate, wait_exact

pytestmark = pytest.mark.slow


def test_the_wall_shows_the_pipelines_exact_gmv(running_job, browser, dashboard, tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    simulate(running_job, ledger, events=50_000, seed=21)
    wait_exact(running_job, ledger)  # the rollups equal the ground truth, to the fen
    truth = select_one(running_job, "SELECT sum(gmv_fen) FROM {db}.orders_per_second FINAL")
    summary = next(json.loads(line) for line in ledger.read_text().splitlines() if '"summary"' in line)
    assert truth == summary["gmv_fen"] > 0

    browser.get(dashboard(running_job).url + "/")
    wait_until(lambda: browser.find_element(By.ID, "wall-gmv").get_attribute("data-fen") == str(truth),
               what="the wall's GMV")
    assert console(browser) == []
