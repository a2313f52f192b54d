"""Serve with vLLM: a GPTQ/AWQ download cannot run in llama.cpp; vLLM runs it, here (when installed) or elsewhere.

The dialog shows the exact ``vllm serve`` command for the downloaded branch (settings read from its
``quantize_config.json``); where ``vllm`` is installed it starts it as a managed process and adds it
as a remote engine once it answers, so its model appears in the model picker.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.engines.remote_store import EnginesError, RemoteEngineStore
from app.core.engines.vllm import VllmError, VllmProcess, command_text, vllm_command, vllm_installed
from app.ui.background import Background
from app.ui.engines.engines_dialog import ELSEWHERE_HELP


class ServeWithVllmDialog(QDialog):
    engine_added = Signal(str)  # the remote engine's name, once vLLM answers

    def __init__(
        self,
        model_dir: Path,
        engines: RemoteEngineStore,
        background: Background,
        log_dir: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Serve with vLLM: {model_dir.name}")
        self.model_dir, self.engines, self.background, self.log_dir = model_dir, engines, background, log_dir
        self.process: VllmProcess | None = None
        self.port = QSpinBox(minimum=1024, maximum=65535, value=8000)
        self.port.setAccessibleName("vLLM port")
        self.command = QPlainTextEdit(readOnly=True)
        self.command.setAccessibleName("The vLLM command")
        self.command.setMaximumHeight(90)
        self.message = QLabel(wordWrap=True)
        self.copy_button = QPushButton("Copy command")
        self.start_button = QPushButton("Start vLLM here")
        help_text = QLabel(ELSEWHERE_HELP + " Add it in Engines… (model bar).", wordWrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("GPTQ and AWQ models do not run in llama.cpp; vLLM serves them on an NVIDIA GPU."))
        layout.addWidget(self.port)
        layout.addWidget(self.command)
        layout.addWidget(self.message)
        layout.addWidget(help_text)
        layout.addWidget(buttons)
        self.port.valueChanged.connect(self._update)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.command.toPlainText()))
        self.start_button.clicked.connect(self.start)
        self.finished.connect(lambda _result: self.stop_unused())
        self._update()

    def command_list(self) -> list[str]:
        return vllm_command(self.model_dir, port=self.port.value())

    def _update(self) -> None:
        try:
            self.command.setPlainText(command_text(self.command_list()))
        except VllmError as exc:
            self.command.setPlainText(f"vllm serve {self.model_dir} --quantization gptq|awq --port {self.port.value()}")
            self.message.setText(f"{exc} Download the branch first (Download, then come back here).")
            self.start_button.setEnabled(False)
            return
        if vllm_installed():
            self.message.setText("vLLM is installed here: Start runs it and adds it to your engines when it answers.")
            self.start_button.setEnabled(True)
        else:
            self.message.setText("vLLM is not installed on this machine: run the command on a GPU machine.")
            self.start_button.setEnabled(False)

    def start(self) -> None:
        self.process = VllmProcess(self.command_list(), self.log_dir / f"vllm-{self.model_dir.name}.log")
        process = self.process
        self.start_button.setEnabled(False)
        self.message.setText("Starting vLLM (loading a large model takes minutes)…")
        self.background.run(process.start, lambda _models: self._started(process), self._failed)

    def _started(self, process: VllmProcess) -> None:
        name = f"vLLM · {self.model_dir.name}"
        try:
            if self.engines.get(name) is None:
                self.engines.add(name, process.url, process.api_key)
        except EnginesError as exc:
            self._failed(exc)
            return
        self.message.setText(f"vLLM answers at {process.url}; its model is in the model picker ({name}).")
        self.engine_added.emit(name)

    def _failed(self, error: Exception) -> None:
        self.message.setText(str(error))
        self.start_button.setEnabled(vllm_installed())

    def stop_unused(self) -> None:
        """A process that never answered is not left behind when the dialog closes."""
        if self.process is not None and not self.engines.get(f"vLLM · {self.model_dir.name}"):
            self.process.stop()
