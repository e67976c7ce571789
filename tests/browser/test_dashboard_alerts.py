"""Alerts in a real browser: rules from the TOML file, history from alert_events."""
from __future__ import annotations

import time
from datetime import datetime

import pytest
from selenium.webdriver.common.by import By

from stream.stack import clickhouse
from tests.support.browser import console, wait_until

pytestmark = pytest.mark.slow

RULES = """
[[rules]]
name = "throughput_drop"
kind = "drop"
window_seconds = 60
below_percent = 45

[[webhooks]]
name = "ops"
url = "https://hooks.example.test/T000/do-not-show"
"""


def test_rules_and_history(browser, dashboard, clickhouse_settings, tmp_path):
    config = tmp_path / "alerts.toml"
    config.write_text(RULES)
    now_ms = int(time.time() * 1000)
    row = (now_ms, "throughput_drop", "page", "firing", 12.0, 40.0, datetime(2021, 11, 11, 12, 0), 60,
           "orders/s fell to 12 (baseline 40)", "delivered", 1, now_ms)
    with clickhouse.connect(clickhouse_settings, "writer") as writer:
        writer.execute(f"INSERT INTO {clickhouse_settings.clickhouse_database}.alert_events "
                   "(event_ms, rule, severity, state, observed, baseline, window_start, window_seconds, message, "
                   "delivery, attempts, written_ms) VALUES", [row])
    browser.get(dashboard(clickhouse_settings, alerts_config=config).url + "/alerts")
    wait_until(lambda: "throughput_drop" in browser.find_element(By.ID, "alerts-history").text, what="history")
    history = browser.find_element(By.ID, "alerts-history").text
    assert "firing" in history and "2021-11-11 20:00:00" not in history  # event time, not window
    assert "1 firing now: throughput_drop" in browser.find_element(By.ID, "alerts-summary").text
    rules = browser.find_element(By.ID, "alerts-rules").text
    assert "throughput_drop" in rules and "45" in rules and "do-not-show" not in rules
    assert console(browser) == []


def test_no_rules_file_says_so(browser, dashboard, clickhouse_settings, tmp_path):
    browser.get(dashboard(clickhouse_settings, alerts_config=tmp_path / "missing.toml").url + "/alerts")
    note = wait_until(lambda: browser.find_element(By.ID, "alerts-rules-note"), what="the note")
    assert note.text.startswith("no rules configured")
    wait_until(lambda: "no alerts yet" in browser.find_element(By.ID, "alerts-summary").text, what="summary")
    assert console(browser) == []
