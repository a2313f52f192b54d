"""Per-model load options (the model bar's "Load options…"): context, GPU layers, flash attention, KV cache,
threads, mmap, with the automatic offload's estimate for this model on this machine as they change.

The dialog only edits LoadOptions; the caller keeps them (app.core.library.model_options.ModelOptionsStore.remember)
and reloads the model. ``GpuLayersBox`` is the spin box for auto / all / N, for the settings dialog too.
"""

from __future__ import annotations

import os

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.types import LoadOptions
from app.core.engines.devices import DeviceReport
from app.core.engines.offload import ALL, AUTO, FLASH_ATTENTION, KV_TYPES, check_options, parse_gpu_layers, plan_offload
from app.core.errors import HermesError
from app.core.library.gguf_file import GGUFInfo

_FLASH_LABELS = {"auto": "Auto", "on": "On", "off": "Off"}
_KV_LABELS = {"f16": "f16 (full precision)", "q8_0": "q8_0 (half the memory)", "q4_0": "q4_0 (a quarter)"}


class GpuLayersBox(QSpinBox):
    """-2 "Auto (as many as fit)", -1 "All layers", else a number of layers; typing auto/all works too."""

    def __init__(self, value: int = AUTO, parent: QWidget | None = None) -> None:
        super().__init__(parent, minimum=AUTO, maximum=100_000)
        self.setValue(value)
        self.setToolTip("Layers llama.cpp puts on the GPU. Auto: as many as fit the GPU's free memory.")

    def textFromValue(self, value: int) -> str:
        return {AUTO: "Auto (as many as fit)", ALL: "All layers"}.get(value, str(value))

    def valueFromText(self, text: str) -> int:
        word = text.strip().lower().split(" ")[0]
        try:
            return parse_gpu_layers(word)
        except HermesError:
            return self.value()

    def validate(self, text: str, pos: int) -> QValidator.State:  # type: ignore[override]  # PySide6 takes a State
        word = text.strip().lower()
        if word.isdigit() or any(name.lower().startswith(word) for name in ("auto (as many as fit)", "all layers")):
            return QValidator.State.Acceptable if word else QValidator.State.Intermediate
        return QValidator.State.Invalid


class LoadOptionsDialog(QDialog):
    """Edit one model's load options; ``result_options()`` once accepted. "Defaults" restores the global ones."""

    def __init__(
        self,
        model_name: str,
        options: LoadOptions,
        defaults: LoadOptions,
        *,
        info: GGUFInfo | None = None,
        report: DeviceReport | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Load options: {model_name}")
        self._defaults, self._info, self._report = defaults, info, report
        self.context_size = QSpinBox(minimum=0, maximum=1 << 24, singleStep=1024)
        self.context_size.setSuffix(" tokens")
        self.context_size.setSpecialValueText("The model's own")
        self.gpu_layers = GpuLayersBox()
        self.flash_attn = QComboBox()
        for key in FLASH_ATTENTION:
            self.flash_attn.addItem(_FLASH_LABELS[key], key)
        self.kv_cache_type = QComboBox()
        for key in KV_TYPES:
            self.kv_cache_type.addItem(_KV_LABELS[key], key)
        self.cpu_threads = QSpinBox(minimum=0, maximum=512)
        self.cpu_threads.setSpecialValueText(f"Automatic ({max(1, (os.cpu_count() or 2) // 2)})")
        self.use_mmap = QCheckBox("Map the model file (mmap): faster loads, memory shared with the page cache")
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #c0392b;")

        form = QFormLayout()
        form.addRow("Context size", self.context_size)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("Flash attention", self.flash_attn)
        form.addRow("KV cache", self.kv_cache_type)
        form.addRow("CPU threads", self.cpu_threads)
        form.addRow("", self.use_mmap)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        restore = self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(lambda: self.set_options(self._defaults))
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.estimate)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.set_options(options)
        for spin in (self.context_size, self.gpu_layers, self.cpu_threads):
            spin.valueChanged.connect(self._update)
        for combo in (self.flash_attn, self.kv_cache_type):
            combo.currentIndexChanged.connect(self._update)
        self.use_mmap.toggled.connect(self._update)
        self._update()

    def set_options(self, options: LoadOptions) -> None:
        self.context_size.setValue(options.context_size)
        self.gpu_layers.setValue(options.gpu_layers)
        self.flash_attn.setCurrentIndex(max(0, self.flash_attn.findData(options.flash_attn)))
        self.kv_cache_type.setCurrentIndex(max(0, self.kv_cache_type.findData(options.kv_cache_type)))
        self.cpu_threads.setValue(options.cpu_threads)
        self.use_mmap.setChecked(options.use_mmap)

    def result_options(self) -> LoadOptions:
        return LoadOptions(
            context_size=self.context_size.value(),
            cpu_threads=self.cpu_threads.value(),
            gpu_layers=self.gpu_layers.value(),
            flash_attn=self.flash_attn.currentData(),
            kv_cache_type=self.kv_cache_type.currentData(),
            use_mmap=self.use_mmap.isChecked(),
        )

    def _update(self) -> None:
        options = self.result_options()
        try:
            check_options(options)
        except HermesError as exc:
            self.problem.setText(str(exc))
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        else:
            self.problem.setText("")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        if self._info is None or self._report is None:
            self.estimate.setText("")
            return
        plan = plan_offload(self._info, options, self._report)
        where = plan.device.label if plan.device else "the CPU"
        self.estimate.setText(f"On this machine: {plan.on_gpu}/{plan.total_layers} layers on {where} ({plan.reason}).")
