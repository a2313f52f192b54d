"""tests/gpu: llama.cpp's GPU backends, run through other llama-cpp-python builds in subprocesses."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vulkan: needs a Vulkan build of llama-cpp-python (HERMES_VULKAN_PYTHON)")
