"""User settings: a small typed object stored as JSON, with a schema version."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.core import bounded_json
from app.core.atomic import atomic_write_text

SETTINGS_BYTES = 1 << 20  # settings are a few hundred bytes; a bigger file is damaged, not settings
log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: gpu_layers "auto" (-2) replaced the CPU-only default (0) once
THEMES = ("system", "light", "dark")
GPU_LAYERS_AUTO = -2  # app.core.engines.offload.AUTO
FLASH_ATTENTION = ("auto", "on", "off")
KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")


@dataclass
class Settings:
    """Everything the user can change in the settings dialog, plus a little remembered state."""

    models_dir: str = ""  # empty: the default models directory under the data dir
    context_size: int = 4096
    cpu_threads: int = 0  # 0: let llama.cpp decide
    gpu_layers: int = GPU_LAYERS_AUTO  # -2: auto (as many as fit), -1: every layer, N: that many
    flash_attn: str = "auto"  # global default of the load options ("auto", "on", "off")
    kv_cache_type: str = "f16"  # "f16", "q8_0", "q4_0"
    use_mmap: bool = True
    prompt_lookup: int = 0  # prompt-lookup draft tokens (0: off; off by default: docs/benchmarks.md)
    state_memory_mib: int = 512  # the state cache's budgets (engines.state_cache): memory ...
    state_disk_mib: int = 4096  # ... and disk (the cache folder)
    theme: str = "system"
    last_model: str = ""
    preset: str = "hermes-2"
    extra_model_dirs: list[str] = field(default_factory=list)  # e.g. an LM Studio or Hugging Face cache folder
    schema_version: int = field(default=SCHEMA_VERSION)

    def models_path(self, default: Path) -> Path:
        return _user_path(self.models_dir) if self.models_dir else default

    def library_folders(self, default: Path) -> list[Path]:
        """The models folder first, then the extra folders the user added."""
        return [self.models_path(default), *(_user_path(d) for d in self.extra_model_dirs)]

    def validated(self) -> Settings:
        """A copy with every value clamped into its legal range."""
        return Settings(
            models_dir=str(self.models_dir),
            context_size=min(max(int(self.context_size), 256), 1 << 20),
            cpu_threads=min(max(int(self.cpu_threads), 0), 512),
            gpu_layers=_gpu_layers(self.gpu_layers),
            flash_attn=self.flash_attn if self.flash_attn in FLASH_ATTENTION else "auto",
            kv_cache_type=self.kv_cache_type if self.kv_cache_type in KV_CACHE_TYPES else "f16",
            use_mmap=self.use_mmap if isinstance(self.use_mmap, bool) else True,
            prompt_lookup=min(max(int(self.prompt_lookup), 0), 64),
            state_memory_mib=min(max(int(self.state_memory_mib), 0), 1 << 20),
            state_disk_mib=min(max(int(self.state_disk_mib), 0), 1 << 24),
            theme=self.theme if self.theme in THEMES else "system",
            last_model=str(self.last_model),
            preset=str(self.preset),
            extra_model_dirs=[d for d in _as_list(self.extra_model_dirs) if isinstance(d, str) and d.strip()][:32],
        )


def load_settings(path: Path) -> Settings:
    """Read settings; a missing file gives defaults, a damaged one is kept aside and defaults are used."""
    try:
        raw = bounded_json.load_file(path, max_bytes=SETTINGS_BYTES)
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, exc)
        _keep_damaged(path)
        return Settings()
    if not isinstance(raw, dict):
        _keep_damaged(path)
        return Settings()
    known = {f.name for f in fields(Settings)} - {"schema_version"}
    values = {k: v for k, v in raw.items() if k in known}
    version = raw.get("schema_version", 1)
    old = not isinstance(version, int) or version < 2  # before automatic offload, 0 (CPU) was the default
    if old and values.get("gpu_layers", 0) == 0:
        values["gpu_layers"] = GPU_LAYERS_AUTO
    try:
        return Settings(**values).validated()
    except (TypeError, ValueError) as exc:
        log.warning("settings file %s has bad values (%s); using defaults", path, exc)
        _keep_damaged(path)
        return Settings()


def save_settings(settings: Settings, path: Path) -> None:
    atomic_write_text(path, json.dumps(asdict(settings.validated()), indent=2, sort_keys=True))


def _gpu_layers(value: object) -> int:
    """auto (-2), all (-1) or a count; "auto"/"all" as text too; anything else is auto."""
    if value in ("auto", "all"):
        return GPU_LAYERS_AUTO if value == "auto" else -1
    try:
        layers = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return GPU_LAYERS_AUTO
    return min(layers, 100_000) if layers >= -1 else GPU_LAYERS_AUTO


def _user_path(text: str) -> Path:
    """A folder the user typed; ``~`` of a user this system does not know stays as written (a folder that is not
    there, said as such where it is listed), never an exception."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _keep_damaged(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.replace(path.with_suffix(path.suffix + ".damaged"))


Listener = Callable[[Settings, Settings], None]  # (new, old)


class SettingsStore:
    """The one owner of the current settings: ``update`` validates, saves and tells every subscriber.

    Loaded once per process (``SettingsStore.load``); readers keep the store, not a copy of the settings.
    """

    def __init__(self, path: Path, settings: Settings | None = None) -> None:
        self.path = path
        self._current = (settings or Settings()).validated()
        self._listeners: list[Listener] = []
        self.save_error = ""  # why the last save failed ("" when it worked): a face shows it

    @classmethod
    def load(cls, path: Path) -> SettingsStore:
        return cls(path, load_settings(path))

    @property
    def current(self) -> Settings:
        """The settings now; treat it as read-only (change them with ``update``)."""
        return self._current

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(new, old)`` after every change; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def update(self, **changes: Any) -> Settings:
        """Change some fields; the new settings are saved and every subscriber hears of them (if anything changed)."""
        old = self._current
        new = replace(old, **changes).validated()
        if new == old:
            return old
        self._current = new
        self.save()
        for listener in list(self._listeners):
            listener(new, old)
        return new

    def save(self) -> bool:
        """Write the settings file; a failure is logged (the settings still hold for this session)."""
        try:
            save_settings(self._current, self.path)
        except OSError as exc:
            log.warning("could not save settings to %s: %s", self.path, exc)
            self.save_error = (
                f"Your settings could not be saved ({exc.strerror or exc}); they apply until you quit. "
                "Free some disk space or check the permissions of the settings folder."
            )
            return False
        self.save_error = ""
        return True
