"""4. Cold start: process start to the main window shown and taking input, no model loaded.

Baseline: a bare PySide6 QMainWindow shown the same way. Both are fresh processes, interleaved.

``python -m bench.cold_start --against DIR [--rounds N] [--chats N]`` times another checkout of the app (``DIR``: its
root, e.g. ``git worktree add /tmp/before main``) in the same run, interleaved with this one and the bare window: a
change's before and after, each as a ratio to the bare window measured between them (this machine's load moves every
figure). ``--chats N``: each app's base directory holds N chats first (written by that checkout's own history store),
as a user's does. Besides the time to the window ready (shown and taking input) it times, in separate processes, the
window finished (every stage after the first paint built: the model bar, the chats list, the menus …).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from bench.common import REPO, Figure, Section, median

BASELINE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.show()
QTimer.singleShot(0, lambda: (print("ready", flush=True), app.quit()))
app.exec()
"""

APP = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.ui.main_window as main_window
show = main_window.MainWindow.show
def show_then_report(self):
    show(self)
    def report():
        print("ready", "llama_cpp" in sys.modules, flush=True)
        self.close()
        QApplication.quit()
    QTimer.singleShot(0, report)
main_window.MainWindow.show = show_then_report
from app.cli import main
sys.exit(main(["--basedir", sys.argv[1]]))
"""


BUILT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.ui.main_window as main_window
show = main_window.MainWindow.show
def show_then_report(self):
    show(self)
    def report():
        print("ready", flush=True)
        self.close()
        QApplication.quit()
    self.when_built(lambda: QTimer.singleShot(0, report))
main_window.MainWindow.show = show_then_report
from app.cli import main
sys.exit(main(["--basedir", sys.argv[1]]))
"""

FILL = """
import sys
from app.core.history.store import ChatStore
from app.core.paths import resolve_paths
store = ChatStore(resolve_paths(sys.argv[1]).ensure().chats_db)
for chat in range(int(sys.argv[2])):
    turns = [("user" if turn % 2 == 0 else "assistant",
              f"Message {turn} of chat {chat}: " + "a sentence of ordinary length, " * (3 if turn % 2 == 0 else 24))
             for turn in range(9)]
    store.record_chat(turns, "The last reply, " * 30, model="bench")
store.close()
"""


WHERE_THE_TIME_GOES = (
    "Since 2026-12-03 (issue 20, part 4, fifth pass) the window ready is the chat column's outline "
    "(app/ui/shell/first_paint.py: an empty chat area, the message box taking input, a disabled Send button, from "
    "plain QtWidgets classes); the chat column itself (the engine client, the chat store, the conversation view and "
    "its renderer) is the first stage after the first paint, with what was typed handed over; the single instance "
    "takes its lock file before the window and starts its QtNetwork server after the first paint; the system theme "
    "paints in the desktop's scheme as last seen and asks the desktop after the first paint (reading its answer "
    "builds PySide6's `Qt` namespace, 93 enum classes, ~15 ms); the application starts with `-style Fusion` "
    "(asking `app.style()` builds QStyle, ~6–10 ms); the stages start from the outline's paintEvent (a Python "
    "event filter made PySide6 build ~80 QEvent types). What remains over a bare window, CPU of the main thread on "
    "a quiet machine: the app's modules ~15 ms (settings and paths with dataclasses and json, the command line's "
    "window arguments, the outline, the stage runner), the window's own types and construction ~8 ms (QPlainTextEdit, "
    "QPushButton, layouts, QStatusBar), the application's name and icon ~3 ms, the theme module and palette ~5 ms, "
    "the lock file ~1 ms. A first start (no scheme remembered) and the explicit dark or light theme pay the `Qt` "
    "namespace before the first paint as well."
)


CPU_SECONDS: list[float] = []  # each probe's CPU time (user + system, os.wait4): it runs to ready, then quits


def _time_to_ready(code: str, basedir: str, tree: str | None = None) -> tuple[float, str]:
    """``tree``: the checkout whose ``app`` runs (default: whatever ``app`` this interpreter imports). The process's
    CPU time is appended to ``CPU_SECONDS``: less moved by this machine's load than the wall time."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    if tree is not None:  # (run from there too: ``-c`` puts the working directory first on sys.path)
        env["PYTHONPATH"] = tree
    # An installed app has its bytecode compiled (pip does it at install); this machine sets
    # PYTHONDONTWRITEBYTECODE, which would make every start recompile the app's sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code, basedir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tree,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while True:  # (os.wait4, not process.wait: it reports the child's CPU time)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            CPU_SECONDS.append(usage.ru_utime + usage.ru_stime)
            break
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the start probe did not quit")
        time.sleep(0.005)
    process.stdout.close()
    if not line.startswith("ready"):
        raise RuntimeError(f"start probe failed: {line!r}")
    return elapsed, line


def run(quick: bool = False) -> Section:
    rounds = 2 if quick else 7
    app_times, base_times = [], []
    llama_imported = False
    with tempfile.TemporaryDirectory() as basedir:
        _time_to_ready(APP, basedir)  # warm the page cache for both
        _time_to_ready(BASELINE, basedir)
        for _ in range(rounds):
            seconds, line = _time_to_ready(APP, basedir)
            app_times.append(seconds)
            llama_imported |= "True" in line
            base_times.append(_time_to_ready(BASELINE, basedir)[0])
    app_s, base_s = median(app_times), median(base_times)
    ratio = app_s / base_s
    return Section(
        title="4. Cold start (process start → main window ready, no model)",
        command="python -m bench cold_start",
        figures=[
            Figure("bare PySide6 window (baseline)", base_s * 1000, "ms"),
            Figure("Hermes Studio main window", app_s * 1000, "ms", "< 1000 ms", app_s < 1.0),
            Figure("ratio app / baseline", ratio, "×", "≤ 1.5", ratio <= 1.5),
            Figure("llama_cpp imported on the start path (0 = no)", float(llama_imported), "", "0", not llama_imported),
        ],
        notes=f"Median of {rounds} interleaved fresh processes each, offscreen, warm page cache, bytecode compiled "
        "(as after an install). " + WHERE_THE_TIME_GOES,
    )


def compare(
    against: str, rounds: int = 9, chats: int = 0
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]:
    """Seconds to ready for the bare window, the app of ``against`` and this checkout's, interleaved; each process's
    CPU seconds (to ready, then its quit); and seconds to the apps' windows finished (separate processes)."""
    trees = {"bare": str(REPO), "against": against, "this": str(REPO)}
    times: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    built: dict[str, list[float]] = {name: [] for name in trees if name != "bare"}
    with tempfile.TemporaryDirectory() as folder:
        basedirs = {name: os.path.join(folder, name) for name in trees}  # one each: their schemas may differ
        for name, tree in trees.items():
            if chats and name != "bare":
                env = {**os.environ, "PYTHONPATH": tree}
                subprocess.run([sys.executable, "-c", FILL, basedirs[name], str(chats)], check=True, env=env, cwd=tree)
        for name, tree in trees.items():  # warm the page cache and the bytecode of each
            _time_to_ready(BASELINE if name == "bare" else APP, basedirs[name], tree)
        for _ in range(rounds):
            for name, tree in trees.items():
                times[name].append(_time_to_ready(BASELINE if name == "bare" else APP, basedirs[name], tree)[0])
                cpu[name].append(CPU_SECONDS[-1])
            for name, finished in built.items():
                finished.append(_time_to_ready(BUILT, basedirs[name], trees[name])[0])
    return times, cpu, built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start")
    parser.add_argument("--against", required=True, help="the root of another checkout (the change's before)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--chats", type=int, default=0, help="chats in each app's base directory (default: none)")
    args = parser.parse_args(argv)
    times, cpu, built = compare(args.against, args.rounds, args.chats)
    bare, bare_cpu = median(times["bare"]), median(cpu["bare"])
    for name, values in times.items():
        print(f"{name:8} median {median(values) * 1000:7.1f} ms  ratio to the bare {median(values) / bare:5.2f}  "
              f"CPU {median(cpu[name]) * 1000:7.1f} ms  ratio {median(cpu[name]) / bare_cpu:5.2f}")  # fmt: skip
    for name, values in built.items():
        print(f"{name:8} window finished (every stage built): median {median(values) * 1000:7.1f} ms")
    print(f"{args.chats} chats in each base directory; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
