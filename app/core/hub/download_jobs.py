"""One download as the manager and the pages see it: its state, its place in the models folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from app.core.hub.download_guard import DownloadError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


class State(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Download:
    """One file. The manager updates it from its thread; read copies from ``DownloadManager.jobs()``."""

    repo_id: str
    filename: str
    revision: str
    destination: Path
    sha256: str | None = None
    total: int = 0
    done: int = 0
    state: State = State.QUEUED
    message: str = ""  # what is happening ("retrying in 2 s…") or what went wrong
    speed: float = 0.0  # bytes/s, smoothed

    @property
    def key(self) -> str:
        return f"{self.repo_id}@{self.revision}:{self.filename}"

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 and self.total else None

    @property
    def part(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part")

    @property
    def record(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part.json")

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED, State.CANCELLED)


def safe_destination(models_dir: Path, repo_id: str, filename: str, revision: str = "main") -> Path:
    """Where a Hub file goes: ``models/<owner>/<repo>/<file>``; a name that could escape the folder is refused."""
    if not _REPO_ID.match(repo_id) or ".." in repo_id.split("/"):
        raise DownloadError(f"Refusing a strange repository name: {repo_id!r}.")
    if not filename or "\\" in filename or "\x00" in filename or re.match(r"^[A-Za-z]:", filename):
        raise DownloadError(f"Refusing an unsafe file name from the Hub: {filename!r}.")
    parts = filename.split("/")
    if PurePosixPath(filename).is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise DownloadError(f"Refusing an unsafe file name from the Hub: {filename!r}.")
    if any(ord(c) < 32 for c in filename):
        raise DownloadError(f"Refusing an unsafe file name from the Hub: {filename!r}.")
    owner, name = repo_id.split("/")
    folder = models_dir / owner / (name if revision in ("main", "") else f"{name}@{_safe_branch(revision)}")
    target = folder.joinpath(*parts)
    root = models_dir.resolve()
    if not target.resolve().is_relative_to(root):
        raise DownloadError(f"Refusing a file name that leaves the models folder: {filename!r}.")
    return target


def _safe_branch(revision: str) -> str:
    return re.sub(r"[^\w.-]", "_", revision)[:80]
