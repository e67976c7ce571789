"""Nothing outside the simulator imports the simulator (its ledger and history are the only ground
truth it hands on, as files and rows): the alert service,
the job and the dashboard work on real orders, which follow no simulator curve. Read from each
file's syntax tree: ``import stream.simulator...``, ``from stream.simulator... import``,
``from stream import simulator``, relative imports that land there, and ``import_module`` /
``__import__`` of such a name."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUARDED = ("stream/alerts", "stream/job", "stream/stack", "stream/history.py", "dashboard")
FORBIDDEN = "stream.simulator"


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def simulator_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The names under ``stream.simulator`` that ``source`` (the text of ``module``) imports."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)] if package else []
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                names = [node.args[0].value]
        found += [n for n in names if n == FORBIDDEN or n.startswith(FORBIDDEN + ".")]
    return found


def guarded_files() -> list[Path]:
    files = []
    for entry in GUARDED:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_the_guarded_parts_exist():
    files = guarded_files()
    assert ROOT / "stream/alerts/rules.py" in files and ROOT / "dashboard/app.py" in files
    assert len(files) > 30


@pytest.mark.parametrize("path", guarded_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_guarded_module_imports_the_simulator(path):
    found = simulator_imports(path.read_text(encoding="utf-8"), _module_of(path), path.name == "__init__.py")
    assert found == [], f"{path.relative_to(ROOT)} imports {', '.join(found)}; nothing outside the simulator may"


@pytest.mark.parametrize("source, module", [
    ("import stream.simulator.curve", "stream.alerts.rules"),
    ("from stream.simulator import curve", "stream.alerts.rules"),
    ("from stream.simulator.config import DEFAULT", "dashboard.app"),
    ("from stream import simulator", "stream.job.loader"),
    ("from ..simulator import curve", "stream.alerts.rules"),
    ("from .. import simulator", "stream.alerts.rules"),
    ("def f():\n    from stream.simulator.run import run\n", "stream.alerts.service"),
    ("import importlib\nimportlib.import_module('stream.simulator.curve')", "stream.alerts.rules"),
])
def test_the_check_sees_every_way_of_importing_it(source, module):
    assert simulator_imports(source, module)


@pytest.mark.parametrize("source, module", [
    ("from stream import history, contract", "stream.alerts.rules"),
    ("from . import store", "stream.alerts.service"),
    ("import stream.simulatorish", "stream.alerts.rules"),
    ("text = 'stream.simulator'", "stream.alerts.rules"),
])
def test_the_check_lets_the_rest_through(source, module):
    assert simulator_imports(source, module) == []
