"""Automatic offload from the real GGUF header, load options through the real engine, and the faults.

This machine has llama.cpp's CPU build: a GPU is a DeviceReport value (or HERMES_STUDIO_VRAM_GB) for
the planning tests; the engine tests check what really happens on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.core.engines.devices import Device, DeviceReport, GiB, list_devices
from app.core.engines.llama_adapter import import_llama_cpp
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.llama_open import _fewer_layers
from app.core.engines.load_options import LoadOptions
from app.core.engines.offload import (
    ALL,
    AUTO,
    LoadOptionError,
    ModelShape,
    flash_attention_on,
    margin,
    parse_gpu_layers,
    plan_offload,
)
from app.core.errors import ModelLoadError
from app.core.library.gguf_file import read_gguf
from app.core.prompting.types import Sampling

HELLO = [{"role": "user", "content": "Say hello."}]
GREEDY = Sampling(temperature=0.0, max_tokens=12, seed=1)


def gpu(free_gib: float, name: str = "CUDA0") -> DeviceReport:
    cpu = Device("CPU", "test CPU", "CPU", "CPU", 32 * GiB, 32 * GiB)
    card = Device(name, "NVIDIA GeForce RTX 4070", "GPU", "CUDA", int(free_gib * GiB), 12 * GiB)
    return DeviceReport(("CPU", "CUDA"), (cpu, card), gpu_offload=True)


@pytest.fixture(autouse=True)
def _no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERMES_STUDIO_VRAM_GB", raising=False)


def test_the_shape_comes_from_the_header(starter_model: Path) -> None:
    info = read_gguf(starter_model)
    shape = ModelShape.of(info)
    assert (shape.layers, shape.kv_heads, shape.key_width, shape.heads) == (30, 3, 64, 9)
    assert shape.total_layers == 31  # llama.cpp counts the output layer
    assert all(size > 0 for size in shape.layer_bytes) and len(set(shape.layer_bytes)) == 1
    assert sum(shape.layer_bytes) + info.tensor_bytes["token_embd.weight"] < info.file_size
    assert shape.output_bytes >= info.tensor_bytes["token_embd.weight"]  # tied embeddings: a copy goes to the GPU
    assert shape.kv_bytes(1) == info.kv_bytes_per_token == 30 * 3 * (64 + 64) * 2
    assert shape.kv_bytes(4096, "q8_0") == int(shape.kv_bytes(4096) * 34 / 64)  # 34 bytes per 32 vs 2 per 1
    assert shape.kv_bytes(4096, "q4_0") < shape.kv_bytes(4096, "q8_0")
    sizes = [shape.gpu_bytes(k, 4096) for k in range(32)]
    assert sizes[0] == 0 and sizes == sorted(sizes) and len(set(sizes)) == 32


def test_auto_on_a_cpu_only_machine_is_zero_layers_at_no_cost(starter_model: Path) -> None:
    info = read_gguf(starter_model)
    report = list_devices()
    if report.offload_device is not None:
        pytest.skip("this machine has a GPU")
    started = time.perf_counter()
    plan = plan_offload(info, LoadOptions(), report)
    elapsed = time.perf_counter() - started
    assert (plan.layers, plan.on_gpu, plan.device, plan.reason) == (0, 0, None, "no GPU device")
    reading = time.perf_counter()
    read_gguf(starter_model)
    assert elapsed < (time.perf_counter() - reading) + 0.01  # less than reading the header itself


def test_auto_takes_every_layer_that_fits_and_no_more(starter_model: Path) -> None:
    info = read_gguf(starter_model)
    shape = ModelShape.of(info)
    assert plan_offload(info, LoadOptions(), gpu(8)).on_gpu == 31  # 100 MB of model in 8 GiB
    assert "all 31 layers fit" in plan_offload(info, LoadOptions(), gpu(8)).reason
    report = gpu(1)
    device = report.offload_device
    assert device is not None
    budget = device.usable - margin(device)
    context = 262_144  # a long context: the KV cache (5.6 GiB in f16) decides
    plan = plan_offload(info, LoadOptions(context_size=context), report)
    assert 0 < plan.layers < 31 and "layers fit in" in plan.reason and "rest run on the CPU" in plan.reason
    flash = flash_attention_on(LoadOptions(), plan.layers)
    assert shape.gpu_bytes(plan.layers, context, "f16", flash) <= budget < shape.gpu_bytes(plan.layers + 1, context)
    quantised = plan_offload(info, LoadOptions(context_size=context, kv_cache_type="q4_0"), report)
    assert quantised.layers > plan.layers  # the estimate follows the KV cache type
    nothing = plan_offload(info, LoadOptions(context_size=1 << 22), report)
    assert (nothing.layers, nothing.device) == (0, None) and "not one layer fits" in nothing.reason
    assert plan_offload(info, LoadOptions(gpu_layers=7), report).layers == 7  # a count is taken as set
    assert plan_offload(info, LoadOptions(gpu_layers=ALL), report).on_gpu == 31


def test_gpu_layers_parse_auto_all_and_counts() -> None:
    assert [parse_gpu_layers(v) for v in ("auto", "ALL", "0", "33", -1)] == [AUTO, ALL, 0, 33, ALL]
    for bad in ("lots", "-3", "1.5"):
        with pytest.raises(LoadOptionError, match="auto, all or a number"):
            parse_gpu_layers(bad)
    assert _fewer_layers(ALL, 31) == [15, 7, 0] and _fewer_layers(2, 31) == [1, 0] and _fewer_layers(1, 31) == [0]


def test_load_options_reach_llama_cpp_and_the_placement_says_cpu(starter_model: Path) -> None:
    engine = LlamaEngine()
    try:
        plain = engine.load(starter_model, LoadOptions(context_size=512, cpu_threads=2))
        reference = engine.stream(HELLO, GREEDY).text()
        assert str(plain.placement) == "CPU · 2 threads" and plain.placement.gpu_layers == 0
        assert plain.notes == ()  # auto on a CPU-only machine: nothing to explain
        llama = engine._llama
        assert llama is not None and llama.context_params.type_k == 1  # f16
        options = LoadOptions(context_size=512, kv_cache_type="q8_0", flash_attn="on", use_mmap=False, cpu_threads=1)
        loaded = engine.load(starter_model, options)
        llama = engine._llama
        assert llama is not None
        assert (llama.context_params.type_k, llama.context_params.type_v) == (8, 8)  # GGML_TYPE_Q8_0
        no_mmap = import_llama_cpp().LLAMA_LOAD_MODE_NONE
        assert llama.context_params.flash_attn_type == 1 and llama.model_params.load_mode == no_mmap
        assert loaded.options == options and str(loaded.placement) == "CPU · 1 thread"
        quantised = engine.stream(HELLO, GREEDY).text()
        assert quantised.strip()[:5] == reference.strip()[:5] != ""  # q8_0 keys and values: the same start
    finally:
        engine.unload()


def test_layers_asked_for_without_a_gpu_run_on_the_cpu_and_say_so(
    starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = LlamaEngine()
    try:
        loaded = engine.load(starter_model, LoadOptions(context_size=512, gpu_layers=ALL))
        assert loaded.placement is not None and loaded.placement.gpu_layers == 0
        if not list_devices().gpu_offload:
            assert any("CPU" in note for note in loaded.notes)  # never a silent CPU fallback
            monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "8")  # a GPU is configured, but llama.cpp has none
            loaded = engine.load(starter_model, LoadOptions(context_size=512))
            assert str(loaded.placement).startswith("CPU")
            assert loaded.notes == ("this llama.cpp has no GPU backend: every layer runs on the CPU",)
    finally:
        engine.unload()


def test_impossible_options_fail_before_loading_and_the_model_stays(starter_model: Path) -> None:
    engine = LlamaEngine()
    try:
        engine.load(starter_model, LoadOptions(context_size=512))
        with pytest.raises(ModelLoadError, match="needs flash attention"):
            engine.load(starter_model, LoadOptions(kv_cache_type="q4_0", flash_attn="off"))
        with pytest.raises(ModelLoadError, match=r"too large for this machine.*smaller context.*q8_0"):
            engine.load(starter_model, LoadOptions(context_size=1 << 24))
        assert engine.loaded is not None and engine.loaded.context_size == 512  # never unloaded
        assert engine.stream(HELLO, GREEDY).text()
    finally:
        engine.unload()


RETRY_SCRIPT = """
import resource, sys
from app.core.prompting.types import Sampling
from app.core.engines.load_options import LoadOptions
from app.core.engines.llama_engine import LlamaEngine
from app.core.errors import ModelLoadError

engine = LlamaEngine()
engine.load(sys.argv[1], LoadOptions(context_size=512))
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), size + (1 << 30)))  # 1 GiB more, at most
try:
    engine.load(sys.argv[1], LoadOptions(context_size=131072, gpu_layers=-1))  # a 2.8 GiB KV cache
except ModelLoadError as exc:
    print("ERROR", exc)
print("LOADED", engine.loaded.context_size if engine.loaded else None)
print("REPLY", engine.stream([{"role": "user", "content": "Hi"}], Sampling(max_tokens=4)).text().strip() != "")
"""


def test_out_of_memory_retries_with_fewer_layers_then_names_the_fix(starter_model: Path, tmp_path: Path) -> None:
    """A real allocation failure (the address space is capped): fewer GPU layers are tried, then a clear
    message naming the fixes, and the model loaded before is loaded again."""
    script = tmp_path / "retry.py"
    script.write_text(textwrap.dedent(RETRY_SCRIPT))
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(script), str(starter_model)],
        capture_output=True, text=True, timeout=300, check=False, cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    error = next(line for line in result.stdout.splitlines() if line.startswith("ERROR"))
    assert "Not enough memory to load" in error and "131,072-token context" in error
    assert "GPU layers tried: all, 15, 7, 0" in error
    assert "smaller context size, a q8_0 KV cache, or fewer GPU layers" in error
    assert "is loaded again" in error
    assert "LOADED 512" in result.stdout and "REPLY True" in result.stdout
    assert "retried with 15" in result.stderr  # each retry is logged as it happens
