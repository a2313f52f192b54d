"""The model a command names (``--model``: a GGUF path or a library name) and the options it is loaded with: what
``chat`` (plain, ``--group``, ``--mcp``) and the GUI's ``--model`` share."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError
from app.core.library.models import find_model
from app.core.paths import AppPaths
from app.core.settings import Settings


def resolve_model(name: str, models_dir: Path) -> Path:
    """A GGUF path, or the name of a model in the library."""
    found = find_model(name, [models_dir])
    if found is None:
        raise HermesError(f"No model file or library model named {name!r} (library: {models_dir}).")
    return found


def load_options(args: argparse.Namespace, paths: AppPaths, settings: Settings, model: Path) -> LoadOptions:
    """The settings' defaults, then the options remembered for this model file, then the command line's."""
    from app.cli.library import checked_format
    from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, default_load_options
    from app.core.engines.offload import parse_gpu_layers

    options = ModelOptionsStore(paths.config / FILE_NAME).options(model, default_load_options(settings))
    given = {
        "context_size": args.context_size,
        "gpu_layers": parse_gpu_layers(args.gpu_layers) if args.gpu_layers is not None else None,
        "flash_attn": args.flash_attn,
        "kv_cache_type": args.kv_cache,
        "cpu_threads": args.threads,
        "use_mmap": False if args.no_mmap else None,
        "prompt_format": checked_format(args.prompt_format) if args.prompt_format else None,
    }
    return options.with_overrides(**{k: v for k, v in given.items() if v is not None})
