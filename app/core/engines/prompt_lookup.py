"""Prompt-lookup decoding for one reply: drafts copied from the context, checked by the model in one batch.

llama-cpp-python's ``LlamaPromptLookupDecoding`` (the only speculative decoding its ``Llama`` offers) proposes the
tokens that followed an earlier occurrence of the last few tokens; ``Llama.generate`` evaluates them with the next
token in one batch and keeps each one only where the sampler picks that very token. Every position is still sampled
once and in order, so the reply is the plain reply (greedy: token for token). It pays where a reply repeats its
context (code with one change, quotes); elsewhere each token costs a wider batch, so ``Drafter`` stops proposing for
the rest of a reply whose drafts are mostly refused (checked after every proposal once ``WARM_UP`` were made).

``Llama`` takes its ``draft_model`` in the constructor, where it also turns on ``logits_all``: every token's logits
copied into an ``n_ctx × n_vocab`` array (0.8 GB for 4,096 tokens and a 49k vocabulary, 16 GB for Llama 3 at 32k),
prompt included. ``drafting`` sets the same attributes for one reply, ``logits_all`` only once the prompt has been
read (one output per batch), and gives that copy a buffer of one batch (sampling reads llama.cpp's own logits).

Identical replies need flash attention on the CPU: without it, llama.cpp's attention gives a token evaluated in a
batch of drafts other logits than the same token alone (``offload.check_options`` refuses the combination). On a
GPU a batch runs other kernels than one token: a reply can differ where two tokens are all but tied, as with
llama.cpp's own speculative decoding.
These are llama-cpp-python internals; ``llama_adapter.check_internals`` names them if a release changes them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.engines.llama_adapter import import_llama_cpp
from app.core.engines.load_options import MAX_DRAFT

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama

log = logging.getLogger(__name__)

NGRAM = 2  # llama-cpp-python's default: the last 2 tokens (then 1) are looked up
WARM_UP = 16  # drafted tokens before the acceptance rate is judged
MIN_ACCEPTED = 0.25  # below this share of drafted tokens accepted, drafting stops for the rest of the reply


@dataclass
class DraftCounts:
    """What drafting did in one reply."""

    drafted: int = 0  # tokens proposed
    accepted: int = 0  # of them, the ones the model agreed with
    sampled: int = 0  # tokens sampled (the reply's length in tokens)
    stopped_at: int = 0  # tokens proposed when drafting stopped for the reply (0: it never did)


class Drafter:
    """A ``draft_model`` for ``Llama``: prompt-lookup proposals, and none once few of them are accepted.

    ``Llama.generate`` calls it with the tokens so far (the context and the token just sampled); comparing that
    length with the previous call's says how many of the previous proposal were accepted.
    """

    def __init__(self, length: int, counts: DraftCounts, on_first_call: Callable[[], None]) -> None:
        lookup_class = import_llama_cpp().llama_speculative.LlamaPromptLookupDecoding
        self._lookup = lookup_class(max_ngram_size=NGRAM, num_pred_tokens=max(1, min(length, MAX_DRAFT)))
        self.counts = counts
        self._on_first_call: Callable[[], None] | None = on_first_call
        self._last: tuple[int, int] | None = None  # (length of the call, tokens proposed) of the last proposal

    def settle(self, verified: int) -> None:
        """Count the last proposal's accepted tokens, given how many tokens are known to be right now."""
        if self._last is not None:
            at, proposed = self._last
            self.counts.accepted += min(max(verified - at, 0), proposed)
            self._last = None

    @property
    def stopped(self) -> bool:
        return self.counts.stopped_at > 0

    def __call__(self, input_ids: npt.NDArray[np.intc], /, **_kwargs: Any) -> npt.NDArray[np.intc]:
        if self._on_first_call is not None:  # the prompt is read: from here on every position's logits count
            self._on_first_call()
            self._on_first_call = None
        length = len(input_ids)
        self.settle(length - 1)  # the last one is the token just sampled: it was never a proposal's
        counts = self.counts
        if not self.stopped and counts.drafted >= WARM_UP and counts.accepted < MIN_ACCEPTED * counts.drafted:
            counts.stopped_at = counts.drafted
            log.info("prompt lookup: %d of %d drafted tokens accepted; off for the rest of the reply",
                     counts.accepted, counts.drafted)  # fmt: skip
        if self.stopped:
            return input_ids[:0]
        draft: npt.NDArray[np.intc] = self._lookup(input_ids)
        if len(draft):
            self._last = (length, len(draft))
            counts.drafted += len(draft)
        return draft


class _BatchLogits:
    """Stands for ``Llama.scores`` while drafting: the rows of one batch, whatever its position in the context.

    ``Llama.eval`` copies each evaluated token's logits to ``scores[n_past : n_past + n]`` (n ≤ ``n_batch``);
    ``Llama.generate`` reads ``_scores[-k]`` for stopping criteria. Both land in the same few rows here.
    """

    def __init__(self, rows: int, vocab: int) -> None:
        import numpy as np

        self._rows = np.empty((rows, vocab), dtype=np.single)

    def __getitem__(self, key: Any) -> Any:
        rows = key[0] if isinstance(key, tuple) else key
        if isinstance(rows, slice):
            count = len(range(*rows.indices(1 << 40)))
            return self._rows[: min(count, len(self._rows))]
        return self._rows[rows]


@contextlib.contextmanager
def drafting(llama: Llama, length: int, prompt_tokens: int) -> Iterator[DraftCounts]:
    """Generate with prompt-lookup drafts of up to ``length`` tokens inside this block.

    The prompt is read as without drafts (the same batches: llama.cpp's results can depend on how a prompt is cut
    into batches), every token's logits asked for only from the first proposal on. On the way out, the context is
    cut back to the reply's checked tokens: a reply that ended in the middle of a batch of proposals leaves none of
    the unchecked ones behind (nor in a state saved after it).
    """
    counts = DraftCounts()

    def every_logit() -> None:
        llama._logits_all = True

    drafter = Drafter(length, counts, every_logit)
    sample = llama.sample

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts.sampled += 1
        return sample(*args, **kwargs)

    saved = (llama.draft_model, llama._logits_all, llama.scores)
    llama.draft_model = drafter  # type: ignore[assignment]  # any callable does (Llama.generate calls it)
    llama.scores = _BatchLogits(llama.n_batch, llama.n_vocab())  # type: ignore[assignment]
    llama.sample = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        del llama.sample  # the class's method again
        llama.draft_model, llama._logits_all, llama.scores = saved
        checked = prompt_tokens + max(counts.sampled - 1, 0)  # the last sampled token was never evaluated
        drafter.settle(checked)
        if llama.n_tokens > checked:
            llama._ctx.kv_cache_seq_rm(-1, checked, -1)
            llama.n_tokens = checked
            llama._requires_eval = True  # the logits at hand are not those after the last token kept
