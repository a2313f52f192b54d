"""The README's screenshot comes from a script; it must keep working (under xvfb, a real X screen)."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (.ci/run installs it)")
def test_screenshot_script_saves_the_window_mid_conversation(starter_model, tmp_path) -> None:
    target = tmp_path / "shot.png"
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x860x24", sys.executable, "docs/make_screenshot.py", str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (.ci/run installs it)")
def test_make_screenshots_renders_every_page_and_dialog(starter_model, tmp_path) -> None:
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1400x960x24", sys.executable, "docs/make_screenshots.py", str(tmp_path),
         "dark"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "HERMES_TEST_MODEL": str(starter_model)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    shots = sorted(path.name for path in tmp_path.glob("*-dark.png"))
    assert len(shots) == 22, shots
    for name in (
        "01-welcome",
        "04-discover",
        "06-downloads",
        "07-my-models",
        "08-settings",
        "10-persona-switch",
        "11-thinking-reply",
        "12-sampling",
        "13-server",
        "14-menu-bar",
        "15-theme-switched-live",
        "16-image-chat",
        "17-tool-approval",
        "18-tool-step",
        "19-lorebooks",
        "20-knowledge",
        "21-cited-answer",
        "22-group-chat",
    ):
        assert f"{name}-dark.png" in shots
    assert all((tmp_path / name).stat().st_size > 10_000 for name in shots)
