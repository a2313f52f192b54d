"""llama.cpp's per-sequence state (the KV cache, and a hybrid model's recurrent state) as bytes, and back.

Through ``llama_state_seq_*`` on the context llama-cpp-python already holds; the engine's token bookkeeping
(``Llama.input_ids`` / ``n_tokens``) is set to match, so llama-cpp-python's own prefix match continues from it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.core.engines.llama_adapter import import_llama_cpp

if TYPE_CHECKING:
    from llama_cpp import Llama

SEQUENCE = 0  # llama-cpp-python runs everything on sequence 0


def state_format() -> str:
    """What a saved state is only valid for: this llama-cpp-python (and so this llama.cpp) build."""
    return f"llama-cpp-python {getattr(import_llama_cpp(), '__version__', '?')}"


def held_tokens(llama: Llama) -> list[int]:
    """The tokens whose state the context holds now."""
    return [int(token) for token in llama.input_ids[: llama.n_tokens]]


def save_sequence(llama: Llama) -> bytes:
    """The state of what the context holds now (``held_tokens``)."""
    llama_cpp = import_llama_cpp()
    ctx = llama._ctx.ctx
    size = int(llama_cpp.llama_state_seq_get_size(ctx, SEQUENCE))
    buffer = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_seq_get_data(ctx, buffer, size, SEQUENCE))
    if written <= 0 or written > size:
        raise RuntimeError(f"llama.cpp copied {written} bytes of a {size}-byte state")
    return ctypes.string_at(buffer, written)


def restore_sequence(llama: Llama, data: bytes, tokens: Sequence[int], keep: int) -> bool:
    """Load ``data`` (the state after ``tokens``) and keep its first ``keep`` tokens; False if llama.cpp refused.

    Cutting a state back (``keep`` < its length) works for attention caches; a recurrent or hybrid model's state
    cannot be cut, so llama.cpp refuses and the context is left empty (the prompt is then read in full)."""
    llama_cpp = import_llama_cpp()
    ctx = llama._ctx.ctx
    memory = llama_cpp.llama_get_memory(ctx)
    llama_cpp.llama_memory_clear(memory, True)
    llama.n_tokens = 0
    source = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    if int(llama_cpp.llama_state_seq_set_data(ctx, source, len(data), SEQUENCE)) == 0:
        llama_cpp.llama_memory_clear(memory, True)
        return False
    if keep < len(tokens) and not llama_cpp.llama_memory_seq_rm(memory, SEQUENCE, keep, -1):
        llama_cpp.llama_memory_clear(memory, True)
        return False
    llama.input_ids[:keep] = list(tokens[:keep])
    llama.n_tokens = keep
    return True
