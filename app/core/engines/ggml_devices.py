"""ggml's device API, which llama-cpp-python does not bind (``ggml_backend_dev_*``,
``ggml_backend_load_all_from_path``), declared with ctypes on the libggml it already loaded
(``llama_cpp._ggml.libggml``): the registered backends, their devices and memory, and why a backend module gave
none. ``llama_adapter.import_llama_cpp`` loads the backend modules through here.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("app.core.engines.llama_engine")

# ggml's device API, declared on the libggml llama-cpp-python loaded.
RawDevice = tuple[str, str, int, str, int, int]  # name, description, ggml_backend_dev_type, backend, free, total


@functools.cache
def _ggml() -> Any | None:
    """libggml with the registry/device functions declared, or None where this build lacks them."""
    import ctypes

    try:
        from llama_cpp import _ggml as ggml_module

        lib = ggml_module.libggml
        pointer, text, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        signatures: dict[str, tuple[list[Any], Any]] = {
            "ggml_backend_reg_count": ([], size),
            "ggml_backend_reg_get": ([size], pointer),
            "ggml_backend_reg_name": ([pointer], text),
            "ggml_backend_dev_count": ([], size),
            "ggml_backend_dev_get": ([size], pointer),
            "ggml_backend_dev_name": ([pointer], text),
            "ggml_backend_dev_description": ([pointer], text),
            "ggml_backend_dev_type": ([pointer], ctypes.c_int),
            "ggml_backend_dev_memory": ([pointer, ctypes.POINTER(size), ctypes.POINTER(size)], None),
            "ggml_backend_dev_backend_reg": ([pointer], pointer),
            "ggml_backend_reg_dev_count": ([pointer], size),
        }
        for name, (arguments, result) in signatures.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = arguments, result
    except (ImportError, OSError, AttributeError) as exc:
        log.warning("llama.cpp's device API is not available (%s): devices are not listed", exc)
        return None
    return lib


def library_dir() -> Path:
    """The folder of llama-cpp-python's shared libraries (and of backend modules in a GGML_BACKEND_DL build)."""
    import llama_cpp

    return Path(llama_cpp.__file__).resolve().parent / "lib"


def load_backend_modules() -> None:
    """In a ``GGML_BACKEND_DL=ON`` build no backend is registered until its module is loaded: load them once.

    ``ggml_backend_load_all()`` searches only the executable's folder (Python's), so the library folder
    is named. A normal build registers its backends at start-up, and this does nothing.
    """
    import ctypes

    lib = _ggml()
    if lib is None or lib.ggml_backend_reg_count() > 0:
        return
    try:
        load_all = lib.ggml_backend_load_all_from_path
    except AttributeError:
        return
    load_all.argtypes, load_all.restype = [ctypes.c_char_p], None
    load_all(os.fsencode(library_dir()))
    log.info("loaded llama.cpp backend modules from %s: %s", library_dir(), ", ".join(backend_names()) or "none")


def backend_names() -> list[str]:
    """The backends llama.cpp registered ("CPU", "CUDA", "Vulkan", "Metal", ...)."""
    lib = _ggml()
    if lib is None:
        return []
    return [_text(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i))) for i in range(lib.ggml_backend_reg_count())]


def backend_devices() -> list[RawDevice]:
    """Every device of every registered backend, with its free and total memory in bytes, as llama.cpp sees it
    (call ``llama_adapter.import_llama_cpp()`` first: it loads the backends and routes their log)."""
    import ctypes

    lib = _ggml()
    if lib is None:
        return []
    devices = []
    for index in range(lib.ggml_backend_dev_count()):
        device = lib.ggml_backend_dev_get(index)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        registry = lib.ggml_backend_dev_backend_reg(device)
        backend = _text(lib.ggml_backend_reg_name(registry)) if registry else ""
        devices.append(
            (
                _text(lib.ggml_backend_dev_name(device)),
                _text(lib.ggml_backend_dev_description(device)),
                int(lib.ggml_backend_dev_type(device)),
                backend,
                int(free.value),
                int(total.value),
            )
        )
    return devices


def backend_problems(folder: Path | None = None) -> list[str]:
    """Why a backend module in ``folder`` (llama-cpp-python's lib folder) gives no device, for people.

    A ``GGML_BACKEND_DL`` build loads its modules quietly: one that fails (a missing driver library,
    ``libcuda.so.1`` or ``libvulkan.so.1``) is simply absent. Here such a module is opened again to get
    the system's reason; a backend that loaded but found no device is named too.
    """
    import ctypes

    lib = _ggml()
    registered: dict[str, int] = {}
    if lib is not None:
        for index in range(lib.ggml_backend_reg_count()):
            registry = lib.ggml_backend_reg_get(index)
            registered[_text(lib.ggml_backend_reg_name(registry)).lower()] = lib.ggml_backend_reg_dev_count(registry)
    problems = []
    for name, count in registered.items():
        if count == 0:
            problems.append(f"the {name} backend found no device (is the GPU's driver installed?)")
    suffixes = (".so", ".dll", ".dylib")
    for module in sorted((folder or library_dir()).glob("*ggml-*")):
        if module.suffix not in suffixes or module.is_symlink():
            continue
        backend = module.stem.removeprefix("lib").removeprefix("ggml-")
        if backend.startswith(("cpu", "base")) or backend in registered:
            continue
        try:
            ctypes.CDLL(str(module))
        except OSError as exc:
            problems.append(f"the {backend} backend could not be loaded ({exc})")
        else:
            problems.append(f"the {backend} backend ({module.name}) is present but not registered")
    return problems


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
