"""What the About page says: this app's version, llama.cpp's (via llama-cpp-python) and its compute backends.

Read from package metadata and the files the wheel ships, without importing llama_cpp (which loads the
native library: slow, and not for the settings dialog to do).
"""

from __future__ import annotations

import importlib.util
import platform
from importlib import metadata
from pathlib import Path

import app

# ggml's backend libraries, by the name in their file -> the name for people
_BACKENDS = {"cuda": "CUDA", "vulkan": "Vulkan", "metal": "Metal", "hip": "ROCm (HIP)", "sycl": "SYCL",
             "opencl": "OpenCL", "blas": "BLAS", "cpu": "CPU"}  # fmt: skip


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def llama_cpp_backends() -> list[str]:
    """The ggml backends the installed llama-cpp-python ships (CPU alone for a plain build)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    found: list[str] = []
    for folder in spec.submodule_search_locations:
        for library in sorted((Path(folder) / "lib").glob("*ggml*")):
            for key, name in _BACKENDS.items():
                if f"ggml-{key}" in library.name.lower() and name not in found:
                    found.append(name)
    metal = any(Path(folder, "lib", "ggml-metal.metal").exists() for folder in spec.submodule_search_locations)
    if metal and "Metal" not in found:
        found.append("Metal")
    return found or ["CPU"]


def versions() -> dict[str, str]:
    """Label -> version, in the order the About page lists them."""
    return {
        "Hermes Studio": app.__version__,
        "llama.cpp (llama-cpp-python)": package_version("llama-cpp-python"),
        "Compute backends": ", ".join(llama_cpp_backends()) or "llama-cpp-python is not installed",
        "Python": f"{platform.python_version()} ({platform.system()} {platform.machine()})",
    }
