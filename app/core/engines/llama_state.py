"""llama.cpp's per-sequence state (the KV cache, and a hybrid model's recurrent state) as bytes, and back; and the
engine's use of the state cache: what a state is valid for (``state_space``), the best one restored before a
prompt is read (``restore_best``), the context's kept after a reply and, for a model whose state cannot be cut
back (``exact_states_only``), at the prompt's end (``keep_state``).

An attention model's state (its KV cache) can be cut back to any prefix: a later state serves an earlier prompt
(a regenerate, an edit, a branch). A recurrent model's (Mamba, RWKV) is a summary of every token read and a hybrid
model's (Jamba, LFM2, Granite 4, Qwen3-Next…) holds one too: llama.cpp cannot cut them back, so only a state whose
every token starts the new prompt (an exact checkpoint) is restored, and the context is never cut back either.

Through ``llama_state_seq_*`` on the context llama-cpp-python already holds; the engine's token bookkeeping
(``Llama.input_ids`` / ``n_tokens``) is set to match, so llama-cpp-python's own prefix match continues from it.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.core.engines.llama_adapter import cached_prefix, import_llama_cpp
from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import flash_attention_on
from app.core.engines.state_cache import MIN_TOKENS, StateCache, namespace
from app.core.library.gguf_file import GGUFInfo

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("app.core.engines.llama_engine")

SEQUENCE = 0  # llama-cpp-python runs everything on sequence 0


def exact_states_only(llama: Llama) -> bool:
    """Whether the model's state cannot be cut back to a shorter prefix (llama.cpp: a recurrent or hybrid model)."""
    llama_cpp = import_llama_cpp()
    model = llama._model.model
    return bool(llama_cpp.llama_model_is_recurrent(model)) or bool(llama_cpp.llama_model_is_hybrid(model))


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
    cannot be cut (``restore_best`` never asks it to). If llama.cpp refuses, the context is left empty: the
    prompt is then read in full."""
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


def state_space(info: GGUFInfo, options: LoadOptions, llama: Llama, gpu_layers: int) -> str:
    """What a saved state is valid for: this file (path, size, time), the options that shape a state, this build."""
    try:
        stat = info.path.stat()
    except OSError:
        return ""
    return namespace(
        info.path.resolve(), stat.st_size, stat.st_mtime_ns, llama.n_ctx(), llama.n_batch, options.kv_cache_type,
        flash_attention_on(options, gpu_layers), state_format(),
    )  # fmt: skip


def restore_best(cache: StateCache | None, space: str, llama: Llama, tokens: list[int], *, exact: bool = False) -> int:
    """Load the saved state sharing the most of ``tokens`` if it beats what the context holds; how many it gave.

    ``exact`` (``exact_states_only``): only an exact checkpoint, and only if it beats all the context holds (a
    context that is itself a prefix of the prompt is kept: it is never cleared for a shorter state)."""
    if cache is None or len(tokens) < MIN_TOKENS or not space:
        return 0
    found = cache.best(space, tokens[:-1], exact=exact)  # the last token is always evaluated
    if found is None or found[1] <= cached_prefix(llama, tokens, exact=exact) + 16:
        return 0
    state, shared = found
    if restore_sequence(llama, state.data, state.tokens, shared):
        log.info("restored %d of %d prompt tokens from a saved state", shared, len(tokens))
        return shared
    log.warning("llama.cpp refused a saved state of %d tokens; the prompt is read in full", len(state.tokens))
    return 0


def keep_state(cache: StateCache | None, space: str, llama: Llama) -> None:
    """Save what the context holds (after a reply, so coming back to this chat later reads only what is new; at
    the prompt's end, so a regenerate or an edit of a model that cannot cut its state back starts from there)."""
    if cache is None or llama.n_tokens < MIN_TOKENS or not space:
        return
    try:
        cache.put(space, held_tokens(llama), save_sequence(llama))
    except (RuntimeError, MemoryError) as exc:
        log.warning("could not save the chat's state: %s", exc)
