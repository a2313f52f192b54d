"""One interface for every engine: what the service, the session and the faces may ask of a model's runtime.

``LlamaEngine`` (llama.cpp through llama-cpp-python, engines.llama_engine) and ``RemoteEngine`` (an
OpenAI-compatible server, engines.remote) implement ``Engine`` side by side, as httpx's transports implement
``BaseTransport``: callers read ``engine.capabilities`` instead of asking which class they hold. An engine made
for embeddings (``LlamaEngine(embedding=True)``, the engine service's embedding slot) says
``capabilities.embeddings`` and answers ``embed``; a vision engine plugs in here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError
from app.core.prompting.context import ContextPolicy
from app.core.prompting.prompt_formats import ChatMessage, PromptFormat, RenderedPrompt
from app.core.prompting.types import GenerationStats, Sampling

if TYPE_CHECKING:  # annotations only: the offload planner and the GGUF reader stay off the start path
    from app.core.engines.offload import Placement
    from app.core.engines.state_cache import StateCache
    from app.core.library.gguf_file import GGUFInfo

__all__ = [
    "ContextFullError",
    "EmbeddingCancelled",
    "EmbeddingInputError",
    "Embeddings",
    "Engine",
    "EngineCapabilities",
    "Generation",
    "LoadedModel",
    "VisionUnavailable",
]


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do; the faces show or hide what depends on it."""

    remote: bool = False  # the model runs elsewhere: no local file, no placement, tokens estimated
    grammar: bool = False  # honours a GBNF grammar (JSON mode) itself
    vision: bool = False
    tools: bool = False
    embeddings: bool = False
    reasoning_format: str = ""  # "" (none known), "think-tags", "harmony", "reasoning_content"


@dataclass(frozen=True)
class LoadedModel:
    info: GGUFInfo
    context_size: int
    load_seconds: float
    prompt_format: str  # the name of the "auto" format: "model template", a fallback's, or the one set for the file
    bos_token: str = ""
    eos_token: str = ""
    placement: Placement | None = None  # where it runs: str() is "CUDA · NVIDIA … · 33/33 layers on GPU"
    notes: tuple[str, ...] = ()  # what happened on the way (a retry with fewer GPU layers, a CPU fallback)
    options: LoadOptions = LoadOptions()  # as asked for (gpu_layers may be auto)
    has_template: bool = True  # False: no usable tokenizer.chat_template (a base model?): the faces say so
    add_bos: bool = False  # the GGUF asks for BOS at the start of a prompt (tokenizer.ggml.add_bos_token)
    format: PromptFormat | None = field(default=None, compare=False, repr=False)  # what "auto" renders with
    resident_bytes: int = 0  # memory it holds, estimated (weights, KV cache, compute): other slots' loads count it
    projector: Path | None = None  # the vision projector loaded with it (None: a text-only model)
    remote: bool = False  # it runs on a remote engine (``engines.remote``): no local file, its server's template

    @property
    def vision(self) -> bool:
        return self.projector is not None

    @property
    def name(self) -> str:
        return self.info.path.name


class VisionUnavailable(HermesError):
    """Images were sent to a model that cannot read them."""


class ContextFullError(HermesError):
    """The conversation does not leave room for a reply in the context window."""


class EmbeddingInputError(HermesError):
    """One of the texts to embed cannot be: too long for the model (``tokens`` > ``limit``), or empty."""

    def __init__(self, message: str, *, index: int, tokens: int, limit: int) -> None:
        super().__init__(message)
        self.index, self.tokens, self.limit = index, tokens, limit


class EmbeddingCancelled(HermesError):
    """An embedding request was stopped (its ``should_stop`` said so, or the service closed) between decodes."""


class Embeddings(list[list[float]]):
    """One vector per text, in the texts' order, each of length 1 (L2-normalised): a plain list of lists.

    ``tokens`` is how many tokens the model read for them all (the usage an API reports).
    """

    def __init__(self, vectors: Iterable[list[float]] = (), tokens: int = 0) -> None:
        super().__init__(vectors)
        self.tokens = tokens


@dataclass
class Generation:
    """An iterator of reply text; ``stats`` is complete once it is exhausted or closed."""

    pieces: Iterator[str]
    prompt: RenderedPrompt
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[str]:
        return self.pieces

    def text(self) -> str:
        return "".join(self.pieces)


@runtime_checkable
class Engine(Protocol):
    """A model's runtime, owned by one thread (the engine service's): load, render, count, stream."""

    capabilities: EngineCapabilities
    loaded: LoadedModel | None
    state_cache: StateCache | None  # where states of long prompts are kept; None: none (a server keeps its own)
    reserved_bytes: int  # memory the other slot's model holds, counted against the machine's when a model is fitted

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        on_progress: Callable[[float], bool] | None = None,
    ) -> LoadedModel:
        """Load ``path`` (a GGUF file, or a model id of a remote engine); replaces what was loaded."""
        ...

    def unload(self) -> None: ...

    def prompt_format(self, choice: str = "auto", custom_template: str = "") -> PromptFormat: ...

    def render_prompt(
        self, messages: Sequence[ChatMessage], prompt_format: PromptFormat | None = None
    ) -> RenderedPrompt: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling = Sampling(),
        should_stop: Callable[[], bool] = lambda: False,
        prompt_format: PromptFormat | None = None,
        *,
        context_policy: str = ContextPolicy.STOP,
        continue_text: str = "",
        on_prompt_progress: Callable[[int, int], None] | None = None,
        grammar: str = "",
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Generation:
        """Start a reply; iterate the result for its text pieces (``stats`` complete once exhausted)."""
        ...

    def embed(self, texts: Sequence[str], should_stop: Callable[[], bool] = lambda: False) -> Embeddings:
        """One normalised vector per text (an engine whose ``capabilities.embeddings`` is True; others raise).

        A text longer than the model reads at once (``loaded.context_size`` tokens, the model's special tokens
        included) or with no tokens at all raises ``EmbeddingInputError`` before anything is computed: split long
        texts first. ``should_stop`` is read between decodes; True raises ``EmbeddingCancelled``.
        """
        ...
