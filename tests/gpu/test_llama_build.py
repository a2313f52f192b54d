"""`make install`'s backend choice and rebuild decision (scripts/llama_build.py), and the Vulkan headers' apt source
(packaging/vulkan/fetch_headers.py). Nothing here builds llama.cpp: `install --dry-run` says what it would do."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "llama_build.py"
BASE = "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(bin_dir: Path, name: str, output: str = "") -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.mark.skipif(sys.platform != "linux", reason="the fake tools are shell scripts; the rules differ on macOS")
def test_a_cuda_toolkit_without_a_gpu_builds_for_the_cpu_and_with_one_for_cuda(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "nvcc")
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "CUDA_PATH": "", "CUDA_HOME": "", "VULKAN_SDK": ""}
    run = [sys.executable, str(SCRIPT), "pick", "--why"]

    without = subprocess.run(run, capture_output=True, text=True, env=env, check=True)
    _tool(bin_dir, "nvidia-smi", "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)\\n")
    with_gpu = subprocess.run(run, capture_output=True, text=True, env=env, check=True)

    assert without.stdout.strip() != "cuda"
    assert "nvidia-smi lists no GPU" in without.stderr
    assert with_gpu.stdout.strip() == "cuda", with_gpu.stderr
    assert "NVIDIA H100" in with_gpu.stderr


def test_unknown_backend_is_refused_with_the_choices(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "install", "--backend", "rocm", f"--base-args={BASE}", "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "cpu, cuda, vulkan, metal" in done.stderr


@pytest.fixture
def cpu_llama_venv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A venv (its own prefix, for the stamp) that sees this interpreter's CPU build of llama-cpp-python."""
    spec = importlib.util.find_spec("llama_cpp")
    assert spec and spec.origin
    site = Path(spec.origin).parents[1]
    if any(f"ggml-{b}" in p.name for p in (site / "llama_cpp" / "lib").glob("*") for b in ("vulkan", "cuda", "metal")):
        pytest.skip("this interpreter's llama-cpp-python is a GPU build")
    root = tmp_path / "venv"
    venv.create(root, with_pip=False)
    python = root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    return python, {**os.environ, "PYTHONPATH": str(site)}


def _install(python: Path, env: dict[str, str], *args: str, cmake_args: str) -> str:
    done = subprocess.run(
        [str(python), str(SCRIPT), "install", f"--base-args={BASE}", "--given", *args],
        capture_output=True,
        text=True,
        env={**env, "CMAKE_ARGS": cmake_args},
        check=True,
    )
    return done.stderr


def test_same_backend_rebuilds_nothing_and_a_new_one_rebuilds_without_the_wheel_cache(
    cpu_llama_venv: tuple[Path, dict[str, str]],
) -> None:
    python, env = cpu_llama_venv
    prefix = python.parents[1]
    stamp = prefix / ".llama-build.json"
    from importlib import metadata

    version = metadata.version("llama-cpp-python")

    first = _install(python, env, cmake_args=BASE)  # no stamp yet: judged by the libraries, then recorded
    assert "is already the cpu build" in first
    assert json.loads(stamp.read_text(encoding="utf-8")) == {"backend": "cpu", "cmake_args": BASE, "version": version}

    again = _install(python, env, "--dry-run", cmake_args=f"  {BASE} ")
    assert "is already the cpu build" in again

    vulkan = _install(python, env, "--backend", "vulkan", "--dry-run", cmake_args=f"{BASE} -DGGML_VULKAN=ON")
    assert "was built as cpu" in vulkan
    assert f"--no-cache-dir --force-reinstall --no-deps llama-cpp-python=={version}" in vulkan
    assert json.loads(stamp.read_text(encoding="utf-8"))["backend"] == "cpu", "a dry run changes nothing"


def test_the_newer_suite_source_is_derived_from_the_machines_own(tmp_path: Path) -> None:
    fetch = _load(REPO / "packaging" / "vulkan" / "fetch_headers.py")
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n",
        encoding="utf-8",
    )
    (tmp_path / "sources.list.d" / "other.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://other.invalid/apt bookworm main contrib\n"
        "deb http://third.invalid/apt nodistro main\n",
        encoding="utf-8",
    )
    fetch.APT_SOURCES = tmp_path

    text = fetch.derive_sources("bookworm", "trixie")

    stanzas = fetch.deb822_stanzas(text)
    assert [s["URIs"] for s in stanzas] == ["http://mirror.invalid/debian", "http://other.invalid/apt"]
    assert {s["Suites"] for s in stanzas} == {"trixie"}
    assert stanzas[0]["Signed-By"] == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert stanzas[1] == {
        "Types": "deb",
        "URIs": "http://other.invalid/apt",
        "Suites": "trixie",
        "Components": "main contrib",
        "Signed-By": "/k.gpg",
    }
