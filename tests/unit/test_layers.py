"""The project's layers: ``stream/stack/`` (infrastructure adapters) imports nothing above it."""
from __future__ import annotations

import ast
from pathlib import Path

from stream.settings import PROJECT_ROOT

ABOVE_STACK = ("stream.job", "stream.alerts", "stream.simulator", "stream.registry", "stream.cli", "dashboard")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_the_stack_imports_the_application():
    modules = sorted((PROJECT_ROOT / "stream" / "stack").glob("*.py"))
    assert len(modules) >= 5
    upward = {f"{path.name}: {name}" for path in modules for name in imported_modules(path)
              if any(name == above or name.startswith(above + ".") for above in ABOVE_STACK)}
    assert upward == set()


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from stream.job.runner import JOB_NAME\n    import dashboard.app\n")
    assert {"stream.job.runner", "dashboard.app"} <= imported_modules(module)


def test_no_two_test_files_share_a_name():
    # the test folders are not packages: pytest refuses to collect two modules of one name
    names = [p.name for p in (PROJECT_ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
