"""The model bar when the library scan and a model load answer in either order."""

from __future__ import annotations

from pathlib import Path

from app.ui.engines.model_choices import scan_models, with_vision


def test_load_options_stay_available_when_the_library_scan_answers_during_a_load(
    qtbot, window, library_with_model: Path
) -> None:
    bar = window.model_bar
    qtbot.waitUntil(lambda: bar.model_count is not None, timeout=30_000)  # the window's own first scan
    bar.picker.setCurrentIndex(0)  # nothing picked: no load options
    assert not bar.options_action.isEnabled()
    with qtbot.waitSignal(bar.model_ready, timeout=60_000):
        bar.load_model(str(library_with_model))
        # A scan answering while the model loads (a slow disk, a large library) refills the picker with the model
        # being loaded picked: its load options must be offered, before and after the load ends.
        bar._show_models(bar._scan, *with_vision(scan_models([library_with_model.parent])))
        assert bar.options_action.isEnabled()
    assert bar.options_action.isEnabled()
