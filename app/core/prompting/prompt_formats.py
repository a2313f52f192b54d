"""Turn a conversation into the exact text a model receives.

Every template — a model's own ``tokenizer.chat_template``, one of the named formats below, or a
user's custom Jinja — is rendered as llama-cpp-python's ``Jinja2ChatFormatter`` renders it, in an
immutable sandboxed Jinja environment (no attribute tricks, no file or network access) that also
checks every size-multiplying operation before it runs (``template_sandbox``), under a time budget,
so that a hostile template can neither hang the app nor exhaust its memory. A model without a
usable template gets the fallback the engine picks from llama.cpp's built-in templates (``BuiltinFormat``,
``engines.model_format``), else ChatML, the format of OpenHermes 2.

BOS, in every path (the model's template, a named format, a custom one, a built-in): the rendered text starts
with the model's BOS exactly once when the GGUF asks for one (``tokenizer.ggml.add_bos_token``) or the template
wrote it, so what the preview shows is what the engine tokenizes (never with another BOS added).

Importing this module does not import llama_cpp (the GUI starts without it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from app.core.errors import TemplateError
from app.core.prompting.parts import ReasoningOptions, thinking_switch
from app.core.prompting.reasoning import reasoning_format
from app.core.prompting.template_limits import MAX_CHARS, TemplateTooBig, stopped_after
from app.core.prompting.tool_prompt import prepare

Role = Literal["system", "user", "assistant", "tool"]

RENDER_SECONDS = 2.0  # a chat template renders in milliseconds; anything slower is broken or hostile
RENDER_MAX_CHARS = MAX_CHARS
AUTO = "auto"
CUSTOM = "custom"
SYSTEM_MERGED_NOTE = "This format has no system role: the system prompt was merged into the first user message."
NO_TEMPLATE = "No chat template (base model?)"  # the words the faces show for a model without a usable template

# The template published with OpenHermes 2 (its tokenizer_config.json): plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOP = "<|im_end|>"
CHATML_START = "<|im_start|>"

# Meta's Llama 2 chat format, as in the meta-llama/Llama-2-*-chat-hf tokenizer_config.json.
LLAMA_2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)

# Meta's Llama 3 instruct format (meta-llama/Meta-Llama-3-8B-Instruct).
LLAMA_3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# Mistral Instruct v0.1 (mistralai/Mistral-7B-Instruct-v0.1): no system role.
MISTRAL_INSTRUCT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}"
    "{% endfor %}"
)

# Stanford Alpaca's prompt (tatsu-lab/stanford_alpaca), turns separated by blank lines.
ALPACA_DEFAULT_SYSTEM = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
ALPACA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}"
    '{% else %}{{ "' + ALPACA_DEFAULT_SYSTEM + '\\n\\n" }}{% endif %}'
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + '\\n\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)

# Vicuna v1.1 (lmsys/FastChat conversation template "vicuna_v1.1").
VICUNA_DEFAULT_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
VICUNA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + ' ' }}"
    '{% else %}{{ "' + VICUNA_DEFAULT_SYSTEM + ' " }}{% endif %}'
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


@dataclass(frozen=True)
class NamedFormat:
    key: str
    label: str
    template: str
    bos_token: str = ""
    eos_token: str = ""
    stop: tuple[str, ...] = ()


NAMED_FORMATS: dict[str, NamedFormat] = {
    f.key: f
    for f in (
        NamedFormat("chatml", "ChatML", CHATML_TEMPLATE, stop=(CHATML_STOP,)),
        NamedFormat("llama-2", "Llama 2", LLAMA_2_TEMPLATE, "<s>", "</s>", ("</s>",)),
        NamedFormat("llama-3", "Llama 3", LLAMA_3_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>", ("<|eot_id|>",)),
        NamedFormat("mistral-instruct", "Mistral Instruct", MISTRAL_INSTRUCT_TEMPLATE, "<s>", "</s>", ("</s>",)),
        NamedFormat("alpaca", "Alpaca", ALPACA_TEMPLATE, "", "</s>", ("### Instruction:",)),
        NamedFormat("vicuna", "Vicuna", VICUNA_TEMPLATE, "", "</s>", ("USER:",)),
    )
}
FORMAT_CHOICES: dict[str, str] = {
    AUTO: "Auto (from the model's template)",
    **{key: f.label for key, f in NAMED_FORMATS.items()},
    CUSTOM: "Custom Jinja template",
}


class TemplateTimeout(TemplateError):
    """A template ran past its time budget (an endless or explosive loop)."""


class ChatMessage(TypedDict):
    role: Role
    content: str
    tool_calls: NotRequired[list[dict[str, Any]]]  # an assistant's calls, OpenAI's shape (prompting.tool_prompt)
    tool_call_id: NotRequired[str]  # a tool result: the call it answers
    name: NotRequired[str]  # a tool result: the tool's name
    images: NotRequired[Sequence[Any]]  # a user's images (prompting.media.ImageInput), sent as media markers


@dataclass(frozen=True)
class RenderedPrompt:
    """The text a model receives, with what the engine needs to tokenize and stop it."""

    text: str
    stop: tuple[str, ...]
    added_special: bool  # True: the template wrote BOS itself, so the tokenizer must not add one
    format_name: str
    notes: tuple[str, ...] = field(default=())
    reasoning: str = ""  # how the reply splits into reasoning and answer (prompting.reasoning's formats)


class PromptFormat:
    """One chat template, compiled once, rendered per turn."""

    def __init__(
        self,
        name: str,
        template: str,
        *,
        bos_token: str = "",
        eos_token: str = "",
        stop: Sequence[str] = (),
        note: str = "",
        add_bos: bool = False,
    ) -> None:
        """``add_bos``: the model's GGUF asks for BOS at the start (``tokenizer.ggml.add_bos_token``)."""
        self.name = name
        self.template = template
        self.note = note
        self.options = ReasoningOptions()
        self.bos_token, self.add_bos = bos_token, add_bos
        chatml = [CHATML_STOP if "<|im_end|>" in template else "", CHATML_START if "<|im_start|>" in template else ""]
        extra = [eos_token, *stop, *chatml]  # EOS first, as before; a new ChatML turn ends the reply too
        self._extra_stop = tuple(dict.fromkeys(s for s in extra if s))
        from app.core.prompting.template_sandbox import BoundedTemplate  # jinja2: on first compile, not at start

        try:
            self._template: BoundedTemplate = _within_budget(
                lambda: BoundedTemplate(template, bos_token=bos_token, eos_token=eos_token), name
            )
        except TemplateError:
            raise
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise TemplateError(f"The {name} chat template is invalid: {exc}") from exc

    def with_options(self, options: ReasoningOptions) -> PromptFormat:
        """The same compiled template, rendered with the user's reasoning choices (``enable_thinking`` …)."""
        if options == self.options:
            return self
        other = copy.copy(self)
        other.options = options
        return other

    @property
    def takes_thinking(self) -> bool:
        """The template reads ``enable_thinking`` (Qwen 3 style) or ``reasoning_effort`` (gpt-oss style)."""
        return bool(thinking_switch(self.template))

    def render(self, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]] = ()) -> RenderedPrompt:
        """Render; a template that refuses the system role gets it merged into the first user turn.

        ``tools`` (OpenAI's function tools) go to the template as ``tools``; a template that cannot show them
        gets them in a system message and tool turns as text (``tool_prompt.prepare``).
        """
        notes = [self.note] if self.note else []
        messages, template_tools = prepare(messages, tools, self.template)
        try:
            response = self._render(messages, template_tools)
        except (TemplateTimeout, TemplateTooBig):
            raise
        except TemplateError:
            merged = merge_system_into_first_user(messages)
            if merged is None:
                raise
            response = self._render(merged, template_tools)
            notes.append(SYSTEM_MERGED_NOTE)
        ordered = dict.fromkeys([*self._extra_stop])
        response = bos_once(response, self.bos_token, self.add_bos)
        return RenderedPrompt(
            text=response,
            stop=tuple(ordered),
            added_special=True,  # the text holds BOS as the model wants it (bos_once): the tokenizer adds none
            format_name=self.name,
            notes=tuple(notes),
            reasoning=reasoning_format(response),
        )

    def _render(self, messages: Sequence[ChatMessage], tools: list[dict[str, Any]] | None = None) -> str:
        try:
            plain = [dict(m) for m in messages]
            extra = self.options.template_kwargs()
            response = _within_budget(lambda: self._template.render(plain, tools=tools, extra=extra), self.name)
        except TemplateTooBig as exc:
            raise TemplateTooBig(f"The {self.name} chat template was refused: {exc}") from None
        except TemplateError:
            raise
        except MemoryError:
            raise TemplateTooBig(f"The {self.name} chat template ran out of memory and was refused.") from None
        except Exception as exc:  # raise_exception() in templates, sandbox violations, type errors
            raise TemplateError(f"The {self.name} chat template failed on this conversation: {exc}") from exc
        if not isinstance(response, str):
            raise TemplateError(f"The {self.name} chat template produced an unusable prompt.")
        return response


class BuiltinFormat(PromptFormat):
    """One of llama.cpp's built-in chat templates (``llama_chat_apply_template`` by name), for a model without its own.

    ``apply(messages, add_assistant)`` renders with llama.cpp (the engines layer passes it in: this layer never
    touches llama.cpp). Its stops are read from the format itself: the lines that close a turn and open the next
    (``<end_of_turn>``, ``<start_of_turn>user``, ``USER:``), so a model that starts another turn is stopped there.
    """

    def __init__(
        self,
        name: str,
        apply: Callable[[Sequence[ChatMessage], bool], str],
        *,
        label: str = "",
        bos_token: str = "",
        eos_token: str = "",
        note: str = "",
        add_bos: bool = False,
    ) -> None:
        self.builtin, self._apply = name, apply
        self.name = label or f"{name} (llama.cpp built-in)"
        self.template, self.note, self.options = "", note, ReasoningOptions()
        self.bos_token, self.add_bos = bos_token, add_bos
        try:
            stops = turn_markers(apply)
        except Exception as exc:  # an unknown name, a llama.cpp refusal
            raise TemplateError(f"llama.cpp's built-in {name!r} chat template failed: {exc}") from exc
        self._extra_stop = tuple(dict.fromkeys(s for s in (eos_token, *stops) if s))

    def _render(self, messages: Sequence[ChatMessage], tools: list[dict[str, Any]] | None = None) -> str:
        try:
            return self._apply(messages, True)
        except Exception as exc:
            raise TemplateError(f"llama.cpp's {self.builtin} chat template failed on this conversation: {exc}") from exc


def turn_markers(apply: Callable[[Sequence[ChatMessage], bool], str]) -> tuple[str, ...]:
    """The lines a format writes between one message and the next (``<end_of_turn>``, ``<start_of_turn>user``):
    where a reply must stop. Read from a rendering of three short turns."""
    a, b, c = "\x01A\x01", "\x01B\x01", "\x01C\x01"
    turns: list[ChatMessage] = [
        {"role": "user", "content": a}, {"role": "assistant", "content": b}, {"role": "user", "content": c}
    ]  # fmt: skip
    text = apply(turns, True)
    if not all(mark in text for mark in (a, b, c)):
        return ()
    between = text[text.index(a) + len(a) : text.index(b)] + "\n" + text[text.index(b) + len(b) : text.index(c)]
    between += "\n" + text[text.index(c) + len(c) :]
    return tuple(dict.fromkeys(line.strip() for line in between.splitlines() if len(line.strip()) > 1))


def bos_once(text: str, bos_token: str, add_bos: bool) -> str:
    """``text`` starting with ``bos_token`` exactly once when ``add_bos`` or it already started with it; else as is."""
    if not bos_token:
        return text
    rest = text
    while rest.startswith(bos_token):
        rest = rest[len(bos_token) :]
    wrote = len(rest) < len(text)
    return bos_token + rest if add_bos or wrote else text


def merge_system_into_first_user(messages: Sequence[ChatMessage]) -> list[ChatMessage] | None:
    """The conversation without a system message, its text put before the first user message; None if no system."""
    if not messages or messages[0]["role"] != "system":
        return None
    system, rest = messages[0]["content"], list(messages[1:])
    for index, message in enumerate(rest):
        if message["role"] == "user":
            rest[index] = {
                "role": "user",
                "content": f"{system}\n\n{message['content']}" if system else message["content"],
            }
            return rest
    return [{"role": "user", "content": system}, *rest]


def format_for_model(
    chat_template: str | None,
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_bos: bool = False,
    fallback: Callable[[str], PromptFormat] | None = None,
) -> PromptFormat:
    """The model's own template when it has a usable one, else ``fallback(note)`` (the engine's pick among
    llama.cpp's built-in templates, given the note to carry), else ChatML."""
    note = f"{NO_TEMPLATE}: using ChatML."
    if chat_template:
        try:
            return PromptFormat(
                "model template", chat_template, bos_token=bos_token, eos_token=eos_token, add_bos=add_bos
            )
        except TemplateError as exc:  # a broken embedded template must not make the model unusable
            note = f"{exc} Using ChatML instead."
    if fallback is not None:
        return fallback(note)
    return PromptFormat("ChatML", CHATML_TEMPLATE, bos_token=bos_token, eos_token=eos_token, note=note, add_bos=add_bos)


def resolve_format(
    choice: str,
    *,
    custom_template: str = "",
    model_template: str | None = None,
    bos_token: str | None = None,
    eos_token: str | None = None,
    add_bos: bool = False,
    model_format: PromptFormat | None = None,
) -> PromptFormat:
    """The format a preset asks for: ``auto`` (the model's), a named one, or ``custom``.

    ``bos_token``/``eos_token``/``add_bos`` are the loaded model's; named formats use their own otherwise.
    ``model_format``: the loaded model's own format as its engine resolved it (``auto`` is then that one).
    """
    if choice == AUTO:
        if model_format is not None:
            return model_format
        return format_for_model(model_template, bos_token=bos_token or "", eos_token=eos_token or "", add_bos=add_bos)
    if choice == CUSTOM:
        if not custom_template.strip():
            raise TemplateError("The custom prompt format is empty: write a Jinja chat template.")
        return PromptFormat(
            "custom template", custom_template, bos_token=bos_token or "", eos_token=eos_token or "", add_bos=add_bos
        )
    named = NAMED_FORMATS.get(choice)
    if named is None:
        raise TemplateError(f"Unknown prompt format {choice!r}.")
    return PromptFormat(
        named.label,
        named.template,
        bos_token=named.bos_token if bos_token is None else bos_token or named.bos_token,
        eos_token=named.eos_token if eos_token is None else eos_token or named.eos_token,
        stop=named.stop,
        add_bos=add_bos,
    )


PREVIEW_PLACEHOLDER = "(your next message)"


def preview_prompt(
    messages: Sequence[ChatMessage],
    choice: str,
    *,
    custom_template: str = "",
    model_template: str | None = None,
    bos_token: str | None = None,
    eos_token: str | None = None,
    model_loaded: bool = True,
    add_bos: bool = False,
    model_format: PromptFormat | None = None,
) -> tuple[str, list[str]]:
    """The exact text of the next prompt and notes about it, or ("", [the error]) — for the live preview.

    The first note always names the format ("Format: …"); ``model_format`` is the loaded model's own (``auto``).
    """
    extra: list[str] = []
    if choice == AUTO and not model_loaded:
        choice = "chatml"
        extra.append("No model loaded: showing ChatML; a loaded model's own template replaces it.")
    try:
        prompt_format = resolve_format(
            choice,
            custom_template=custom_template,
            model_template=model_template,
            bos_token=bos_token,
            eos_token=eos_token,
            add_bos=add_bos,
            model_format=model_format,
        )
        rendered = prompt_format.render(messages)
    except TemplateError as exc:
        return "", [str(exc)]
    notes = [f"Format: {rendered.format_name}", *rendered.notes, *extra]
    if rendered.stop:
        notes.append("Stops at: " + ", ".join(repr(stop) for stop in rendered.stop))
    return rendered.text, notes


def _within_budget(work: Any, name: str) -> Any:
    """Run ``work()``, aborting Jinja-compiled template code that runs past RENDER_SECONDS.

    Sandboxed Jinja cannot touch files or attributes, but a loop nested in a loop can still run for hours.
    """
    timeout = f"The {name} chat template took longer than {RENDER_SECONDS:.0f} s and was stopped."
    return stopped_after(work, RENDER_SECONDS, lambda: TemplateTimeout(timeout), template_lines=True)
