"""The alert service's TOML file: the one parser of it (the service, ``gmv up`` and the dashboard's
``/alerts`` page all call :func:`load`), pydantic models with ``extra="forbid"``.

Where: ``gmv alerts --config PATH``, else ``$GMV_ALERTS_CONFIG``, else ``infra/alerts.toml``
(commented; it documents every key): :func:`config_path` is the only place that decides.
Sections: ``[service]``, ``[[rules]]`` (each with a ``kind``: ``drop``, ``stall`` or
``rejected``), ``[[webhooks]]`` and ``[milestones]`` (the round figures of festival GMV to record
and announce). An unknown key or a bad value raises :class:`AlertsConfigError` with one line
naming the file, the entry and the key. Webhook URLs must be http or https; they are never
echoed (a URL may carry a token), only their host.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import tomllib
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from stream.alerts.milestones import DEFAULT_FIGURES_FEN
from stream.alerts.milestones import label as figure_label
from stream.alerts.rules import BASELINES, SEVERITIES, DropRule, RejectRule, Rule, StallRule
from stream.errors import GmvError
from stream.settings import INFRA_DIR

CONFIG_ENV = "GMV_ALERTS_CONFIG"  # path of the rules file (the service, `gmv up` and /alerts read it)
DEFAULT_PATH = INFRA_DIR / "alerts.toml"
MAX_FIGURES = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AlertsConfigError(GmvError, ValueError):
    """A bad alerts config: one line naming the file, the entry, the key and the fix."""


class _At(ValueError):
    """A problem found across keys, reported at ``where`` rather than where pydantic was."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where


# -- value checks (run before pydantic's own, so that the message names the key and the value) --


def _bounded(kind: str, low: float, high: float | None = None) -> BeforeValidator:
    """A number in [low, high] (``positive``: in (low, high]); ``int``: whole numbers only."""

    def check(value: Any, info: ValidationInfo) -> Any:
        key = info.field_name
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if kind == "int" and not is_int:
            raise ValueError(f"{key} = {value!r} must be a whole number")
        if not is_int and not isinstance(value, float):
            raise ValueError(f"{key} = {value!r} must be a number")
        too_low = value <= low if kind == "positive" else value < low
        if too_low or (high is not None and value > high):
            bound = f"above {low:g}" if kind == "positive" else f"at least {low:g}"
            raise ValueError(f"{key} = {value!r} is out of range; use a value {bound}"
                             + (f" and at most {high:g}" if high is not None else ""))
        return value

    return BeforeValidator(check)


def _one_of(allowed: tuple[str, ...], key: str, value: Any) -> str:
    if value not in allowed:
        raise ValueError(f"{key} = {value!r} is not one of {', '.join(allowed)}")
    return value


def _severity(value: Any, info: ValidationInfo) -> str:
    return _one_of(SEVERITIES, info.field_name or "severity", value)


def _severities(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"severities must be a non-empty list, e.g. {list(SEVERITIES)}")
    return tuple(_one_of(SEVERITIES, "severities", v) for v in value)


def _baseline(value: Any) -> str:
    if value == "curve":
        raise ValueError("baseline = 'curve' is gone (it was the simulator's own curve, which real orders do not "
                         "follow); use 'last_year' (last year's same window, from the history database) or 'median'")
    return _one_of(BASELINES, "baseline", value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"name {value!r} must be 1-64 letters, digits, '_', '-' or '.'")
    return value


def _http_url(value: Any, info: ValidationInfo) -> str:
    key = info.field_name
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if not value and key == "dashboard_url":
        return value  # unset: the local dashboard
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"{key} must be an http:// or https:// URL with a host (got {scheme})")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{key} has a port that is not a number") from None
    return value


Severity = Annotated[str, BeforeValidator(_severity)]
Name = Annotated[str, BeforeValidator(_name)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


# -- the sections ---------------------------------------------------------------------------


class ServiceOptions(BaseModel):
    model_config = _STRICT
    interval_seconds: Annotated[float, _bounded("positive", 0, 5)] = 1.0  # how often every rule is evaluated
    margin_seconds: Annotated[int, _bounded("int", 0, 3600)] = 5  # event time: windows this far behind...
    settle_seconds: Annotated[float, _bounded("number", 0, 60)] = 2.0  # ...reached this long ago are complete
    dashboard_url: HttpUrl = ""  # base of the links in alerts; default http://127.0.0.1:$GMV_DASHBOARD_PORT


class Webhook(BaseModel):
    model_config = _STRICT
    name: Name
    url: HttpUrl = Field(repr=False)
    severities: Annotated[tuple[str, ...], BeforeValidator(_severities)] = SEVERITIES  # alerts sent here
    timeout_seconds: Annotated[float, _bounded("positive", 0, 120)] = 5.0  # per attempt
    attempts: Annotated[int, _bounded("int", 1, 20)] = 4  # tries in all, the first included
    backoff_seconds: Annotated[float, _bounded("number", 0, 600)] = 1.0  # before the 2nd try; doubles...
    max_backoff_seconds: Annotated[float, _bounded("number", 0, 3600)] = 30.0  # ...up to this

    @property
    def where(self) -> str:
        """The URL without its path and query (which may hold a token), for logs."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/…"


def _figures(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError("figures_fen must be a list of amounts in fen, e.g. [10_000_000, 10_000_000_000] "
                         "(¥10万 and ¥1亿)")
    if len(value) > MAX_FIGURES:
        raise ValueError(f"figures_fen lists {len(value)} figures; at most {MAX_FIGURES}")
    for i, fen in enumerate(value):
        if not isinstance(fen, int) or isinstance(fen, bool):
            raise ValueError(f"figures_fen[{i}] = {fen!r} must be a whole number of fen, without quotes "
                             "(1 yuan = 100 fen; ¥1亿 = 10_000_000_000)")
        if fen <= 0:
            raise ValueError(f"figures_fen[{i}] = {fen} must be above 0 fen")
    repeated = next((f for f in value if value.count(f) > 1), None)
    if repeated is not None:
        raise ValueError(f"figures_fen lists {repeated} ({figure_label(repeated)}) twice")
    return tuple(sorted(value))


def _hook_names(value: Any) -> tuple[str, ...] | None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(n, str) for n in value)):
        raise ValueError("webhooks must be a list of [[webhooks]] names (empty: announce nowhere)")
    return None if value is None else tuple(value)


class MilestoneOptions(BaseModel):
    """``[milestones]``: the round figures of festival GMV (integer fen, ascending) whose passing
    is recorded (table ``milestones``, the wall) and announced, and the webhooks that announce
    them and each festival day's first delivery (None: every webhook; empty: none)."""

    model_config = _STRICT
    figures_fen: Annotated[tuple[int, ...], BeforeValidator(_figures)] = DEFAULT_FIGURES_FEN
    webhooks: Annotated[tuple[str, ...] | None, BeforeValidator(_hook_names)] = None


class _DropSpec(BaseModel):
    model_config = _STRICT
    kind: Literal["drop"]
    name: Name
    severity: Severity = DropRule.severity
    window_seconds: Annotated[int, _bounded("int", 1, 3600)] = DropRule.window_seconds
    below_percent: Annotated[float, _bounded("positive", 0, 100)] = DropRule.below_percent
    recover_percent: Annotated[float, _bounded("positive", 0, 1000)] = DropRule.recover_percent
    baseline: Annotated[str, BeforeValidator(_baseline)] = DropRule.baseline
    baseline_windows: Annotated[int, _bounded("int", 1, 1000)] = DropRule.baseline_windows
    min_expected_orders: Annotated[float, _bounded("number", 0)] = DropRule.min_expected_orders
    cooldown_seconds: Annotated[float, _bounded("number", 0)] = DropRule.cooldown_seconds

    @model_validator(mode="after")
    def _clears_above_where_it_fires(self) -> _DropSpec:
        if self.recover_percent < self.below_percent:
            raise ValueError(f"recover_percent = {self.recover_percent:g} must be at least below_percent = "
                             f"{self.below_percent:g} (a drop clears at recover_percent)")
        return self

    def rule(self) -> Rule:
        return DropRule(**self.model_dump(exclude={"kind"}))


class _StallSpec(BaseModel):
    model_config = _STRICT
    kind: Literal["stall"]
    name: Name
    severity: Severity = StallRule.severity
    stale_seconds: Annotated[float, _bounded("positive", 0)] = StallRule.stale_seconds
    cooldown_seconds: Annotated[float, _bounded("number", 0)] = StallRule.cooldown_seconds

    def rule(self) -> Rule:
        return StallRule(**self.model_dump(exclude={"kind"}))


class _RejectSpec(BaseModel):
    model_config = _STRICT
    kind: Literal["rejected"]
    name: Name
    severity: Severity = RejectRule.severity
    window_minutes: Annotated[int, _bounded("int", 1, 60)] = RejectRule.window_minutes
    above_percent: Annotated[float, _bounded("positive", 0, 100)] = RejectRule.above_percent
    recover_percent: Annotated[float, _bounded("positive", 0, 1000)] = RejectRule.recover_percent
    min_rejected: Annotated[int, _bounded("int", 1)] = RejectRule.min_rejected
    cooldown_seconds: Annotated[float, _bounded("number", 0)] = RejectRule.cooldown_seconds

    @model_validator(mode="after")
    def _clears_below_where_it_fires(self) -> _RejectSpec:
        if self.recover_percent > self.above_percent:
            raise ValueError(f"recover_percent = {self.recover_percent:g} must be at most above_percent = "
                             f"{self.above_percent:g} (a rejected spike clears at recover_percent or less)")
        return self

    def rule(self) -> Rule:
        return RejectRule(**self.model_dump(exclude={"kind"}))


_RULE_SPECS: dict[str, type[BaseModel]] = {"drop": _DropSpec, "stall": _StallSpec, "rejected": _RejectSpec}
_RuleSpec = Annotated[_DropSpec | _StallSpec | _RejectSpec, Field(discriminator="kind")]


def _table(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"must be a table ([{info.field_name}])")
    return value


def _array_of_tables(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"must be an array of tables ([[{info.field_name}]] sections)")
    return value


class _File(BaseModel):
    model_config = _STRICT
    service: Annotated[ServiceOptions, BeforeValidator(_table)] = ServiceOptions()
    rules: Annotated[tuple[_RuleSpec, ...], BeforeValidator(_array_of_tables)] = ()
    webhooks: Annotated[tuple[Webhook, ...], BeforeValidator(_array_of_tables)] = ()
    milestones: Annotated[MilestoneOptions, BeforeValidator(_table)] = MilestoneOptions()

    @model_validator(mode="after")
    def _names_unique_and_known(self) -> _File:
        for what, items in (("rules", self.rules), ("webhooks", self.webhooks)):
            names = [item.name for item in items]
            duplicate = next((n for n in names if names.count(n) > 1), None)
            if duplicate:
                raise _At(what, f"the name {duplicate!r} is used twice; give each a name of its own")
        known = [hook.name for hook in self.webhooks]
        unknown = [n for n in self.milestones.webhooks or () if n not in known]
        if unknown:
            raise _At("[milestones]", f"webhooks names {unknown[0]!r}, which no [[webhooks]] entry has; "
                      f"known: {', '.join(known) or 'none'}")
        return self


@dataclass(frozen=True)
class AlertsConfig:
    path: Path
    service: ServiceOptions
    rules: tuple[Rule, ...]
    webhooks: tuple[Webhook, ...]
    milestones: MilestoneOptions = field(default_factory=MilestoneOptions)

    def targets(self, severity: str) -> tuple[Webhook, ...]:
        return tuple(w for w in self.webhooks if severity in w.severities)

    def milestone_targets(self) -> tuple[Webhook, ...]:
        names = self.milestones.webhooks
        return tuple(w for w in self.webhooks if names is None or w.name in names)


# -- reading --------------------------------------------------------------------------------


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
    try:
        checked = _File.model_validate(data)
    except ValidationError as exc:
        where, problem = _explain(exc.errors()[0], data)
        raise AlertsConfigError(f"alerts config {path}: {where}: {problem}.") from None
    return AlertsConfig(path=path, service=checked.service, rules=tuple(spec.rule() for spec in checked.rules),
                        webhooks=checked.webhooks, milestones=checked.milestones)


# -- pydantic's first error as one line -----------------------------------------------------


def _explain(error: Any, data: dict[str, Any]) -> tuple[str, str]:
    """(where, problem) of a pydantic error: where names the section or entry, problem the key."""
    loc, kind = tuple(error["loc"]), error["type"]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, _At):
        return cause.where, str(cause)
    where = _where(loc, data)
    if kind == "value_error" and cause is not None:
        return where, str(cause)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        given = data[loc[0]][loc[1]].get("kind")
        return where, f"kind = {given!r} must be one of {', '.join(_RULE_SPECS)}"
    if kind == "missing":
        return where, f"every {_entry(loc[0])} needs a {loc[-1]}"
    if kind == "extra_forbidden":
        known = sorted(_model_at(loc).model_fields)
        return where, f"unknown key {loc[-1]!r}; known keys are {', '.join(known)}"
    return where, f"{loc[-1]}: {error['msg']}"


def _where(loc: tuple, data: dict[str, Any]) -> str:
    """'the file', '[service]', 'rules[0] (drop)', 'webhooks[1] (ops)' or 'rules'."""
    section = loc[0] if loc else None
    if section in ("service", "milestones"):
        return f"[{section}]"
    if section not in ("rules", "webhooks"):
        return "the file"  # the file itself, or a key it should not have
    if len(loc) == 1:
        return section
    name = data[section][loc[1]].get("name")
    return f"{section}[{loc[1]}]" + (f" ({name})" if isinstance(name, str) else "")


def _entry(section: Any) -> str:
    return {"rules": "rule", "webhooks": "webhook"}.get(str(section), str(section))


def _model_at(loc: tuple) -> type[BaseModel]:
    """The model whose key ``loc`` names (for the list of known keys)."""
    sections: dict[Any, type[BaseModel]] = {"service": ServiceOptions, "milestones": MilestoneOptions,
                                            "webhooks": Webhook}
    if len(loc) == 1:
        return _File
    return sections.get(loc[0]) or _RULE_SPECS[loc[2]]
