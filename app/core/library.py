"""The local model library: the GGUF files in the models directory and in extra folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIXES = (".part", ".incomplete", ".tmp")


@dataclass(frozen=True)
class LocalModel:
    path: Path
    size: int

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def size_text(self) -> str:
        return human_size(self.size)


def scan_models(folders: Iterable[Path]) -> list[LocalModel]:
    """Every ``*.gguf`` under the given folders (recursively), sorted by name; unreadable folders are skipped."""
    found: dict[Path, LocalModel] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder, onerror=lambda _err: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.lower().endswith(".gguf") or name.startswith("."):
                    continue
                path = Path(root, name)
                try:
                    resolved, size = path.resolve(), path.stat().st_size
                except OSError:
                    continue
                found.setdefault(resolved, LocalModel(path=path, size=size))
    return sorted(found.values(), key=lambda m: (m.name.lower(), str(m.path)))


def find_model(name_or_path: str, folders: Iterable[Path]) -> Path | None:
    """A path that exists, else the library model whose file name or stem matches (case-insensitive)."""
    candidate = Path(name_or_path).expanduser()
    if candidate.exists():
        return candidate
    wanted = name_or_path.lower()
    for model in scan_models(folders):
        if wanted in (model.name.lower(), model.path.name.lower()):
            return model.path
    return None


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # unreachable, keeps type checkers calm
