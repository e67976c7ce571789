"""Alerts (``/alerts``): the configured rules and the history of alerts fired and resolved.

Rules come from the alert service's TOML file (:func:`stream.alerts.config.config_path`), read by
the service's own parser (:func:`stream.alerts.config.load`), defaults filled in; the history
is the ``alert_events`` table (migration 004) that the alert service fills.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dash import Input, Output, dash_table, dcc, html

from dashboard import fmt
from dashboard import queries as q
from dashboard.db import DataUnavailable
from dashboard.pages import Context, Page
from stream.alerts import config
from stream.alerts.rules import Rule
from stream.settings import shown_path

REFRESH_MS = 10_000
HISTORY_COLUMNS = [("time", "time (CST)"), ("rule", "rule"), ("severity", "severity"), ("state", "state"),
                   ("observed", "observed"), ("baseline", "baseline"), ("window", "window (CST)"),
                   ("message", "message"), ("delivery", "webhook"), ("attempts", "attempts")]
_TABLE_STYLE = {
    "style_as_list_view": True,
    "style_header": {"backgroundColor": "#121a2b", "color": "#8d97ad", "fontWeight": 600},
    "style_cell": {"backgroundColor": "#0e1524", "color": "#e8ecf4", "border": "1px solid #1e2a42",
                   "fontFamily": "inherit", "fontSize": 14, "padding": "5px 10px", "textAlign": "left",
                   "whiteSpace": "normal", "height": "auto", "maxWidth": 520},
}


# -- data ------------------------------------------------------------------------------------


def load_rules(path: Path) -> tuple[list[dict[str, str]], str]:
    """The rules of the alert service's file as display rows, and a note ('' when all is well).

    Read by the service's own parser: a file the service would refuse shows its one-line error."""
    if not path.exists():
        return [], f"no rules configured ({path} does not exist yet)"
    try:
        cfg = config.load(path)
    except config.AlertsConfigError as exc:
        return [], str(exc)
    rows = [_display(rule) for rule in cfg.rules]
    return rows, "" if rows else f"no rules configured in {path}"


def _display(rule: Rule) -> dict[str, str]:
    fields = {"name": rule.name, "kind": rule.kind, **dataclasses.asdict(rule)}
    return {key: f"{value:g}" if isinstance(value, float) else str(value) for key, value in fields.items()}


def history_rows(events: list[dict]) -> list[dict]:
    """alert_events rows as table rows, times in CST."""
    return [{
        "time": fmt.local(int(e["event_ms"]) // 1000).strftime("%Y-%m-%d %H:%M:%S"),
        "rule": e["rule"], "severity": e["severity"], "state": e["state"],
        "observed": f"{float(e['observed']):,.4g}", "baseline": f"{float(e['baseline']):,.4g}",
        "window": f"{fmt.local(int(e['window_start'])):%m-%d %H:%M:%S} +{int(e['window_seconds'])} s",
        "message": e["message"], "delivery": e["delivery"], "attempts": int(e["attempts"]),
    } for e in events]


def firing_now(events: list[dict]) -> list[str]:
    """Rules whose newest state change is 'firing'."""
    latest: dict[str, str] = {}
    for e in sorted(events, key=lambda e: int(e["event_ms"])):
        latest[e["rule"]] = e["state"]
    return sorted(rule for rule, st in latest.items() if st == "firing")


# -- layout and callbacks ----------------------------------------------------------------------


def _rules_block(ctx: Context) -> html.Div:
    rules, note = load_rules(ctx.alerts_config)
    if not rules:
        return html.Div(note, className="rules-empty", id="alerts-rules-note")
    columns = list(dict.fromkeys(k for r in rules for k in r))
    return html.Div([
        html.Div(f"from {shown_path(ctx.alerts_config)}", className="hint"),
        dash_table.DataTable(id="alerts-rules", columns=[{"id": c, "name": c} for c in columns], data=rules,
                             **_TABLE_STYLE)])


def layout(ctx: Context, params: dict[str, str]):
    """Rules (from the TOML file) above the fired/resolved history (from ClickHouse)."""
    return html.Div([
        dcc.Interval(id="alerts-tick", interval=REFRESH_MS),
        html.H1("Alerts"),
        html.H2("Rules"), _rules_block(ctx),
        html.H2("History · fired and resolved"),
        html.Div(id="alerts-summary", className="alert-summary"),
        dash_table.DataTable(
            id="alerts-history", columns=[{"id": i, "name": n} for i, n in HISTORY_COLUMNS], data=[], page_size=15,
            style_data_conditional=[
                {"if": {"filter_query": '{state} = "firing"', "column_id": "state"}, "color": "#ff4d5e",
                 "fontWeight": 700},
                {"if": {"filter_query": '{state} = "resolved"', "column_id": "state"}, "color": "#35d07f"},
                {"if": {"filter_query": '{delivery} = "failed"', "column_id": "delivery"}, "color": "#ff4d5e"}],
            **_TABLE_STYLE),
    ], className="page alerts")


def register(app, ctx: Context) -> None:
    """Refresh the history every 10 s (cached for all viewers)."""

    @app.callback(Output("alerts-history", "data"), Output("alerts-summary", "children"),
                  Input("alerts-tick", "n_intervals"))
    def refresh(_n):
        try:
            events = q.alert_events(ctx.db.run, ctx.db.database)
        except DataUnavailable as exc:
            return [], html.Span(f"No answer from ClickHouse: {exc}", className="alert-chip firing")
        firing = firing_now(events)
        chips = [html.Span(f"{len(firing)} firing now" + (f": {', '.join(firing)}" if firing else ""),
                           className="alert-chip firing" if firing else "alert-chip"),
                 html.Span(f"{len(events)} state changes recorded", className="alert-chip")]
        if not events:
            chips.append(html.Span("no alerts yet", className="alert-chip"))
        return history_rows(events), chips


PAGE = Page(path="/alerts", name="Alerts", layout=layout, register=register)
