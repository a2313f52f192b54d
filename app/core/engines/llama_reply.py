"""One reply's tokens from llama.cpp, after ``LlamaEngine.stream`` has fitted its prompt: the prompt read (a kept
state restored, the KV cache's common prefix reused, or the images evaluated through the projector), then the reply
sampled token by token (the stop flag read between tokens; prompt lookup's drafts checked), its stats filled in, and
the context's state kept for the next turn. A model file overwritten in place while it is mapped ends the reply
(``ModelFileError``) and the model is unloaded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.engines.llama_adapter import PromptAbort, cached_prefix, evaluated_tokens, read_prompt
from app.core.engines.llama_state import keep_state, restore_best
from app.core.engines.llama_vision import ImageTiming, Projector, VisionPrompt
from app.core.engines.prompt_lookup import DraftCounts, drafting
from app.core.engines.state_cache import StateCache
from app.core.errors import ModelFileError
from app.core.prompting.types import FinishReason, GenerationStats, Sampling

if TYPE_CHECKING:
    from llama_cpp import Llama


@dataclass(frozen=True)
class HeldModel:
    """What a reply reads of the engine that holds the model (a ``LlamaEngine``), as it stands when the reply starts."""

    llama: Llama
    projector: Projector | None  # the vision projector loaded beside it, if any
    state_cache: StateCache | None  # where states of long prompts are kept (None: none kept)
    state_space: str  # what a kept state is valid for (``llama_state.state_space``)
    exact_states: bool  # the model's state cannot be cut back (``llama_state.exact_states_only``)
    draft_length: int  # prompt lookup's drafts (0: none)
    file_changed: Callable[[], bool]  # the mapped model file was overwritten in place
    stale_error: Callable[[], ModelFileError]  # the error that says so (logged)
    unload: Callable[[], None]


def reply_pieces(
    held: HeldModel,
    tokens: list[int],
    *,
    max_tokens: int,
    sampling: Sampling,
    stop: list[str],
    should_stop: Callable[[], bool],
    stats: GenerationStats,
    on_prompt_progress: Callable[[int, int], None] | None,
    grammar: Any = None,
    vision: VisionPrompt | None = None,
) -> Iterator[str]:
    """The reply's text pieces; ``stats`` is filled in as it ends (however it ends).

    ``tokens``: the prompt (empty when ``vision`` reads it: text and images through mtmd); ``stop``: the strings that
    end the reply; ``grammar``: a compiled GBNF grammar, or None."""
    llama = held.llama
    started = time.perf_counter()
    finish: str = FinishReason.CANCELLED
    first = 0.0
    if vision is None:
        if held.projector is not None:
            held.projector.held = []  # the context is read as text from here: images hold -1, no token
        exact = held.exact_states
        stats.restored_tokens = restore_best(held.state_cache, held.state_space, llama, tokens, exact=exact)
        cached = cached_prefix(llama, tokens, exact=exact)
    else:
        cached = 0
    # A prompt already in the KV cache but for its last token (regenerate, continue) needs no abort.
    abort = PromptAbort(llama, should_stop, needed=vision is not None or len(tokens) - cached > 1)
    chunks: Any = iter(())
    stale = False
    drafts = contextlib.ExitStack()
    counts: DraftCounts | None = None
    try:
        if vision is not None:
            timing = ImageTiming()
            try:
                read_in = vision.evaluate(llama, should_stop, on_prompt_progress, timing)
            finally:
                vision.free()
                stats.image_encode_s = timing.encode_s
            tokens = read_in if read_in is not None else [0] * evaluated_tokens(llama)
            if read_in is None:
                return
        elif not read_prompt(llama, tokens, cached, should_stop, on_prompt_progress):
            return
        elif held.exact_states and len(tokens) - 1 > cached:  # the prompt-end checkpoint: a regenerate starts here
            keep_state(held.state_cache, held.state_space, llama)
        # An image's positions hold no token a draft could copy; a refused draft cannot be cut out of a recurrent state.
        if held.draft_length > 0 and vision is None and not held.exact_states:
            counts = drafts.enter_context(drafting(llama, held.draft_length, len(tokens)))
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
            stop=stop,
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
            if held.file_changed():  # before the next token touches the mapped weights
                stale = True
                raise held.stale_error()
    finally:
        abort.remove()
        if hasattr(chunks, "close"):
            chunks.close()
        drafts.close()  # unchecked drafts leave the context before its state is kept
        end = time.perf_counter()
        if counts is not None:
            stats.generated_tokens = counts.sampled
            stats.drafted_tokens, stats.accepted_tokens = counts.drafted, counts.accepted
        else:  # the last sampled token is never evaluated, hence + 1 once anything was generated
            evaluated = evaluated_tokens(llama) - len(tokens)
            stats.generated_tokens = evaluated + 1 if (first or evaluated > 0) else 0
        stats.ttft_s = (first or end) - started
        stats.total_s = end - started
        stats.finish_reason = finish
        if stale:
            held.unload()
        elif held.exact_states and abort.fired:  # a decode given up midway: the recurrent state is not trusted
            llama.reset()
        elif vision is None:
            keep_state(held.state_cache, held.state_space, llama)
