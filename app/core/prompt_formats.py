"""Turn a conversation into the exact text a model receives.

Templates are rendered by llama-cpp-python's ``Jinja2ChatFormatter`` (an immutable sandboxed Jinja
environment, the same machinery its ``create_chat_completion`` uses). A model's own
``tokenizer.chat_template`` is preferred; a model without one gets ChatML, the format of OpenHermes 2.

Importing this module does not import llama_cpp (the GUI starts without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from app.core.errors import TemplateError

if TYPE_CHECKING:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

Role = Literal["system", "user", "assistant"]

# The template published with OpenHermes 2 (its tokenizer_config.json): plain ChatML.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_STOP = "<|im_end|>"


class ChatMessage(TypedDict):
    role: Role
    content: str


@dataclass(frozen=True)
class RenderedPrompt:
    """The text a model receives, with what the engine needs to tokenize and stop it."""

    text: str
    stop: tuple[str, ...]
    added_special: bool  # True: the template wrote BOS itself, so the tokenizer must not add one
    format_name: str
    notes: tuple[str, ...] = field(default=())


class PromptFormat:
    """One chat template, compiled once, rendered per turn."""

    def __init__(self, name: str, template: str, *, bos_token: str = "", eos_token: str = "", note: str = "") -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.name = name
        self.note = note
        self.template = template
        self._extra_stop = tuple(s for s in (eos_token, CHATML_STOP if "<|im_end|>" in template else "") if s)
        try:
            self._formatter: Jinja2ChatFormatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True
            )
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise TemplateError(f"The {name} chat template is invalid: {exc}") from exc

    def render(self, messages: Sequence[ChatMessage]) -> RenderedPrompt:
        try:
            response = self._formatter(messages=list(messages))
        except Exception as exc:  # raise_exception() in templates, sandbox violations, type errors
            raise TemplateError(f"The {self.name} chat template failed on this conversation: {exc}") from exc
        stops = response.stop if isinstance(response.stop, list) else [response.stop] if response.stop else []
        ordered = dict.fromkeys([*(s for s in stops if s), *self._extra_stop])
        return RenderedPrompt(
            text=response.prompt,
            stop=tuple(ordered),
            added_special=bool(response.added_special),
            format_name=self.name,
            notes=(self.note,) if self.note else (),
        )


def format_for_model(chat_template: str | None, *, bos_token: str = "", eos_token: str = "") -> PromptFormat:
    """The model's own template when it has a usable one, else ChatML."""
    note = "The model has no chat template; using ChatML."
    if chat_template:
        try:
            return PromptFormat("model template", chat_template, bos_token=bos_token, eos_token=eos_token)
        except TemplateError as exc:  # a broken embedded template must not make the model unusable
            note = f"{exc} Using ChatML instead."
    return PromptFormat("ChatML", CHATML_TEMPLATE, bos_token=bos_token, eos_token=eos_token, note=note)
