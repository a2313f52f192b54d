"""Load options remembered per model file (LM Studio's per-model defaults), in one small JSON file.

The prompt format set for a file (``prompt_format``: what ``auto`` means for it) is kept with them.

A model without remembered options loads with the global defaults (the settings). Only the options
a user set for a model are kept, so a later change of a global default still reaches the others.
The file is written atomically; a damaged one is kept aside and the defaults are used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.engines.load_options import AUTO, FLASH_ATTENTION, KV_TYPES, MAX_DRAFT, LoadOptions
from app.core.engines.model_format import is_file_format

log = logging.getLogger(__name__)

FILE_VERSION = 1
_FIELDS = {f.name for f in fields(LoadOptions)}


def clean_options(values: dict[str, Any]) -> dict[str, Any]:
    """The recognised, legal values among ``values`` (anything else is dropped, never guessed)."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _FIELDS or value is None:
            continue
        if name in ("context_size", "cpu_threads", "gpu_layers", "prompt_lookup"):
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            low, high = {"context_size": (0, 1 << 24), "cpu_threads": (0, 512), "gpu_layers": (AUTO, 100_000),
                         "prompt_lookup": (0, MAX_DRAFT)}[name]  # fmt: skip
            if name == "context_size" and 0 < value < 256:
                low = 256
            clean[name] = min(max(value, low), high)
        elif (
            (name == "flash_attn" and value in FLASH_ATTENTION)
            or (name == "kv_cache_type" and value in KV_TYPES)
            or (name == "use_mmap" and isinstance(value, bool))
            or (name == "prompt_format" and isinstance(value, str) and is_file_format(value))
        ):
            clean[name] = value
    return clean


class ModelOptionsStore:
    """``{model path: {option: value}}`` in ``path``; thread-safe, written on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._models: dict[str, dict[str, Any]] = self._read()

    @staticmethod
    def key(model: str | Path) -> str:
        return str(Path(model).expanduser().resolve())

    def overrides(self, model: str | Path) -> dict[str, Any]:
        """What was set for this model file (empty: nothing)."""
        with self._lock:
            return dict(self._models.get(self.key(model), {}))

    def options(self, model: str | Path, defaults: LoadOptions) -> LoadOptions:
        """The global defaults, with this model's remembered options over them."""
        return defaults.with_overrides(**self.overrides(model))

    def remember(self, model: str | Path, options: LoadOptions, defaults: LoadOptions) -> None:
        """Keep the options that differ from the defaults (none: the model follows the defaults again)."""
        given, base = asdict(options), asdict(defaults)
        changed = clean_options({k: v for k, v in given.items() if v != base[k]})
        with self._lock:
            if changed:
                self._models[self.key(model)] = changed
            else:
                self._models.pop(self.key(model), None)
            self._write()

    def forget(self, model: str | Path) -> None:
        with self._lock:
            if self._models.pop(self.key(model), None) is not None:
                self._write()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = bounded_json.load_file(self.path, max_bytes=16 << 20)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("per-model options %s unreadable (%s); using the defaults", self.path, exc)
            self._keep_damaged()
            return {}
        models = raw.get("models") if isinstance(raw, dict) else None
        if not isinstance(models, dict):
            self._keep_damaged()
            return {}
        return {k: clean_options(v) for k, v in models.items() if isinstance(k, str) and isinstance(v, dict)}

    def _write(self) -> None:
        data = {"version": FILE_VERSION, "models": self._models}
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True))

    def _keep_damaged(self) -> None:
        with contextlib.suppress(OSError):
            self.path.replace(self.path.with_suffix(self.path.suffix + ".damaged"))


FILE_NAME = "model-options.json"  # in the config folder, next to settings.json


def default_load_options(settings: Any) -> LoadOptions:
    """The global defaults from the settings (app.core.settings.Settings) as LoadOptions."""
    return LoadOptions(
        context_size=settings.context_size,
        cpu_threads=settings.cpu_threads,
        gpu_layers=settings.gpu_layers,
        flash_attn=settings.flash_attn,
        kv_cache_type=settings.kv_cache_type,
        use_mmap=settings.use_mmap,
        prompt_lookup=settings.prompt_lookup,
    )
