"""Small hostile GGUF files, written with ``gguf.GGUFWriter`` (no binaries in the repository)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np


def tiny_model(path: Path, arch: str = "llama", **keys: Any) -> Path:
    """A header llama.cpp reads as far as its hyper-parameters (one tensor: it never gets to the rest).

    ``keys`` are ``{arch}.<key>`` integers; ``None`` leaves a key out.
    """
    values = {"context_length": 256, "embedding_length": 64, "block_count": 1, "attention.head_count": 4,
              "feed_forward_length": 128, **keys}  # fmt: skip
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in values.items():
        if value is not None:
            writer.add_uint32(f"{arch}.{key}", value)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(40)])
    writer.add_tensor("token_embd.weight", np.zeros((40, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def sparse_string_array(path: Path, count: int) -> Path:
    """A header whose one key is an array of ``count`` empty strings: ``count`` × 8 bytes of zeros, kept sparse."""
    key = b"tokenizer.ggml.tokens"
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    header += struct.pack("<IIQ", gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING, count)
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + count * 8 + 64)
    return path
