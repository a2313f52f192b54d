"""Will a quant fit this machine: its memory (from llama.cpp's devices), the estimate, the badge and the star."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from app.core.errors import HermesError


class QuantShape(Protocol):
    """What the estimate reads of a quant (hub.catalogue's Quant has it)."""

    @property
    def label(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def bits_per_weight(self) -> float | None: ...


Quant = TypeVar("Quant", bound=QuantShape)

log = logging.getLogger("app.core.hub.catalogue")


@dataclass(frozen=True)
class MachineMemory:
    ram: int
    vram: int | None = None  # None: no GPU llama.cpp can use; else the bytes a model may take on it
    gpu: str = ""  # "CUDA · NVIDIA GeForce RTX 4070", or "configured" (HERMES_STUDIO_VRAM_GB)
    unified: bool = False  # the GPU's memory is the RAM (Apple Silicon): no partial offload tier


@dataclass(frozen=True)
class Fit:
    badge: str  # "Full GPU offload", "Partial offload", "CPU only", "Too large"
    needed: int  # bytes: weights + KV cache + working buffers
    kv_cache: int = 0  # bytes of it for the KV cache
    exact: bool = False  # the KV cache from the model's own header, not estimated


def machine_memory() -> MachineMemory:
    """This machine's RAM, and the memory of the GPU llama.cpp would run a model on (app.core.engines.devices).

    ``HERMES_STUDIO_VRAM_GB`` stands in for the GPU's memory (0: no GPU).
    """
    from app.core.engines.devices import list_devices, system_ram, vram_override

    try:
        report = list_devices()
    except (HermesError, OSError, ImportError) as exc:  # a broken llama.cpp install: the RAM alone
        log.warning("could not list llama.cpp's devices (%s)", exc)
        override = vram_override()
        return MachineMemory(system_ram(), override or None, "configured" if override else "")
    device = report.offload_device
    ram = report.cpu.total
    if device is None:
        return MachineMemory(ram)
    gpu = "configured" if device.configured else device.label
    return MachineMemory(ram, device.usable or None, gpu, unified=device.unified)


def estimate_fit(
    quant: QuantShape, memory: MachineMemory, context: int = 4096, kv_bytes_per_token: int | None = None
) -> Fit:
    """Weights + KV cache for ``context`` tokens + working buffers, against this machine's memory.

    The KV cache comes from the model's header where it was read (``RepoDetails.kv_bytes_per_token``);
    otherwise it is estimated from the parameter count (file size / bits per weight) with the ratio
    of grouped-query-attention models (Mistral 7B: 128 KiB per token in f16).
    """
    weights = quant.size
    if kv_bytes_per_token:
        kv = kv_bytes_per_token * context
    else:
        parameters = weights * 8 / (quant.bits_per_weight or 5.0)
        kv = int(parameters * 1.8e-5 * context)
    needed = int(weights * 1.05 + kv + (300 << 20))
    usable_ram = memory.ram * 0.75
    if memory.vram and needed <= memory.vram * 0.9:
        badge = "Full GPU offload"
    elif memory.vram and not memory.unified and needed <= usable_ram + memory.vram * 0.9:
        badge = "Partial offload"
    elif needed <= usable_ram:
        badge = "CPU only"
    else:
        badge = "Too large"
    return Fit(badge, needed, kv, exact=bool(kv_bytes_per_token))


def explain_fit(fit: Fit, context: int) -> str:
    """One sentence on what a quant needs, for a tooltip or the CLI."""
    from app.core.library.models import human_size

    source = "from the model's header" if fit.exact else "estimated from the parameter count"
    return (
        f"{fit.badge}: needs about {human_size(fit.needed)}, with {human_size(fit.kv_cache)} of KV cache for "
        f"{context:,} tokens ({source})."
    )


CPU_BITS_PER_WEIGHT = 5.0  # on a CPU, speed is bound by memory bandwidth: Q4_K_M class, not the largest


def recommend(
    quants: Iterable[Quant], memory: MachineMemory, context: int = 4096, kv_bytes_per_token: int | None = None
) -> Quant | None:
    """The quant to star (see ``recommendation_note`` for why).

    On a GPU: the largest quant that fits on it fully, with the KV cache. Otherwise (no GPU, or none
    fits it fully) the model runs at least partly on the CPU, where every token reads all the weights
    from RAM: the largest 4–5-bit quant (Q4_K_M class) that fits. Q4_K_M when in doubt.
    """
    quants = list(quants)
    fits = {q: estimate_fit(q, memory, context, kv_bytes_per_token).badge for q in quants}
    if memory.vram:
        full = [q for q in quants if fits[q] == "Full GPU offload"]
        if full:
            return max(full, key=lambda q: q.size)
    running = [q for q in quants if fits[q] in ("Partial offload", "CPU only")]
    modest = [q for q in running if q.bits_per_weight and q.bits_per_weight <= CPU_BITS_PER_WEIGHT]
    if modest:
        return max(modest, key=lambda q: q.size)
    return next((q for q in quants if q.label == "Q4_K_M"), None)


def recommendation_note(memory: MachineMemory, context: int = 4096) -> str:
    """Why the starred quant was chosen, for its tooltip."""
    from app.core.library.models import human_size

    if memory.vram:
        return (
            f"Starred: the largest quant that fits fully in the GPU's memory ({memory.gpu}, "
            f"{human_size(memory.vram)} usable) with a {context:,}-token KV cache. If none does, a 4–5-bit quant: "
            "the layers that stay on the CPU are limited by memory bandwidth."
        )
    return (
        "Starred: a 4–5-bit quant (Q4_K_M class) that fits in RAM. No GPU llama.cpp can use was found, and on "
        "the CPU every token reads all the weights from memory: a larger quant is slower for little gain in quality."
    )
