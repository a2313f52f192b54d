"""Loading a model shows llama.cpp's own progress in the model bar, and Cancel stops the load."""

from __future__ import annotations

from pathlib import Path


def test_load_progress_goes_from_0_to_100_percent(qtbot, window, library_with_model: Path) -> None:
    seen: list[float] = []
    window.client.load_progress.connect(seen.append)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
        assert window.model_bar.loading_shown
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] >= 1.0)
    assert seen[0] < 0.5 and seen == sorted(seen)  # llama.cpp reports it growing, from the start to the end
    assert not window.model_bar.loading_shown


def test_cancel_stops_the_load_and_says_so(qtbot, window, library_with_model: Path) -> None:
    with qtbot.waitSignal(window.model_failed, timeout=30_000) as failed:
        window.model_bar.load_model(str(library_with_model))
        window.model_bar.cancel_button.click()  # before llama.cpp has read the file
    assert "was cancelled" in failed.args[0]
    assert window.client.loaded is None and window.client.engine.loaded is None
    assert not window.model_bar.loading_shown
    with qtbot.waitSignal(window.model_ready, timeout=30_000):  # the next load works
        window.model_bar.load_model(str(library_with_model))
