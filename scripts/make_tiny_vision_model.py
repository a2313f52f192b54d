"""The tiny vision model of the tests: ``tests/data/vision/tiny-vision.gguf`` + ``mmproj-tiny-vision.gguf``.

    /work/main/.venv/bin/python scripts/make_tiny_vision_model.py [--out tests/data/vision] [--seed 7]

Made once and committed (the files are small); no weights are downloaded, at test time or here. Only ``gguf`` and
``numpy`` are needed (both come with the project's development tools); no torch, no converter.

How it is made: both files are written directly with the ``gguf`` package after the names and hyper-parameters that
llama.cpp reads (``src/llama-model.cpp`` for the text model, ``tools/mtmd/clip.cpp`` and ``clip-impl.h`` for the
projector, read from the llama.cpp vendored in llama-cpp-python 0.3.36's sdist), with random weights from a fixed
seed:

- the text model: architecture ``llama``, 2 layers, width 64, 4 heads (head size 16), feed-forward 128, the input
  embedding tied to the output; the tokenizer (49,152 tokens, BPE merges) copied from the starter
  model (``SmolLM2-135M-Instruct.Q4_1.gguf``, found in the cache or named with ``--tokenizer``); the embedding
  matrix in Q8_0, the rest in F32/F16; a ChatML template that also takes a list of content parts;
- the projector (``mmproj``): architecture ``clip``, projector type ``gemma3`` (a SigLIP-style ViT, an average
  pool, an RMS norm and a projection into the text model's width), vision encoder only: image size 64, patch 8
  (8 × 8 patches), width 64, 2 layers, 4 heads, feed-forward 128, pooled by 2 per side → 16 image tokens per
  image; mtmd's own preprocessing (a fixed-size bilinear resize, mean/std 0.5) feeds it.

The weights are scaled (std 1/sqrt(fan-in)) so that an image's embeddings reach the text model's residual stream
at the scale of a token's: a greedy reply then depends on the image (the tests check that two images give two
replies). The replies are noise, of course: the model was never trained.

The attention and feed-forward outputs are scaled up 16× (``OUTPUT_GAIN``): with the embedding tied to the output,
a model whose layers add little to the residual stream only echoes its last token (it said "\n" forever).

Sizes, as made with ``--seed 7`` (byte-identical on every run): ``tiny-vision.gguf`` 5.28 MB (3.3 MB of it the
Q8_0 embedding matrix, 2 MB the tokenizer), ``mmproj-tiny-vision.gguf`` 0.33 MB. Checked with llama-cpp-python
0.3.36's own ``MTMDChatHandler``: a 64×64 image costs 16 prompt tokens (45 with the question against 15 without),
and a red and a blue picture get two different greedy replies.

``write_projector`` is importable (the tests write mismatched and audio-only projectors with it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.selftest.tiny_vision import NAME, write_projector, write_text_model  # noqa: E402

__all__ = ["write_projector", "write_text_model"]


def _starter() -> Path:
    found = os.environ.get("HERMES_TEST_MODEL", "")
    candidates = [Path(found)] if found else []
    candidates.append(REPO / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit("the starter model (the tokenizer's source) was not found: name it with --tokenizer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests/data/vision")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tokenizer", type=Path, default=None, help="a GGUF whose tokenizer is copied")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    model = write_text_model(args.out / f"{NAME}.gguf", args.tokenizer or _starter(), args.seed)
    projector = write_projector(args.out / f"mmproj-{NAME}.gguf", args.seed)
    for written in (model, projector):
        print(f"{written}: {written.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
