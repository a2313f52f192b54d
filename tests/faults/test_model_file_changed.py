"""The loaded model file overwritten in place (issue 28, item 3): a message and an unload, never a SIGBUS."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in its own process: before the check, touching the truncated map killed it with SIGBUS (rc -7).
SCRIPT = """
import os, sys
from app.core.engines.llama_engine import LlamaEngine
from app.core.errors import ModelFileError
from app.core.prompting.types import Sampling

path, when = sys.argv[1], sys.argv[2]
engine = LlamaEngine()
engine.load(path)
messages = [{"role": "user", "content": "Count from one to one hundred in words."}]
pieces = 0
try:
    if when == "idle":
        with open(path, "r+b") as handle:
            handle.truncate(1 << 20)
    for piece in engine.stream(messages, Sampling(max_tokens=200, temperature=0.0, seed=1)):
        pieces += 1
        if pieces == 1 and when == "reply":
            with open(path, "r+b") as handle:  # in place: the same inode, cut short under the map
                handle.truncate(1 << 20)
except ModelFileError as exc:
    print("refused after", pieces, "pieces:", exc)
print("loaded:", engine.loaded is not None)
"""


def run(model: Path, when: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model), when], check=False, capture_output=True, text=True, timeout=300,
        cwd=ROOT,
    )  # fmt: skip


def test_a_model_file_overwritten_mid_reply_stops_the_reply_with_a_message(starter_model: Path, tmp_path: Path) -> None:
    model = shutil.copyfile(starter_model, tmp_path / "model.gguf")
    proc = run(model, "reply")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "refused after 1 pieces: model.gguf was changed on disk while it was loaded" in proc.stdout
    assert "loaded: False" in proc.stdout


def test_a_model_file_overwritten_between_replies_is_noticed_before_the_next(
    starter_model: Path, tmp_path: Path
) -> None:
    model = shutil.copyfile(starter_model, tmp_path / "model.gguf")
    proc = run(model, "idle")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "refused after 0 pieces" in proc.stdout and "loaded: False" in proc.stdout


def test_a_model_file_replaced_by_rename_keeps_working(starter_model: Path, tmp_path: Path) -> None:
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.prompting.types import Sampling

    model = Path(shutil.copyfile(starter_model, tmp_path / "model.gguf"))
    engine = LlamaEngine()
    engine.load(model)
    try:
        fresh = shutil.copyfile(starter_model, tmp_path / "new.gguf")
        Path(fresh).replace(model)  # a new inode under the name: the map keeps the old one
        text = "".join(engine.stream([{"role": "user", "content": "Hi"}], Sampling(max_tokens=4, temperature=0.0)))
        assert text and engine.loaded is not None
    finally:
        engine.unload()
