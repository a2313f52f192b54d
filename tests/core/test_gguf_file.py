"""Header validation: every kind of bad file gets a clear message before llama.cpp sees it."""

import struct
from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.errors import ModelFileError
from app.core.library.gguf_file import read_gguf


def test_reads_the_starter_models_metadata(starter_model: Path) -> None:
    info = read_gguf(starter_model)
    assert info.version == 3
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.quantization == "Q4_1"
    assert info.size_label == "135M"
    assert 130e6 < info.parameter_count < 140e6
    assert "<|im_start|>" in (info.chat_template or "")
    assert info.metadata["tokenizer.ggml.tokens"] == 49152  # long arrays are summarised by their length


def test_truncated_download_is_named_as_such(truncated_model: Path) -> None:
    with pytest.raises(ModelFileError, match=r"truncated: 10,000,000 bytes of model weights are missing"):
        read_gguf(truncated_model)


def test_file_cut_inside_the_header(starter_model: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(starter_model.read_bytes()[:5000])
    with pytest.raises(ModelFileError, match="corrupt"):
        read_gguf(cut)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "only 0 bytes"),
        (b"hello world, this is not a model at all", "not a GGUF model file"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "git-LFS pointer"),
        (b"GGUF" + struct.pack("<I", 99) + bytes(16), "GGUF version 99"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1 << 40), "corrupt"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40), "corrupt"),
    ],
)
def test_garbage_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        read_gguf(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        read_gguf(tmp_path / "nope.gguf")
    with pytest.raises(ModelFileError, match="folder"):
        read_gguf(tmp_path)


def test_engine_refuses_a_truncated_file_without_crashing(truncated_model: Path, starter_model: Path) -> None:
    engine = LlamaEngine()
    with pytest.raises(ModelFileError, match="truncated"):
        engine.load(truncated_model)
    assert engine.loaded is None
    engine.load(
        starter_model,
    )  # still usable afterwards
    assert engine.loaded is not None
    engine.unload()


def test_header_metadata_from_a_prefix_and_the_kv_cache_it_implies() -> None:
    from app.core.library.gguf_file import kv_bytes_per_token, read_header_metadata
    from tests.hub_server import MISTRAL_7B_HEADER, gguf_header

    metadata, complete = read_header_metadata(MISTRAL_7B_HEADER[:4096], "mistral.gguf")
    assert not complete and metadata["llama.attention.head_count_kv"] == 8
    assert kv_bytes_per_token(metadata) == 128 << 10
    assert read_header_metadata(MISTRAL_7B_HEADER, "mistral.gguf")[1]
    # explicit key/value widths win over embedding / heads; missing KV heads mean plain multi-head attention
    odd = {
        "general.architecture": "gemma",
        "gemma.block_count": 2,
        "gemma.embedding_length": 100,
        "gemma.attention.head_count": 4,
        "gemma.attention.key_length": 64,
        "gemma.attention.value_length": 32,
    }
    assert kv_bytes_per_token(read_header_metadata(gguf_header(odd), "g.gguf")[0]) == 2 * 4 * (64 + 32) * 2
    assert kv_bytes_per_token({"general.architecture": "llama"}) is None
    with pytest.raises(ModelFileError, match="not a GGUF"):
        read_header_metadata(b"version https://git-lfs.github.com/spec/v1\n" * 2, "pointer.gguf")
