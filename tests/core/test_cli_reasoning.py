"""`chat` with a thinking model, as a user runs it: the answer on stdout, the reasoning on stderr (or nowhere)."""

import json
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_reasoning_goes_to_stderr_the_answer_to_stdout_and_both_are_saved(thinking_model: Path, tmp_path: Path) -> None:
    result = run_cli("chat", "--model", str(thinking_model), "--seed", "1", "--temperature", "0", "--max-tokens", "16",
                     "--save", "Colour of the sky?", basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""  # 16 tokens were all thought: no answer, and no thought on stdout
    assert "ran out of tokens while thinking" in result.stderr and "thinking," in result.stderr
    exported = json.loads(run_cli("chats", "export", "1", "--format", "openai", basedir=tmp_path).stdout)
    thought = exported[-1]["reasoning_content"]
    assert thought.strip() and thought.strip() in result.stderr and exported[-1]["content"] == ""
    markdown = run_cli("chats", "export", "1", basedir=tmp_path).stdout
    assert "<details>\n<summary>Thinking</summary>" in markdown


def test_hide_thinking_drops_it_and_think_off_answers(thinking_model: Path, tmp_path: Path) -> None:
    shown = run_cli("chat", "--model", str(thinking_model), "--seed", "1", "--temperature", "0", "--max-tokens", "8",
                    "Hi", basedir=tmp_path)  # fmt: skip
    hidden = run_cli("chat", "--model", str(thinking_model), "--seed", "1", "--temperature", "0", "--max-tokens", "8",
                     "--hide-thinking", "Hi", basedir=tmp_path)  # fmt: skip
    assert hidden.returncode == 0, hidden.stderr
    thought = shown.stderr.split("note:")[0].strip()
    assert thought and thought not in hidden.stderr
    off = run_cli("chat", "--model", str(thinking_model), "--seed", "1", "--temperature", "0", "--max-tokens", "8",
                  "--think", "off", "Hi", basedir=tmp_path)  # fmt: skip
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() and "thinking" not in off.stderr
