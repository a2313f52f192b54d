"""The engine: one llama.cpp model, loaded from a validated GGUF, streaming chat replies.

Not thread-safe by design: one owner (the GUI's engine worker thread, or the CLI's main thread)
calls every method. The stop callback is the only thing another thread touches; it is read
between tokens.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.context import ContextOverflow, fit_to_context
from app.core.errors import HermesError, ModelLoadError, NoModelLoaded
from app.core.gguf_file import GGUFInfo, read_gguf
from app.core.prompt_formats import AUTO, ChatMessage, PromptFormat, RenderedPrompt, format_for_model, resolve_format

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    context_size: int = 4096  # 0: the model's own training context
    cpu_threads: int = 0  # 0: llama.cpp's default
    gpu_layers: int = 0  # -1: all


@dataclass(frozen=True)
class Sampling:
    """How a reply is sampled (a preset carries one; the GUI overrides temperature and max tokens)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def with_overrides(self, **values: Any) -> Sampling:
        return replace(self, **values)


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


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    ttft_s: float = 0.0  # request to first token of text
    total_s: float = 0.0  # request to the end
    context_size: int = 0
    finish_reason: str = ""  # "stop", "length" or "cancelled"
    dropped_messages: int = 0  # left out by the chat's context policy ...
    dropped_start: int = 0  # ... from this index of the messages sent

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "total_s": round(self.total_s, 4),
            "tokens_per_s": round(self.tokens_per_s, 2),
            "context_size": self.context_size,
            "finish_reason": self.finish_reason,
            "dropped_messages": self.dropped_messages,
            "dropped_start": self.dropped_start,
        }

    @classmethod
    def from_dict(cls, data: dict) -> GenerationStats:
        names = {"prompt_tokens", "generated_tokens", "ttft_s", "total_s", "context_size", "finish_reason",
                 "dropped_messages", "dropped_start"}  # fmt: skip
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.generated_tokens

    @property
    def tokens_per_s(self) -> float:
        """Generation speed after the first token (the prompt's processing is in ttft_s)."""
        decode_s = self.total_s - self.ttft_s
        if self.generated_tokens <= 1 or decode_s <= 0:
            return 0.0
        return (self.generated_tokens - 1) / decode_s


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
        llama_cpp = _import_llama_cpp()
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
        bos, eos = _token_text(llama, llama.token_bos()), _token_text(llama, llama.token_eos())
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
    ) -> Generation:
        """Start a reply; iterate the result for text pieces. ``should_stop`` is checked between tokens.

        ``context_policy`` decides what happens when the conversation does not fit (see app.core.context);
        ``continue_text`` is a partial reply to carry on from (the model continues it, not a new turn);
        ``on_prompt_progress(done, total)`` hears about a long prompt's processing, batch by batch.
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
        )
        return generation

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
    ) -> Iterator[str]:
        started = time.perf_counter()
        finish = "cancelled"
        first = 0.0
        cached = _cached_prefix(llama, tokens)
        # A prompt already in the KV cache but for its last token (regenerate, continue) needs no abort.
        abort = _PromptAbort(llama, should_stop, needed=len(tokens) - cached > 1)
        chunks: Any = iter(())
        try:
            if not _read_prompt(llama, tokens, cached, should_stop, on_prompt_progress):
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
                stop=list(dict.fromkeys(prompt.stop + sampling.stop)),
                stream=True,
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
            evaluated = llama.n_tokens - len(tokens)
            stats.generated_tokens = evaluated + 1 if (first or evaluated > 0) else 0
            stats.ttft_s = (first or end) - started
            stats.total_s = end - started
            stats.finish_reason = finish

    def _require(self) -> Llama:
        if self._llama is None:
            raise NoModelLoaded("Load a model first.")
        return self._llama


def _cached_prefix(llama: Llama, tokens: list[int]) -> int:
    """How many of the prompt's tokens (all but the last, which is always evaluated) the KV cache holds."""
    cached = 0
    for held, wanted in zip(llama._input_ids, tokens[:-1], strict=False):
        if held != wanted:
            break
        cached += 1
    return cached


def _read_prompt(
    llama: Llama,
    tokens: list[int],
    cached: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[int, int], None] | None,
) -> bool:
    """Process a long prompt batch by batch, reporting progress; False if Stop came first.

    llama-cpp-python would process it in one call, silently. Here every token but the last is
    evaluated first, one batch at a time; ``create_completion`` then finds them in the KV cache
    (its prefix match) and evaluates only the last. Prompts of one batch or less go straight through.
    """
    batch = llama.n_batch
    end = len(tokens) - 1
    if on_progress is None or end - cached <= batch:
        return True
    llama.n_tokens = cached  # eval() drops whatever the cache holds past this point
    position = cached
    on_progress(position, len(tokens))
    try:
        while position < end:
            following = min(end, position + batch)
            llama.eval(tokens[position:following])
            position = following
            on_progress(position, len(tokens))
            if should_stop():
                return False
    except RuntimeError:  # llama_decode aborted by Stop (see _PromptAbort)
        if should_stop():
            return False
        raise
    return True


_STOPPING_A_PROMPT = threading.Event()  # set from llama.cpp's abort callback until the request ends


class _PromptAbort:
    """Lets Stop interrupt llama.cpp while it processes the prompt, which takes minutes for a long chat on a CPU.

    llama.cpp asks its abort callback between the nodes of each compute graph. The callback is Python (it
    takes the GIL), so it is installed only until the first token arrives: prompt batches are long and few,
    tokens are short and many. An aborted batch is taken out of the KV cache by llama.cpp, and
    llama-cpp-python's own token count never included it, so the next request reuses what was processed.
    """

    def __init__(self, llama: Llama, should_stop: Callable[[], bool], needed: bool = True) -> None:
        self._llama_cpp = _import_llama_cpp()
        self._context = llama._ctx.ctx
        self._should_stop = should_stop
        self._callback: Any = None
        if needed:
            self._callback = self._llama_cpp.ggml_abort_callback(self._check)
            self._llama_cpp.llama_set_abort_callback(self._context, self._callback, None)

    def _check(self, _data: Any) -> bool:
        if self._should_stop():
            _STOPPING_A_PROMPT.set()
            return True
        return False

    def guard(self, chunks: Iterator[Any]) -> Iterator[Any]:
        """``chunks``, ending quietly where llama.cpp gave up because Stop was pressed."""
        try:
            yield from chunks
        except RuntimeError as exc:  # llama-cpp-python: "llama_decode returned 2" (aborted)
            if not self._should_stop():
                raise
            log.info("stopped while processing the prompt (%s)", exc)

    def remove(self) -> None:
        if self._callback is not None:
            self._llama_cpp.llama_set_abort_callback(self._context, self._llama_cpp.ggml_abort_callback(), None)
            self._callback = None
            _STOPPING_A_PROMPT.clear()


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama._model.token_get_text(token)  # the same call llama-cpp-python makes for its own formatter


def _load_failure_message(info: GGUFInfo, options: LoadOptions, exc: Exception) -> str:
    arch = info.architecture
    hint = (
        f"llama.cpp could not load {info.path.name} ({arch}, {info.quantization}). "
        "The architecture may be newer than this app's llama.cpp, or there may not be enough memory"
    )
    if options.context_size > 8192:
        hint += f" for a {options.context_size:,}-token context; try a smaller context size"
    return f"{hint}. ({exc})"


@functools.cache
def _import_llama_cpp() -> Any:
    """Import llama_cpp once, routing llama.cpp's log to Python logging.

    ``Llama(verbose=False)`` redirects the *process's* stdout and stderr (fds 1 and 2) while it
    loads (llama-cpp-python #796, #1874), which silences every other thread. The engine turns
    that redirection off and sends llama.cpp's own log to the ``llama.cpp`` logger instead.
    """
    import contextlib

    import llama_cpp
    import llama_cpp.llama as llama_module

    llama_module.suppress_stdout_stderr = lambda disable=True: contextlib.nullcontext()  # type: ignore[assignment]
    native_log = logging.getLogger("llama.cpp")
    # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous line)
    levels = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
    last_level = [logging.DEBUG]

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, _user_data: Any) -> None:
        python_level = last_level[0] if level == 5 else levels.get(level, logging.DEBUG)
        if _STOPPING_A_PROMPT.is_set():  # llama.cpp reports an aborted batch as a failure: it was Stop
            python_level = min(python_level, logging.INFO)
        last_level[0] = python_level
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            native_log.log(python_level, "%s", message)

    llama_cpp.llama_log_set(forward, None)
    _import_llama_cpp.log_callback = forward  # type: ignore[attr-defined]  # keeps the ctypes callback alive
    return llama_cpp
