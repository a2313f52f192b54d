"""``POST /v1/embeddings``: OpenAI's request and response, on the engine service's embedding slot.

``serve --embedding-model MODEL`` (or the window's embedding model) loads it; a request names it by its file stem
like a chat model. ``input`` is a string or an array of strings (token arrays are refused: this server reads text);
``encoding_format`` ``float`` (JSON numbers) or ``base64`` (the little-endian float32 bytes, what the official
clients ask for by default); ``dimensions`` only as the model's own. Every bound answers 400 with its name before
the model runs: inputs per request, characters in all, an empty input, an input longer than the model reads at once.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from dataclasses import dataclass
from typing import Any

from app.core.engines.interface import EmbeddingInputError, Embeddings
from app.core.engines.service import EngineService, ServiceClosed
from app.core.errors import HermesError, NoModelLoaded
from app.server.errors import ApiError, bad_request

MAX_INPUTS = 2_048  # OpenAI's own limit
MAX_CHARS = 1 << 20  # characters of all inputs together (OpenAI allows 300k tokens a request, ~1.2M characters)
FORMATS = ("float", "base64")


@dataclass(frozen=True)
class EmbeddingParams:
    model: str
    texts: list[str]
    encoding_format: str = "float"
    dimensions: int | None = None


def parse_embeddings(body: dict[str, Any]) -> EmbeddingParams:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 1_000:
        raise bad_request("'model' must be a model id (see GET /v1/models).", "model")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, list) and texts and all(isinstance(t, (int, list)) for t in texts):
        raise bad_request("'input' as token ids is not supported: send the text.", "input", code="unsupported_value")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("'input' must be a string or a non-empty array of strings.", "input")
    if len(texts) > MAX_INPUTS:
        raise bad_request(f"'input' has {len(texts):,} entries, above the limit of {MAX_INPUTS:,}.", "input")
    empty = next((i for i, text in enumerate(texts) if not text), None)
    if empty is not None:
        raise bad_request(f"'input[{empty}]' is empty: there is nothing to embed.", "input")
    chars = sum(len(text) for text in texts)
    if chars > MAX_CHARS:
        raise bad_request(f"'input' holds {chars:,} characters, above the limit of {MAX_CHARS:,} a request.", "input")
    encoding = body.get("encoding_format", "float")
    if encoding is None:
        encoding = "float"
    if encoding not in FORMATS:
        raise bad_request("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise bad_request("'dimensions' must be a positive integer.", "dimensions")
    return EmbeddingParams(model.strip(), texts, encoding, dimensions)


def embedding_model_id(service: EngineService) -> str | None:
    """The id the embedding model answers to (its file stem), None when none is loaded."""
    loaded = service.embedding_loaded
    return None if loaded is None else loaded.info.path.stem


def names_the_embedding_model(service: EngineService, name: str) -> bool:
    loaded = service.embedding_loaded
    if loaded is None:
        return False
    path = loaded.info.path
    return name.lower() in {n.lower() for n in (str(path), path.name, path.stem)}


async def embed(service: EngineService, params: EmbeddingParams) -> tuple[dict[str, Any], float]:
    """Run the request on the embedding slot; OpenAI's response body and the seconds it took."""
    model_id = embedding_model_id(service) or params.model
    loaded = service.embedding_loaded
    width = loaded.info.metadata.get(f"{loaded.info.architecture}.embedding_length") if loaded else None
    if params.dimensions is not None and isinstance(width, int) and params.dimensions != width:
        raise bad_request(
            f"'dimensions': {model_id} gives {width}-dimensional vectors only.", "dimensions", code="unsupported_value"
        )
    started = time.perf_counter()
    try:
        vectors: Embeddings = await asyncio.wrap_future(service.embed(params.texts))
    except EmbeddingInputError as exc:
        code = "input_too_long" if exc.tokens else "invalid_value"
        raise bad_request(f"'input[{exc.index}]': {exc}", "input", code=code) from None
    except (NoModelLoaded, ServiceClosed) as exc:
        raise ApiError(503, f"No embedding model can answer: {exc}", code="model_not_loaded") from None
    except HermesError as exc:
        raise ApiError(500, f"The embedding model failed: {exc}", code="embedding_failed") from None
    seconds = time.perf_counter() - started
    data = [
        {"object": "embedding", "index": index, "embedding": _encoded(vector, params.encoding_format)}
        for index, vector in enumerate(vectors)
    ]
    usage = {"prompt_tokens": vectors.tokens, "total_tokens": vectors.tokens}
    return {"object": "list", "data": data, "model": model_id, "usage": usage}, seconds


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
