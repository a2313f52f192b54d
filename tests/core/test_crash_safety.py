"""kill -9 a process that is streaming a reply into the store: nothing finished is lost, the partial reply survives."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.history.store import ChatStore


def test_kill_9_mid_stream_keeps_finished_messages_and_the_partial_reply(starter_model: Path, tmp_path: Path) -> None:
    base = tmp_path / "home"
    command = [sys.executable, "-u", "-m", "app", "--basedir", str(base), "chat", "--save",
               "--model", str(starter_model), "--max-tokens", "2000", "--temperature", "0.9", "--seed", "4",
               "Write a very long story about a lighthouse keeper, in many chapters."]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    printed = b""
    timeline: list[tuple[float, int]] = []
    first = 0.0
    os.set_blocking(process.stdout.fileno(), False)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        chunk = process.stdout.read() or b""
        now = time.monotonic()
        if chunk:
            printed += chunk
            first = first or now
            timeline.append((now, len(printed.decode("utf-8", "ignore"))))
        if first and now - first > 1.5:
            break
        time.sleep(0.01)
    killed_at = time.monotonic()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert first, "the reply never started streaming"

    store = ChatStore(base / "data" / "chats.sqlite3")
    assert store.interrupted == 1
    (chat,) = store.list_chats()
    path = store.active_path(chat.id)
    assert [m.role for m in path] == ["system", "user", "assistant"]
    assert path[1].content.startswith("Write a very long story") and path[1].state == "done"
    reply = path[2]
    assert reply.state == "interrupted"
    shown = printed.decode("utf-8", "ignore")
    assert reply.content and shown.startswith(reply.content)
    # at most the last half second is lost (plus scheduling slack)
    before_the_last_half_second = max((n for t, n in timeline if t <= killed_at - 0.65), default=0)
    assert len(reply.content) >= before_the_last_half_second
