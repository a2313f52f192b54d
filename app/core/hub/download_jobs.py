"""One download as the queue and the pages see it: its state, its place in the models folder, the saved queue."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from app.core.hub.download_guard import DownloadError
from app.core.hub.download_store import QueueStore, SavedDownload

log = logging.getLogger(__name__)

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


def remove_files(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def restore_jobs(saved: list[SavedDownload], models_dir: Path, *, autostart: bool) -> list[Download]:
    """The saved queue as jobs, each paused or queued, with the bytes already on disk; bad entries are dropped."""
    jobs = []
    for entry in saved:
        try:
            destination = safe_destination(models_dir, entry.repo_id, entry.filename, entry.revision)
        except DownloadError as exc:
            log.warning("dropping a saved download entry: %s", exc)
            continue
        job = Download(entry.repo_id, entry.filename, entry.revision, destination, sha256=entry.sha256,
                       total=entry.total)  # fmt: skip
        try:
            job.done = job.part.stat().st_size
        except OSError:
            job.done = 0
        job.state = State.PAUSED if entry.paused or not autostart else State.QUEUED
        jobs.append(job)
    return jobs


def load_queue(state_file: Path, models_dir: Path, *, autostart: bool) -> list[Download]:
    """The queue saved in ``state_file`` (as the next start restores it)."""
    store = QueueStore(state_file)
    try:
        return restore_jobs(store.load(), models_dir, autostart=autostart)
    finally:
        store.close()


def saved(job: Download, *, paused: bool = False) -> SavedDownload:
    return SavedDownload(job.repo_id, job.filename, job.revision, job.sha256, job.total, paused)
