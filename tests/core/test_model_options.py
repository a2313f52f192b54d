"""Load options remembered per model file, and the CLI's order: settings, then the model's, then the flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.engines.load_options import LoadOptions
from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, clean_options, default_load_options
from app.core.settings import Settings, save_settings


def test_options_are_remembered_per_model_file_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    defaults = LoadOptions(context_size=4096)
    store = ModelOptionsStore(path)
    mine = defaults.with_overrides(context_size=16384, kv_cache_type="q8_0", gpu_layers=20)
    store.remember(tmp_path / "a.gguf", mine, defaults)
    assert json.loads(path.read_text())["models"][str((tmp_path / "a.gguf").resolve())] == {
        "context_size": 16384, "kv_cache_type": "q8_0", "gpu_layers": 20
    }  # fmt: skip  # only what differs from the defaults
    again = ModelOptionsStore(path)  # a new session reads them back
    assert again.options(tmp_path / "a.gguf", defaults) == mine
    assert again.options(tmp_path / "b.gguf", defaults) == defaults  # another model: the defaults
    later = defaults.with_overrides(flash_attn="off", use_mmap=False)  # a global default changes later ...
    assert again.options(tmp_path / "a.gguf", later).use_mmap is False  # ... and reaches the model too
    again.remember(tmp_path / "a.gguf", defaults, defaults)  # back to the defaults: nothing kept
    assert json.loads(path.read_text())["models"] == {}


@pytest.mark.expect_log("unreadable")
def test_a_damaged_or_hand_edited_file_never_breaks_a_load(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text("{not json")
    assert ModelOptionsStore(path).options("x.gguf", LoadOptions()) == LoadOptions()
    assert (tmp_path / (FILE_NAME + ".damaged")).read_text() == "{not json"
    model = str((tmp_path / "m.gguf").resolve())
    bad = {"context_size": 10, "gpu_layers": -9, "kv_cache_type": "q5", "flash_attn": True, "use_mmap": "no",
           "cpu_threads": 4, "unknown": 1}  # fmt: skip
    path.write_text(json.dumps({"version": 1, "models": {model: bad, "other": "nonsense"}}))
    options = ModelOptionsStore(path).options(model, LoadOptions())
    assert options == LoadOptions(context_size=256, gpu_layers=-2, cpu_threads=4)
    assert clean_options({"context_size": True, "gpu_layers": 5}) == {"gpu_layers": 5}


def test_chat_uses_the_settings_then_the_models_options_then_the_flags(starter_model: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    save_settings(Settings(context_size=1024, cpu_threads=1), config / "settings.json")
    defaults = default_load_options(Settings(context_size=1024, cpu_threads=1))
    ModelOptionsStore(config / FILE_NAME).remember(starter_model, defaults.with_overrides(context_size=768), defaults)

    def chat(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "--basedir", str(tmp_path), "chat", "--model", str(starter_model),
             "--max-tokens", "4", "--temperature", "0", *flags, "Hi"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    remembered = chat()
    assert remembered.returncode == 0, remembered.stderr
    stats = remembered.stderr.strip().splitlines()[-1]
    assert "/768 ·" in stats and stats.endswith("CPU · 1 thread")  # the model's context, the settings' threads
    flagged = chat("--context-size", "1280", "--threads", "2", "--gpu-layers", "auto", "--kv-cache", "q8_0")
    assert flagged.returncode == 0, flagged.stderr
    assert "/1280 ·" in flagged.stderr and flagged.stderr.strip().endswith("CPU · 2 threads")
    forced = chat("--gpu-layers", "all")
    assert forced.returncode == 0 and "note: no GPU device" in forced.stderr  # never a silent CPU fallback
    bad = chat("--gpu-layers", "most")
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "hermes-studio: GPU layers must be auto, all or a number of layers, not 'most'."
    )
    wrong = chat("--kv-cache", "q4_0", "--flash-attn", "off")
    assert wrong.returncode == 1 and "needs flash attention" in wrong.stderr
