"""Per-model load options (the model bar's "Load options…"): context, GPU layers, flash attention, KV cache,
threads, mmap, with the automatic offload's estimate for this model on this machine as they change.

The dialog only edits LoadOptions (its fields are ``load_fields.LoadOptionsFields``, shared with Settings); the
caller keeps them (app.core.engines.model_options.ModelOptionsStore.remember) and reloads the model.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.core.engines.devices import DeviceReport
from app.core.engines.load_options import LoadOptions
from app.core.engines.memory_use import estimate_load
from app.core.engines.offload import check_options, plan_offload
from app.core.errors import HermesError
from app.core.library.gguf_file import GGUFInfo
from app.ui.engines.load_fields import LoadOptionsFields
from app.ui.theme import secondary_text, tone


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
        self.fields = LoadOptionsFields(per_model=True)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        tone(self.problem, "error")

        form = QFormLayout()
        for label, field in self.fields.rows():
            if field is self.fields.context_size and info is not None and info.context_length:
                row = QHBoxLayout()  # the most the model was trained for, beside the field
                row.addWidget(field, 1)
                self.context_limit = secondary_text(QLabel(f"up to {info.context_length:,} for this model"))
                row.addWidget(self.context_limit)
                form.addRow(label, row)
                continue
            form.addRow(label, field)
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
        self.fields.on_change(self._update)
        self._update()

    def set_options(self, options: LoadOptions) -> None:
        self.fields.set_options(options)

    def result_options(self) -> LoadOptions:
        return self.fields.options()

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
        if plan.device is None or plan.on_gpu == 0:
            where = f"all {plan.total_layers} layers on the CPU"
        else:
            where = f"{plan.on_gpu}/{plan.total_layers} layers on {plan.device.label}"
        use = estimate_load(self._info, options, self._report).use
        self.estimate.setText(f"On this machine: {where} ({plan.reason}) · needs {use}.")
