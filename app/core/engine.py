"""The engine: one llama.cpp model, loaded from a validated GGUF, streaming chat replies.

Not thread-safe by design: one owner (the GUI's engine worker thread, or the CLI's main thread)
calls every method. The stop callback is the only thing another thread touches; it is read
between tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.chat_types import FinishReason, GenerationStats, LoadOptions, Sampling
from app.core.context import ContextOverflow, fit_to_context
from app.core.errors import HermesError, ModelLoadError, NoModelLoaded
from app.core.gguf_file import GGUFInfo, read_gguf
from app.core.llama_adapter import (
    PromptAbort,
    cached_prefix,
    evaluated_tokens,
    import_llama_cpp,
    read_prompt,
    token_text,
)
from app.core.prompt_formats import AUTO, ChatMessage, PromptFormat, RenderedPrompt, format_for_model, resolve_format

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["ContextFullError", "Engine", "GenerationStats", "LoadOptions", "LoadedModel", "Sampling"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    info: GGUFInfo
    context_size: int
    load_seconds: float
    prompt_format: str  # the name of the "auto" format: "model template" or "ChatML"
    bos_token: str = ""
    eos_token: str = ""

    @property
    def name(self) -> str:
        return self.info.path.name


class ContextFullError(HermesError):
    """The conversation does not leave room for a reply in the context window."""


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


class Engine:
    """Owns at most one ``Llama``."""

    def __init__(self) -> None:
        self._llama: Llama | None = None
        self._format: PromptFormat | None = None
        self._formats: dict[tuple[str, str], PromptFormat] = {}
        self.loaded: LoadedModel | None = None

    def load(self, path: str | Path, options: LoadOptions = LoadOptions()) -> LoadedModel:
        """Validate the file, then load it (replacing any loaded model)."""
        info = read_gguf(path)  # raises ModelFileError with a human message
        self.unload()
        llama_cpp = import_llama_cpp()
        started = time.perf_counter()
        try:
            llama = llama_cpp.Llama(
                model_path=str(info.path),
                n_ctx=options.context_size,
                n_threads=options.cpu_threads or None,
                n_gpu_layers=options.gpu_layers,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(_load_failure_message(info, options, exc)) from exc
        seconds = time.perf_counter() - started
        bos, eos = token_text(llama, llama.token_bos()), token_text(llama, llama.token_eos())
        prompt_format = format_for_model(info.chat_template, bos_token=bos, eos_token=eos)
        self._llama, self._format, self._formats = llama, prompt_format, {}
        self.loaded = LoadedModel(
            info=info,
            context_size=llama.n_ctx(),
            load_seconds=seconds,
            prompt_format=prompt_format.name,
            bos_token=bos,
            eos_token=eos,
        )
        log.info("loaded %s (ctx %d) in %.2f s", info.path, llama.n_ctx(), seconds)
        return self.loaded

    def unload(self) -> None:
        """Free the model now (not at garbage collection: a frozen app errors in ``Llama.__del__`` at exit)."""
        llama, self._llama, self._format, self.loaded = self._llama, None, None, None
        self._formats = {}
        if llama is not None:
            llama.close()

    def prompt_format(self, choice: str = AUTO, custom_template: str = "") -> PromptFormat:
        """The loaded model's format (``auto``), a named one, or a custom template; compiled once each."""
        if self._format is None or self.loaded is None:
            raise NoModelLoaded("Load a model first.")
        if choice == AUTO:
            return self._format
        key = (choice, custom_template)
        if key not in self._formats:
            self._formats[key] = resolve_format(
                choice,
                custom_template=custom_template,
                bos_token=self.loaded.bos_token,
                eos_token=self.loaded.eos_token,
            )
        return self._formats[key]

    def render_prompt(
        self, messages: Sequence[ChatMessage], prompt_format: PromptFormat | None = None
    ) -> RenderedPrompt:
        return (prompt_format or self.prompt_format()).render(messages)

    def count_tokens(self, text: str) -> int:
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling = Sampling(),
        should_stop: Callable[[], bool] = lambda: False,
        prompt_format: PromptFormat | None = None,
        *,
        context_policy: str = "stop",
        continue_text: str = "",
        on_prompt_progress: Callable[[int, int], None] | None = None,
        grammar: str = "",
    ) -> Generation:
        """Start a reply; iterate the result for text pieces. ``should_stop`` is checked between tokens.

        ``context_policy`` decides what happens when the conversation does not fit (see app.core.context);
        ``continue_text`` is a partial reply to carry on from (the model continues it, not a new turn);
        ``on_prompt_progress(done, total)`` hears about a long prompt's processing, batch by batch;
        ``grammar`` (GBNF) constrains the reply (the server's JSON mode).
        """
        llama = self._require()
        prompt_format = prompt_format or self.prompt_format()
        n_ctx = llama.n_ctx()
        reserve = max(1, min(sampling.max_tokens, n_ctx // 4))

        # Each candidate the policy tries is rendered and tokenized once; the one it keeps is sent as is.
        # (Candidates differ only in how many old messages they leave out, so their length identifies them.)
        tokenized: dict[int, tuple[RenderedPrompt, list[int]]] = {}

        def count(candidate: Sequence[ChatMessage]) -> int:
            rendered = prompt_format.render(candidate)
            text = rendered.text + continue_text
            ids = llama.tokenize(text.encode("utf-8"), add_bos=not rendered.added_special, special=True)
            tokenized[len(candidate)] = (rendered, ids)
            return len(ids)

        try:
            fitted = fit_to_context(messages, count, n_ctx - reserve, context_policy)
        except ContextOverflow as exc:
            raise ContextFullError(str(exc)) from None
        prompt, tokens = tokenized[len(fitted.messages)]
        room = n_ctx - len(tokens)
        if room < 1:
            raise ContextFullError(
                f"The conversation needs {len(tokens):,} tokens but the context holds {n_ctx:,}. "
                "Start a new chat, shorten the conversation, or load the model with a larger context."
            )
        generation = Generation(pieces=iter(()), prompt=prompt)
        generation.stats = GenerationStats(
            prompt_tokens=len(tokens),
            context_size=n_ctx,
            dropped_messages=fitted.dropped,
            dropped_start=fitted.dropped_start,
        )
        generation.pieces = self._pieces(
            llama,
            tokens,
            max_tokens=min(sampling.max_tokens, room),
            sampling=sampling,
            prompt=prompt,
            should_stop=should_stop,
            stats=generation.stats,
            on_prompt_progress=on_prompt_progress,
            grammar=self._grammar(grammar) if grammar else None,
        )
        return generation

    def _grammar(self, text: str) -> Any:
        try:
            return import_llama_cpp().LlamaGrammar.from_string(text, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise HermesError(f"The reply's grammar is not valid: {exc}") from None

    def _pieces(
        self,
        llama: Llama,
        tokens: list[int],
        *,
        max_tokens: int,
        sampling: Sampling,
        prompt: RenderedPrompt,
        should_stop: Callable[[], bool],
        stats: GenerationStats,
        on_prompt_progress: Callable[[int, int], None] | None,
        grammar: Any = None,
    ) -> Iterator[str]:
        started = time.perf_counter()
        finish: str = FinishReason.CANCELLED
        first = 0.0
        cached = cached_prefix(llama, tokens)
        # A prompt already in the KV cache but for its last token (regenerate, continue) needs no abort.
        abort = PromptAbort(llama, should_stop, needed=len(tokens) - cached > 1)
        chunks: Any = iter(())
        try:
            if not read_prompt(llama, tokens, cached, should_stop, on_prompt_progress):
                return
            chunks = llama.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                min_p=sampling.min_p,
                repeat_penalty=sampling.repeat_penalty,
                seed=sampling.seed,
                presence_penalty=sampling.presence_penalty,
                frequency_penalty=sampling.frequency_penalty,
                stop=list(dict.fromkeys(prompt.stop + sampling.stop)),
                stream=True,
                grammar=grammar,
            )
            for chunk in abort.guard(chunks):
                abort.remove()  # the prompt is in: from here the flag is checked between tokens, at no cost
                choice = chunk["choices"][0]
                text = choice["text"]
                if text:
                    if not first:
                        first = time.perf_counter()
                    yield text
                if choice["finish_reason"]:
                    finish = choice["finish_reason"]
                    break
                if should_stop():
                    break
        finally:
            abort.remove()
            if hasattr(chunks, "close"):
                chunks.close()
            end = time.perf_counter()
            # The last sampled token is never evaluated, hence + 1 once anything was generated.
            evaluated = evaluated_tokens(llama) - len(tokens)
            stats.generated_tokens = evaluated + 1 if (first or evaluated > 0) else 0
            stats.ttft_s = (first or end) - started
            stats.total_s = end - started
            stats.finish_reason = finish

    def _require(self) -> Llama:
        if self._llama is None:
            raise NoModelLoaded("Load a model first.")
        return self._llama


def _load_failure_message(info: GGUFInfo, options: LoadOptions, exc: Exception) -> str:
    arch = info.architecture
    hint = (
        f"llama.cpp could not load {info.path.name} ({arch}, {info.quantization}). "
        "The architecture may be newer than this app's llama.cpp, or there may not be enough memory"
    )
    if options.context_size > 8192:
        hint += f" for a {options.context_size:,}-token context; try a smaller context size"
    return f"{hint}. ({exc})"
