"""The tiny vision model (a 2-layer text model and a Gemma 3-type projector, random weights from a fixed seed),
written with ``gguf`` and numpy after the names llama.cpp reads. The self-test's ``vision`` step writes it on the fly
(nothing ships in the bundle); ``scripts/make_tiny_vision_model.py`` writes the copy the tests use, and says how it
is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np

NAME = "tiny-vision"
TEXT_WIDTH = 64
VISION_WIDTH = 64
OUTPUT_GAIN = 16.0  # the layers outweigh the token's own embedding (tied to the output, it would echo)


def _random(rng: np.random.Generator, *shape: int, fan_in: int | None = None) -> np.ndarray:
    scale = 1.0 / np.sqrt(fan_in if fan_in is not None else shape[-1])
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ChatML, as the starter model's, but a message's content may also be a list of parts (as vision models' templates
# take it, and llama-cpp-python's MTMDChatHandler gives it: an image part arrives as a text part with the marker).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _copy_tokenizer(source: Path, writer: gguf.GGUFWriter) -> None:
    reader = gguf.GGUFReader(source, "r")
    writer.add_chat_template(CHAT_TEMPLATE)
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer.") or field.name == "tokenizer.chat_template":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)


def write_text_model(path: Path, tokenizer: Path, seed: int = 7, *, width: int = TEXT_WIDTH) -> Path:
    """A 2-layer llama-architecture model of ``width`` with the starter model's tokenizer."""
    rng = np.random.default_rng(seed)
    layers, heads, ff = 2, 4, 128
    head = width // heads
    vocab = len(gguf.GGUFReader(tokenizer, "r").get_field("tokenizer.ggml.tokens").data)  # type: ignore[union-attr]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(NAME)
    writer.add_description("a randomly initialised test model (scripts/make_tiny_vision_model.py)")
    writer.add_context_length(2048)
    writer.add_embedding_length(width)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(heads)
    writer.add_rope_dimension_count(head)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    _copy_tokenizer(tokenizer, writer)
    embedding = rng.standard_normal((vocab, width)).astype(np.float32)
    quantized = gguf.quants.quantize(embedding, gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("token_embd.weight", quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    for i in range(layers):
        blk = f"blk.{i}"
        writer.add_tensor(f"{blk}.attn_norm.weight", np.ones(width, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            gain = OUTPUT_GAIN if name == "attn_output" else 1.0
            writer.add_tensor(f"{blk}.{name}.weight", (_random(rng, width, width) * gain).astype(np.float16))
        writer.add_tensor(f"{blk}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{blk}.ffn_gate.weight", _random(rng, ff, width).astype(np.float16))
        writer.add_tensor(f"{blk}.ffn_up.weight", _random(rng, ff, width).astype(np.float16))
        writer.add_tensor(f"{blk}.ffn_down.weight", (_random(rng, width, ff) * OUTPUT_GAIN).astype(np.float16))
    _finish(writer)
    return path


def write_projector(
    path: Path,
    seed: int = 7,
    *,
    text_width: int = TEXT_WIDTH,
    vision: bool = True,
    audio: bool = False,
    image_size: int = 64,
    patch: int = 8,
    merge: int = 2,
) -> Path:
    """A Gemma 3-style projector into a text model of ``text_width`` (``vision=False, audio=True``: a header that
    says audio only, for the tests of a projector that cannot see)."""
    rng = np.random.default_rng(seed + 1)
    width, layers, heads, ff = VISION_WIDTH, 2, 4, 128
    patches = (image_size // patch) ** 2
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_name(f"mmproj-{NAME}")
    writer.add_description("a randomly initialised test projector (scripts/make_tiny_vision_model.py)")
    values: dict[str, tuple[Any, gguf.GGUFValueType]] = {
        "clip.projector_type": ("gemma3", gguf.GGUFValueType.STRING),
        "clip.has_vision_encoder": (vision, gguf.GGUFValueType.BOOL),
        "clip.has_audio_encoder": (audio, gguf.GGUFValueType.BOOL),
        "clip.use_gelu": (True, gguf.GGUFValueType.BOOL),
        "clip.vision.embedding_length": (width, gguf.GGUFValueType.UINT32),
        "clip.vision.feed_forward_length": (ff, gguf.GGUFValueType.UINT32),
        "clip.vision.block_count": (layers, gguf.GGUFValueType.UINT32),
        "clip.vision.projection_dim": (text_width, gguf.GGUFValueType.UINT32),
        "clip.vision.attention.head_count": (heads, gguf.GGUFValueType.UINT32),
        "clip.vision.attention.layer_norm_epsilon": (1e-6, gguf.GGUFValueType.FLOAT32),
        "clip.vision.image_size": (image_size, gguf.GGUFValueType.UINT32),
        "clip.vision.patch_size": (patch, gguf.GGUFValueType.UINT32),
        "clip.vision.projector.scale_factor": (merge, gguf.GGUFValueType.UINT32),
    }
    for key, (value, value_type) in values.items():
        writer.add_key_value(key, value, value_type)
    for key in ("clip.vision.image_mean", "clip.vision.image_std"):
        writer.add_key_value(key, [0.5, 0.5, 0.5], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.FLOAT32)
    if vision:
        # numpy shapes are ggml's reversed: the patch convolution's kernel is [patch, patch, 3, width] to ggml
        kernel = _random(rng, width, 3, patch, patch, fan_in=3 * patch * patch) * 4
        writer.add_tensor("v.patch_embd.weight", kernel.astype(np.float16))
        writer.add_tensor("v.patch_embd.bias", np.zeros(width, dtype=np.float32))
        writer.add_tensor("v.position_embd.weight", _random(rng, patches, width) * 0.1)
        for i in range(layers):
            blk = f"v.blk.{i}"
            for norm in ("ln1", "ln2"):
                writer.add_tensor(f"{blk}.{norm}.weight", np.ones(width, dtype=np.float32))
                writer.add_tensor(f"{blk}.{norm}.bias", np.zeros(width, dtype=np.float32))
            for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
                writer.add_tensor(f"{blk}.{name}.weight", _random(rng, width, width))
                writer.add_tensor(f"{blk}.{name}.bias", np.zeros(width, dtype=np.float32))
            writer.add_tensor(f"{blk}.ffn_up.weight", _random(rng, ff, width))
            writer.add_tensor(f"{blk}.ffn_up.bias", np.zeros(ff, dtype=np.float32))
            writer.add_tensor(f"{blk}.ffn_down.weight", _random(rng, width, ff))
            writer.add_tensor(f"{blk}.ffn_down.bias", np.zeros(width, dtype=np.float32))
        writer.add_tensor("v.post_ln.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor("v.post_ln.bias", np.zeros(width, dtype=np.float32))
        writer.add_tensor("mm.soft_emb_norm.weight", np.ones(width, dtype=np.float32))
        # ggml [text_width, width]: clip_n_mmproj_embd reads ne[0], which must equal the text model's width
        writer.add_tensor("mm.input_projection.weight", _random(rng, width, text_width, fan_in=width) * 3)
    else:
        writer.add_tensor("a.placeholder.weight", np.zeros(4, dtype=np.float32))
    _finish(writer)
    return path


def _finish(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
