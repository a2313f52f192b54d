"""Run by tests/gpu/test_vulkan.py with one llama-cpp-python build's interpreter (never imported by the tests).

    PYTHON tests/gpu/llama_probe.py MODEL --gpu-layers N [--tokens 24]

Prints one line `RESULT {json}` on stdout: llama.cpp's devices (its own registry, `ggml_backend_dev_*` through
ctypes), `llama_supports_gpu_offload()`, the greedy reply's token ids and its decode speed. llama.cpp's log
(verbose) goes to stderr, where the test reads "offloaded N/N layers".
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

import llama_cpp

# A reply whose every greedy choice is clear-cut. With "Write a short poem about the sea." the Vulkan (lavapipe) and
# CPU replies part at the 5th token ("a place" / "a mystic"): two near-equal logits that float differences between
# the backends (f16 on Vulkan) reorder, not a fault; measured 2026-11-27.
PROMPT = "<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n"


def ggml_library() -> ctypes.CDLL:
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml.so", "libggml.dylib", "ggml.dll"):
        if (lib_dir / name).exists():
            return ctypes.CDLL(str(lib_dir / name))  # already loaded by llama_cpp: the same handle
    raise SystemExit(f"llama_probe: no ggml library in {lib_dir}")


def devices() -> list[dict[str, object]]:
    """llama.cpp's device list, as `llama-cli --list-devices` prints it."""
    ggml = ggml_library()
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    for fn in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(ggml, fn).restype = ctypes.c_char_p
        getattr(ggml, fn).argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_type.restype = ctypes.c_int
    ggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    size_p = ctypes.POINTER(ctypes.c_size_t)
    ggml.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
    if ggml.ggml_backend_dev_count() == 0 and hasattr(ggml, "ggml_backend_load_all_from_path"):
        # GGML_BACKEND_DL builds register their backends only when asked to load them.
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load_all_from_path(str(Path(llama_cpp.__file__).parent / "lib").encode())
    found = []
    for i in range(ggml.ggml_backend_dev_count()):
        dev = ggml.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        ggml.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        found.append(
            {
                "name": ggml.ggml_backend_dev_name(dev).decode(),
                "description": ggml.ggml_backend_dev_description(dev).decode(),
                "type": ggml.ggml_backend_dev_type(dev),
                "free": free.value,
                "total": total.value,
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--gpu-layers", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--prompt", default=PROMPT, help="the raw prompt text (ChatML)")
    args = parser.parse_args()

    result: dict[str, object] = {
        "llama_cpp": llama_cpp.__version__,
        "supports_gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "devices": devices(),
    }
    started = time.perf_counter()
    llm = llama_cpp.Llama(args.model, n_gpu_layers=args.gpu_layers, n_ctx=512, seed=1234, verbose=True)
    result["load_s"] = time.perf_counter() - started
    prompt = llm.tokenize(args.prompt.encode(), add_bos=False, special=True)
    ids: list[int] = []
    first = last = time.perf_counter()
    for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        last = time.perf_counter()
        if not ids:
            first = last
        if llm.token_eos() == token:
            break
        ids.append(token)
        if len(ids) >= args.tokens:
            break
    result["tokens"] = ids
    result["text"] = llm.detokenize(ids).decode("utf-8", errors="replace")
    result["decode_tok_s"] = (len(ids) - 1) / (last - first) if len(ids) > 1 and last > first else None
    llm.close()
    sys.stderr.flush()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
