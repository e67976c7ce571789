"""The alerts TOML file: the shipped default loads, every mistake is one line naming it, and `gmv alerts`
prints that line instead of a stack trace."""
from __future__ import annotations

from pathlib import Path

import pytest

from stream import cli, registry
from stream.alerts.config import DEFAULT_PATH, AlertsConfigError, config_path, load, parse
from stream.alerts.rules import DropRule, RejectRule, StallRule
from stream.errors import GmvError
from stream.settings import load as load_settings

GOOD = {
    "rules": [{"name": "drop", "kind": "drop"}, {"name": "stall", "kind": "stall"}],
    "webhooks": [{"name": "ops", "url": "https://hooks.example.test/T000/secret-token"}],
}


def test_the_shipped_default_config_loads():
    cfg = load(DEFAULT_PATH)
    drop, stall, spike = cfg.rules
    assert isinstance(drop, DropRule) and isinstance(stall, StallRule) and isinstance(spike, RejectRule)
    assert (drop.name, drop.window_seconds, drop.below_percent, drop.baseline) == (
        "throughput-drop", 60, 50, "last_year")
    assert (stall.name, stall.stale_seconds) == ("pipeline-stall", 30)
    assert (spike.name, spike.window_minutes, spike.above_percent, spike.min_rejected) == ("rejected-spike", 2, 5, 20)
    assert cfg.webhooks == () and cfg.service.interval_seconds == 1.0


def test_defaults_and_routing_by_severity():
    cfg = parse({**GOOD, "webhooks": [{"name": "all", "url": "http://a.test/x"},
                                      {"name": "pager", "url": "http://b.test/y", "severities": ["critical"]}]})
    assert [w.name for w in cfg.targets("critical")] == ["all", "pager"]
    assert [w.name for w in cfg.targets("warning")] == ["all"]
    assert cfg.webhooks[0].attempts == 4 and cfg.webhooks[0].where == "http://a.test/…"


def test_config_path_flag_then_env_then_default(tmp_path):
    assert config_path("x.toml", env={"GMV_ALERTS_CONFIG": "y.toml"}) == Path("x.toml")
    assert config_path(None, env={"GMV_ALERTS_CONFIG": "y.toml"}) == Path("y.toml")
    assert config_path(None, env={}) == DEFAULT_PATH


def with_rule(**changes) -> dict:
    return {"rules": [{"name": "drop", "kind": "drop", **changes}]}


def with_hook(**changes) -> dict:
    return {"webhooks": [{"name": "ops", "url": "https://hooks.example.test/T000/secret-token", **changes}]}


BAD = [
    ({"servce": {}}, "the file: unknown key 'servce'"),
    ({"service": {"intervall_seconds": 1}}, "[service]: unknown key 'intervall_seconds'"),
    ({"service": {"interval_seconds": 0}}, "interval_seconds = 0 is out of range"),
    ({"service": {"interval_seconds": 9}}, "interval_seconds = 9 is out of range; use a value above 0 and at most 5"),
    ({"service": {"dashboard_url": "ftp://wall:8050"}}, "dashboard_url must be an http:// or https:// URL"),
    ({"service": []}, "[service]: must be a table"),
    ({"rules": {"name": "x"}}, "rules: must be an array of tables"),
    (with_rule(windw_seconds=60), "rules[0] (drop): unknown key 'windw_seconds'; known keys are"),
    (with_rule(window_seconds=-5), "rules[0] (drop): window_seconds = -5 is out of range"),
    (with_rule(window_seconds=1.5), "window_seconds = 1.5 must be a whole number"),
    (with_rule(below_percent="50%"), "below_percent = '50%' must be a number"),
    (with_rule(below_percent=True), "below_percent = True must be a number"),
    (with_rule(below_percent=60, recover_percent=55), "recover_percent = 55 must be at least below_percent = 60"),
    (with_rule(baseline="mean"), "baseline = 'mean' is not one of median, last_year, both"),
    (with_rule(baseline="curve"), "baseline = 'curve' is gone (it was the simulator's own curve, which real orders "
     "do not follow); use 'last_year'"),
    (with_rule(baseline=3), "baseline = 3 is not one of median, last_year, both"),
    (with_rule(severity="page"), "severity = 'page' is not one of critical, warning, info"),
    (with_rule(stale_seconds=30), "unknown key 'stale_seconds'"),  # a stall key on a drop rule
    (with_rule(kind="latency"), "kind = 'latency' must be one of drop, stall, rejected"),
    ({"rules": [{"name": "spike", "kind": "rejected", "above_percent": 5, "recover_percent": 6}]},
     "rules[0] (spike): recover_percent = 6 must be at most above_percent = 5"),
    ({"rules": [{"name": "spike", "kind": "rejected", "window_minutes": 0}]}, "window_minutes = 0 is out of range"),
    ({"rules": [{"name": "spike", "kind": "rejected", "min_rejected": 2.5}]}, "min_rejected = 2.5 must be a whole"),
    ({"rules": [{"name": "spike", "kind": "rejected", "above_percent": 150}]}, "above_percent = 150 is out of range"),
    ({"rules": [{"kind": "stall"}]}, "every rule needs a name"),
    ({"rules": [{"name": "two words", "kind": "stall"}]}, "name 'two words' must be 1-64 letters"),
    ({"rules": [{"name": "a", "kind": "stall"}, {"name": "a", "kind": "drop"}]}, "rules: the name 'a' is used twice"),
    (with_hook(url="ftp://hooks.example.test/T000/secret-token"),
     "url must be an http:// or https:// URL with a host (got ftp://)"),
    (with_hook(url="hooks.example.test/x"), "(got no scheme)"),
    (with_hook(url="http://"), "url must be an http:// or https:// URL with a host"),
    (with_hook(url="http://host:port/x"), "url has a port that is not a number"),
    (with_hook(attempts=0), "webhooks[0] (ops): attempts = 0 is out of range"),
    (with_hook(severities=["critical", "page"]), "severities = 'page' is not one of"),
    (with_hook(secret="x"), "webhooks[0] (ops): unknown key 'secret'"),
    ({"webhooks": [{"name": "ops"}]}, "every webhook needs a url"),
]


@pytest.mark.parametrize("data, message", BAD, ids=[m for _, m in BAD])
def test_a_bad_config_is_one_line_naming_it(data, message):
    with pytest.raises(AlertsConfigError) as caught:
        parse(data, Path("alerts.toml"))
    text = str(caught.value)
    assert isinstance(caught.value, GmvError)
    assert text.startswith("alerts config alerts.toml: ") and message in text and "\n" not in text
    assert "secret-token" not in text  # a webhook URL's path is never echoed


def test_files_that_are_missing_or_not_toml(tmp_path):
    with pytest.raises(AlertsConfigError, match="does not exist; pass --config PATH or set GMV_ALERTS_CONFIG"):
        load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[rules]]\nname = \n")
    with pytest.raises(AlertsConfigError, match=r"is not valid TOML: .*line 2"):
        load(broken)


def test_gmv_alerts_with_a_bad_config_prints_one_line_and_exits_1(tmp_path, capsys):
    path = tmp_path / "alerts.toml"
    path.write_text('[[rules]]\nname = "drop"\nkind = "drop"\nwindow_seconds = "sixty"\n')
    assert cli.main(["alerts", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"gmv: alerts config {path}: rules[0] (drop): window_seconds = 'sixty' must be a whole number.\n"


def test_gmv_up_refuses_a_bad_config_before_starting(tmp_path, monkeypatch):
    path = tmp_path / "alerts.toml"
    path.write_text('[service]\nmargin = 5\n')
    monkeypatch.setenv("GMV_ALERTS_CONFIG", str(path))
    assert registry.PARTS["alerts"] is registry.ALERTS
    with pytest.raises(GmvError, match=r"\[service\]: unknown key 'margin'"):
        registry.ALERTS.prepare(load_settings(env={}, home=tmp_path / "home"))
