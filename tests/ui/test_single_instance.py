"""One window per base directory, with real processes: a second start hands over and exits 0; a crash is recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.ui.single_instance import server_name

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}


def gui(basedir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "--basedir", str(basedir), *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def log_text(basedir: Path) -> str:
    path = basedir / "logs" / "hermes-studio.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def wait_for_log(basedir: Path, text: str, count: int = 1, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while log_text(basedir).count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared ({count}×) in the log:\n{log_text(basedir)}")
        time.sleep(0.05)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)


@pytest.mark.slow
def test_a_second_start_hands_its_file_over_and_exits_0(tmp_path: Path, starter_model: Path, processes) -> None:
    basedir = tmp_path / "home"
    first = gui(basedir)
    processes.append(first)
    wait_for_log(basedir, "single instance: listening")
    second = gui(basedir, "--model", str(starter_model))
    processes.append(second)
    assert second.wait(60) == 0, second.communicate()[1]
    wait_for_log(basedir, f"another start asked to open {str(starter_model.resolve())!r}")
    wait_for_log(basedir, f"{starter_model.name} (ctx", timeout=60)  # the window loaded the model it was handed
    third = gui(basedir)
    processes.append(third)
    assert third.wait(60) == 0
    wait_for_log(basedir, "another start asked to open ''")
    card = tmp_path / "Captain.json"  # a TavernAI character card, opened from the file manager
    card.write_text('{"name": "Captain Nemo", "description": "A mysterious submarine captain.", '
                    '"first_mes": "Welcome aboard the Nautilus."}', encoding="utf-8")  # fmt: skip
    fourth = gui(basedir, "--open", str(card))
    processes.append(fourth)
    assert fourth.wait(60) == 0
    presets = basedir / "data" / "presets"
    deadline = time.monotonic() + 60
    while not any(presets.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (imported,) = presets.glob("*.json")
    assert "Captain Nemo" in imported.read_text(encoding="utf-8")  # the running window imported the card
    assert first.poll() is None, "the first window must keep running"
    cli = subprocess.run([sys.executable, "-m", "app", "--basedir", str(basedir), "models"], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert cli.returncode == 0, "the command line runs freely beside the window"


@pytest.mark.slow
def test_the_lock_of_a_crashed_window_is_recovered(tmp_path: Path, processes) -> None:
    basedir = tmp_path / "home"
    first = gui(basedir)
    processes.append(first)
    wait_for_log(basedir, "single instance: listening")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert (basedir / "data" / "instance.lock").exists()  # left behind, as a crash leaves it
    again = gui(basedir)
    processes.append(again)
    wait_for_log(basedir, "single instance: listening", count=2)
    assert again.poll() is None
    other = gui(basedir)
    processes.append(other)
    assert other.wait(60) == 0
    wait_for_log(basedir, "another start asked to open ''")


@pytest.mark.slow
def test_two_windows_started_at_once_make_one(tmp_path: Path, processes) -> None:
    basedir = tmp_path / "home"
    resolve_paths(basedir).ensure()
    pair = [gui(basedir), gui(basedir)]
    processes.extend(pair)
    wait_for_log(basedir, "another start asked to open ''")
    deadline = time.monotonic() + 30
    while all(p.poll() is None for p in pair) and time.monotonic() < deadline:
        time.sleep(0.05)
    codes = sorted((p.poll() for p in pair), key=lambda code: code is None)
    assert codes[0] == 0 and codes[1] is None, codes
    assert log_text(basedir).count("single instance: listening") == 1


def test_the_server_name_is_per_base_directory(tmp_path: Path) -> None:
    one, two = resolve_paths(tmp_path / "a"), resolve_paths(tmp_path / "b")
    assert server_name(one) != server_name(two)
    assert server_name(one) == server_name(resolve_paths(tmp_path / "a"))
    assert len(server_name(one)) < 40


@pytest.mark.slow
def test_a_start_during_the_first_ones_start_reaches_its_window(tmp_path: Path, processes) -> None:
    """The first start holds the lock at once but listens only once its window is painted: a second start in between
    waits for it, then hands over."""
    basedir = tmp_path / "home"
    lock = basedir / "data" / "instance.lock"
    first = gui(basedir)
    processes.append(first)
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:  # as early as can be seen from outside
        time.sleep(0.001)
    second = gui(basedir, "--open", str(tmp_path / "missing.json"))
    processes.append(second)
    assert second.wait(60) == 0, second.communicate()[1]
    wait_for_log(basedir, f"another start asked to open {str((tmp_path / 'missing.json').resolve())!r}")
    assert first.poll() is None, "the first window must keep running"
    assert log_text(basedir).count("single instance: listening") == 1


@pytest.mark.slow
def test_a_start_while_the_first_has_not_listened_yet_waits_and_hands_over(qtbot, tmp_path: Path, processes) -> None:
    """The window between the first instance's lock (before its window) and its server (after the first paint)."""
    from app.ui.single_instance import SingleInstance

    basedir = tmp_path / "home"
    first = SingleInstance(resolve_paths(basedir).ensure())
    assert first.claim() and not first.listening  # the lock, taken before the first window
    received: list[str] = []
    first.message_received.connect(received.append)
    try:
        wanted = tmp_path / "Captain.json"
        second = gui(basedir, "--open", str(wanted))
        processes.append(second)
        qtbot.wait(1500)  # (the second start finds the lock taken and nobody listening: it waits)
        assert second.poll() is None, "a later start must wait for a first one still starting"
        first.listen()  # the first window has been painted
        qtbot.waitUntil(lambda: bool(received), timeout=60_000)
        assert received == [str(wanted.resolve())]
        assert second.wait(60) == 0
    finally:
        first.release()


PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
from app.core.paths import resolve_paths
from app.ui.single_instance import SingleInstance
paths = resolve_paths(sys.argv[1]).ensure()
instance = SingleInstance(paths, app)
first = instance.claim()
before = {"network": "PySide6.QtNetwork" in sys.modules, "hashlib": "hashlib" in sys.modules,
          "listening": instance.listening}
instance.listen()
print(json.dumps({"first": first, "before": before, "listening": instance.listening,
                  "network": "PySide6.QtNetwork" in sys.modules}))
instance.release()
"""


def test_claiming_costs_no_network_module_until_it_listens(tmp_path: Path) -> None:
    from tests.ui.probes import run_probe

    found = run_probe(PROBE, str(tmp_path / "home"))
    assert found["first"] and found["before"] == {"network": False, "hashlib": False, "listening": False}
    assert found["listening"] and found["network"]
