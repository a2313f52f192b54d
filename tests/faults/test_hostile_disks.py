"""Hostile disks and folders (issue 28, items 11, 20, 25): unwritable logs, a full disk, a file as base directory."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

from tests.faults.conftest import app_command, start


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


def unwritable_log(basedir: Path) -> None:
    # A folder where the log file should be: opening it fails for root too (a read-only folder does not stop root).
    (basedir / "logs" / "hermes-studio.log").mkdir(parents=True)


def test_chat_goes_on_when_the_log_cannot_be_written(tmp_path: Path, starter_model: Path) -> None:
    basedir = tmp_path / "home"
    unwritable_log(basedir)
    code, out, err = finish(start(app_command(basedir, "chat", "--model", str(starter_model), "--max-tokens", "8",
                                              "--seed", "1", "Hi"), {}))  # fmt: skip
    assert code == 0 and out.strip(), err
    assert "Traceback" not in err and "Logging error" not in err
    assert err.count("cannot write the log") == 1


def test_search_reaches_the_hub_when_the_log_cannot_be_written(tmp_path: Path, hf_env: dict[str, str]) -> None:
    basedir = tmp_path / "home"
    unwritable_log(basedir)
    code, out, err = finish(start(app_command(basedir, "search", "SmolLM2"), hf_env))
    assert code == 0, err
    assert "SmolLM2-135M-Instruct-GGUF" in out and "Traceback" not in err


def test_a_base_directory_that_is_a_file_is_a_message(tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    code, _out, err = finish(start(app_command(file, "models"), {}))
    assert code == 1 and "choose another --basedir" in err and "Traceback" not in err


def test_a_disk_that_fills_during_chat_save_is_said_and_exits_1(tmp_path: Path, starter_model: Path) -> None:
    from app.core.history.store import ChatStore

    basedir = tmp_path / "home"
    db = basedir / "data" / "chats.sqlite3"
    ChatStore(db).close()
    limit = max(db.stat().st_size, 32_768) + 98_304  # room for the exchange and the reply's first saves, not all

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    command = app_command(basedir, "chat", "--model", str(starter_model), "--save", "--max-tokens", "300",
                          "--temperature", "0", "--context-size", "1024", "Tell me a long story.")  # fmt: skip
    code, out, err = finish(start(command, {}, preexec_fn=small_files))
    assert code == 1, err  # it was 0
    assert "The chat could not be saved" in err and "Free some disk space" in err
    assert "Traceback" not in err and "Logging error" not in err
    store = ChatStore(db)
    try:
        reply = [m for c in store.list_chats() for m in store.active_path(c.id) if m.role == "assistant"]
        assert reply and reply[0].state != "done"  # never presented as a finished reply
        assert out.startswith(reply[0].content)  # what fitted is kept, and it is what was shown
    finally:
        store.close()
