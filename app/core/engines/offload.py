"""How many layers go to the GPU: the estimate behind ``gpu_layers = auto``, and where a model ended up.

The estimate is the one llama.cpp's ``--fit`` and LM Studio's guardrails make: with ``k`` layers
offloaded, llama.cpp puts the last ``k`` repeating layers on the GPU (and the output layer once
``k`` exceeds them), with their share of the KV cache and a compute buffer. Weights come from the
GGUF header's own tensor sizes, the KV cache from the context × layers × KV heads × head widths ×
bytes of the KV type; the largest ``k`` that fits the device's usable memory less a safety margin wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.engines.devices import Device, DeviceReport, GiB
from app.core.engines.load_options import ALL, AUTO, FLASH_ATTENTION, KV_TYPES, MAX_DRAFT, LoadOptions
from app.core.errors import HermesError
from app.core.library.gguf_file import GGUFInfo

MICRO_BATCH = 512  # llama-cpp-python's n_ubatch
MARGIN_MIB = 512  # the least left free on the device; 5 % of it when that is more


class LoadOptionError(HermesError):
    """A load option that cannot work (said before llama.cpp is asked)."""


def parse_gpu_layers(text: str | int) -> int:
    """``auto``, ``all`` or a number of layers (what ``--gpu-layers`` and the dialogs accept)."""
    value = str(text).strip().lower()
    if value == "auto":
        return AUTO
    if value in ("all", "-1"):
        return ALL
    try:
        layers = int(value)
    except ValueError:
        raise LoadOptionError(f"GPU layers must be auto, all or a number of layers, not {text!r}.") from None
    if layers < 0:
        raise LoadOptionError(f"GPU layers must be auto, all or a number ≥ 0, not {layers}.")
    return layers


def gpu_layers_label(value: int) -> str:
    return "auto" if value == AUTO else "all" if value == ALL else str(value)


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a GGUF header."""

    layers: int
    layer_bytes: tuple[int, ...]  # weights of each repeating layer (blk.N.*)
    output_bytes: int  # the output layer (output.weight, or the tied token embeddings, + output_norm)
    kv_heads: int
    key_width: int
    value_width: int
    heads: int
    embedding: int
    feed_forward: int
    vocab: int

    @classmethod
    def of(cls, info: GGUFInfo) -> ModelShape:
        arch, meta = info.architecture, info.metadata

        def number(key: str, default: int = 0) -> int:
            value = meta.get(f"{arch}.{key}")
            if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
                return max(value)  # per-layer values: the largest bounds the estimate
            return int(value) if isinstance(value, int) and not isinstance(value, bool) else default

        layers = number("block_count")
        per_layer = [0] * layers
        for name, size in info.tensor_bytes.items():
            if name.startswith("blk."):
                index = name.split(".", 2)[1]
                if index.isdigit() and int(index) < layers:
                    per_layer[int(index)] += size
        tensors = info.tensor_bytes
        output = tensors.get("output.weight", tensors.get("token_embd.weight", 0))  # tied: the embeddings again
        output += tensors.get("output_norm.weight", 0)
        embedding, heads = number("embedding_length"), number("attention.head_count", 1) or 1
        tokens = meta.get("tokenizer.ggml.tokens", 0)  # a count (long arrays) or the list itself (short ones)
        vocab = number("vocab_size") or (len(tokens) if isinstance(tokens, list) else int(tokens or 0))
        return cls(
            layers=layers,
            layer_bytes=tuple(per_layer),
            output_bytes=output,
            kv_heads=number("attention.head_count_kv") or heads,
            key_width=number("attention.key_length") or embedding // heads,
            value_width=number("attention.value_length") or embedding // heads,
            heads=heads,
            embedding=embedding,
            feed_forward=number("feed_forward_length"),
            vocab=vocab,
        )

    @property
    def total_layers(self) -> int:
        """Layers as llama.cpp counts them for offload: the repeating ones and the output layer."""
        return self.layers + 1

    def kv_bytes(self, context: int, kv_type: str = "f16", layers: int | None = None) -> int:
        per_element = KV_TYPES.get(kv_type, KV_TYPES["f16"])[1]
        count = self.layers if layers is None else min(layers, self.layers)
        return int(context * count * self.kv_heads * (self.key_width + self.value_width) * per_element)

    def gpu_bytes(self, offloaded: int, context: int, kv_type: str = "f16", flash_attention: bool = False) -> int:
        """Device memory with ``offloaded`` layers on it: their weights and KV cache, and a compute buffer."""
        if offloaded <= 0:
            return 0
        repeating = min(offloaded, self.layers)
        weights = sum(self.layer_bytes[self.layers - repeating :])
        output_on_gpu = offloaded > self.layers
        if output_on_gpu:
            weights += self.output_bytes
        compute = self.compute_bytes(context, flash_attention, logits=output_on_gpu)
        return weights + self.kv_bytes(context, kv_type, repeating) + compute

    def compute_bytes(self, context: int, flash_attention: bool = False, *, logits: bool = True) -> int:
        """The working buffers of one micro-batch: activations, attention scores (without flash attention), logits."""
        compute = MICRO_BATCH * (self.feed_forward * 2 + self.embedding * 8) * 4
        if not flash_attention:  # the attention scores, one f32 per head, token and context position
            compute += MICRO_BATCH * min(context, 1 << 20) * self.heads * 4
        if logits:
            compute += MICRO_BATCH * self.vocab * 4
        return compute


@dataclass(frozen=True)
class OffloadPlan:
    layers: int  # what llama.cpp gets as n_gpu_layers (-1: all)
    total_layers: int
    device: Device | None  # the GPU that gets them; None: the CPU
    reason: str  # why this many, for people ("no GPU device", "all 31 layers fit in 7.5 GiB free on CUDA0")
    requested: int = AUTO

    @property
    def on_gpu(self) -> int:
        if self.device is None:
            return 0
        return self.total_layers if self.layers == ALL else min(self.layers, self.total_layers)


def margin(device: Device) -> int:
    return max(MARGIN_MIB << 20, int(device.total * 0.05))


def flash_attention_on(options: LoadOptions, gpu_layers: int) -> bool:
    """``auto``: on where layers go to a GPU or the V cache is quantised (llama.cpp requires it), or prompt lookup
    drafts (a token's logits then do not depend on the batch it is evaluated in: see check_options), else off."""
    if options.flash_attn in ("on", "off"):
        return options.flash_attn == "on"
    return gpu_layers != 0 or options.kv_cache_type != "f16" or options.prompt_lookup > 0


def check_options(options: LoadOptions) -> None:
    """Raise LoadOptionError for a combination llama.cpp would refuse, before it is asked."""
    if options.kv_cache_type not in KV_TYPES:
        raise LoadOptionError(f"Unknown KV cache type {options.kv_cache_type!r}: use one of {', '.join(KV_TYPES)}.")
    if options.flash_attn not in FLASH_ATTENTION:
        raise LoadOptionError(f"Flash attention must be auto, on or off, not {options.flash_attn!r}.")
    if options.kv_cache_type != "f16" and options.flash_attn == "off":
        raise LoadOptionError(
            f"A {options.kv_cache_type} KV cache needs flash attention: set flash attention to auto or on, "
            "or use an f16 KV cache."
        )
    if options.prompt_lookup > 0 and options.flash_attn == "off":
        # Without flash attention, llama.cpp's CPU attention gives a token evaluated in a batch of drafts other
        # logits than the same token alone (measured: from the 40th position on), so a greedy reply could change.
        raise LoadOptionError(
            "Prompt-lookup decoding needs flash attention (its replies are then the same as without it): "
            "set flash attention to auto or on, or turn prompt lookup off."
        )
    if not 0 <= options.prompt_lookup <= MAX_DRAFT:
        raise LoadOptionError(f"Prompt lookup drafts 1 to {MAX_DRAFT} tokens (0: off), not {options.prompt_lookup}.")


def plan_offload(info: GGUFInfo, options: LoadOptions, report: DeviceReport, beside: int = 0) -> OffloadPlan:
    """How many layers to offload for ``options.gpu_layers`` (auto, all or a number), and why. ``beside``: bytes
    that go to the GPU with the layers (a vision projector's weights and its compute buffer)."""
    device = report.offload_device
    requested = options.gpu_layers
    if device is None:  # checked first: on a CPU-only machine the plan costs nothing
        layers = 0 if requested == AUTO else requested
        reason = "no GPU device"
        if report.problems:  # a backend that did not load says why
            reason += f" ({'; '.join(report.problems)})"
        if requested not in (AUTO, 0):
            reason += f": {gpu_layers_label(requested)} layers were asked for, all run on the CPU"
        return OffloadPlan(layers, ModelShape.of(info).total_layers, None, reason, requested)
    shape = ModelShape.of(info)
    total = shape.total_layers
    context = options.context_size or info.context_length or 4096
    if requested != AUTO:
        what = "all" if requested == ALL or requested >= total else f"{requested} of {total}"
        return OffloadPlan(requested, total, device, f"{what} layers, as set", requested)
    budget = device.usable - margin(device) - beside
    fits = 0
    for layers in range(total, 0, -1):
        flash = flash_attention_on(options, layers)
        if shape.gpu_bytes(layers, context, options.kv_cache_type, flash) <= budget:
            fits = layers
            break
    free = f"{device.usable / GiB:.1f} GiB free on {device.name}"
    if fits == total:
        reason = f"all {total} layers fit in {free}"
    elif fits:
        reason = f"{fits} of {total} layers fit in {free}; the rest run on the CPU"
    else:
        reason = f"not one layer fits in {free}: the model runs on the CPU"
        return OffloadPlan(0, total, None, reason, requested)
    return OffloadPlan(fits, total, device, reason, requested)


@dataclass(frozen=True)
class Placement:
    """Where a loaded model runs: ``str()`` is what the model bar and the CLI's stats line show."""

    backend: str  # "CPU", "CUDA", "Vulkan", "Metal"
    device: str  # "NVIDIA GeForce RTX 4070"; the CPU's name on the CPU
    gpu_layers: int
    total_layers: int
    threads: int
    reason: str = ""  # the plan's reason ("no GPU device", "all 31 layers fit ...")
    ram: int = 0  # bytes the model takes in RAM (weights left on the CPU, their KV cache, buffers): an estimate
    vram: int = 0  # bytes on the GPU

    @property
    def summary(self) -> str:
        """What the model bar says: where, how many threads, and what it costs ("CPU · 4 threads · ≈ 160 MB RAM")."""
        from app.core.library.models import human_size

        parts = [str(self)]
        if self.gpu_layers > 0:
            parts.append(f"{self.threads} CPU thread{'s' if self.threads != 1 else ''}")
        if self.vram:
            parts.append(f"≈ {human_size(self.vram)} VRAM + {human_size(self.ram)} RAM")
        elif self.ram:
            parts.append(f"≈ {human_size(self.ram)} RAM")
        return " · ".join(parts)

    def __str__(self) -> str:
        if self.gpu_layers > 0:
            return f"{self.backend} · {self.device} · {self.gpu_layers}/{self.total_layers} layers on GPU"
        return f"CPU · {self.threads} thread{'s' if self.threads != 1 else ''}"


def placement_of(plan: OffloadPlan, report: DeviceReport, threads: int) -> Placement:
    """Where the layers really went: none to a GPU when this llama.cpp cannot offload, whatever was asked."""
    device = plan.device
    if device is None or not report.gpu_offload:
        reason = plan.reason
        if device is not None:  # a configured (HERMES_STUDIO_VRAM_GB) device, but no GPU backend
            reason = "this llama.cpp has no GPU backend: every layer runs on the CPU"
        return Placement("CPU", report.cpu.description, 0, plan.total_layers, threads, reason)
    return Placement(device.backend, device.description, plan.on_gpu, plan.total_layers, threads, plan.reason)


def too_large(info: GGUFInfo, options: LoadOptions, report: DeviceReport, beside: int = 0, *, reserved: int = 0) -> str:
    """A message when the weights and KV cache (and ``beside``: a vision projector) exceed the RAM and every GPU
    together ("" when they fit).

    ``reserved``: bytes the process's other loaded models hold (the chat model beside an embedding model, and
    the other way round).
    """
    shape = ModelShape.of(info)
    context = options.context_size or info.context_length or 4096
    needed = info.file_size + shape.kv_bytes(context, options.kv_cache_type) + beside
    gpu = max((d.usable for d in report.gpus if not d.unified), default=0)
    have = report.cpu.total + gpu
    if needed + reserved <= have:
        return ""
    return (
        f"{info.path.name} is too large for this machine: it needs about {needed / GiB:.1f} GiB "
        f"(weights{', its vision projector' if beside else ''} and a {context:,}-token KV cache)"
        + (f" beside the {reserved / GiB:.1f} GiB the other loaded model holds" if reserved else "")
        + f", and the machine has {report.cpu.total / GiB:.1f} GiB of RAM"
        + (f" and {gpu / GiB:.1f} GiB of GPU memory" if gpu else "")
        + ". Choose a smaller quant or a smaller context, or a q8_0 KV cache."
    )
