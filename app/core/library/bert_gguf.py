"""A BERT sentence-embedding model (Hugging Face layout, safetensors) written as a GGUF llama.cpp runs.

The app's own small converter, for the offline starter embedding model (all-MiniLM-L6-v2): no torch, no
transformers. It writes what llama.cpp's ``convert_hf_to_gguf.py`` writes for a ``BertModel`` (its
``conversion/bert.py`` and ``base.py`` in llama-cpp-python 0.3.36's sdist): the ``bert`` architecture, the
WordPiece vocabulary in "phantom space" form (``##piece`` → ``piece``, a word start → ``▁word``), the special
tokens through ``gguf.SpecialVocab``, the tokenizer's normalizer (lowercase), the sentence-transformers pooling
(mean, cls or last) from ``modules.json``, and the tensors under llama.cpp's names: 2-D weights as F16, norms,
biases and the position and token-type embeddings as F32 (the converter's ``--outtype auto`` for F32 weights).

A safetensors file is a little-endian u64 header length, a JSON header (dtype, shape, byte offsets per tensor)
and the raw data: it is read here with numpy's memmap, every offset checked against the file.
"""

from __future__ import annotations

import itertools
import json
import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.core.errors import HermesError

log = logging.getLogger(__name__)

__all__ = ["ConversionError", "convert_bert", "read_safetensors"]

MAX_HEADER = 100 << 20  # a safetensors JSON header; real ones are kilobytes
MAX_JSON = 64 << 20  # config.json, tokenizer.json (a WordPiece vocabulary of 30k tokens is ~0.5 MB)
_DTYPES: dict[str, np.dtype[Any]] = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),  # bfloat16: widened to float32
    "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
}  # fmt: skip
_POOLING = {"mean": 1, "cls": 2, "lasttoken": 3}  # gguf.PoolingType: MEAN, CLS, LAST
# Not needed for embeddings (the converter drops them too).
_SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
_TOKEN_NORMAL, _TOKEN_UNUSED, _TOKEN_CONTROL = 1, 5, 3  # gguf.TokenType


class ConversionError(HermesError):
    """The model folder is not a BERT model this converter can write (the message says what is wrong)."""


def convert_bert(source: Path, target: Path, *, name: str = "") -> Path:
    """Write the BERT model in folder ``source`` as the GGUF ``target`` (written beside it, then renamed)."""
    import gguf

    config = _json(source / "config.json")
    if config.get("model_type") != "bert" and "BertModel" not in config.get("architectures", ()):
        raise ConversionError(f"{source.name} is not a BERT model (config.json says {config.get('model_type')!r}).")
    layers = _int(config, "num_hidden_layers")
    tensors = read_safetensors(source / "model.safetensors")
    partial = target.with_name(target.name + ".part")
    writer = gguf.GGUFWriter(partial, "bert")
    try:
        writer.add_name(name or source.name)
        writer.add_block_count(layers)
        writer.add_context_length(_int(config, "max_position_embeddings"))
        writer.add_embedding_length(_int(config, "hidden_size"))
        writer.add_feed_forward_length(_int(config, "intermediate_size"))
        writer.add_head_count(_int(config, "num_attention_heads"))
        writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
        writer.add_causal_attention(False)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        pooling = _pooling(source)
        if pooling:
            writer.add_pooling_type(gguf.PoolingType(pooling))
        _write_vocab(writer, source, config)
        names = gguf.TensorNameMap(gguf.MODEL_ARCH.BERT, layers)
        for hf_name, data in tensors:
            _add_tensor(writer, names, hf_name, data)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        partial.replace(target)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return target


def _write_vocab(writer: Any, source: Path, config: dict[str, Any]) -> None:
    import gguf

    tokenizer = _json(source / "tokenizer.json")
    model = tokenizer.get("model") or {}
    vocab = model.get("vocab")
    if model.get("type") != "WordPiece" or not isinstance(vocab, dict):
        raise ConversionError(f"{source.name}'s tokenizer is not a WordPiece tokenizer (BERT's).")
    size = max(int(config.get("vocab_size", 0)), max(vocab.values(), default=-1) + 1)
    by_id = {token_id: token for token, token_id in vocab.items() if isinstance(token_id, int) and token_id >= 0}
    special = {t["content"] for t in tokenizer.get("added_tokens", ()) if t.get("special")}
    tokens: list[str] = []
    types: list[int] = []
    for token_id in range(size):
        token = by_id.get(token_id)
        if token is None:
            tokens.append(f"[PAD{token_id}]")
            types.append(_TOKEN_UNUSED)
        elif token in special:  # llama.cpp's bert vocabulary keeps control tokens as they are
            tokens.append(token)
            types.append(_TOKEN_CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(_TOKEN_NORMAL)
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    # The pre-tokenizer name convert_hf_to_gguf.py derives (from a hash) for bert-base-uncased's vocabulary, as
    # bge-small-en-v1.5's; llama.cpp's WordPiece tokenizer has one pre-tokenizer whatever the name says.
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    kinds = ("bos", "eos", "unk", "sep", "pad", "mask")  # no "cls": llama.cpp reads the BOS token as BERT's CLS
    gguf.SpecialVocab(source, n_vocab=len(tokens), special_token_types=kinds).add_to_gguf(writer, quiet=True)
    normalizer = tokenizer.get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":  # what newer gguf-py's SpecialVocab writes
        if normalizer.get("lowercase") is not None:
            writer.add_bool("tokenizer.ggml.normalizer.lowercase", bool(normalizer["lowercase"]))
        if normalizer.get("strip_accents") is not None:
            writer.add_bool("tokenizer.ggml.normalizer.strip_accents", bool(normalizer["strip_accents"]))


def _add_tensor(writer: Any, names: Any, hf_name: str, data: np.ndarray) -> None:
    import gguf

    name = hf_name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[:-6] + ".weight"
    if name.endswith(".beta"):
        name = name[:-5] + ".bias"
    if name in _SKIPPED or name.startswith("cls."):
        return
    new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
    if new_name is None:
        raise ConversionError(f"Unknown BERT tensor {hf_name!r}: this converter does not know where it goes.")
    always_f32 = (
        data.ndim <= 1
        or new_name.endswith("_norm.weight")
        or not new_name.endswith(".weight")
        or new_name in ("position_embd.weight", "token_types.weight")
    )
    if always_f32:
        writer.add_tensor(new_name, data.astype(np.float32), raw_dtype=gguf.GGMLQuantizationType.F32)
    else:
        writer.add_tensor(new_name, data.astype(np.float16), raw_dtype=gguf.GGMLQuantizationType.F16)


def read_safetensors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of a safetensors file, in file order, as float32 arrays (a view of the mapped file, or a copy).

    The whole header is checked before a tensor is yielded: known dtypes, shapes that match their byte
    ranges, ranges inside the data and not overlapping.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(8)
            if len(head) < 8:
                raise ConversionError(f"{path.name} is not a safetensors file (too short).")
            (length,) = struct.unpack("<Q", head)
            if length > min(MAX_HEADER, size - 8):
                raise ConversionError(f"{path.name} is not a safetensors file (header of {length:,} bytes).")
            header = json.loads(file.read(length))
    except OSError as exc:
        raise ConversionError(f"Cannot read {path.name}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path.name}'s header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path.name}'s header is not a JSON object.")
    start = 8 + length
    entries = _entries(path.name, header, size - start)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(size - start,))
    return _tensors(entries, data)


def _tensors(
    entries: list[tuple[str, np.dtype[Any], tuple[int, ...], int, int]], data: np.memmap[Any, Any]
) -> Iterator[tuple[str, np.ndarray]]:
    for name, dtype, shape, begin, end in entries:
        raw = data[begin:end].view(dtype).reshape(shape)
        if dtype == np.dtype("<u2"):  # bfloat16: the upper half of a float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        yield name, raw


def _entries(
    file_name: str, header: dict[str, Any], data_size: int
) -> list[tuple[str, np.dtype[Any], tuple[int, ...], int, int]]:
    entries = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(n) for n in entry["shape"])
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{file_name}: tensor {name!r} has an unknown dtype or a malformed entry.") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= data_size or end - begin != count * dtype.itemsize:
            raise ConversionError(f"{file_name}: tensor {name!r} does not match its bytes in the file.")
        entries.append((name, dtype, shape, begin, end))
    entries.sort(key=lambda entry: entry[3])
    for before, after in itertools.pairwise(entries):
        if after[3] < before[4]:
            raise ConversionError(f"{file_name}: tensors {before[0]!r} and {after[0]!r} overlap.")
    return entries


def _pooling(source: Path) -> int:
    """The sentence-transformers pooling (gguf.PoolingType's value), 0 when the folder names none."""
    modules = source / "modules.json"
    if not modules.is_file():
        return 0
    listed = _json(modules)
    for module in listed if isinstance(listed, list) else ():
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
            pooling = _json(source / str(module.get("path", "")) / "config.json")
            for mode, value in (("mean_tokens", 1), ("cls_token", 2), ("lasttoken", 3)):
                if pooling.get(f"pooling_mode_{mode}"):
                    return value
            if pooling.get("pooling_mode") in _POOLING:
                return _POOLING[pooling["pooling_mode"]]
            raise ConversionError(f"{source.name}: only mean, cls and last-token pooling can run in llama.cpp.")
    return 0


def _json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON:
            raise ConversionError(f"{path.name} is too large ({path.stat().st_size:,} bytes).")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"The model folder has no {path.name}.") from None
    except (OSError, ValueError) as exc:
        raise ConversionError(f"Cannot read {path.name}: {exc}") from None


def _int(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConversionError(f"config.json has no usable {key!r} ({value!r}).")
    return value
