"""`serve --restart-on-crash`: a server whose process dies (a native crash) is started again, and says so.

The crash is real: the server process gets SIGSEGV, as a llama.cpp fault would deliver it."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import openai

from app.cli.supervise import crash_name, server_command
from tests.server.conftest import start_process

MODEL = "SmolLM2-135M-Instruct.Q4_1"


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def ask(url: str) -> str:
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=120)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    return reply.choices[0].message.content or ""


def test_a_crashed_server_is_started_again_and_serves(starter_model: Path, tmp_path: Path) -> None:
    supervisor = start_process(
        [sys.executable, "-m", "app", "serve", "--basedir", str(tmp_path / "home"), "--port", "0",
         "--model", str(starter_model), "--restart-on-crash"],
    )  # fmt: skip
    try:
        match, _ = supervisor.wait_for(r"Serving on (http://\S+/v1)", timeout=120)
        first = ask(match.group(1))
        [server] = children(supervisor.popen.pid)
        os.kill(server, signal.SIGSEGV)
        supervisor.wait_for(r"the server crashed \(SIGSEGV\); starting it again", timeout=60)
        match, _ = supervisor.wait_for(r"Serving on (http://\S+/v1)", timeout=120)
        assert ask(match.group(1)) == first  # the same greedy answer from the new process
        assert children(supervisor.popen.pid) != [server]
    finally:
        code = supervisor.stop()  # SIGTERM reaches the server through the supervisor
    assert code == 0, "\n".join(supervisor.lines)
    assert supervisor.popen.poll() is not None and not children(supervisor.popen.pid)


def test_a_server_that_exits_by_itself_is_not_restarted(tmp_path: Path) -> None:
    started = time.monotonic()
    supervisor = start_process(
        [sys.executable, "-m", "app", "serve", "--basedir", str(tmp_path / "home"), "--port", "0",
         "--model", str(tmp_path / "missing.gguf"), "--restart-on-crash"],
    )  # fmt: skip
    assert supervisor.popen.wait(120) == 1
    assert "No model file" in "\n".join(supervisor.lines) and "starting it again" not in "\n".join(supervisor.lines)
    assert time.monotonic() - started < 120


def test_the_child_command_and_the_crash_names() -> None:
    assert server_command(["serve", "--restart-on-crash", "--port", "0"])[-3:] == ["serve", "--port", "0"]
    assert (crash_name(-11), crash_name(-6), crash_name(0), crash_name(1)) == ("SIGSEGV", "SIGABRT", "", "")
