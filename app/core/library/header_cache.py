"""What the library shows of each model file's header, cached by (path, size, mtime) (issue 27).

Reading a GGUF header costs tens of milliseconds (its tokenizer's vocabulary is part of it); a library of
300 files took half a minute to list, and again after every import. ``HeaderCache.summaries`` reads only the
files that are new or changed since it last saw them, and keeps what it read in a JSON file (the cache
folder), so the next start reads nothing. Thread-safe: the window calls it from its background pool.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from app.core.atomic import atomic_write_text
from app.core.errors import ModelFileError
from app.core.library.gguf_file import read_gguf
from app.core.library.models import LocalModel

log = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass(frozen=True)
class HeaderSummary:
    """A model file's header as the library lists it; ``problem`` says why a file cannot be loaded."""

    architecture: str = ""
    parameters: str = ""
    quantization: str = ""
    context_length: int = 0
    has_template: bool = False
    problem: str = ""


def summarize(path: Path) -> HeaderSummary:
    """Read one file's header (tens of milliseconds)."""
    try:
        info = read_gguf(path)
    except ModelFileError as exc:
        return HeaderSummary(problem=str(exc))
    return HeaderSummary(
        info.architecture, info.size_label, info.quantization, info.context_length or 0, bool(info.chat_template)
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


class HeaderCache:
    """Summaries keyed by path, valid while the file's size and mtime are unchanged; saved to ``file``."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self.reads = 0  # headers actually read (tests and the benchmark count them)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[int, int, HeaderSummary]] = {}
        self._dirty = False
        if file is not None:
            self._load(file)

    def _load(self, file: Path) -> None:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
            if document.get("version") != CACHE_VERSION:
                return
            for path, (size, mtime, fields) in document["files"].items():
                self._entries[path] = (int(size), int(mtime), HeaderSummary(**fields))
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignoring the model header cache %s: %s", file, exc)
            self._entries.clear()

    def cached(self, model: LocalModel) -> HeaderSummary | None:
        """The summary if the file has not changed since it was read; never reads the file."""
        stamp = _stamp(model.path)
        with self._lock:
            entry = self._entries.get(str(model.path))
        if stamp is None or entry is None or (entry[0], entry[1]) != stamp:
            return None
        return entry[2]

    def summary(self, model: LocalModel) -> HeaderSummary:
        """The file's summary: from the cache when its size and mtime are unchanged, else read now."""
        found = self.cached(model)
        if found is not None:
            return found
        stamp = _stamp(model.path)
        summary = summarize(model.path)
        with self._lock:
            self.reads += 1
            if stamp is not None:
                self._entries[str(model.path)] = (*stamp, summary)
                self._dirty = True
        return summary

    def summaries(self, models: list[LocalModel]) -> list[HeaderSummary]:
        return [self.summary(model) for model in models]

    def forget_missing(self, models: list[LocalModel]) -> None:
        """Drop the entries of files no longer in the library (deleted, moved)."""
        present = {str(model.path) for model in models}
        with self._lock:
            for path in [path for path in self._entries if path not in present]:
                del self._entries[path]
                self._dirty = True

    def save(self) -> None:
        """Write the cache (atomically) if it changed; a failure is logged, never raised."""
        if self.file is None:
            return
        with self._lock:
            if not self._dirty:
                return
            files = {path: [size, mtime, asdict(summary)] for path, (size, mtime, summary) in self._entries.items()}
            self._dirty = False
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.file, json.dumps({"version": CACHE_VERSION, "files": files}))
        except OSError as exc:
            log.warning("could not save the model header cache %s: %s", self.file, exc)
