"""Creating a ``Llama``: fewer GPU layers after each failure for memory, and a load failure said for people."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.core.engines.llama_adapter import import_llama_cpp
from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import ALL, KV_TYPES, OffloadPlan, flash_attention_on, gpu_layers_label
from app.core.errors import ModelLoadError
from app.core.library.gguf_file import GGUFInfo

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

_MEMORY_FAILURE = re.compile(
    r"out of (device |host )?memory|OutOf(Device|Host)Memory|failed to allocate|insufficient memory|"
    r"unable to allocate|cudaMalloc failed|alloc(ate)?_buffer.*failed",
    re.IGNORECASE,
)


class _NativeErrors(logging.Handler):
    """Collects llama.cpp's warnings and errors while a model loads (its exceptions only say "Failed to ...")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> _NativeErrors:
        logging.getLogger("llama.cpp").addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger("llama.cpp").removeHandler(self)

    def memory_cause(self) -> str:
        return next((line.strip() for line in self.lines if _MEMORY_FAILURE.search(line)), "")


def _fewer_layers(layers: int, total: int) -> list[int]:
    """The GPU layer counts to try after ``layers`` ran out of memory: halves, then none."""
    start = total if layers == ALL or layers > total else layers
    return [n for n in dict.fromkeys((start // 2, start // 4, 0)) if n < start]


def open_llama(
    info: GGUFInfo, options: LoadOptions, plan: OffloadPlan, *, embedding_context: int = 0
) -> tuple[Llama, OffloadPlan, float, tuple[str, ...]]:
    """Create the ``Llama``, with fewer GPU layers after each failure for memory (and said so in the notes).

    ``embedding_context`` > 0: in embedding mode, with that context as the batch and micro-batch (an encoder
    reads each input in one micro-batch).
    """
    llama_cpp = import_llama_cpp()
    mode: dict[str, Any] = {"n_ctx": options.context_size}
    if embedding_context:
        mode = {"n_ctx": embedding_context, "n_batch": embedding_context, "n_ubatch": embedding_context,
                "embedding": True}  # fmt: skip
    notes: list[str] = []
    tried: list[int] = []
    layers, retries = plan.layers, _fewer_layers(plan.layers, plan.total_layers)
    while True:
        kv_type = KV_TYPES[options.kv_cache_type][0]
        started = time.perf_counter()
        with _NativeErrors() as native:
            try:
                llama = llama_cpp.Llama(
                    model_path=str(info.path),
                    **mode,
                    n_threads=options.cpu_threads or None,
                    n_gpu_layers=layers,
                    flash_attn=flash_attention_on(options, layers),
                    type_k=kv_type,
                    type_v=kv_type,
                    use_mmap=options.use_mmap,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is None:
            if tried:
                reason = f"{layers} of {plan.total_layers} layers, after running out of memory with more"
                plan = replace(plan, layers=layers, device=plan.device if layers else None, reason=reason)
            return llama, plan, time.perf_counter() - started, tuple(notes)
        tried.append(layers)
        cause = native.memory_cause()
        if layers == 0 or not retries:
            raise ModelLoadError(_load_failure_message(info, options, failure, cause, tried, native_lines=native.lines))
        following = retries.pop(0) if cause else 0
        retries = retries if cause else []
        what = f"ran out of memory ({cause})" if cause else f"failed ({failure})"
        notes.append(
            f"Loading with {gpu_layers_label(layers)} GPU layers {what}; "
            + (f"retried with {following}." if following else "retried on the CPU.")
        )
        log.warning("%s", notes[-1])
        layers = following


def open_vocabulary(info: GGUFInfo) -> Llama:
    """The file's vocabulary alone (llama.cpp's ``vocab_only``: no weights read): its tokens and their settings."""
    llama_cpp = import_llama_cpp()
    native_log = logging.getLogger("llama.cpp")

    def quiet(record: logging.LogRecord) -> bool:  # a vocabulary has no context: its warnings about one mean nothing
        return record.levelno >= logging.ERROR

    native_log.addFilter(quiet)
    try:
        with _NativeErrors() as native:
            try:
                return llama_cpp.Llama(model_path=str(info.path), vocab_only=True, n_ctx=16, n_batch=16, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                said = cause_in(native.lines) or str(exc)
                raise ModelLoadError(f"The vocabulary of {info.path.name} could not be read: {said}") from exc
    finally:
        native_log.removeFilter(quiet)


def cause_in(lines: Sequence[str]) -> str:
    """The reason llama.cpp logged for a failed load ("error loading model: …"), for people; "" when none."""
    for line in reversed(lines):
        found = re.search(r"error loading model(?: architecture)?: (.+)", line)
        if found:
            return found.group(1).strip()[:300]
    return ""


def _load_failure_message(
    info: GGUFInfo,
    options: LoadOptions,
    exc: Exception,
    memory: str = "",
    tried: Sequence[int] = (),
    *,
    native_lines: Sequence[str] = (),
) -> str:
    arch = info.architecture
    if memory:
        layers = ", ".join(gpu_layers_label(n) for n in tried)
        smaller_cache = {"f16": "a q8_0 KV cache, ", "q8_0": "a q4_0 KV cache, "}.get(options.kv_cache_type, "")
        return (
            f"Not enough memory to load {info.path.name} with a {options.context_size:,}-token context "
            f"and KV cache type {options.kv_cache_type} (llama.cpp: {memory}; GPU layers tried: {layers}). "
            f"Try a smaller context size, {smaller_cache}or fewer GPU layers."
        )
    said = cause_in(native_lines)
    if "unknown model architecture" in said:
        return (
            f"{info.path.name} is a {arch} model, an architecture this app's llama.cpp does not know (it may be "
            "newer than the app): update Hermes Studio to load it."
        )
    if said:
        return f"llama.cpp could not load {info.path.name} ({arch}, {info.quantization}): {said}"
    hint = (
        f"llama.cpp could not load {info.path.name} ({arch}, {info.quantization}). "
        "The architecture may be newer than this app's llama.cpp, or there may not be enough memory"
    )
    if options.context_size > 8192:
        hint += f" for a {options.context_size:,}-token context; try a smaller context size"
    return f"{hint}. ({exc})"
