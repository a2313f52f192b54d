"""The start path stays light. (That app.core never imports Qt is an import-linter contract: `make lint`.)"""

import os
import subprocess
import sys


def test_gui_start_path_does_not_import_llama_cpp() -> None:
    """The window must open without paying for llama_cpp's import; the engine thread imports it on first load."""
    code = "import sys\nimport app.cli, app.ui.main_window, app.ui.app\nprint('llama_cpp' in sys.modules)\n"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "False"
