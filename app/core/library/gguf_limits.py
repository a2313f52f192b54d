"""The hyper-parameters llama.cpp's loader asserts on, checked before llama.cpp sees a file.

llama.cpp reads ``{arch}.block_count``, ``{arch}.expert_count`` and their kin in ``llama_model::load_hparams``
(``src/llama-model.cpp``) and stops the whole process with ``GGML_ASSERT`` — no message, no exception — when they
are out of range. Those checks are repeated here, per architecture, so a hostile or broken header is a
``ModelFileError`` with a message instead of an abort:

- ``block_count``: required, 1 … ``MAX_LAYERS`` (``LLAMA_MAX_LAYERS``: per-layer arrays are that long);
- ``expert_count`` ≤ ``MAX_EXPERTS`` (``LLAMA_MAX_EXPERTS``), ``expert_used_count`` ≤ ``expert_count``, at least
  one expert used when there are experts and none when there are none (Hunyuan's loader treats ≤ 1 expert as none);
- expert groups: fewer groups than experts, experts divisible into the groups, 0 < groups used < groups;
- per-layer arrays (head counts, feed-forward widths) no longer than the layers;
- embedding width, head counts and context length: positive and below limits no real model comes near (a
  64-bit count in a 32-bit field wraps around in llama.cpp).

Where a check cannot be complete (a new architecture's own keys), llama.cpp's own exceptions still apply; what
remains is documented in docs/reliability.md.
"""

from __future__ import annotations

from typing import Any

from app.core.errors import ModelFileError

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS in llama.cpp's src/llama-hparams.h
MAX_EXPERTS = 512  # LLAMA_MAX_EXPERTS in the llama.cpp the app pins (256 before Qwen3 Next)
MAX_WIDTH = 1 << 20  # embedding / feed-forward width: the largest models use ~30k; llama.cpp stores uint32
MAX_HEADS = 1 << 12
MAX_CONTEXT = 1 << 26  # 64 Mi tokens; real models train on ≤ 10 Mi
_NO_EXPERTS_BELOW_TWO = ("hunyuan-dense", "hunyuan_vl", "hunyuan-vl")
_PER_LAYER = ("feed_forward_length", "attention.head_count", "attention.head_count_kv")


class ArrayLength(int):
    """The length of a long header array whose items were skipped (what the header reader keeps of it)."""


def check_hyperparameters(metadata: dict[str, Any], name: str) -> None:
    """Raise ModelFileError when llama.cpp's loader would abort on these values."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError(f"{name} is not a usable model: its header names no architecture.")

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{name} is corrupt or hostile: {what}. llama.cpp would stop the app on it.")

    def integer(key: str, default: int | None = None) -> int | None:
        value = metadata.get(f"{arch}.{key}", default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"{arch}.{key} is {_show(value)}, not a whole number")
        return value

    layers = integer("block_count")
    if layers is None:
        if arch in ("clip", "t5encoder", "wavtokenizer-dec"):  # not chat models; llama.cpp checks its own
            return
        raise bad(f"{arch}.block_count is missing")
    if not 1 <= layers <= MAX_LAYERS:
        raise bad(f"{arch}.block_count is {layers:,} (llama.cpp accepts 1 to {MAX_LAYERS})")

    experts = integer("expert_count", 0) or 0
    used = integer("expert_used_count", 0) or 0
    if arch in _NO_EXPERTS_BELOW_TWO and experts <= 1:
        experts = used = 0
    if not 0 <= experts <= MAX_EXPERTS:
        raise bad(f"{arch}.expert_count is {experts:,} (llama.cpp accepts up to {MAX_EXPERTS})")
    if used < 0 or used > experts:
        raise bad(f"{arch}.expert_used_count is {used:,} but the model has {experts:,} experts")
    if experts > 0 and used == 0:
        raise bad(f"{arch}.expert_used_count is 0 but the model has {experts:,} experts")
    groups = integer("expert_group_count", 0) or 0
    groups_used = integer("expert_group_used_count", 0) or 0
    if experts == 0 and groups:
        raise bad(f"{arch}.expert_group_count is {groups:,} but the model has no experts")
    if experts and not 0 <= groups < experts:
        raise bad(f"{arch}.expert_group_count is {groups:,} for {experts:,} experts")
    if groups > 1 and (experts % groups or not 0 < groups_used < groups):
        raise bad(f"{arch} has {experts:,} experts in {groups:,} groups, {groups_used:,} used")

    for key, low, limit in (("embedding_length", 1, MAX_WIDTH), ("context_length", 0, MAX_CONTEXT)):
        value = integer(key)
        if value is not None and not low <= value <= limit:
            raise bad(f"{arch}.{key} is {value:,}")
    for key in _PER_LAYER:
        value = metadata.get(f"{arch}.{key}")
        limit = MAX_HEADS if "head" in key else MAX_WIDTH
        if isinstance(value, ArrayLength):
            if value > layers:
                raise bad(f"{arch}.{key} lists {value:,} layers but the model has {layers}")
            continue
        items = value if isinstance(value, list) else [value] if value is not None else []
        if len(items) > layers:
            raise bad(f"{arch}.{key} lists {len(items):,} layers but the model has {layers}")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= limit:
                raise bad(f"{arch}.{key} holds {_show(item)}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
