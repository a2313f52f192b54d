"""How a model is loaded: the options that engines.offload reads and checks and engines.model_options keeps per file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

MAX_DRAFT = 64  # prompt-lookup draft tokens per step: a wider batch than any acceptance pays for
AUTO, ALL = -2, -1  # LoadOptions.gpu_layers / Settings.gpu_layers: anything >= 0 is a layer count
FLASH_ATTENTION = ("auto", "on", "off")
# KV cache types: (ggml_type, bytes per element) — f16 2 bytes; q8_0 34 bytes and q4_0 18 bytes per 32
KV_TYPES: dict[str, tuple[int, float]] = {"f16": (1, 2.0), "q8_0": (8, 34 / 32), "q4_0": (2, 18 / 32)}


@dataclass(frozen=True)
class LoadOptions:
    """How a model is loaded (engines.offload reads and checks them; engines.model_options keeps them per file)."""

    context_size: int = 4096  # 0: the model's own training context
    cpu_threads: int = 0  # 0: llama.cpp's default
    gpu_layers: int = -2  # -2: auto (as many as fit the GPU), -1: all, N: that many
    flash_attn: str = "auto"  # "auto", "on", "off"
    kv_cache_type: str = "f16"  # "f16", "q8_0", "q4_0"
    use_mmap: bool = True
    prompt_format: str = "auto"  # "auto" (the model's template or a fallback), a named format, "llama.cpp:NAME"
    prompt_lookup: int = 0  # prompt-lookup decoding: draft tokens per step (0: off; engines.prompt_lookup)
    projector: str = ""  # a vision projector (mmproj GGUF): "" the one beside the model (library.projector), "none"

    def with_overrides(self, **values: Any) -> LoadOptions:
        return replace(self, **values)
