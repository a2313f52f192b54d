"""The load options' fields — context, GPU layers, flash attention, KV cache, threads, mmap — for one model
(the model bar's "Load options…") and for every model's defaults (Settings). ``GpuLayersBox`` edits auto / all / N.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox, QWidget

from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import ALL, AUTO, FLASH_ATTENTION, KV_TYPES, parse_gpu_layers
from app.core.errors import HermesError

_FLASH_LABELS = {"auto": "Auto", "on": "On", "off": "Off"}
_KV_LABELS = {"f16": "f16 (full precision)", "q8_0": "q8_0 (half the memory)", "q4_0": "q4_0 (a quarter)"}
_AUTO_TEXT, _ALL_TEXT = "Auto (as many as fit)", "All layers"


class GpuLayersBox(QSpinBox):
    """-2 "Auto (as many as fit)", -1 "All layers", else a number of layers; typing auto/all works too."""

    def __init__(self, value: int = AUTO, parent: QWidget | None = None) -> None:
        super().__init__(parent, minimum=AUTO, maximum=100_000)
        self.setValue(value)
        self.setToolTip("Layers llama.cpp puts on the GPU. Auto: as many as fit the GPU's free memory.")
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance(_AUTO_TEXT) + 48)

    def textFromValue(self, value: int) -> str:
        return {AUTO: _AUTO_TEXT, ALL: _ALL_TEXT}.get(value, str(value))

    def valueFromText(self, text: str) -> int:
        word = text.strip().lower().split(" ")[0]
        try:
            return parse_gpu_layers(word)
        except HermesError:
            return self.value()

    def validate(self, text: str, pos: int) -> QValidator.State:  # type: ignore[override]  # PySide6 takes a State
        word = text.strip().lower()
        if word.isdigit() or any(name.lower().startswith(word) for name in (_AUTO_TEXT, _ALL_TEXT)):
            return QValidator.State.Acceptable if word else QValidator.State.Intermediate
        return QValidator.State.Invalid


class LoadOptionsFields:
    """The six fields of ``LoadOptions``; ``per_model`` allows context 0, "the model's own"."""

    def __init__(self, *, per_model: bool) -> None:
        maximum = 1 << 24 if per_model else 1 << 20  # Settings keeps defaults to 1M tokens
        self.context_size = QSpinBox(minimum=0 if per_model else 256, maximum=maximum, singleStep=1024)
        self.context_size.setSuffix(" tokens")
        if per_model:
            self.context_size.setSpecialValueText("The model's own")
        self.gpu_layers = GpuLayersBox()
        self.flash_attn = QComboBox()
        for key in FLASH_ATTENTION:
            self.flash_attn.addItem(_FLASH_LABELS[key], key)
        self.kv_cache_type = QComboBox()
        for key in KV_TYPES:
            self.kv_cache_type.addItem(_KV_LABELS[key], key)
        self.kv_cache_type.setToolTip(
            "q8_0 halves the KV cache's memory (a longer context fits); it needs flash attention"
        )
        self.cpu_threads = QSpinBox(minimum=0, maximum=512)
        self.cpu_threads.setSpecialValueText(f"Automatic ({max(1, (os.cpu_count() or 2) // 2)})")
        self.use_mmap = QCheckBox("Map the model file (mmap): faster loads, memory shared with the page cache")
        self._prompt_lookup = 0  # kept as given (Settings → Performance edits it: engines/state_fields.py)

    def rows(self, context_label: str = "Context size") -> list[tuple[str, QWidget]]:
        """(label, field) for a form; the check box carries its own text."""
        return [(context_label, self.context_size), ("GPU layers", self.gpu_layers),
                ("Flash attention", self.flash_attn), ("KV cache", self.kv_cache_type),
                ("CPU threads", self.cpu_threads), ("", self.use_mmap)]  # fmt: skip

    def set_options(self, options: LoadOptions) -> None:
        self.context_size.setValue(options.context_size)
        self.gpu_layers.setValue(options.gpu_layers)
        self.flash_attn.setCurrentIndex(max(0, self.flash_attn.findData(options.flash_attn)))
        self.kv_cache_type.setCurrentIndex(max(0, self.kv_cache_type.findData(options.kv_cache_type)))
        self.cpu_threads.setValue(options.cpu_threads)
        self.use_mmap.setChecked(options.use_mmap)
        self._prompt_lookup = options.prompt_lookup

    def options(self) -> LoadOptions:
        return LoadOptions(
            context_size=self.context_size.value(),
            cpu_threads=self.cpu_threads.value(),
            gpu_layers=self.gpu_layers.value(),
            flash_attn=self.flash_attn.currentData(),
            kv_cache_type=self.kv_cache_type.currentData(),
            use_mmap=self.use_mmap.isChecked(),
            prompt_lookup=self._prompt_lookup,
        )

    def on_change(self, callback: Callable[[], None]) -> None:
        for spin in (self.context_size, self.gpu_layers, self.cpu_threads):
            spin.valueChanged.connect(callback)
        for combo in (self.flash_attn, self.kv_cache_type):
            combo.currentIndexChanged.connect(callback)
        self.use_mmap.toggled.connect(callback)
