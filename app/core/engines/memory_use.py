"""What a model costs to run, from its GGUF header: RAM and GPU memory for its weights where they sit, its KV cache
and its working buffers. The model bar shows it for the loaded model; the picker estimates it before a load."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.engines.devices import DeviceReport
from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import ModelShape, flash_attention_on, plan_offload, too_large
from app.core.library.gguf_file import GGUFInfo
from app.core.library.models import human_size


@dataclass(frozen=True)
class MemoryUse:
    ram: int
    vram: int = 0

    def __str__(self) -> str:
        if self.vram:
            return f"≈ {human_size(self.vram)} VRAM + {human_size(self.ram)} RAM"
        return f"≈ {human_size(self.ram)} RAM"


def memory_use(
    info: GGUFInfo, context: int, kv_type: str = "f16", gpu_layers: int = 0, flash_attention: bool = False
) -> MemoryUse:
    """RAM and VRAM with ``gpu_layers`` (as llama.cpp counts them: the repeating layers, then the output) offloaded."""
    shape = ModelShape.of(info)
    on_gpu = max(0, min(gpu_layers, shape.total_layers))
    repeating = min(on_gpu, shape.layers)
    gpu_weights = sum(shape.layer_bytes[shape.layers - repeating :]) + (
        shape.output_bytes if on_gpu > shape.layers else 0
    )
    vram = shape.gpu_bytes(on_gpu, context, kv_type, flash_attention)
    ram = max(0, info.file_size - gpu_weights) + shape.kv_bytes(context, kv_type, shape.layers - repeating)
    if on_gpu == 0:  # the working buffers are the CPU's
        ram += shape.compute_bytes(context, flash_attention)
    return MemoryUse(ram, vram)


@dataclass(frozen=True)
class LoadEstimate:
    """Before a load: what the model would take on this machine, and where it would run."""

    use: MemoryUse
    where: str  # "CPU" or "31/31 layers on CUDA0"
    context: int
    problem: str = ""  # "" when it fits; else why it does not

    def __str__(self) -> str:
        text = f"needs {self.use} with a {self.context:,}-token context · {self.where}"
        return f"{text} · {self.problem}" if self.problem else text


def estimate_load(info: GGUFInfo, options: LoadOptions, report: DeviceReport) -> LoadEstimate:
    """What ``LlamaEngine.load`` would plan for these options, in memory terms."""
    plan = plan_offload(info, options, report)
    context = options.context_size or info.context_length or 4096
    flash = flash_attention_on(options, plan.on_gpu)
    use = memory_use(info, context, options.kv_cache_type, plan.on_gpu, flash)
    device = plan.device
    where = f"{plan.on_gpu}/{plan.total_layers} layers on {device.name}" if device and plan.on_gpu else "CPU"
    problem = "too large for this machine" if too_large(info, options, report) else ""
    return LoadEstimate(use, where, context, problem)
