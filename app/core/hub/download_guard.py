"""What keeps a download honest across processes: one lock per destination, and a check of the bytes on disk.

- ``DownloadLock``: an OS file lock (``filelock``; ``flock`` on Unix, ``LockFileEx`` on Windows) on a
  hidden ``.<file>.lock`` beside the destination. Every Hermes Studio process — a window resuming its
  queue at start, ``hermes-studio download`` in a terminal — takes it before touching the ``.part``,
  so two of them never append to one file. The OS drops it when its process dies (``kill -9``
  included): there is no stale lock to clean up.
- ``verify_on_disk``: the size and the sha256 of the file *as it is on disk*, compared with the
  Hub's, before the rename into the library. A mismatch moves the bytes aside (``.corrupt``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from app.core.errors import HermesError

log = logging.getLogger(__name__)

BUSY_MESSAGE = "Already being downloaded by another Hermes Studio — waiting for it to finish"
MAX_RETRY_AFTER = 300.0  # a Hub asking for more than 5 minutes gets its answer later, from a Resume
HASH_BLOCK = 4 << 20


class DownloadError(HermesError):
    """A download that cannot start or cannot finish (with the reason, for people)."""


class RetryLater(ConnectionError):
    """The Hub answered 429 or 5xx: try again, after ``delay`` seconds when it said so (Retry-After)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Interrupted(Exception):
    """The check of a file was interrupted by a pause or a cancel."""


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            import time

            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def lock_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.lock")


class DownloadLock:
    """The cross-process lock of one destination file; ``acquire`` polls so that a pause can stop the wait."""

    def __init__(self, destination: Path) -> None:
        self.path = lock_path(destination)
        self._lock: FileLock | None = None

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it (never blocks)."""
        if self._lock is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DownloadError(read_only_message(self.path.parent, exc)) from exc
            self._lock = FileLock(str(self.path), thread_local=False)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        except OSError as exc:
            raise DownloadError(read_only_message(self.path.parent, exc)) from exc
        return True

    def release(self, *, finished: bool = False) -> None:
        """Let go; a finished download also removes the lock file (a later process finds the file in place)."""
        if self._lock is None or not self._lock.is_locked:
            return
        if finished:
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._lock.release()


def read_only_message(folder: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"Cannot write to the models folder {folder} ({reason}). Choose a folder you can write to in "
            "Settings, or fix its permissions; nothing was downloaded."
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"Cannot write to the models folder {folder} ({reason}; is the disk full?)."
    return f"Cannot write to the models folder {folder} ({reason})."


def file_sha256(path: Path, stopping: Callable[[], Any] | None = None) -> str:
    """The sha256 of the bytes on disk (``Interrupted`` when ``stopping()`` turns true between blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            if stopping is not None and stopping():
                raise Interrupted
            digest.update(block)
    return digest.hexdigest()


def verify_on_disk(part: Path, size: int, sha256: str, stopping: Callable[[], Any] | None = None) -> str | None:
    """Why ``part`` is not the Hub's file (its size, then its sha256), or None when it is."""
    actual_size = part.stat().st_size
    if size and actual_size != size:
        return f"it is {actual_size:,} bytes on disk, the Hub's file is {size:,}"
    if sha256:
        actual = file_sha256(part, stopping)
        if actual != sha256:
            log.warning("%s: sha256 %s on disk, %s expected", part.name, actual, sha256)
            return "its sha256 on disk does not match the Hub's"
    return None


def set_aside(part: Path, destination: Path) -> Path:
    """Keep damaged bytes as ``<file>.corrupt`` (one per file, the newest), out of the library's sight."""
    kept = destination.with_name(destination.name + ".corrupt")
    os.replace(part, kept)
    return kept
