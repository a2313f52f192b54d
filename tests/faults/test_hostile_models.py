"""Hostile model files (issue 28, items 1 and 16): refused with a message, never an abort, a hang or gigabytes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.errors import ModelFileError
from app.core.library.gguf_file import read_gguf
from tests.faults.conftest import app_command, start
from tests.faults.hostile_gguf import sparse_string_array, tiny_model

ABORTING_HEADERS = {
    "no layers": ({"block_count": 0}, "block_count is 0"),
    "more layers than llama.cpp holds": ({"block_count": 600}, "block_count is 600"),
    "more experts used than there are": ({"expert_count": 4, "expert_used_count": 8}, "expert_used_count is 8"),
    "experts but none used": ({"expert_count": 4, "expert_used_count": 0}, "expert_used_count is 0"),
    "too many experts": ({"expert_count": 4096, "expert_used_count": 2}, "expert_count is 4,096"),
    "experts used without experts": ({"expert_used_count": 2}, "expert_used_count is 2"),
}


@pytest.mark.parametrize("case", list(ABORTING_HEADERS), ids=list(ABORTING_HEADERS))
def test_headers_llama_cpp_aborts_on_are_refused_with_a_message(case: str, tmp_path: Path) -> None:
    keys, message = ABORTING_HEADERS[case]
    model = tiny_model(tmp_path / "hostile.gguf", **keys)
    # The real CLI in its own process: before the check, llama.cpp's GGML_ASSERT ended it with SIGABRT (rc -6).
    proc = start(app_command(tmp_path / "home", "chat", "--model", str(model), "hello"), {})
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, (proc.returncode, err[-2000:])
    assert message in err and "Traceback" not in err


def test_the_check_is_per_architecture(tmp_path: Path) -> None:
    # Hunyuan's loader reads one expert as none; other architectures would abort on it.
    assert read_gguf(tiny_model(tmp_path / "a.gguf", "hunyuan-dense", expert_count=1)).architecture == "hunyuan-dense"
    with pytest.raises(ModelFileError, match="expert_used_count is 0"):
        read_gguf(tiny_model(tmp_path / "b.gguf", "qwen2moe", expert_count=1))
    with pytest.raises(ModelFileError, match="block_count is missing"):
        read_gguf(tiny_model(tmp_path / "c.gguf", "gemma3", block_count=None))


def test_a_huge_block_count_is_refused_without_allocating_for_it(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "huge.gguf", block_count=400_000_000)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))\n"  # 2 GiB: the old path took 3.1 GB
        "from app.core.engines.llama_engine import LlamaEngine\n"
        "LlamaEngine().load(sys.argv[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(model)], check=False, capture_output=True, text=True, timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert "block_count is 400,000,000" in proc.stderr, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr


def test_a_header_of_a_hundred_million_strings_is_refused_at_once(tmp_path: Path) -> None:
    model = sparse_string_array(tmp_path / "strings.gguf", 100_000_000)  # 800 MB, sparse
    started = time.monotonic()
    with pytest.raises(ModelFileError, match="claims 100,000,000 strings"):
        read_gguf(model)
    assert time.monotonic() - started < 10  # it took 45 s before, then llama.cpp allocated ~3 GB


def test_a_header_too_slow_to_check_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.library import gguf_file

    model = sparse_string_array(tmp_path / "strings.gguf", 1_000_000)  # within the count limit
    monkeypatch.setattr(gguf_file, "HEADER_SECONDS", 0.0)
    with pytest.raises(ModelFileError, match="checking its header took longer than"):
        read_gguf(model)


def test_a_load_failure_says_what_llama_cpp_said(tmp_path: Path) -> None:
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.errors import ModelLoadError

    # Both used to say "the architecture may be newer than this app's llama.cpp, or there may not be enough memory".
    with pytest.raises(ModelLoadError, match=r"an architecture this app's llama\.cpp does not know"):
        LlamaEngine().load(tiny_model(tmp_path / "new.gguf", "notreal"))
    with pytest.raises(ModelLoadError, match=r"key not found in model: llama\.attention\.layer_norm_rms_epsilon"):
        LlamaEngine().load(tiny_model(tmp_path / "incomplete.gguf"))
