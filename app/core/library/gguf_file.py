"""GGUF header validation and metadata, before llama.cpp ever sees a file.

llama.cpp can crash the process on a malformed file, so every model is checked here first:
magic, version, every key/value and tensor record inside the file, and every tensor's data
inside the file (a truncated download fails this check).

The value types, quantisation block sizes and key names come from the ``gguf`` package.
``gguf.GGUFReader`` itself is not used on this path: it materialises every array (the 49k-entry
vocabulary of the starter model takes it 2.7 s), while this reader skips arrays it does not need
and reads a header in milliseconds.
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import ModelFileError
from app.core.files import open_regular
from app.core.library.gguf_limits import ArrayLength, check_hyperparameters

SUPPORTED_VERSIONS = (2, 3)
MAX_RECORDS = 1 << 20  # far above any real model; guards against absurd counts in a corrupt header
MAX_STRING = 64 << 20  # chat templates are kilobytes; 64 MiB is generous
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
ARRAY_PREVIEW = 16  # arrays longer than this are summarised by their length
MAX_ARRAY_STRINGS = 1 << 21  # strings in one header array: vocabularies reach ~262k tokens, merges ~500k
MAX_KEPT_TEXT = 64 << 20  # characters of header strings kept in memory, all together
HEADER_SECONDS = 20.0  # a header that takes longer to check is refused (real ones take milliseconds)


@dataclass(frozen=True)
class GGUFInfo:
    """What the app needs to know about a model file."""

    path: Path
    version: int
    file_size: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    parameter_count: int = 0
    tensor_bytes: dict[str, int] = field(default_factory=dict, repr=False, compare=False)  # name -> bytes of data
    tensor_dims: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)  # ggml's ne

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        try:
            return _gguf().LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            return "unknown"

    @property
    def kv_bytes_per_token(self) -> int | None:
        return kv_bytes_per_token(self.metadata)

    @property
    def size_label(self) -> str:
        label = self.metadata.get("general.size_label")
        if isinstance(label, str) and label:
            return label
        return _human_count(self.parameter_count)


def read_gguf(path: str | Path) -> GGUFInfo:
    """Validate a GGUF file and read its metadata; raise ModelFileError with a human message if unusable."""
    path = Path(path)
    try:
        with open_regular(path) as handle:  # a FIFO named .gguf would block a plain open forever
            size = os.fstat(handle.fileno()).st_size
            if size < 24:
                raise ModelFileError(f"{path.name} is not a GGUF model: the file is only {size} bytes long.")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return _parse(path, view, size)
    except FileNotFoundError:
        raise ModelFileError(f"Model file not found: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a folder, not a GGUF model file.") from None
    except PermissionError:
        raise ModelFileError(f"Permission denied reading {path}.") from None
    except OSError as exc:
        raise ModelFileError(f"Could not read {path.name}: {exc.strerror or exc}") from None


def read_header_metadata(data: bytes, name: str) -> tuple[dict[str, Any], bool]:
    """The metadata in the first bytes of a GGUF file (a Range request's worth), as far as ``data`` goes.

    Returns (metadata, complete): ``complete`` is False when ``data`` ended inside the key/value list.
    Raises ModelFileError when it is not a GGUF file at all.
    """
    cursor = _Cursor(data, len(data), name)
    if len(data) < 24 or cursor.scalar(_U32) != _gguf().GGUF_MAGIC:
        raise ModelFileError(f"{name} is not a GGUF model file.")
    version = cursor.scalar(_U32)
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"{name} uses GGUF version {version}, which this app cannot read (supported: 2, 3).")
    cursor.scalar(_U64)  # tensor count
    kv_count = cursor.scalar(_U64)
    if kv_count > MAX_RECORDS:
        raise ModelFileError(f"{name} is corrupt: its header claims {kv_count:,} keys.")
    metadata: dict[str, Any] = {}
    try:
        for _ in range(kv_count):
            key = cursor.string()
            metadata[key] = cursor.value(cursor.scalar(_U32))
    except ModelFileError:  # the bytes end inside a value (or an array too long to judge from a prefix)
        return metadata, False
    return metadata, True


def kv_bytes_per_token(metadata: dict[str, Any]) -> int | None:
    """Bytes the KV cache takes per token of context (f16 keys and values, llama.cpp's default).

    From the architecture's own keys: layers × KV heads × (key + value width) × 2 bytes. None where
    the header lacks them (then callers estimate).
    """
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return None

    def number(key: str) -> int | None:
        value = metadata.get(f"{arch}.{key}")
        if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
            return max(value)  # per-layer head counts: the largest bounds the cache
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    layers, embedding, heads = number("block_count"), number("embedding_length"), number("attention.head_count")
    if not layers or not embedding or not heads:
        return None
    kv_heads = number("attention.head_count_kv") or heads
    key_width = number("attention.key_length") or embedding // heads
    value_width = number("attention.value_length") or embedding // heads
    return layers * kv_heads * (key_width + value_width) * 2


class _Cursor:
    def __init__(self, view: mmap.mmap | bytes, size: int, name: str) -> None:
        self.view, self.size, self.name, self.pos = view, size, name, 0
        self.deadline = time.monotonic() + HEADER_SECONDS
        self.kept = 0  # characters of strings kept so far

    def on_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ModelFileError(
                f"{self.name} is refused: checking its header took longer than {HEADER_SECONDS:.0f} s "
                "(a real model's takes milliseconds)."
            )

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if count < 0 or end > self.size:
            raise ModelFileError(
                f"{self.name} is truncated or corrupt: its header runs past the end of the file "
                f"(byte {end:,} of {self.size:,})."
            )
        chunk = self.view[self.pos : end]
        self.pos = end
        return chunk

    def scalar(self, kind: struct.Struct) -> Any:
        return kind.unpack(self.take(kind.size))[0]

    def string(self) -> str:
        length = self.scalar(_U64)
        if length > MAX_STRING:
            raise ModelFileError(f"{self.name} is corrupt: a header string claims {length:,} bytes.")
        self.kept += length
        if self.kept > MAX_KEPT_TEXT:
            raise ModelFileError(
                f"{self.name} is corrupt: its header holds more than {MAX_KEPT_TEXT >> 20} MiB of text."
            )
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind_code: int) -> Any:
        kinds = _gguf().GGUFValueType
        kind = _value_type(kind_code, self.name)
        if kind is kinds.STRING:
            return self.string()
        if kind is kinds.ARRAY:
            item_kind = _value_type(self.scalar(_U32), self.name)
            count = self.scalar(_U64)
            if item_kind is kinds.ARRAY:
                raise ModelFileError(f"{self.name} is corrupt: nested arrays in its header.")
            if item_kind is not kinds.STRING:  # fixed-size items: skip in one step
                item = _scalar_formats()[item_kind]
                if count * item.size > self.size:
                    raise ModelFileError(f"{self.name} is corrupt: a header array claims {count:,} items.")
                if count <= ARRAY_PREVIEW:
                    return [self.scalar(item) for _ in range(count)]
                self.take(count * item.size)
                return ArrayLength(count)
            if count > self.size // 8 or count > MAX_ARRAY_STRINGS:
                raise ModelFileError(
                    f"{self.name} is corrupt or hostile: a header array claims {count:,} strings "
                    f"(at most {MAX_ARRAY_STRINGS:,} are accepted)."
                )
            if count <= ARRAY_PREVIEW:
                return [self.string() for _ in range(count)]
            for index in range(count):
                length = self.scalar(_U64)
                self.take(length)
                if not index & 0xFFFF:
                    self.on_time()
            return ArrayLength(count)
        return self.scalar(_scalar_formats()[kind])


@functools.cache
def _gguf() -> Any:
    """The ``gguf`` package, imported on first use (it pulls in numpy: 80 ms the GUI's start should not pay)."""
    import gguf

    return gguf


@functools.cache
def _scalar_formats() -> dict[Any, struct.Struct]:
    kinds = _gguf().GGUFValueType
    return {
        kinds.UINT8: struct.Struct("<B"),
        kinds.INT8: struct.Struct("<b"),
        kinds.UINT16: struct.Struct("<H"),
        kinds.INT16: struct.Struct("<h"),
        kinds.UINT32: struct.Struct("<I"),
        kinds.INT32: struct.Struct("<i"),
        kinds.FLOAT32: struct.Struct("<f"),
        kinds.BOOL: struct.Struct("<?"),
        kinds.UINT64: struct.Struct("<Q"),
        kinds.INT64: struct.Struct("<q"),
        kinds.FLOAT64: struct.Struct("<d"),
    }


def _value_type(code: int, name: str) -> Any:
    try:
        return _gguf().GGUFValueType(code)
    except ValueError:
        raise ModelFileError(f"{name} is corrupt: unknown value type {code} in its header.") from None


def _parse(path: Path, view: mmap.mmap, size: int) -> GGUFInfo:
    name = path.name
    cursor = _Cursor(view, size, name)
    magic = cursor.scalar(_U32)
    gguf = _gguf()
    if magic != gguf.GGUF_MAGIC:
        head = bytes(view[:4])
        hint = " (it looks like a Hugging Face git-LFS pointer, not the file itself)" if head == b"vers" else ""
        raise ModelFileError(f"{name} is not a GGUF model file{hint}.")
    version = cursor.scalar(_U32)
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"{name} uses GGUF version {version}, which this app cannot read (supported: 2, 3).")
    tensor_count = cursor.scalar(_U64)
    kv_count = cursor.scalar(_U64)
    if tensor_count > MAX_RECORDS or kv_count > MAX_RECORDS:
        raise ModelFileError(f"{name} is corrupt: its header claims {tensor_count:,} tensors and {kv_count:,} keys.")

    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cursor.string()
        metadata[key] = cursor.value(cursor.scalar(_U32))
        cursor.on_time()
    check_hyperparameters(metadata, name)  # before anything sized by them (per-layer lists) is built

    tensors: list[tuple[int, int]] = []  # (offset, byte length)
    tensor_bytes: dict[str, int] = {}
    tensor_dims: dict[str, tuple[int, ...]] = {}
    parameters = 0
    for index in range(tensor_count):
        if not index & 0x3FF:
            cursor.on_time()
        tensor_name = cursor.string()
        n_dims = cursor.scalar(_U32)
        if n_dims > 8:
            raise ModelFileError(f"{name} is corrupt: tensor {tensor_name!r} has {n_dims} dimensions.")
        dims = [cursor.scalar(_U64) for _ in range(n_dims)]
        type_code = cursor.scalar(_U32)
        offset = cursor.scalar(_U64)
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(type_code)]
        except (ValueError, KeyError):
            raise ModelFileError(
                f"{name} uses tensor type {type_code}, unknown to this version of the app; the model may be newer "
                "than the app."
            ) from None
        elements = math.prod(dims)
        parameters += elements
        tensors.append((offset, elements // block * type_size))
        tensor_bytes[tensor_name] = elements // block * type_size
        tensor_dims[tensor_name] = tuple(dims)

    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ModelFileError(f"{name} is corrupt: bad alignment {alignment!r}.")
    data_start = (cursor.pos + alignment - 1) // alignment * alignment
    data_end = max((data_start + offset + length for offset, length in tensors), default=data_start)
    if data_end > size:
        missing = data_end - size
        raise ModelFileError(
            f"{name} is truncated: {missing:,} bytes of model weights are missing "
            f"({size:,} of {data_end:,} bytes present). Download it again."
        )
    return GGUFInfo(
        path=path,
        version=version,
        file_size=size,
        tensor_count=tensor_count,
        metadata=metadata,
        parameter_count=parameters,
        tensor_bytes=tensor_bytes,
        tensor_dims=tensor_dims,
    )


def _human_count(count: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return str(count)
