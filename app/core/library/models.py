"""The local model library: the GGUF files in the models directory and in extra folders.

Only complete files are listed: downloads in progress are ``.part`` files, and the later parts of
a split model (``-00002-of-00003.gguf``) are loaded through the first part.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.core.errors import HermesError, ModelFileError
from app.core.library.gguf_file import GGUFInfo, read_gguf
from app.core.library.projector import ProjectorInfo, find_projector, is_projector_name, read_projector

_LATER_SPLIT_PART = re.compile(r"-(?!00001)\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)
ImportMode = Literal["copy", "move", "link"]
COPY_CHUNK = 16 << 20  # an import's progress is reported every 16 MiB


class LibraryError(HermesError):
    """A library operation that could not be done."""


@dataclass(frozen=True)
class LocalModel:
    path: Path
    size: int
    projector: Path | None = None  # the vision projector (mmproj) beside it, paired by folder and name

    def projector_info(self) -> ProjectorInfo | None:
        """The paired projector's header (None: no projector, or one that cannot be read)."""
        if self.projector is None:
            return None
        try:
            return read_projector(self.projector)
        except ModelFileError:
            return None

    @property
    def vision(self) -> bool:
        """A projector with a vision encoder is beside it (its header says so)."""
        info = self.projector_info()
        return info is not None and info.has_vision

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def size_text(self) -> str:
        return human_size(self.size)

    def info(self) -> GGUFInfo | None:
        """The GGUF header's metadata, or None for a file that is not a valid model."""
        try:
            return read_gguf(self.path)
        except ModelFileError:
            return None


def scan_models(folders: Iterable[Path]) -> list[LocalModel]:
    """Every ``*.gguf`` model under the given folders (recursively), sorted by name, each paired with the vision
    projector beside it (``mmproj*.gguf`` files are projectors, not models); unreadable folders are skipped."""
    found: dict[Path, LocalModel] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder, onerror=lambda _err: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if not name.lower().endswith(".gguf") or name.startswith(".") or _LATER_SPLIT_PART.search(name):
                    continue
                if is_projector_name(name):
                    continue
                path = Path(root, name)
                try:
                    resolved, size = path.resolve(), path.stat().st_size
                except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
                    continue
                found.setdefault(resolved, LocalModel(path=path, size=size, projector=find_projector(path, files)))
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


def delete_model(path: Path, folders: Iterable[Path]) -> None:
    """Delete a model file that lives in one of the library folders (and the other parts of a split model)."""
    where = path.parent.resolve() / path.name  # a link is judged by where it is, not where it points
    if not any(where.is_relative_to(folder.resolve()) for folder in folders):
        raise LibraryError(f"{path} is not in the model library; it was not deleted.")
    parts = [path]
    match = re.search(r"-00001-of-(\d{5})\.gguf$", path.name, re.IGNORECASE)
    if match:
        stem = path.name[: match.start()]
        parts = [path.with_name(f"{stem}-{i:05d}-of-{match.group(1)}.gguf") for i in range(1, int(match.group(1)) + 1)]
    for part in parts:
        try:
            part.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise LibraryError(f"Could not delete {part.name}: {exc.strerror or exc}") from None


def import_model(
    source: Path, models_dir: Path, mode: ImportMode = "copy", progress: Callable[[int, int], None] | None = None
) -> Path:
    """Bring a GGUF into the models folder by copying, moving or linking it; it is validated first.

    A vision model comes with the projector beside it (``find_projector``), the two in a folder of their own under
    ``imported/`` (as in their Hub repo: a projector is paired with its model by folder). ``progress(done, total)``
    is called as a copy goes (from the calling thread), over both files' bytes.
    """
    read_gguf(source)  # raises ModelFileError with a clear message for a bad file
    projector = None if is_projector_name(source.name) else find_projector(source)
    if projector is not None:
        try:
            read_projector(projector)
        except ModelFileError:
            projector = None  # a damaged projector does not stop its model from coming in (the model is read alone)
    folder = models_dir / "imported" / (source.stem if projector is not None else "")
    target = folder / source.name
    sources = [source, *([projector] if projector is not None else [])]
    targets = [folder / item.name for item in sources]
    if any(item.exists() or item.is_symlink() for item in (target, *targets)):
        raise LibraryError(f"{target.name} is already in the library.")
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(item.stat().st_size for item in sources)
    done_before = 0
    landed: list[Path] = []
    try:
        for item, destination in zip(sources, targets, strict=True):
            _bring(item, destination, mode, progress, done_before=done_before, total=total)
            landed.append(destination)
            done_before += destination.stat().st_size if mode == "copy" else 0
    except OSError as exc:
        for destination in landed:  # all or nothing: a model without the projector it came with is not left
            if mode == "move":
                shutil.move(str(destination), sources[targets.index(destination)])
            else:
                destination.unlink(missing_ok=True)
        raise LibraryError(f"Could not {mode} {source.name} into the library: {exc.strerror or exc}") from None
    return target


def _bring(
    source: Path,
    target: Path,
    mode: ImportMode,
    progress: Callable[[int, int], None] | None,
    *,
    done_before: int,
    total: int,
) -> None:
    if mode == "link":
        target.symlink_to(source.resolve())
    elif mode == "move":
        shutil.move(str(source), target)
    else:
        partial = target.with_name(target.name + ".part")
        try:
            _copy(source, partial, None if progress is None else lambda done, _: progress(done_before + done, total))
            partial.replace(target)
        except OSError:
            partial.unlink(missing_ok=True)  # a half copy (a full disk, say) is not left behind
            raise


def _copy(source: Path, target: Path, progress: Callable[[int, int], None] | None) -> None:
    if progress is None:
        shutil.copyfile(source, target)
        return
    total = source.stat().st_size
    done = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            writer.write(chunk)
            done += len(chunk)
            progress(done, total)
