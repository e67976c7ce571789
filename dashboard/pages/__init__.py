"""The page registry: each page module defines ``PAGE``, its path, name, layout and callbacks.

Dash's own ``use_pages`` keeps its page registry and ``dash.callback`` callbacks in module
globals that the first app created takes over, which breaks an app factory called more than
once in a process (tests, the benchmark); so the shell routes these ``Page`` records itself
and each page registers its callbacks on the app it is given, with that app's context.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream.settings import Settings

if TYPE_CHECKING:
    import dash

    from dashboard.db import Database


@dataclass(frozen=True)
class Context:
    """What a page's callbacks need: settings, the shared database access, the alert rules file."""

    settings: Settings
    db: Database
    alerts_config: Path
    state: dict  # per-app mutable state pages keep between polls (e.g. the wall's hint)


@dataclass(frozen=True)
class Page:
    path: str
    name: str
    layout: Callable[[Context, dict[str, str]], Any]  # (context, query parameters) -> component
    register: Callable[[dash.Dash, Context], None]
    kiosk: bool = False  # a kiosk cookie (GMV_DASHBOARD_KIOSK_TOKEN) opens it and reaches its callbacks

    @property
    def id_prefix(self) -> str:
        """Every component id of the page starts with this (``wall-``, ``explore-``, ...)."""
        return f"{self.name.lower()}-"


def registry() -> list[Page]:
    """The pages in navigation order."""
    from dashboard.pages import alerts, explore, wall

    return [wall.PAGE, explore.PAGE, alerts.PAGE]
