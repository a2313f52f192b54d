"""``chat --image``: a separate process, the real engine, the tiny vision model (tests/data/vision)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from tests.vision_data import TINY_VISION, blue_field, red_sun


def run_cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def chat(image: Path, basedir: Path, *more: str, model: Path = TINY_VISION) -> subprocess.CompletedProcess[str]:
    return run_cli("chat", "--model", str(model), "--image", str(image), "--temperature", "0", "--max-tokens", "8",
                   "--context-size", "1024", *more, "What is this?", basedir=basedir)  # fmt: skip


def test_chat_with_an_image_answers_about_it_and_keeps_it_with_the_chat(tmp_path: Path) -> None:
    (tmp_path / "red.png").write_bytes(red_sun())
    (tmp_path / "blue.png").write_bytes(blue_field())
    red = chat(tmp_path / "red.png", tmp_path / "home", "--save")
    blue = chat(tmp_path / "blue.png", tmp_path / "home")
    assert red.returncode == 0 and blue.returncode == 0, red.stderr + blue.stderr
    assert red.stdout.strip() and blue.stdout.strip()
    assert red.stdout != blue.stdout  # the reply depends on the picture
    assert "saved in chat 1" in red.stderr
    kept = list((tmp_path / "home" / "data" / "images").rglob("*.png"))
    assert [path.read_bytes() for path in kept] == [red_sun()]  # by content, once
    exported = run_cli("chats", "export", "1", "--format", "json", basedir=tmp_path / "home")
    assert exported.returncode == 0, exported.stderr
    assert '"type": "image"' in exported.stdout and kept[0].stem in exported.stdout
    as_openai = run_cli("chats", "export", "1", "--format", "openai", basedir=tmp_path / "home")
    user = json.loads(as_openai.stdout)[1]  # after the system prompt
    assert user["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(red_sun()).decode()}},
        {"type": "text", "text": "What is this?"},
    ]
    as_markdown = run_cli("chats", "export", "1", basedir=tmp_path / "home")
    assert "*[image: red.png, 96 × 80]*" in as_markdown.stdout
    deleted = run_cli("chats", "delete", "1", "--now", basedir=tmp_path / "home")
    assert deleted.returncode == 0, deleted.stderr
    assert not kept[0].exists()  # deleted with its chat


def test_a_text_only_model_refuses_an_image_and_saves_nothing(tmp_path: Path, starter_model: Path) -> None:
    (tmp_path / "red.png").write_bytes(red_sun())
    result = chat(tmp_path / "red.png", tmp_path / "home", "--save", model=starter_model)
    assert result.returncode == 1
    assert "is a text-only model: it cannot read images (--image)" in result.stderr
    assert result.stdout == ""
    listed = run_cli("chats", "list", basedir=tmp_path / "home")
    assert listed.returncode == 0 and "What is this" not in listed.stdout  # no chat was started


def test_a_file_that_is_not_an_image_is_refused_before_any_model_loads(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("just text, named .png")
    result = chat(tmp_path / "notes.png", tmp_path / "home", model=tmp_path / "missing.gguf")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hermes-studio: notes.png is not an image this app can read (a PNG, JPEG, GIF, WebP or BMP file)."
    )
