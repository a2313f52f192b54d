"""A year of use (issue 27): the app's figures with a heavy user's data against a small setup.

Both setups are built through the core's own APIs in temporary base directories (seeded): chats and
messages (some chats of 2,000 messages with branches), model files (hard links to the starter model, plus
broken ones), presets (some with portraits) and a saved download queue. Every figure is measured small vs
large in the same run; GUI-thread stalls are the longest gap of a 1 ms timer while an action runs.
"""

from __future__ import annotations

import functools
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Figure, Section, median, sample_markdown, starter_model

WORDS = [
    "the",
    "a",
    "model",
    "token",
    "reply",
    "chat",
    "memory",
    "python",
    "rust",
    "river",
    "mountain",
    "garden",
    "letter",
    "story",
    "music",
    "recipe",
    "engine",
    "window",
    "thread",
    "history",
    "search",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "summer",
    "winter",
    "travel",
    "budget",
    "plan",
]
LONG_CHAT = 2000  # messages in each long chat


@dataclass(frozen=True)
class Scale:
    chats: int
    messages_per_chat: int
    long_chats: int
    models: int
    broken: int
    presets: int
    portraits: int
    downloads: int


SMALL = Scale(chats=20, messages_per_chat=20, long_chats=0, models=3, broken=1, presets=5, portraits=2, downloads=2)
LARGE = Scale(
    chats=5000, messages_per_chat=42, long_chats=3, models=300, broken=50, presets=1000, portraits=300, downloads=200
)
QUICK_LARGE = Scale(
    chats=300, messages_per_chat=20, long_chats=1, models=30, broken=5, presets=100, portraits=30, downloads=50
)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _portrait(index: int) -> bytes:
    """A 256×256 PNG, as a card's avatar is."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(256, 256, QImage.Format.Format_RGB32)
    image.fill(QColor.fromHsv(index * 37 % 360, 160, 200))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide takes a str here, its stubs say bytes
    return bytes(data.data())


def build(root: Path, scale: Scale, seed: int = 27) -> dict[str, Any]:
    """The setup in ``root`` (a --basedir): returns what the measurements need (the long chat's id, folders)."""
    from app.core.history.store import ChatStore
    from app.core.hub.download_jobs import Download, safe_destination, saved
    from app.core.hub.download_store import QueueStore
    from app.core.paths import resolve_paths
    from app.core.personas.presets import Preset, PresetLibrary

    rng = random.Random(seed)
    paths = resolve_paths(root).ensure()
    models_dir = paths.default_models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    store = ChatStore(paths.chats_db)
    long_chat = 0
    for _ in range(scale.long_chats):
        turns = [("user" if i % 2 == 0 else "assistant", "") for i in range(LONG_CHAT - 1)]
        texts = [
            (role, _sentence(rng, 12) if role == "user" else sample_markdown(i)) for i, (role, _) in enumerate(turns)
        ]
        long_chat = store.record_chat(texts, sample_markdown(LONG_CHAT), model="bench")
        path = store.active_path(long_chat)
        for at in (100, 900, 1500):  # a few edited turns: branches, the long path stays the active one
            store.add_message(long_chat, path[at].parent_id, "user", _sentence(rng, 10))
        store.switch_to(path[-1].id)
    for index in range(scale.chats):
        texts = [
            ("user" if i % 2 == 0 else "assistant", _sentence(rng, 10 if i % 2 == 0 else 60))
            for i in range(scale.messages_per_chat - 1)
        ]
        chat = store.record_chat(texts, _sentence(rng, 40), model="bench")
        if index == 0 and not long_chat:
            long_chat = chat
    store.close()

    starter = starter_model()
    for index in range(scale.models):
        target = models_dir / f"vendor{index % 40}" / f"model-{index:04d}.Q4_K_M.gguf"
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(starter, target)
        except OSError:
            os.symlink(starter, target)
    for index in range(scale.broken):
        (models_dir / f"broken-{index:03d}.gguf").write_bytes(rng.randbytes(4096))

    library = PresetLibrary(paths.presets_dir)
    portrait = _portrait(0) if scale.portraits else b""
    for index in range(scale.presets):
        library.create(
            Preset(
                id="",
                name=f"Persona {index:04d} {rng.choice(WORDS)}",
                system_prompt=_sentence(rng, 40),
                greeting=_sentence(rng, 12),
                avatar_png=portrait if index < scale.portraits else b"",
            )
        )

    jobs = [
        Download(
            f"org{i}/repo{i}",
            f"model-{i}.Q4_K_M.gguf",
            "main",
            safe_destination(models_dir, f"org{i}/repo{i}", f"model-{i}.Q4_K_M.gguf"),
        )
        for i in range(scale.downloads)
    ]
    queue_file = paths.data / "downloads.db"
    queue = QueueStore(queue_file)
    for job in jobs:
        queue.put(saved(job, paused=job.filename.startswith("model-1")))  # some paused by the user
    queue.close()
    return {"paths": paths, "long_chat": long_chat, "jobs": jobs, "queue_file": queue_file}


class StallMeter:
    """The longest gap between two ticks of a 1 ms timer on the GUI thread, while ``measure`` spins the loop."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer(interval=1)
        self.timer.setTimerType(self.timer.timerType().PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def measure(
        self, action: Callable[[], object], done: Callable[[], bool], timeout_s: float = 120.0
    ) -> tuple[float, float]:
        """Run ``action`` from the event loop; spin until ``done()``; return (elapsed, worst stall) in seconds."""
        from PySide6.QtCore import QCoreApplication, QTimer

        app = QCoreApplication.instance()
        assert app is not None
        self.worst = 0.0
        self.timer.start()
        started = self.last = time.perf_counter()
        QTimer.singleShot(0, action)
        while True:
            app.processEvents()
            if done() or time.perf_counter() - started > timeout_s:
                break
            time.sleep(0.0005)
        elapsed = time.perf_counter() - started
        settle = time.perf_counter() + 0.15  # what the action left queued (timers) counts too
        while time.perf_counter() < settle:
            app.processEvents()
            time.sleep(0.0005)
        self.timer.stop()
        self._tick()
        return elapsed, self.worst


START_PROBE = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.ui.main_window as main_window
show = main_window.MainWindow.show
def show_then_report(self):
    show(self)
    state = {"last": time.perf_counter(), "worst": 0.0, "ticks": 0}
    print("ready", flush=True)
    def tick():
        now = time.perf_counter()
        state["worst"] = max(state["worst"], now - state["last"])
        state["last"] = now
        state["ticks"] += 1
    timer = QTimer(self, interval=1)
    timer.timeout.connect(tick)
    timer.start()
    def report():
        print("stall", state["worst"], flush=True)
        self.close()
        QApplication.quit()
    QTimer.singleShot(2000, report)
main_window.MainWindow.show = show_then_report
from app.cli import main
sys.exit(main(["--basedir", sys.argv[1]]))
"""


def measure_start(basedir: Path) -> tuple[float, float]:
    """Process start → window shown, and the worst GUI stall in the 2 s after (seconds)."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", START_PROBE, str(basedir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    ready = time.perf_counter() - started
    stall_line = process.stdout.readline()
    process.wait(timeout=60)
    if not line.startswith("ready") or not stall_line.startswith("stall"):
        raise RuntimeError(f"start probe failed: {line!r} {stall_line!r}")
    return ready, float(stall_line.split()[1])


def measure_chat(setup: dict[str, Any], meter: StallMeter) -> dict[str, float]:
    """Open the setup's longest chat in the chat view: to first paint, the worst stall, then a resize."""
    from PySide6.QtWidgets import QApplication

    from app.core.history.store import ChatStore
    from app.ui.chat.chat_view import ChatView
    from tests.chat_harness import ChatHarness

    store = ChatStore(setup["paths"].chats_db)
    chat = ChatHarness(store)
    view = ChatView()
    view.resize(900, 800)
    view.setModel(chat.model)
    view.show()
    QApplication.processEvents()
    painted = {"at": 0.0}

    def open_chat() -> None:
        started_cpu = time.thread_time()
        chat.session.open(setup["long_chat"])
        view.viewport().repaint()
        painted["at"] = time.perf_counter()
        painted["cpu"] = time.thread_time() - started_cpu  # the GUI thread's own work, whatever the machine's load

    opens, cpus, stalls, resize_stalls = [], [], [], []
    for round_ in range(3):
        chat.session.new()
        QApplication.processEvents()
        painted["at"] = 0.0
        started = time.perf_counter()
        _elapsed, stall = meter.measure(open_chat, lambda: painted["at"] > 0)
        opens.append(painted["at"] - started)
        cpus.append(painted["cpu"])
        stalls.append(stall)
        width = 900 + 60 * (round_ + 1)
        _elapsed, stall = meter.measure(functools.partial(view.resize, width, 800), lambda: True)
        resize_stalls.append(stall)
    rows = chat.model.rowCount()
    view.close()
    view.deleteLater()
    store.close()
    QApplication.processEvents()
    return {
        "rows": rows,
        "open": median(opens),
        "open_cpu": median(cpus),
        "open_stall": max(stalls),
        "resize_stall": median(resize_stalls),
    }


def measure_search(setup: dict[str, Any]) -> dict[str, float]:
    """The sidebar's query (a page of results, on the searcher's own connection) and every match (the CLI's)."""
    from app.core.history.search import ChatSearch
    from app.core.history.store import ChatStore

    store = ChatStore(setup["paths"].chats_db)
    searcher = ChatSearch(setup["paths"].chats_db)
    figures = {}
    for query in ("the", "t", "quick brown"):
        pages, everything, cpu = [], [], []
        for _ in range(3):
            started, started_cpu = time.perf_counter(), time.thread_time()
            searcher.chats(query)
            pages.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
            started = time.perf_counter()
            store.list_chats(query)
            everything.append(time.perf_counter() - started)
        figures[query] = median(pages)
        figures[f"{query} cpu"] = median(cpu)
        figures[f"{query} all"] = median(everything)
    started = time.perf_counter()
    store.list_chats()
    figures["list"] = time.perf_counter() - started
    searcher.close()
    store.close()
    return figures


def measure_sidebar(setup: dict[str, Any], meter: StallMeter) -> dict[str, float]:
    """The sidebar's search as typed: refresh → the answer shown (elapsed) and the worst GUI stall meanwhile."""
    from PySide6.QtWidgets import QApplication

    from app.core.history.store import ChatStore
    from app.ui.chat.chat_list import ChatSidebar

    store = ChatStore(setup["paths"].chats_db)
    sidebar = ChatSidebar(store)
    sidebar.resize(300, 800)
    sidebar.show()
    resets = {"n": 0}
    sidebar.model.modelReset.connect(lambda: resets.__setitem__("n", resets["n"] + 1))
    figures: dict[str, float] = {}
    for query in ("the", "t", "quick brown"):
        answers, stalls = [], []
        for _ in range(3):
            sidebar.search.blockSignals(True)  # no debounce timer: refresh is the measured action
            sidebar.search.setText(query)
            sidebar.search.blockSignals(False)
            before = resets["n"]
            elapsed, stall = meter.measure(sidebar.refresh, functools.partial(_changed, resets, before))
            answers.append(elapsed)
            stalls.append(stall)
        figures[f"{query} answer"] = median(answers)
        figures[f"{query} stall"] = max(stalls)
    close = getattr(sidebar, "close_search", None)
    if close is not None:
        close()
    sidebar.close()
    sidebar.deleteLater()
    store.close()
    QApplication.processEvents()
    return figures


def _changed(counter: dict[str, int], before: int) -> bool:
    return counter["n"] > before


def measure_models(setup: dict[str, Any], meter: StallMeter) -> dict[str, float]:
    """My Models: the page built → rows shown (elapsed, worst stall); then a refresh (as after an import)."""
    from app.ui.background import Background
    from app.ui.hub.models_page import ModelsPage

    background = Background()
    folders = [setup["paths"].default_models_dir]
    holder: dict[str, Any] = {}
    first, first_stall = meter.measure(
        lambda: holder.setdefault("page", ModelsPage(folders, background)),
        lambda: "page" in holder and holder["page"].model.rowCount() > 0,
    )
    page = holder["page"]
    all_read, all_stall = meter.measure(lambda: None, lambda: not page.reading)  # the headers, batch by batch
    all_read += first
    before = page._refresh
    again, again_stall = meter.measure(
        page.refresh, lambda: page._refresh == before + 1 and page.summary.text() != "Reading the library…"
    )
    background.shutdown()
    page.deleteLater()
    return {
        "first": first,
        "first_stall": first_stall,
        "all_read": all_read,
        "all_stall": max(first_stall, all_stall),
        "again": again,
        "again_stall": again_stall,
    }


def measure_presets(setup: dict[str, Any]) -> dict[str, float]:
    from app.core.personas.presets import PresetLibrary

    started = time.perf_counter()
    library = PresetLibrary(setup["paths"].presets_dir)
    load = time.perf_counter() - started
    ids = [preset.id for preset in library.presets()][-20:]
    started = time.perf_counter()
    for preset_id in ids:  # a chat-list scroll notch: one preset name per row
        library.name_of(preset_id)
    names = time.perf_counter() - started
    return {"load": load, "names": names}


def measure_downloads(setup: dict[str, Any], meter: StallMeter) -> dict[str, float]:
    """The saved queue restored with its page (as the start does), then Download clicks: one row saved, and a
    click → the row shown; worker threads for the whole queue."""
    from PySide6.QtWidgets import QApplication

    from app.core.hub.download_jobs import Download, saved
    from app.core.hub.download_store import QueueStore
    from app.core.hub.downloads import DownloadManager
    from app.ui.hub.downloads_page import DownloadsPage

    paths = setup["paths"]
    holder: dict[str, Any] = {}

    def restore() -> None:  # nowhere to download from: the queue, not the network, is measured
        manager = DownloadManager(paths.default_models_dir, setup["queue_file"], endpoint="http://127.0.0.1:9",
                                  retries=0, autostart=False)  # fmt: skip
        page = DownloadsPage(manager)
        page.resize(1000, 700)
        page.show()
        holder.update(manager=manager, page=page)

    restore_s, restore_stall = meter.measure(restore, lambda: "page" in holder)
    manager, page = holder["manager"], holder["page"]
    store = QueueStore(setup["queue_file"])
    saves, clicks = [], []
    for i in range(5):
        job = Download(f"bench{i}/save", "x.gguf", "main", paths.default_models_dir / "x.gguf")
        started = time.perf_counter()
        store.put(saved(job))
        saves.append(time.perf_counter() - started)
        store.remove(job.key)
        started = time.perf_counter()
        key = manager.enqueue(f"bench{i}/click", "x.gguf").key
        page.refresh()
        clicks.append(time.perf_counter() - started)
        manager.forget(manager.wait(key, timeout=30).key)
    store.close()
    for job in manager.jobs()[:20]:
        manager.resume(job.key)  # 20 downloads in the queue at once
    threads = manager.threads()
    page.timer.stop()
    manager.shutdown()
    page.close()
    page.deleteLater()
    QApplication.processEvents()
    return {
        "restore": restore_s,
        "restore_stall": restore_stall,
        "save": median(saves),
        "click": median(clicks),
        "threads": threads / 1000,  # shown as a count by pair()'s ×1000
    }


def run(quick: bool = False) -> Section:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication(sys.argv[:1])
    large_scale = QUICK_LARGE if quick else LARGE
    results: dict[str, dict[str, Any]] = {}
    build_s = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        meter = StallMeter()
        for name, scale in (("small", SMALL), ("large", large_scale)):
            started = time.perf_counter()
            setup = build(Path(scratch) / name, scale)
            build_s = time.perf_counter() - started
            starts = [measure_start(Path(scratch) / name) for _ in range(1 if quick else 3)]
            results[name] = {
                "start": median([s[0] for s in starts]),
                "start_stall": max(s[1] for s in starts),
                "chat": measure_chat(setup, meter),
                "search": measure_search(setup),
                "sidebar": measure_sidebar(setup, meter),
                "models": measure_models(setup, meter),
                "presets": measure_presets(setup),
                "downloads": measure_downloads(setup, meter),
            }
    return Section(
        title="Scale: a year of use (small vs large setup)",
        command="python -m bench.scale",
        figures=_figures(results["small"], results["large"], large_scale, build_s),
        notes=f"Large setup: {large_scale.chats:,} chats of {large_scale.messages_per_chat} messages plus "
        f"{large_scale.long_chats} of {LONG_CHAT:,} (with branches), {large_scale.models} models + "
        f"{large_scale.broken} broken files, {large_scale.presets:,} presets ({large_scale.portraits} with portraits), "
        f"{large_scale.downloads} saved downloads; small: {SMALL.chats} chats, {SMALL.models} models, "
        f"{SMALL.presets} presets. Stalls: the longest gap of a 1 ms GUI timer during the action. "
        f"Building the large setup took {build_s:.0f} s.",
    )


def _figures(small: dict[str, Any], large: dict[str, Any], scale: Scale, build_s: float) -> list[Figure]:
    def pair(name: str, key: tuple[str, ...], target: str = "", limit: float | None = None) -> list[Figure]:
        """The figure small and large (in ms); the target applies to the large one."""
        values = []
        for setup in (small, large):
            value: Any = setup
            for part in key:
                value = value[part]
            values.append(float(value) * 1000)
        passed = None if limit is None else values[1] <= limit * 1000
        return [Figure(f"{name}, small", values[0], "ms"), Figure(f"{name}, large", values[1], "ms", target, passed)]

    ratio = large["start"] / max(small["start"], 1e-9)
    stall, rows = "≤ 50 ms", f"{large['chat']['rows']:.0f}"
    figures = [
        *pair("start → window shown", ("start",)),
        Figure("start ratio large / small", ratio, "×", "≤ 1.5", ratio <= 1.5),
        *pair("worst GUI stall in the 2 s after start", ("start_stall",), stall, 0.05),
        *pair(f"open the longest chat ({rows} messages large) → first paint", ("chat", "open"), "< 150 ms", 0.15),
        *pair("the same, the GUI thread's CPU time (the machine's load left out)", ("chat", "open_cpu")),
        *pair("worst GUI stall opening it", ("chat", "open_stall"), stall, 0.05),
        *pair("resize with it open: worst GUI stall", ("chat", "resize_stall"), stall, 0.05),
        *pair("chat list (all chats) from the store", ("search", "list")),
    ]
    for query in ("the", "t", "quick brown"):
        figures += pair(f"sidebar search {query!r} in the store (a page)", ("search", query), "< 50 ms", 0.05)
        figures += pair(f"sidebar search {query!r} in the store (a page), CPU time", ("search", f"{query} cpu"))
        figures += pair(f"search {query!r}: every match (the CLI's list)", ("search", f"{query} all"))
    for query in ("the", "t", "quick brown"):
        figures += pair(f"sidebar search {query!r}: worst GUI stall", ("sidebar", f"{query} stall"), stall, 0.05)
        figures += pair(f"sidebar search {query!r}: answer shown", ("sidebar", f"{query} answer"))
    figures += [
        *pair("My Models: rows shown", ("models", "first"), "< 1000 ms", 1.0),
        *pair("My Models: worst GUI stall while reading", ("models", "first_stall"), stall, 0.05),
        *pair("My Models: every header read", ("models", "all_read")),
        *pair("My Models: worst GUI stall until every header is read", ("models", "all_stall"), stall, 0.05),
        *pair("My Models: read again (as after an import)", ("models", "again")),
        *pair("My Models: worst GUI stall reading again", ("models", "again_stall"), stall, 0.05),
        *pair("presets: load the library", ("presets", "load")),
        *pair("presets: 20 names by id (a chat-list notch)", ("presets", "names")),
        *pair(f"download queue: restored with its page ({scale.downloads} queued large)", ("downloads", "restore")),
        *pair("download queue: worst GUI stall restoring", ("downloads", "restore_stall"), stall, 0.05),
        *pair("download queue: saved per click", ("downloads", "save")),
        *pair("download queue: Download click → row shown", ("downloads", "click")),
        *pair("download queue: worker threads with 20 queued (count, not ms)", ("downloads", "threads")),
    ]
    return figures


if __name__ == "__main__":
    Section.print(run(quick="--quick" in sys.argv))
