"""Vision: from attaching an image to the first token, and the app's vision request against raw llama-cpp-python.

The model is the tests' tiny vision model (``tests/data/vision``: a 2-layer text model and a Gemma 3-style
projector, 16 tokens per image; ``scripts/make_tiny_vision_model.py``), so the absolute times are small and the
ratio measures what the app adds around llama.cpp: the image check (Pillow), the pixels handed to mtmd, the
engine service's ticket, the prompt built with media markers.

App: the image's bytes are checked (``media.images.check_image``: the moment it is attached), a request is queued
on an ``EngineService`` and the time to its first piece is split into the image check, the projector's encoding
(``GenerationStats.image_encode_s``) and the rest of the prompt. Raw: ``Llama.create_chat_completion`` with
llama-cpp-python's own ``MTMDChatHandler`` and the image as a base64 ``data:`` URL, streamed. Both read the same
prompt (the image before the question) with greedy sampling for the same number of tokens; each round sends a new
picture (so both encode it), A/B interleaved; the ratio is raw time / app time for the whole request (≥ 0.95: the
app is at most 5 % slower).
"""

from __future__ import annotations

import base64
import io
import random
import time
from typing import Any

from bench.common import REPO, Figure, Section, median

MODEL = REPO / "tests" / "data" / "vision" / "tiny-vision.gguf"
PROJECTOR = REPO / "tests" / "data" / "vision" / "mmproj-tiny-vision.gguf"
QUESTION = "Describe the picture in detail."


def _picture(seed: int, side: int = 512) -> bytes:
    """A photo-like PNG (noise over a gradient), different for every seed."""
    from PIL import Image

    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    noise = Image.effect_noise((side, side), 40 + seed % 20).convert("RGB")
    tint = Image.new("RGB", (side, side), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    picture = Image.blend(Image.blend(base, noise, 0.5), tint, 0.4)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _raw_once(llama: Any, data: bytes, max_tokens: int) -> tuple[float, float, int]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                             {"type": "text", "text": QUESTION}]}]  # fmt: skip
    started = time.perf_counter()
    first, pieces = 0.0, 0
    sampling: dict[str, Any] = {"temperature": 0.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}
    chunks = llama.create_chat_completion(messages=messages, max_tokens=max_tokens, stream=True, seed=1, **sampling)
    for chunk in chunks:
        if chunk["choices"][0]["delta"].get("content"):
            pieces += 1
            first = first or time.perf_counter()
    return time.perf_counter() - started, first - started, pieces


def _app_once(service: Any, data: bytes, max_tokens: int) -> tuple[float, float, float, float, int]:
    from app.core.engines.service import GenerationRequest
    from app.core.media.images import check_image
    from app.core.prompting.types import Sampling

    first = [0.0]

    def on_piece(_piece: str) -> None:
        first[0] = first[0] or time.perf_counter()

    started = time.perf_counter()
    image = check_image(data, "photo.png")  # attached
    checked = time.perf_counter()
    sampling = Sampling(temperature=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1, seed=1,
                        max_tokens=max_tokens)  # fmt: skip
    request = GenerationRequest([{"role": "user", "content": QUESTION, "images": [image]}], sampling)
    stats = service.generate(request, on_piece).result(timeout=600)
    end = time.perf_counter()
    return end - started, first[0] - started, checked - started, stats.image_encode_s, stats.prompt_tokens


def run(quick: bool = False) -> Section:
    from app.core.engines.llama_adapter import import_llama_cpp
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.service import EngineService

    rounds, max_tokens = (1, 8) if quick else (12, 64)
    llama_cpp = import_llama_cpp()
    from llama_cpp.llama_chat_format import MTMDChatHandler

    handler = MTMDChatHandler(clip_model_path=str(PROJECTOR), verbose=False, use_gpu=False)
    raw = llama_cpp.Llama(model_path=str(MODEL), chat_handler=handler, n_ctx=2048, n_gpu_layers=0, verbose=False)
    service = EngineService(LlamaEngine())
    try:
        service.load(MODEL, LoadOptions(context_size=2048, gpu_layers=0)).result(timeout=600)
        _raw_once(raw, _picture(0), 4)  # warm both (the projector's first graph, page cache)
        _app_once(service, _picture(0), 4)
        raw_totals, raw_ttfts, app_totals, app_ttfts, checks, encodes = [], [], [], [], [], []
        tokens = 0
        for index in range(1, rounds + 1):
            picture = _picture(index)
            total, ttft, _pieces = _raw_once(raw, picture, max_tokens)
            raw_totals.append(total)
            raw_ttfts.append(ttft)
            total, ttft, check, encode, tokens = _app_once(service, _picture(index + 1000), max_tokens)
            app_totals.append(total)
            app_ttfts.append(ttft)
            checks.append(check)
            encodes.append(encode)
    finally:
        service.close()
        raw.close()
    ratio = median(raw_totals) / median(app_totals)
    app_ttft, encode, check = median(app_ttfts), median(encodes), median(checks)
    figures = [
        Figure("attach → first token (app)", app_ttft * 1000, "ms"),
        Figure("  of which the image check (Pillow: bounds, full decode)", check * 1000, "ms"),
        Figure("  of which image encoding (the projector)", encode * 1000, "ms"),
        Figure("  of which the prompt (image tokens and text read)", (app_ttft - check - encode) * 1000, "ms"),
        Figure("first token, raw llama-cpp-python MTMDChatHandler", median(raw_ttfts) * 1000, "ms"),
        Figure("vision request: ratio app / raw (raw time / app time)", ratio, "×", "≥ 0.95", ratio >= 0.95),
    ]
    notes = (
        f"{rounds} interleaved rounds, a new 512×512 photo-like PNG each, {max_tokens} greedy tokens, "
        f"{tokens} prompt tokens (16 of them the image's); medians. Tiny model: the figures measure the app's "
        "overhead around llama.cpp, not a real model's speed."
    )
    return Section("Vision: attach an image → first token", "python -m bench vision", figures, notes)
