"""A local model's own prompt format: the one set for its file, its chat template, or a fallback llama.cpp knows.

The order, at load (``auto`` in a preset means this format):

1. the format the user set for this model file (Load options, ``models set-format``), kept in the per-file options
   (``LoadOptions.prompt_format``): ``auto``, a named format (``chatml`` …) or ``llama.cpp:NAME``, one of
   llama.cpp's built-in templates;
2. the GGUF's ``tokenizer.chat_template``;
3. without one (a base model, or an old conversion), what llama.cpp knows for the architecture: for a family with
   its own chat format (``gemma3`` → llama.cpp's ``gemma``, ``phi3``, ``command-r``, ``qwen2`` → ``chatml`` …),
   that format when the file names a tuned model (``general.finetune``/name/file with "it", "instruct", "chat" …),
   else (a base model of that family) llama.cpp's plain ``USER:``/``ASSISTANT:`` transcript (``vicuna``), which a
   base model continues and ends where an instruct format's markup, never seen in its training, makes it ramble
   (measured on Gemma 3 270M base: docs/benchmarks.md). A generic architecture (``llama`` is Llama 2, 3, Mistral
   and every fine-tune of them) gets the transcript only when the file says it is a base model ("base", "pt");
4. ChatML (what most fine-tunes of generic architectures without a template, OpenHermes 2 among them, were taught).

Every path honours the GGUF's token settings: BOS exactly once where ``tokenizer.ggml.add_bos_token`` asks for it
(``PromptFormat(add_bos=…)`` on the text, ``bos_once_ids`` on the tokens); EOS and EOT (``eos_token_id``,
``eot_token_id``) end a reply as tokens (llama.cpp's end-of-generation set) and as text (``ModelTokens.end_texts``);
``add_eos_token`` never puts EOS after a prompt that asks for a reply (it would end the sequence before the reply).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.prompting.prompt_formats import (
    AUTO,
    NAMED_FORMATS,
    NO_TEMPLATE,
    BuiltinFormat,
    ChatMessage,
    PromptFormat,
    format_for_model,
    resolve_format,
)

BUILTIN = "llama.cpp:"  # a per-file format key: "llama.cpp:gemma" is llama.cpp's built-in template named gemma
BASE_TEMPLATE = "vicuna"  # llama.cpp's plain "USER: … ASSISTANT:" transcript: what a base model can continue
BASE_LABEL = "USER/ASSISTANT transcript (llama.cpp's vicuna, for a base model)"

# GGUF architectures whose tuned models use one of llama.cpp's built-in templates, where the architecture alone
# decides it (a "llama" file may be Llama 2, 3, Mistral or anything: not listed).
ARCHITECTURE_TEMPLATES = {
    "gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "gemma3n": "gemma",
    "phi3": "phi3", "phimoe": "phi3", "command-r": "command-r", "cohere2": "command-r",
    "chatglm": "chatglm4", "glm4": "chatglm4", "exaone": "exaone3", "exaone4": "exaone4",
    "granite": "granite", "granitemoe": "granite", "minicpm": "minicpm", "orion": "orion",
    "rwkv6": "rwkv-world", "rwkv7": "rwkv-world", "llama4": "llama4", "gpt-oss": "gpt-oss",
    "seed_oss": "seed_oss", "grok": "grok-2", "bailingmoe": "bailing", "bailingmoe2": "bailing2",
    "hunyuan-moe": "hunyuan-moe", "hunyuan-dense": "hunyuan-dense", "deepseek": "deepseek",
    "qwen2": "chatml", "qwen2moe": "chatml", "qwen3": "chatml", "qwen3moe": "chatml",
}  # fmt: skip
_TUNED = r"(?i)(?<![a-z])(it|instruct|chat|sft|dpo|rlhf|orpo|assistant)(?![a-z])"
_BASE = r"(?i)(?<![a-z])(base|pt|pretrain(ed)?)(?![a-z])"
if TYPE_CHECKING:
    from llama_cpp import Llama

    from app.core.library.gguf_file import GGUFInfo

_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """(Compiled on a model's first load, not at import: LlamaEngine is built at the window's start.)"""
    return re.compile(pattern)


Apply = Callable[[str, Sequence[Mapping[str, Any]], bool], str]  # llama_adapter.apply_builtin_template


@dataclass(frozen=True)
class ModelTokens:
    """What a format needs of the loaded vocabulary."""

    bos: str = ""
    eos: str = ""
    add_bos: bool = False
    eot: str = ""  # the end-of-turn token's text where it is not EOS (Gemma's <end_of_turn>)

    @property
    def end_texts(self) -> tuple[str, ...]:
        """EOS and EOT as text: a reply that spells one out (a base model does) stops there."""
        return tuple(text for text in (self.eos, self.eot) if len(text.strip()) > 2)


def is_file_format(key: str) -> bool:
    """Whether ``key`` can be a model file's format (its spelling; a built-in's existence is checked at load)."""
    if key == AUTO or key in NAMED_FORMATS:
        return True
    return key.startswith(BUILTIN) and bool(_KEY.fullmatch(key[len(BUILTIN) :]))


def file_format_choices(builtins: Sequence[str]) -> dict[str, str]:
    """Every format a model file can be set to: key → label (for the Load options dialog and the CLI)."""
    return {
        AUTO: "Auto (the model's template, or a fallback)",
        **{key: f.label for key, f in NAMED_FORMATS.items()},
        **{f"{BUILTIN}{name}": f"{name} (llama.cpp built-in)" for name in builtins},
    }


def known_builtins() -> tuple[str, ...]:
    """llama.cpp's built-in chat templates (imports llama.cpp on first use)."""
    from app.core.engines.llama_adapter import builtin_templates

    return builtin_templates()


def auto_label(info: GGUFInfo, builtins: Sequence[str]) -> str:
    """What ``auto`` renders with for this file, said before it is loaded ("the model's template", a fallback's)."""
    if info.chat_template:
        return "the model's own template"
    name = fallback_template(info, builtins)
    return (BASE_LABEL if name == BASE_TEMPLATE else f"{name} (llama.cpp built-in)") if name else "ChatML"


def _names(info: GGUFInfo) -> list[str]:
    names = (info.metadata.get("general.finetune"), info.metadata.get("general.name"), info.path.stem)
    return [name for name in names if isinstance(name, str)]


def looks_tuned(info: GGUFInfo) -> bool:
    """Whether the file names a fine-tuned (chat/instruct) model."""
    return any(_compiled(_TUNED).search(name) for name in _names(info))


def looks_base(info: GGUFInfo) -> bool:
    """Whether the file says it is a base (pretrained) model."""
    return any(_compiled(_BASE).search(name) for name in _names(info)) and not looks_tuned(info)


def fallback_template(info: GGUFInfo, builtins: Sequence[str]) -> str:
    """The llama.cpp built-in template for a model without its own ("" for none: ChatML)."""
    family = ARCHITECTURE_TEMPLATES.get(info.architecture, "")
    if family and looks_tuned(info):
        return family if family in builtins else ""
    if family or looks_base(info):
        return BASE_TEMPLATE if BASE_TEMPLATE in builtins else ""
    return ""


def builtin_format(name: str, apply: Apply, tokens: ModelTokens, *, note: str = "", label: str = "") -> BuiltinFormat:
    def render(messages: Sequence[ChatMessage], add_assistant: bool) -> str:
        return apply(name, messages, add_assistant)

    return BuiltinFormat(
        name, render, label=label, bos_token=tokens.bos, eos_token=tokens.eos, note=note, add_bos=tokens.add_bos
    )


def model_format(
    info: GGUFInfo, choice: str, tokens: ModelTokens, builtins: Sequence[str], apply: Apply
) -> tuple[PromptFormat, bool, tuple[str, ...]]:
    """The format ``auto`` stands for with this model, whether the file has a usable template, and notes."""
    notes: list[str] = []
    has_template = bool(info.chat_template)
    if choice != AUTO:
        if choice.startswith(BUILTIN) and choice[len(BUILTIN) :] in builtins:
            return builtin_format(choice[len(BUILTIN) :], apply, tokens), has_template, ()
        if choice in NAMED_FORMATS:
            chosen = resolve_format(choice, bos_token=tokens.bos, eos_token=tokens.eos, add_bos=tokens.add_bos)
            return chosen, has_template, ()
        notes.append(f"The prompt format set for this file, {choice!r}, is unknown to this llama.cpp: using Auto.")

    def fallback(note: str) -> PromptFormat:
        name = fallback_template(info, builtins)
        if name:
            label = BASE_LABEL if name == BASE_TEMPLATE else ""
            chosen: PromptFormat = builtin_format(name, apply, tokens, label=label)
        else:
            chosen = resolve_format("chatml", bos_token=tokens.bos, eos_token=tokens.eos, add_bos=tokens.add_bos)
        chosen.note = note.replace("ChatML", chosen.name)
        return chosen

    chosen = format_for_model(
        info.chat_template, bos_token=tokens.bos, eos_token=tokens.eos, add_bos=tokens.add_bos, fallback=fallback
    )
    if chosen.name != "model template":
        has_template = False
        if not chosen.note:
            chosen.note = f"{NO_TEMPLATE}: using {chosen.name}."
    return chosen, has_template, tuple(notes)


def model_tokens(llama: Llama) -> ModelTokens:
    """What a format needs of a vocabulary llama.cpp has read: BOS/EOS/EOT texts and whether BOS is added."""
    from app.core.engines.llama_adapter import token_text, vocabulary_flags

    add_bos, _add_eos, eot = vocabulary_flags(llama)
    bos, eos = token_text(llama, llama.token_bos()), token_text(llama, llama.token_eos())
    return ModelTokens(bos, eos, add_bos, token_text(llama, eot) if eot != llama.token_eos() else "")


@dataclass(frozen=True)
class FileFormat:
    """A model file's format as a load would pick it, without loading it."""

    prompt_format: PromptFormat
    has_template: bool
    notes: tuple[str, ...]
    tokens: ModelTokens


def file_format(info: GGUFInfo, choice: str) -> FileFormat:
    """:func:`model_format` for a file that is not loaded (``prompt --model``): its vocabulary read alone, so the
    format, the fallback for a model without a template and the BOS rule are the ones a load would pick."""
    from app.core.engines.llama_adapter import apply_builtin_template, builtin_templates
    from app.core.engines.llama_open import open_vocabulary

    llama = open_vocabulary(info)
    try:
        tokens = model_tokens(llama)
    finally:
        llama.close()
    chosen, has_template, notes = model_format(info, choice, tokens, builtin_templates(), apply_builtin_template)
    return FileFormat(chosen, has_template, notes, tokens)


def bos_once_ids(ids: list[int], bos: int, add_bos: bool) -> list[int]:
    """The prompt's tokens starting with BOS exactly once where the model asks for it (or the text wrote it)."""
    if bos < 0:
        return ids
    start = 0
    while start < len(ids) and ids[start] == bos:
        start += 1
    return [bos, *ids[start:]] if add_bos or start else ids
