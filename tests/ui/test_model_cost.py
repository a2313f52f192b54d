"""Issue 25, defect 10: what a model costs. The picker says what each model would take before it is loaded; the model
bar says where the loaded one runs, on how many threads, and the memory it takes (estimated from its header)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import QStyleOptionViewItem

from app.core.engines.load_options import LoadOptions
from app.core.engines.memory_use import memory_use
from app.core.library.gguf_file import read_gguf
from app.ui.engines.model_choices import ESTIMATE_ROLE


def test_the_picker_estimates_and_the_model_bar_shows_the_cost(qtbot, library_with_model: Path, window) -> None:
    picker = window.model_picker
    index = picker.findData(str(library_with_model))

    def estimate() -> str:  # (the library is scanned again at start: wait for the last scan's estimate)
        return picker.itemData(picker.findData(str(library_with_model)), ESTIMATE_ROLE) or ""

    qtbot.waitUntil(lambda: re.fullmatch(r"needs ≈ \d+(\.\d)? MB RAM", estimate()) is not None, timeout=30_000)
    index = picker.findData(str(library_with_model))
    option = QStyleOptionViewItem()  # what the picker's list draws for it
    picker.itemDelegate().initStyleOption(option, picker.model().index(index, 0))
    assert re.fullmatch(r"SmolLM2-135M-Instruct\.Q4_1  \(\d+(\.\d)? MB\)  · needs ≈ \d+(\.\d)? MB RAM", option.text)
    tip = picker.itemData(index, 3)  # Qt.ToolTipRole
    assert "2,048-token context" in tip and "CPU" in tip

    with qtbot.waitSignal(window.model_ready, timeout=60_000) as ready:
        window.model_bar.load_model(str(library_with_model))
    loaded = ready.args[0]
    shown = window.model_bar.placement.text().strip()
    threads = loaded.placement.threads
    assert shown.startswith(f"CPU · {threads} thread") and shown.endswith("MB RAM"), shown
    # the estimate is the weights, a 2,048-token f16 KV cache of its 30 layers and the working buffers
    info = read_gguf(library_with_model)
    use = memory_use(info, 2048, "f16", 0)
    kv = 2048 * 30 * 3 * (64 + 64) * 2  # SmolLM2-135M: 3 KV heads of 64
    assert use.ram > info.file_size + kv and use.vram == 0
    assert loaded.placement.ram == use.ram
    assert memory_use(info, 4096, "f16", 0).ram - use.ram >= kv  # twice the context: its KV cache more
    assert memory_use(info, 2048, "q8_0", 0, flash_attention=True).ram < use.ram
    assert LoadOptions().kv_cache_type == "f16"
