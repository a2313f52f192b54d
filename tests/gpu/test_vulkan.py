"""The GPU code path without a GPU: the starter model fully offloaded to a Vulkan device (Mesa's lavapipe here).

Needs a llama-cpp-python built with the Vulkan backend, in its own venv (`make vulkan-test` builds .venv-vulkan and
runs this file with HERMES_VULKAN_PYTHON pointing at it). Each build runs in its own subprocess
(tests/gpu/llama_probe.py), so this process never loads two llama.cpp builds. The reference reply comes from this
interpreter's llama-cpp-python with 0 GPU layers, i.e. llama.cpp's CPU backend.

ggml-vulkan skips CPU-type Vulkan devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES names them: the probe runs
with GGML_VK_VISIBLE_DEVICES=0 (the first Vulkan device; on a machine with a GPU, that GPU).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = Path(__file__).with_name("llama_probe.py")
TOKENS = 24  # the reply's length
MUST_MATCH = 16  # float differences between backends may change a later greedy choice


def _has_vulkan_build(python: str) -> bool:
    """Whether that interpreter's llama_cpp carries ggml's Vulkan library (looked up, not imported)."""
    code = (
        "import importlib.util, pathlib; s = importlib.util.find_spec('llama_cpp'); "
        "print(any('ggml-vulkan' in p.name for p in pathlib.Path(s.origin).parent.glob('lib/*')) if s else False)"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() == "True"


def _vulkan_python() -> str | None:
    given = os.environ.get("HERMES_VULKAN_PYTHON")
    if given:
        return given
    return sys.executable if _has_vulkan_build(sys.executable) else None


VULKAN_PYTHON = _vulkan_python()
pytestmark = [
    pytest.mark.vulkan,
    pytest.mark.slow,
    pytest.mark.skipif(
        VULKAN_PYTHON is None,
        reason="no Vulkan build of llama-cpp-python: `make vulkan-test` builds one in .venv-vulkan and sets "
        "HERMES_VULKAN_PYTHON to its python",
    ),
]


def _probe(python: str, model: Path, gpu_layers: int, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [python, str(PROBE), str(model), "--gpu-layers", str(gpu_layers), "--tokens", str(TOKENS)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=280,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"probe failed ({python}, rc={done.returncode}):\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    result["log"] = done.stderr
    return result


@pytest.fixture(scope="module")
def on_vulkan(starter_model: Path) -> dict[str, Any]:
    assert VULKAN_PYTHON is not None
    if not _has_vulkan_build(VULKAN_PYTHON):
        pytest.fail(f"HERMES_VULKAN_PYTHON={VULKAN_PYTHON}: its llama-cpp-python has no Vulkan backend")
    return _probe(VULKAN_PYTHON, starter_model, gpu_layers=-1, env={"GGML_VK_VISIBLE_DEVICES": "0"})


@pytest.fixture(scope="module")
def on_cpu(starter_model: Path) -> dict[str, Any]:
    return _probe(sys.executable, starter_model, gpu_layers=0, env={})


def test_llama_cpp_lists_the_vulkan_device(on_vulkan: dict[str, Any]) -> None:
    vulkan = [d for d in on_vulkan["devices"] if str(d["name"]).startswith("Vulkan")]
    assert vulkan, f"no Vulkan device in llama.cpp's list: {on_vulkan['devices']}"
    assert vulkan[0]["total"] > 0 and 0 < vulkan[0]["free"] <= vulkan[0]["total"], vulkan[0]
    assert any(d["name"] == "CPU" for d in on_vulkan["devices"]), "the CPU device is always listed"


def test_the_vulkan_build_supports_gpu_offload_and_the_cpu_build_does_not(
    on_vulkan: dict[str, Any], on_cpu: dict[str, Any]
) -> None:
    assert on_vulkan["supports_gpu_offload"] is True
    if not any(str(d["name"]).startswith(("Vulkan", "CUDA", "Metal")) for d in on_cpu["devices"]):
        assert on_cpu["supports_gpu_offload"] is False


def test_every_layer_of_the_starter_model_is_offloaded(on_vulkan: dict[str, Any]) -> None:
    found = re.search(r"offloaded (\d+)/(\d+) layers to GPU", on_vulkan["log"])
    assert found, "llama.cpp did not say how many layers it offloaded:\n" + on_vulkan["log"][-3000:]
    offloaded, total = int(found.group(1)), int(found.group(2))
    assert total > 1 and offloaded == total
    weights = re.search(r"Vulkan0 model buffer size = +([\d.]+) MiB", on_vulkan["log"])
    assert weights and float(weights.group(1)) > 50, "the weights are not in the Vulkan device's memory"


def test_the_greedy_reply_matches_the_cpu_build(on_vulkan: dict[str, Any], on_cpu: dict[str, Any]) -> None:
    vk, cpu = on_vulkan["tokens"], on_cpu["tokens"]
    assert len(cpu) >= MUST_MATCH, f"the CPU reply is too short to compare: {on_cpu['text']!r}"
    same = next((i for i, (a, b) in enumerate(zip(vk, cpu, strict=False)) if a != b), min(len(vk), len(cpu)))
    print(
        f"\nVulkan: {same}/{len(cpu)} tokens as on the CPU; decode {on_vulkan['decode_tok_s'] or 0:.2f} tok/s "
        f"(CPU {on_cpu['decode_tok_s'] or 0:.2f}); load {on_vulkan['load_s']:.1f} s (CPU {on_cpu['load_s']:.1f} s)"
    )
    assert same >= MUST_MATCH, (
        f"first difference at token {same}:\nVulkan {on_vulkan['text']!r}\nCPU    {on_cpu['text']!r}"
    )
