"""The machine's compute devices, as the loaded llama.cpp sees them: backends, devices, their memory.

Everything comes from llama.cpp's own registry (``ggml_backend_dev_*`` through the adapter), so a GPU
that this build of llama.cpp cannot use is not listed, and one it can use is listed with the memory its
driver reports free. Apple Silicon's unified memory counts as GPU memory, less the share the OS keeps.
``HERMES_STUDIO_VRAM_GB`` stands in for the GPU's memory (tests, or a user who knows better).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

from app.core.engines import ggml_devices, llama_adapter

VRAM_OVERRIDE_ENV = "HERMES_STUDIO_VRAM_GB"
# ggml_backend_dev_type
KINDS = {0: "CPU", 1: "GPU", 2: "iGPU", 3: "accelerator", 4: "meta"}
GPU_KINDS = ("GPU", "iGPU")
OS_SHARE_OF_UNIFIED = 0.25  # of the RAM, at least 4 GiB: what macOS and the apps keep of unified memory
GiB = 1 << 30


@dataclass(frozen=True)
class Device:
    name: str  # llama.cpp's device name: "CPU", "CUDA0", "Vulkan0", "MTL0"
    description: str  # "NVIDIA GeForce RTX 4070", "AMD Ryzen 7 7700X", "Apple M2 Pro"
    kind: str  # one of KINDS' values
    backend: str  # "CPU", "CUDA", "Vulkan", "Metal", ...
    free: int  # bytes the device reports free now
    total: int  # bytes in all
    unified: bool = False  # its memory is the machine's RAM (Apple Silicon, integrated GPUs)
    configured: bool = False  # memory from HERMES_STUDIO_VRAM_GB, not from the driver

    @property
    def is_gpu(self) -> bool:
        return self.kind in GPU_KINDS

    @property
    def usable(self) -> int:
        """Bytes a model may take: the free memory; for unified memory, never the OS's share of the RAM."""
        if not self.unified:
            return self.free
        ram = system_ram()
        return max(0, min(self.free, ram - max(4 * GiB, int(ram * OS_SHARE_OF_UNIFIED))))

    @property
    def label(self) -> str:
        """ "Vulkan · NVIDIA GeForce RTX 4070" (the backend, then what the device is)."""
        return f"{self.backend or self.name} · {self.description or self.name}"


@dataclass(frozen=True)
class DeviceReport:
    backends: tuple[str, ...]
    devices: tuple[Device, ...]
    gpu_offload: bool  # llama_supports_gpu_offload(): layers can go to a GPU at all
    problems: tuple[str, ...] = ()  # backends that failed to load or found no device, and why

    @property
    def gpus(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.is_gpu)

    @property
    def offload_device(self) -> Device | None:
        """The GPU that gets the layers: the one with the most usable memory (None: CPU only)."""
        gpus = self.gpus if self.gpu_offload or any(d.configured for d in self.gpus) else ()
        return max(gpus, key=lambda d: d.usable, default=None)

    @property
    def cpu(self) -> Device:
        return next((d for d in self.devices if d.kind == "CPU"), _cpu_device())

    def lines(self) -> list[str]:
        """What ``hermes-studio devices`` prints (like ``llama-cli --list-devices``)."""
        out = [f"Backends: {', '.join(self.backends) or 'none'}"]
        out.append(f"GPU offload: {'yes' if self.gpu_offload else 'no (this llama.cpp has no usable GPU backend)'}")
        out.append("Devices:")
        for device in self.devices:
            memory = f"{device.free / GiB:.1f} GiB free of {device.total / GiB:.1f} GiB"
            notes = [n for n in ("unified memory" if device.unified else "", "configured" * device.configured) if n]
            extra = f" ({', '.join(notes)})" if notes else ""
            out.append(f"  {device.name:<10} {device.kind:<11} {device.description}: {memory}{extra}")
        out += [f"Problem: {problem}" for problem in self.problems]
        return out


def system_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * GiB


def _cpu_device() -> Device:
    ram = system_ram()
    return Device("CPU", platform.processor() or platform.machine(), "CPU", "CPU", ram, ram)


def _apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def vram_override() -> int | None:
    """Bytes from HERMES_STUDIO_VRAM_GB (0: no GPU), or None when it is not set or not a number."""
    value = os.environ.get(VRAM_OVERRIDE_ENV, "").strip()
    if not value:
        return None
    try:
        return max(0, int(float(value) * GiB))
    except ValueError:
        return None


def list_devices() -> DeviceReport:
    """Ask llama.cpp now (free memory changes as other programs run); the CPU is always listed."""
    devices = []
    llama_adapter.import_llama_cpp()  # the backends are loaded and their log routed first
    for name, description, kind_code, backend, free, total in ggml_devices.backend_devices():
        kind = KINDS.get(kind_code, "other")
        unified = kind == "iGPU" or (kind == "GPU" and backend in ("Metal", "MTL") and _apple_silicon())
        devices.append(Device(name, description, kind, backend, free, total, unified=unified))
    if not any(d.kind == "CPU" for d in devices):
        devices.insert(0, _cpu_device())
    override = vram_override()
    if override is not None:
        devices = [d for d in devices if not d.is_gpu]
        if override:
            devices.append(Device("GPU0", "configured GPU", "GPU", "configured", override, override, configured=True))
    return DeviceReport(
        backends=tuple(ggml_devices.backend_names()),
        devices=tuple(devices),
        gpu_offload=llama_adapter.supports_gpu_offload(),
        problems=tuple(ggml_devices.backend_problems()),
    )
