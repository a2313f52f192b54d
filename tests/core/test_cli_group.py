"""`chat --group`: a group chat from the command line, as a user runs it (a separate process, the real engine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_group_chat_prints_each_reply_after_its_speaker_and_continues(starter_model: Path, tmp_path: Path) -> None:
    greedy = ("--model", str(starter_model), "--seed", "1", "--temperature", "0", "--max-tokens", "8")
    first = run_cli("chat", *greedy, "--group", "hermes-2,Edward Elric", "--speaker", "hermes-2", "--turns", "2",
                    "--save", "--user-name", "Winry", "Hello, both of you.", basedir=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    lines = [line for line in first.stdout.splitlines() if line.strip()]
    assert [line.split(":")[0] for line in lines] == ["Hermes 2", "Edward Elric"]  # chosen, then in turns
    assert all(len(line.split(":", 1)[1].strip()) > 0 for line in lines)
    assert "saved in chat 1" in first.stderr

    # --chat ID continues it with its members (no --group); a message naming one makes that one speak
    again = run_cli("chat", *greedy, "--chat", "1", "Edward, one word please.", basedir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Edward Elric: ")

    exported = run_cli("chats", "export", "1", "--format", "json", basedir=tmp_path)
    tree = json.loads(exported.stdout)
    speakers = [m["speaker"] for m in tree["messages"] if m["role"] == "assistant"]
    assert speakers == ["Edward Elric", "Hermes 2", "Edward Elric", "Edward Elric"]  # his greeting first
    assert [m["name"] for m in json.loads(run_cli("chats", "export", "1", "--format", "openai",
                                                   basedir=tmp_path).stdout) if "name" in m][:2] == [
        "Edward_Elric", "Hermes_2"
    ]  # fmt: skip


def test_group_chat_refusals_are_one_line(starter_model: Path, tmp_path: Path) -> None:
    for args, said in (
        (("--group", "hermes-2"), "two or more different personas"),
        (("--group", "hermes-2,nobody"), "No preset named 'nobody'"),
        (("--group", "hermes-2,edward-elric", "--speaker", "Translator"), "'Translator' is not in this group chat"),
        (("--group", "hermes-2,edward-elric", "--preset", "translator"), "--preset does not combine"),
        (("--group", "hermes-2,edward-elric", "--turns", "0"), "--turns takes 1 to 32"),
    ):
        result = run_cli("chat", "--model", str(starter_model), *args, "hi", basedir=tmp_path)
        assert result.returncode == 1, args
        assert said in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
