"""The alert service's TOML file, read with ``tomllib`` and validated before anything starts.

Where: ``gmv alerts --config PATH``, else ``$GMV_ALERTS_CONFIG``, else ``infra/alerts.toml``
(commented; it documents every key). Sections: ``[service]``, ``[[rules]]`` (each with a
``kind``: ``drop``, ``stall`` or ``rejected``), ``[[webhooks]]`` and ``[milestones]`` (the round figures of
festival GMV to record and announce). An unknown key or a bad value raises
:class:`AlertsConfigError` with one line naming the file, the entry and the key. Webhook URLs
must be http or https; they are never echoed (a URL may carry a token), only their host.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import tomllib

from stream.alerts.milestones import DEFAULT_FIGURES_FEN
from stream.alerts.milestones import label as figure_label
from stream.alerts.rules import BASELINES, SEVERITIES, DropRule, RejectRule, Rule, StallRule
from stream.errors import GmvError
from stream.settings import INFRA_DIR

CONFIG_ENV = "GMV_ALERTS_CONFIG"  # path of the rules file (also read by the dashboard's /alerts)
DEFAULT_PATH = INFRA_DIR / "alerts.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AlertsConfigError(GmvError, ValueError):
    """A bad alerts config: one line naming the file, the entry, the key and the fix."""


@dataclass(frozen=True)
class ServiceOptions:
    interval_seconds: float = 1.0  # how often ClickHouse is read and every rule evaluated
    margin_seconds: int = 5  # event time: windows this far behind the newest window are complete...
    settle_seconds: float = 2.0  # ...once the pipeline had reached them this long ago (wall clock)
    dashboard_url: str = ""  # base of the links in alerts; default http://127.0.0.1:$GMV_DASHBOARD_PORT


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str = field(repr=False)
    severities: tuple[str, ...] = SEVERITIES  # alerts of these severities go to this hook
    timeout_seconds: float = 5.0  # per attempt
    attempts: int = 4  # tries in all, the first included
    backoff_seconds: float = 1.0  # wait before the 2nd try; doubles each time...
    max_backoff_seconds: float = 30.0  # ...up to this

    @property
    def where(self) -> str:
        """The URL without its path and query (which may hold a token), for logs."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/…"


MAX_FIGURES = 100


@dataclass(frozen=True)
class MilestoneOptions:
    """``[milestones]``: the round figures of festival GMV (integer fen, ascending) whose passing
    is recorded (table ``milestones``, the wall) and announced, and the webhooks that announce
    them (None: every webhook; empty: none)."""

    figures_fen: tuple[int, ...] = DEFAULT_FIGURES_FEN
    webhooks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AlertsConfig:
    path: Path
    service: ServiceOptions
    rules: tuple[Rule, ...]
    webhooks: tuple[Webhook, ...]
    milestones: MilestoneOptions = MilestoneOptions()

    def targets(self, severity: str) -> tuple[Webhook, ...]:
        return tuple(w for w in self.webhooks if severity in w.severities)

    def milestone_targets(self) -> tuple[Webhook, ...]:
        names = self.milestones.webhooks
        return tuple(w for w in self.webhooks if names is None or w.name in names)


def config_path(flag: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--config`` if given, else ``$GMV_ALERTS_CONFIG``, else ``infra/alerts.toml``."""
    environ = os.environ if env is None else env
    chosen = flag or environ.get(CONFIG_ENV) or DEFAULT_PATH
    return Path(chosen).expanduser()


def load(path: Path) -> AlertsConfig:
    """The validated config in ``path``. Raises :class:`AlertsConfigError` (one line)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlertsConfigError(f"alerts config {path} does not exist; pass --config PATH or set "
                                f"{CONFIG_ENV} (infra/alerts.toml is the commented default).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertsConfigError(f"alerts config {path} cannot be read ({exc}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise AlertsConfigError(f"alerts config {path} is not valid TOML: {exc}.") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: Path = Path("<config>")) -> AlertsConfig:
    check = _Checker(path)
    check.keys("the file", data, {"service", "rules", "webhooks", "milestones"})
    service = check.build("[service]", ServiceOptions, _table(check, data, "service", "[service]"))
    if service.dashboard_url:
        check.http_url("[service]", "dashboard_url", service.dashboard_url)
    rules = tuple(check.rule(i, body) for i, body in enumerate(_array(check, data, "rules")))
    webhooks = tuple(check.webhook(i, body) for i, body in enumerate(_array(check, data, "webhooks")))
    for what, items in (("rules", rules), ("webhooks", webhooks)):
        names = [item.name for item in items]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            check.fail(what, f"the name {duplicate!r} is used twice; give each a name of its own")
    milestones = check.milestones(_table(check, data, "milestones", "[milestones]"), webhooks)
    return AlertsConfig(path=path, service=service, rules=rules, webhooks=webhooks, milestones=milestones)


def _table(check: _Checker, data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        check.fail(where, f"must be a table ([{key}])")
    return value


def _array(check: _Checker, data: dict, key: str) -> list[dict]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        check.fail(key, f"must be an array of tables ([[{key}]] sections)")
    return value


# name -> (kind: int | number | text | severities, lowest, highest); bounds are inclusive
# except that a lowest of 0.0 on "positive" excludes 0.
_LIMITS: dict[str, tuple[str, float | None, float | None]] = {
    "interval_seconds": ("positive", 0.0, 5.0),
    "margin_seconds": ("int", 0, 3600),
    "settle_seconds": ("number", 0, 60),
    "window_seconds": ("int", 1, 3600),
    "below_percent": ("positive", 0.0, 100),
    "recover_percent": ("positive", 0.0, 1000),
    "baseline_windows": ("int", 1, 1000),
    "min_expected_orders": ("number", 0, None),
    "cooldown_seconds": ("number", 0, None),
    "stale_seconds": ("positive", 0.0, None),
    "window_minutes": ("int", 1, 60),
    "above_percent": ("positive", 0.0, 100),
    "min_rejected": ("int", 1, None),
    "timeout_seconds": ("positive", 0.0, 120),
    "attempts": ("int", 1, 20),
    "backoff_seconds": ("number", 0, 600),
    "max_backoff_seconds": ("number", 0, 3600),
}


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> NoReturn:
        raise AlertsConfigError(f"alerts config {self.path}: {where}: {problem}.")

    def keys(self, where: str, body: dict, known: set[str]) -> None:
        for key in body:
            if key not in known:
                self.fail(where, f"unknown key {key!r}; known keys are {', '.join(sorted(known))}")

    def build(self, where: str, cls, body: dict, skip: tuple[str, ...] = ()):
        known = {f.name for f in dataclasses.fields(cls)}
        self.keys(where, {k: v for k, v in body.items() if k not in skip}, known)
        values = {k: self.value(where, k, v) for k, v in body.items() if k not in skip}
        return cls(**values)

    def value(self, where: str, key: str, value: Any) -> Any:
        if key in _LIMITS:
            return self.number(where, key, value, *_LIMITS[key])
        if key == "severity":
            return self.choice(where, key, value, SEVERITIES)
        if key == "baseline":
            if value == "curve":
                self.fail(where, "baseline = 'curve' is gone (it was the simulator's own curve, which real orders "
                          "do not follow); use 'last_year' (last year's same window, from the history database) "
                          "or 'median'")
            return self.choice(where, key, value, BASELINES)
        if key == "severities":
            if not isinstance(value, list) or not value:
                self.fail(where, f"severities must be a non-empty list, e.g. {list(SEVERITIES)}")
            return tuple(self.choice(where, key, v, SEVERITIES) for v in value)
        if key == "name":
            if not isinstance(value, str) or not _NAME.match(value):
                self.fail(where, f"name {value!r} must be 1-64 letters, digits, '_', '-' or '.'")
            return value
        if not isinstance(value, str):
            self.fail(where, f"{key} must be a string")
        return value

    def number(self, where: str, key: str, value: Any, kind: str, low, high):
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind == "int" and not is_int:
            self.fail(where, f"{key} = {value!r} must be a whole number")
        if not is_int and not isinstance(value, float):
            self.fail(where, f"{key} = {value!r} must be a number")
        too_low = value <= low if kind == "positive" else value < low
        if too_low or (high is not None and value > high):
            bound = f"above {low:g}" if kind == "positive" else f"at least {low:g}"
            self.fail(where, f"{key} = {value!r} is out of range; use a value {bound}"
                      + (f" and at most {high:g}" if high is not None else ""))
        return value

    def choice(self, where: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(where, f"{key} = {value!r} is not one of {', '.join(allowed)}")
        return value

    def http_url(self, where: str, key: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
            self.fail(where, f"{key} must be an http:// or https:// URL with a host (got {scheme})")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            self.fail(where, f"{key} has a port that is not a number")

    def rule(self, index: int, body: dict) -> Rule:
        where = f"rules[{index}]" + (f" ({body['name']})" if isinstance(body.get("name"), str) else "")
        kinds = {"drop": DropRule, "stall": StallRule, "rejected": RejectRule}
        kind = body.get("kind")
        if kind not in kinds:
            self.fail(where, f"kind = {kind!r} must be one of {', '.join(kinds)}")
        if "name" not in body:
            self.fail(where, "every rule needs a name")
        rule = self.build(where, kinds[kind], body, skip=("kind",))
        if isinstance(rule, DropRule) and rule.recover_percent < rule.below_percent:
            self.fail(where, f"recover_percent = {rule.recover_percent:g} must be at least below_percent "
                      f"= {rule.below_percent:g} (a drop clears at recover_percent)")
        if isinstance(rule, RejectRule) and rule.recover_percent > rule.above_percent:
            self.fail(where, f"recover_percent = {rule.recover_percent:g} must be at most above_percent "
                      f"= {rule.above_percent:g} (a rejected spike clears at recover_percent or less)")
        return rule

    def milestones(self, body: dict, hooks: tuple[Webhook, ...]) -> MilestoneOptions:
        where = "[milestones]"
        self.keys(where, body, {"figures_fen", "webhooks"})
        figures = body.get("figures_fen", list(DEFAULT_FIGURES_FEN))
        if not isinstance(figures, list):
            self.fail(where, "figures_fen must be a list of amounts in fen, e.g. [10_000_000, 10_000_000_000] "
                      "(¥10万 and ¥1亿)")
        if len(figures) > MAX_FIGURES:
            self.fail(where, f"figures_fen lists {len(figures)} figures; at most {MAX_FIGURES}")
        for i, fen in enumerate(figures):
            if not isinstance(fen, int) or isinstance(fen, bool):
                self.fail(where, f"figures_fen[{i}] = {fen!r} must be a whole number of fen, without quotes "
                          "(1 yuan = 100 fen; ¥1亿 = 10_000_000_000)")
            if fen <= 0:
                self.fail(where, f"figures_fen[{i}] = {fen} must be above 0 fen")
        repeated = next((f for f in figures if figures.count(f) > 1), None)
        if repeated is not None:
            self.fail(where, f"figures_fen lists {repeated} ({figure_label(repeated)}) twice")
        names = body.get("webhooks")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.fail(where, "webhooks must be a list of [[webhooks]] names (empty: announce nowhere)")
            known = [hook.name for hook in hooks]
            unknown = [n for n in names if n not in known]
            if unknown:
                self.fail(where, f"webhooks names {unknown[0]!r}, which no [[webhooks]] entry has; "
                          f"known: {', '.join(known) or 'none'}")
        return MilestoneOptions(figures_fen=tuple(sorted(figures)),
                                webhooks=None if names is None else tuple(names))

    def webhook(self, index: int, body: dict) -> Webhook:
        where = f"webhooks[{index}]" + (f" ({body['name']})" if isinstance(body.get("name"), str) else "")
        for required in ("name", "url"):
            if required not in body:
                self.fail(where, f"every webhook needs a {required}")
        hook = self.build(where, Webhook, body)
        self.http_url(where, "url", hook.url)
        return hook
