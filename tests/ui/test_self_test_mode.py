"""`--self-test`: the real app, offscreen, loads the model through the engine thread and chats; exit 0 or 1."""

import os
import subprocess
import sys
from pathlib import Path


def self_test(model: Path, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), "--self-test", "--model", str(model)],
        capture_output=True, text=True, timeout=180, check=False, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip


def test_self_test_chats_with_the_starter_model(starter_model: Path, tmp_path: Path) -> None:
    result = self_test(starter_model, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("self-test OK: ") and len(result.stdout.strip()) > 25


def test_self_test_fails_clearly_on_a_corrupt_model(truncated_model: Path, tmp_path: Path) -> None:
    result = self_test(truncated_model, tmp_path)
    assert result.returncode == 1
    assert "self-test FAILED: truncated.gguf is truncated" in result.stderr
    assert "Traceback" not in result.stderr
