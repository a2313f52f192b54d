"""Devices from llama.cpp itself, and `hermes-studio devices` (this machine: llama.cpp's CPU build, no GPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.engines import ggml_devices, llama_adapter
from app.core.engines.devices import GiB, list_devices, vram_override


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERMES_STUDIO_VRAM_GB", raising=False)


def test_llama_cpp_lists_its_backends_and_the_cpu_with_its_memory() -> None:
    report = list_devices()
    assert "CPU" in report.backends
    cpu = report.cpu
    assert cpu.kind == "CPU" and cpu.backend == "CPU"
    meminfo = Path("/proc/meminfo").read_text().split()
    ram = int(meminfo[meminfo.index("MemTotal:") + 1]) * 1024
    assert abs(cpu.total - ram) < ram * 0.02  # llama.cpp's CPU device reports the machine's RAM
    assert 0 < cpu.free <= cpu.total
    assert report.gpu_offload == llama_adapter.supports_gpu_offload()
    if not report.gpu_offload:  # the CPU build here: no GPU to offload to
        assert report.offload_device is None


def test_backend_modules_are_loaded_once_and_only_when_none_is_registered() -> None:
    """A normal build registers its backends at start: loading the modules again must change nothing."""
    before = ggml_devices.backend_names()
    ggml_devices.load_backend_modules()
    assert ggml_devices.backend_names() == before
    assert (ggml_devices.library_dir() / "libllama.so").exists() or sys.platform != "linux"


def test_the_override_stands_in_for_the_gpu_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "12")
    report = list_devices()
    device = report.offload_device
    assert device is not None and device.configured and device.usable == 12 * GiB
    assert [d for d in report.gpus if not d.configured] == []  # the override replaces any real GPU's figure
    monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "0")
    assert list_devices().offload_device is None
    monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "lots")
    assert vram_override() is None


def test_devices_command_prints_backends_and_devices_with_the_cpu_always(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(tmp_path), "devices"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Backends: ") and "CPU" in lines[0]
    assert lines[1].startswith("GPU offload: ")
    cpu_lines = [line for line in lines if line.strip().startswith("CPU ")]
    assert len(cpu_lines) == 1 and "GiB free of" in cpu_lines[0]


def test_a_backend_module_that_cannot_load_is_named_with_the_systems_reason(tmp_path: Path, starter_model) -> None:
    """A GGML_BACKEND_DL build loads its modules quietly; one whose driver library is missing must say why."""
    from app.core.engines.devices import DeviceReport
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.offload import plan_offload
    from app.core.library.gguf_file import read_gguf

    assert ggml_devices.backend_problems() == []  # this build: nothing failed
    (tmp_path / "libggml-vulkan.so").write_bytes(b"\x7fELF broken")  # a module the system cannot open
    (tmp_path / "libggml-cpu-haswell.so").write_bytes(b"")  # CPU variants are not GPU backends
    problems = ggml_devices.backend_problems(tmp_path)
    assert len(problems) == 1 and problems[0].startswith("the vulkan backend could not be loaded (")
    assert "libggml-vulkan.so" in problems[0]
    report = list_devices()
    broken = DeviceReport(report.backends, report.devices, gpu_offload=False, problems=tuple(problems))
    assert broken.offload_device is None
    assert broken.lines()[-1] == f"Problem: {problems[0]}"
    plan = plan_offload(read_gguf(starter_model), LoadOptions(), broken)
    assert plan.layers == 0 and plan.reason == f"no GPU device ({problems[0]})"


def test_unified_memory_counts_as_gpu_memory_less_the_os_share() -> None:
    from app.core.engines.devices import Device, system_ram

    ram = system_ram()
    metal = Device("MTL0", "Apple M2 Pro", "GPU", "Metal", ram, ram, unified=True)
    assert metal.usable == ram - max(4 * GiB, ram // 4)
    assert metal.label == "Metal · Apple M2 Pro"
    card = Device("CUDA0", "NVIDIA GeForce RTX 4070", "GPU", "CUDA", 11 * GiB, 12 * GiB)
    assert card.usable == 11 * GiB  # dedicated memory: what the driver reports free
