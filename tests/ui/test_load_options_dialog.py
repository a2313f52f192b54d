"""The per-model load options dialog and the GPU-layers box (auto / all / N)."""

from __future__ import annotations

from pathlib import Path

from app.core.engines.devices import Device, DeviceReport, GiB
from app.core.engines.load_options import LoadOptions
from app.core.library.gguf_file import read_gguf


def test_gpu_layers_box_shows_and_reads_auto_all_and_counts(qtbot) -> None:
    from app.ui.engines.load_fields import GpuLayersBox

    box = GpuLayersBox()
    qtbot.addWidget(box)
    assert (box.value(), box.text()) == (-2, "Auto (as many as fit)")
    box.setValue(-1)
    assert box.text() == "All layers"
    assert (box.valueFromText("auto"), box.valueFromText("All layers"), box.valueFromText("12")) == (-2, -1, 12)
    box.setValue(33)
    assert box.text() == "33"


def test_the_settings_dialog_keeps_auto(qtbot, tmp_path: Path) -> None:
    from app.core.settings import Settings
    from app.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), tmp_path / "models")  # gpu_layers: auto by default
    qtbot.addWidget(dialog)
    assert dialog.result_settings().gpu_layers == -2  # not clamped to "all" or 0 on the way through


def test_load_options_dialog_edits_checks_and_estimates(qtbot, starter_model: Path) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from app.ui.engines.load_options_dialog import LoadOptionsDialog

    defaults = LoadOptions()
    mine = LoadOptions(context_size=8192, gpu_layers=12, flash_attn="on", kv_cache_type="q8_0", use_mmap=False)
    cpu = Device("CPU", "test CPU", "CPU", "CPU", 32 * GiB, 32 * GiB)
    card = Device("CUDA0", "NVIDIA GeForce RTX 4070", "GPU", "CUDA", 8 * GiB, 12 * GiB)
    report = DeviceReport(("CPU", "CUDA"), (cpu, card), gpu_offload=True)
    dialog = LoadOptionsDialog("SmolLM2", mine, defaults, info=read_gguf(starter_model), report=report)
    qtbot.addWidget(dialog)
    assert dialog.result_options() == mine
    assert "12/31 layers on CUDA · NVIDIA GeForce RTX 4070" in dialog.estimate.text()
    dialog.fields.gpu_layers.setValue(-2)
    assert "31/31 layers" in dialog.estimate.text() and "all 31 layers fit" in dialog.estimate.text()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.fields.flash_attn.setCurrentIndex(
        dialog.fields.flash_attn.findData("off")
    )  # a q8_0 cache needs flash attention
    assert not ok.isEnabled() and "needs flash attention" in dialog.problem.text()
    dialog.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).click()
    assert dialog.result_options() == defaults and ok.isEnabled() and dialog.problem.text() == ""


def test_load_options_say_all_layers_on_the_cpu_and_the_models_context(qtbot, starter_model: Path) -> None:
    """Issue 25, defect 7: not "0/31 layers on the CPU"; the model's own context length beside the field."""
    from app.ui.engines.load_options_dialog import LoadOptionsDialog

    cpu = Device("CPU", "test CPU", "CPU", "CPU", 32 * GiB, 32 * GiB)
    report = DeviceReport(("CPU",), (cpu,), gpu_offload=False)
    info = read_gguf(starter_model)
    dialog = LoadOptionsDialog("SmolLM2", LoadOptions(), LoadOptions(), info=info, report=report)
    qtbot.addWidget(dialog)
    text = dialog.estimate.text()
    assert text.startswith("On this machine: all 31 layers on the CPU (no GPU device)") and "0/31" not in text
    assert "needs ≈" in text and text.endswith("MB RAM.")
    assert dialog.context_limit.text() == f"up to {info.context_length:,} for this model"
