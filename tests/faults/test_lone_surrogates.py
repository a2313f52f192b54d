"""Text that no file can hold as UTF-8 (issue 28, item 22): a card name with a lone surrogate (a ``\\ud800`` escape in
its JSON) and a command-line message of bytes that are not UTF-8. Each is kept with U+FFFD in its place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.core import bounded_json


def run(*args: str | bytes, basedir: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args], capture_output=True, timeout=180, check=False
    )


def test_bounded_json_replaces_lone_surrogates_and_keeps_pairs() -> None:
    loaded = bounded_json.loads('{"name": "A\\ud800B", "smile": "\\ud83d\\ude00", "\\udc00key": ["\\udfff"]}')
    assert loaded == {"name": "A\ufffdB", "smile": "\U0001f600", "\ufffdkey": ["\ufffd"]}
    json.dumps(loaded).encode("utf-8")  # writable


def test_a_card_named_with_a_lone_surrogate_imports(tmp_path: Path) -> None:
    card = tmp_path / "card.json"
    card.write_text(
        '{"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Ed\\ud800ward", '
        '"description": "An alchemist.", "personality": "", "scenario": "", "first_mes": "Hi.", "mes_example": ""}}',
        encoding="utf-8",
    )
    imported = run("presets", "import", str(card), basedir=tmp_path / "home")
    assert imported.returncode == 0, imported.stderr.decode()
    listed = run("presets", "list", basedir=tmp_path / "home").stdout.decode("utf-8")
    assert "Ed\ufffdward" in listed


def test_a_message_that_is_not_utf8_is_sent_and_saved(starter_model: Path, tmp_path: Path) -> None:
    result = run("chat", "--save", "--model", str(starter_model), "--max-tokens", "4", b"caf\xe9 \xff?",
                 basedir=tmp_path / "home")  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    listed = run("chats", "list", basedir=tmp_path / "home").stdout.decode("utf-8")
    assert "caf\ufffd \ufffd?" in listed and "(untitled)" not in listed
