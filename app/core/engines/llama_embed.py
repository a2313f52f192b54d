"""A llama.cpp model in embedding mode: which GGUFs are embedding models, the context they get, and one batch embedded.

An embedding model names how it pools a sentence into one vector in its header (``{arch}.pooling_type``: mean,
CLS or last token, as its converter read sentence-transformers' ``1_Pooling/config.json``); a model without one
is a chat model (llama.cpp would hand back a vector per token). An encoder (``{arch}.attention.causal`` false,
BERT and its kin) reads a whole input in one micro-batch, so the batch and micro-batch are the context: the most
tokens one input may have. ``llama-cpp-python``'s ``Llama.embed`` packs many inputs into one batch, each its own
sequence, and decodes them together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.core.engines.interface import EmbeddingCancelled, EmbeddingInputError, Embeddings
from app.core.engines.llama_adapter import embedding_sequences
from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import ModelShape
from app.core.errors import ModelLoadError
from app.core.library.gguf_file import GGUFInfo

if TYPE_CHECKING:
    from llama_cpp import Llama

POOLING = {1: "mean", 2: "CLS", 3: "last token"}  # llama_pooling_type; 0 none, 4 rank (a reranker's score)
# The context an embedding model gets unless asked: an encoder's compute buffer holds context² attention scores per
# head (nomic-embed at 8,192 would take 3 GiB for them); documents are embedded in chunks of a few hundred tokens.
MAX_DEFAULT_CONTEXT = 2048
FALLBACK_CONTEXT = 512


def pooling_of(info: GGUFInfo) -> int:
    value = info.metadata.get(f"{info.architecture}.pooling_type")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def is_embedding_model(info: GGUFInfo) -> bool:
    """A GGUF made for sentence embeddings: it pools (mean, CLS, last token), or it is a bidirectional encoder."""
    return pooling_of(info) in POOLING or info.metadata.get(f"{info.architecture}.attention.causal") is False


def check_embedding_model(info: GGUFInfo) -> None:
    """Raise ModelLoadError for a GGUF that cannot give one vector per text."""
    pooling = pooling_of(info)
    if pooling == 4:
        raise ModelLoadError(f"{info.path.name} is a reranker (it scores pairs of texts): it gives no embeddings.")
    if pooling not in POOLING:
        raise ModelLoadError(
            f"{info.path.name} is not an embedding model (its GGUF names no pooling type, so it has no sentence "
            "vector): choose a GGUF made for embeddings (`hermes-studio setup --embeddings` puts all-MiniLM-L6-v2 "
            "in the library)."
        )


def check_chat_model(info: GGUFInfo) -> None:
    """Raise ModelLoadError for an embedding model loaded to chat (it would only ever produce nonsense)."""
    if is_embedding_model(info):
        raise ModelLoadError(
            f"{info.path.name} is an embedding model ({info.architecture}): it turns text into vectors and cannot "
            "chat. Load it as the embedding model (`serve --embedding-model`), and a chat model to chat."
        )


def embedding_context(info: GGUFInfo, options: LoadOptions) -> int:
    """Tokens one input may have: the asked context, else the model's own (at most MAX_DEFAULT_CONTEXT)."""
    if options.context_size > 0:
        return min(options.context_size, info.context_length or options.context_size)
    return min(info.context_length or FALLBACK_CONTEXT, MAX_DEFAULT_CONTEXT)


def resident_bytes(info: GGUFInfo, context: int, kv_type: str = "f16", *, embedding: bool = False) -> int:
    """Memory a loaded model holds, estimated: its weights and KV cache (chat) or its compute buffer (embeddings)."""
    shape = ModelShape.of(info)
    if not embedding:
        return info.file_size + shape.kv_bytes(context, kv_type)
    # An encoder keeps no KV cache; its compute buffer holds a micro-batch (the context) of activations and the
    # attention scores of that micro-batch.
    activations = context * (shape.feed_forward * 2 + shape.embedding * 8) * 4
    scores = context * context * max(1, shape.heads) * 4
    return info.file_size + activations + scores


def embed_batch(
    llama: Llama, texts: Sequence[str], model_name: str, should_stop: Callable[[], bool] = lambda: False
) -> Embeddings:
    """Embed ``texts`` in as few decodes as fit, L2-normalised; usage counted; ``should_stop`` read between decodes.

    Every text is tokenized first, the way ``Llama.embed`` does it, so a text too long or empty is refused before
    anything runs (``Llama.embed`` would cut a long one silently, and crash on an empty sequence). The texts are
    grouped as ``Llama.embed`` groups them (a group ends where the next text would pass the batch or the sequence
    count) and each group is one ``Llama.embed`` call, one decode: the same work, with a place to stop between.
    """
    limit = llama.n_batch
    sequences = embedding_sequences(llama)
    total = 0
    groups: list[list[str]] = []
    group_tokens = 0
    for index, text in enumerate(texts):
        count = len(llama.tokenize(text.encode("utf-8")))
        if count > limit:
            raise EmbeddingInputError(
                f"Input {index} is {count:,} tokens long; {model_name} reads at most {limit:,} at a time: split it.",
                index=index,
                tokens=count,
                limit=limit,
            )
        if count == 0:
            raise EmbeddingInputError(f"Input {index} is empty: there is nothing to embed.", index=index, tokens=0,
                                      limit=limit)  # fmt: skip
        total += count
        if not groups or group_tokens + count > limit or len(groups[-1]) >= sequences:
            groups.append([])
            group_tokens = 0
        groups[-1].append(text)
        group_tokens += count
    vectors: list[list[float]] = []
    for group in groups:
        if should_stop():
            raise EmbeddingCancelled(f"Embedding stopped after {len(vectors):,} of {len(texts):,} texts.")
        vectors += llama.embed(group, normalize=True, truncate=False)  # pooled: one vector per text
    return Embeddings(vectors, total)
