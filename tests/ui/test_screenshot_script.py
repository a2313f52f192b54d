"""The README's screenshot comes from a script; it must keep working (under xvfb, a real X screen)."""

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
