"""`--self-test`: the real app proves each capability as a named step (engine, reasoning, state, tools, MCP over
stdio from the app's own executable, server), then the window chats offscreen; exit 0, 1 or 2."""

import os
import subprocess
import sys
from pathlib import Path

from app.selftest.runner import STEP_NAMES


def self_test(model: Path, basedir: Path, *only: str) -> subprocess.CompletedProcess[str]:
    chosen = [argument for name in only for argument in ("--only", name)]
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), "--self-test", "--model", str(model), *chosen],
        capture_output=True, text=True, timeout=900, check=False, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip


def test_every_self_test_step_passes_from_source(starter_model: Path, tmp_path: Path) -> None:
    result = self_test(starter_model, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"self-test OK: {len(STEP_NAMES)} step(s) passed")
    for name in STEP_NAMES:
        assert f"self-test step {name}: ok in " in result.stderr
    assert "restored from disk" in result.stderr and "probe__add(2, 3) = 5" in result.stderr
    assert "Traceback" not in result.stderr and "Writing:" not in result.stderr  # no stray progress bars


def test_one_step_runs_alone_and_an_unknown_step_is_named(starter_model: Path, tmp_path: Path) -> None:
    result = self_test(starter_model, tmp_path, "mcp")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("self-test OK: 1 step(s) passed (mcp)")
    unknown = self_test(starter_model, tmp_path, "telepathy")
    assert unknown.returncode == 2
    assert "no self-test step named telepathy (steps: engine, reasoning" in unknown.stderr


def test_self_test_fails_clearly_on_a_corrupt_model(truncated_model: Path, tmp_path: Path) -> None:
    result = self_test(truncated_model, tmp_path)
    assert result.returncode == 1
    assert "self-test FAILED: truncated.gguf is truncated" in result.stderr
    assert "(step engine:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_apps_own_executable_serves_as_the_document_reader(tmp_path: Path) -> None:
    """What a frozen build starts for the reader process (``worker_command``), here through ``-m app``."""
    import json

    note = tmp_path / "note.txt"
    note.write_text("The tide turns at noon.\n", encoding="utf-8")
    request = json.dumps({"path": str(note), "limits": {}}) + "\n"
    result = subprocess.run(
        [sys.executable, "-m", "app", "--document-reader"], input=request, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[0])
    assert answer["ok"] and "The tide turns at noon." in answer["blocks"][0]["text"]
