"""The About page's versions come from package metadata and the wheel's files, without loading llama.cpp."""

import subprocess
import sys
from importlib import metadata

from app.core.about import llama_cpp_backends, versions
from tests.conftest import REPO


def test_versions_name_the_app_llama_cpp_and_its_backends() -> None:
    import app

    shown = versions()
    assert shown["Hermes Studio"] == app.__version__
    assert shown["llama.cpp (llama-cpp-python)"] == metadata.version("llama-cpp-python")
    assert "CPU" in llama_cpp_backends() and shown["Compute backends"].startswith("CPU")


def test_reading_the_versions_does_not_import_llama_cpp() -> None:
    code = "import sys; from app.core.about import versions; versions(); print('llama_cpp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
