"""A model without a chat template in the window (issue 25, defects 1 and 2): the model bar says so at load and
names the format in its tooltip, always; the Prompt preview's header names it and its notes say there is no
template; the Load options dialog sets a format for the file, remembered and used at the next load."""

from __future__ import annotations

from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.engines.model_format import BASE_LABEL
from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, default_load_options
from app.core.library.gguf_file import read_gguf
from app.core.prompting.prompt_formats import NO_TEMPLATE


def test_the_model_bar_and_preview_say_there_is_no_template_and_name_the_format(
    qtbot, window, base_model: Path, starter_model: Path
) -> None:
    bar = window.model_bar
    assert not bar.format_note.isVisible()
    with qtbot.waitSignal(window.model_ready, timeout=120_000):
        window.model_bar.load_model(str(base_model))
    qtbot.waitUntil(bar.format_note.isVisible, timeout=5000)  # laid out in the bar (not hidden behind "»")
    assert NO_TEMPLATE in bar.format_note.text()
    assert f"Prompt format: {BASE_LABEL}" in bar.placement.toolTip()
    assert f"Prompt format: {BASE_LABEL}" in bar.picker.toolTip()

    window.side_tabs.setCurrentIndex(1)  # the Prompt preview
    qtbot.keyClicks(window.input, "What is the capital of France?")
    qtbot.waitUntil(lambda: "USER: What is the capital of France?" in window.preview.toPlainText(), timeout=10_000)
    assert window.preview.toPlainText().startswith("<bos>")  # the BOS the engine sends, shown once
    assert window.preview.toPlainText().endswith("ASSISTANT:")
    assert f"Format: {BASE_LABEL}" in window.prompt_preview.header.text()
    assert NO_TEMPLATE in window.preview_notes.text()

    # a model with a template: no note, and the format is still named
    with qtbot.waitSignal(window.model_ready, timeout=120_000):
        window.model_bar.load_model(str(starter_model))
    qtbot.waitUntil(lambda: not bar.format_note.isVisible(), timeout=5000)
    assert "Prompt format: model template" in bar.placement.toolTip()
    qtbot.waitUntil(lambda: "Format: model template" in window.prompt_preview.header.text(), timeout=10_000)
    assert NO_TEMPLATE not in window.preview_notes.text()


def test_the_load_options_dialog_sets_the_files_format(qtbot, base_model: Path, tmp_path: Path) -> None:
    from app.ui.engines.load_options_dialog import LoadOptionsDialog

    defaults = LoadOptions()
    dialog = LoadOptionsDialog("gemma", defaults, defaults, info=read_gguf(base_model))
    qtbot.addWidget(dialog)
    assert dialog.prompt_format.currentText() == f"Auto: {BASE_LABEL}"  # what Auto means for this file, said first
    assert NO_TEMPLATE in dialog.prompt_format.toolTip()
    dialog.prompt_format.setCurrentIndex(dialog.prompt_format.findData("llama.cpp:gemma"))
    chosen = dialog.result_options()
    assert chosen == defaults.with_overrides(prompt_format="llama.cpp:gemma")
    store = ModelOptionsStore(tmp_path / FILE_NAME)
    store.remember(base_model, chosen, defaults)
    assert ModelOptionsStore(tmp_path / FILE_NAME).options(base_model, defaults).prompt_format == "llama.cpp:gemma"
    dialog.set_options(defaults)  # "Defaults": Auto again
    assert dialog.result_options().prompt_format == "auto"


def test_a_format_set_for_the_file_is_used_by_the_window(qtbot, window, base_model: Path) -> None:
    store = ModelOptionsStore(window.paths.config / FILE_NAME)
    defaults = default_load_options(window.settings_store.current)
    store.remember(base_model, defaults.with_overrides(prompt_format="llama.cpp:gemma"), defaults)
    window.model_bar.model_options = ModelOptionsStore(window.paths.config / FILE_NAME)  # as a new session reads it
    with qtbot.waitSignal(window.model_ready, timeout=120_000) as ready:
        window.model_bar.load_model(str(base_model))
    assert ready.args[0].prompt_format == "gemma (llama.cpp built-in)"
    assert "Prompt format: gemma (llama.cpp built-in)" in window.model_bar.placement.toolTip()
    qtbot.waitUntil(window.model_bar.format_note.isVisible, timeout=5000)  # still a file without a template
