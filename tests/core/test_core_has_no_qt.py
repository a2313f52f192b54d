"""app.core is the product and must run headless: it may never import Qt."""

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import app.core

QT_PACKAGES = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "qtpy")


def _core_modules() -> list[str]:
    return sorted(f"app.core.{m.name}" for m in pkgutil.iter_modules(app.core.__path__))


def test_importing_every_core_module_loads_no_qt() -> None:
    modules = _core_modules()
    assert "app.core.engine" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_PACKAGES!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"app.core pulled in Qt: {result.stdout}"


def test_no_core_source_mentions_a_qt_import() -> None:
    offenders = []
    for path in Path(app.core.__path__[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT_PACKAGES]
    assert offenders == []


def test_gui_start_path_does_not_import_llama_cpp() -> None:
    """The window must open without paying for llama_cpp's import; the engine thread imports it on first load."""
    code = "import sys\nimport app.cli, app.ui.main_window, app.ui.app\nprint('llama_cpp' in sys.modules)\n"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False"
