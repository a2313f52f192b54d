"""The download queue: resumable, verified model downloads from the Hugging Face Hub, a few at a time.

A pool of at most ``concurrency`` worker threads takes queued downloads in order (200 queued downloads are
200 rows, not 200 threads; a worker ends when the queue is empty); a queued download paused or cancelled
simply leaves the queue. Each job runs as a ``transfer.FileTransfer``: HTTP Range into a ``.part`` file, so
a download survives a dropped connection (retried with backoff), a pause, and a killed process (resumed from
the bytes on disk); the file is checked on disk before it becomes a ``.gguf`` the library would offer. Every
process takes the destination's cross-process lock before it touches the ``.part`` (``download_guard``): a
second Hermes Studio waits, it never appends to the same file. The queue is saved one row per change
(``download_store``) so that it comes back at the next start, with the user's pauses kept.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core.hub.connection import HubError, configure_hub_environment, hub_endpoint, hub_token
from app.core.hub.download_guard import BUSY_MESSAGE, DownloadError, DownloadLock
from app.core.hub.download_jobs import Download, State, remove_files, restore_jobs, safe_destination, saved
from app.core.hub.download_store import QueueStore
from app.core.hub.transfer import FileTransfer, Stop, TransferHooks, TransferSettings
from app.core.library.models import human_size

log = logging.getLogger(__name__)

DISK_MARGIN = 200 << 20
STALL_TIMEOUT = 30.0  # seconds without a byte before a connection counts as dropped (and is retried)
__all__ = ["Download", "DownloadError", "DownloadManager", "State", "safe_destination"]


class DownloadManager:
    """A queue of downloads, ``concurrency`` at a time on a fixed pool of threads; saved row by row for restarts."""

    def __init__(
        self,
        models_dir: Path,
        state_file: Path,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        concurrency: int = 2,
        retries: int = 5,
        backoff: float = 1.0,
        free_space: Callable[[Path], int] | None = None,
        on_change: Callable[[Download], None] | None = None,
        autostart: bool = True,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.models_dir = models_dir
        self.state_file = state_file
        configure_hub_environment()  # before huggingface_hub is first imported
        self.endpoint = hub_endpoint(endpoint)
        self.token = hub_token(token)
        self.retries = retries
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.free_space = free_space or (lambda path: shutil.disk_usage(path).free)
        self.on_change = on_change
        self.concurrency = max(1, concurrency)
        self._jobs: dict[str, Download] = {}
        self._stop_flags: dict[str, str] = {}  # key -> "pause" | "cancel" | "pause-quietly" (a running job only)
        self._responses: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a job left the queue or a worker; work arrived
        self._pending: deque[str] = deque()  # queued keys, in order, not yet taken by a worker
        self._running: set[str] = set()  # keys a worker holds
        self._resume_after_stop: set[str] = set()  # resumed while its transfer was still stopping
        self._workers: list[threading.Thread] = []
        self._closed = False
        self.version = 0  # bumped at every change a page would show (a cheap "anything new?" for a poller)
        self._store = QueueStore(state_file)
        self._restore(autostart)

    # queue
    def enqueue(
        self, repo_id: str, filename: str, *, revision: str = "main", sha256: str | None = None, size: int = 0
    ) -> Download:
        """Queue one file (a no-op for one already queued or on disk); O(1) in the length of the queue."""
        destination = safe_destination(self.models_dir, repo_id, filename, revision)
        job = Download(repo_id, filename, revision, destination, sha256=sha256, total=size)
        with self._lock:
            existing = self._jobs.get(job.key)
            if existing is not None and existing.state not in (State.FAILED, State.CANCELLED):
                return replace(existing)
            if destination.exists() and (not size or destination.stat().st_size == size):
                job.state, job.done, job.total = State.DONE, destination.stat().st_size, destination.stat().st_size
                self._jobs[job.key] = job
                self.version += 1
                return replace(job)
            self._check_space(job)
            self._jobs[job.key] = job
            self.version += 1
            self._store.put(saved(job))
        self._start(job.key)
        return replace(job)

    def _check_space(self, job: Download) -> None:
        if not job.total:
            return
        already = job.part.stat().st_size if job.part.exists() else 0
        folder = next((p for p in (job.destination.parent, *job.destination.parents) if p.exists()), Path("."))
        free = self.free_space(folder)
        needed = job.total - already + DISK_MARGIN
        if free < needed:
            raise DownloadError(
                f"Not enough disk space for {job.filename}: it needs {human_size(job.total - already)} "
                f"(plus a little room), and {human_size(free)} is free in {folder}."
            )

    def jobs(self) -> list[Download]:
        with self._lock:
            return [replace(job) for job in self._jobs.values()]

    def job(self, key: str) -> Download:
        with self._lock:
            return replace(self._jobs[key])

    def threads(self) -> int:
        """How many worker threads the queue holds (at most ``concurrency``)."""
        with self._lock:
            return sum(worker.is_alive() for worker in self._workers)

    def pause(self, key: str) -> None:
        """A queued download leaves the queue at once; a running one stops at its next read. It stays paused,
        across restarts too, until resumed."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.finished or job.state == State.PAUSED:
                return
            self._store.set_paused(key, True)
            self._resume_after_stop.discard(key)
            if key not in self._running:
                with contextlib.suppress(ValueError):
                    self._pending.remove(key)
                self._set(job, State.PAUSED, "Paused")
                self._changed.notify_all()
                return
        self._interrupt(key, "pause")

    def cancel(self, key: str) -> None:
        """Stop and delete the partial file."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.finished:
                return
            self._store.remove(key)
            self._resume_after_stop.discard(key)
            if key not in self._running:
                with contextlib.suppress(ValueError):
                    self._pending.remove(key)
                self._set(job, State.CANCELLED, "Cancelled")
                remove_files(job.part, job.record)
                self._changed.notify_all()
                return
        self._interrupt(key, "cancel")

    def resume(self, key: str) -> None:
        with self._lock:
            job = self._jobs[key]
            if job.state not in (State.PAUSED, State.FAILED, State.CANCELLED):
                return
            self._set(job, State.QUEUED, "")
            self._store.put(saved(job))
            if key in self._running:  # its transfer is still stopping: queued again once it has
                self._resume_after_stop.add(key)
                return
        self._start(key)

    def retry(self, key: str) -> None:
        self.resume(key)

    def wait(self, key: str, timeout: float = 300) -> Download:
        """The job once no worker holds it and it is not queued (done, failed, paused…), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while key in self._running or key in self._pending or key in self._resume_after_stop:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self.job(key)

    def shutdown(self) -> None:
        """Stop every transfer (it resumes at the next start; a user's pause stays) and wait for the workers."""
        with self._lock:
            self._closed = True
            keys = list(self._running)
            workers = list(self._workers)
            self._changed.notify_all()
        for key in keys:
            self._interrupt(key, "pause-quietly")
        for worker in workers:
            worker.join(10)
        self._store.close()

    def forget(self, key: str) -> None:
        """Remove a finished, failed or cancelled entry from the list."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state in (State.DONE, State.FAILED, State.CANCELLED):
                del self._jobs[key]
                self.version += 1
                self._store.remove(key)

    # the pool
    def _start(self, key: str) -> None:
        with self._lock:
            if self._closed or key in self._pending:
                return
            if key in self._running:  # still stopping (a cancel or pause in progress): queued again after it
                self._resume_after_stop.add(key)
                return
            self._pending.append(key)
            if len(self._workers) < self.concurrency:  # (a worker leaves the list only with the queue empty)
                worker = threading.Thread(target=self._work, name=f"download worker {len(self._workers) + 1}",
                                          daemon=True)  # fmt: skip
                self._workers.append(worker)
                worker.start()
            self._changed.notify_all()

    def _work(self) -> None:
        """Take queued downloads in order until none is left (the thread then ends; ``_start`` makes another)."""
        while True:
            with self._changed:
                if self._closed or not self._pending:
                    self._workers.remove(threading.current_thread())
                    return
                key = self._pending.popleft()
                self._running.add(key)
            try:
                self._run(key)
            finally:
                with self._changed:
                    self._running.discard(key)
                    self._stop_flags.pop(key, None)
                    self._responses.pop(key, None)
                    if key in self._resume_after_stop:
                        self._resume_after_stop.discard(key)
                        job = self._jobs[key]
                        self._set(job, State.QUEUED, "")
                        if not self._closed:
                            self._pending.append(key)
                    self._changed.notify_all()

    def _interrupt(self, key: str, how: str) -> None:
        with self._lock:
            self._stop_flags[key] = how
            response = self._responses.get(key)
        if response is not None:
            _close(response)

    def _stopping(self, key: str) -> str | None:
        return self._stop_flags.get(key)

    def _run(self, key: str) -> None:
        job = self._jobs[key]
        if self._stopping(key):
            self._finish_stop(job)
            return
        lock = DownloadLock(job.destination)
        try:
            self._claim(job, lock)
            FileTransfer(job, self._transfer_settings(), self._hooks(key)).run()
        except Stop:
            self._finish_stop(job)
        except (DownloadError, HubError) as exc:
            self._set(job, State.FAILED, str(exc))
        except Exception as exc:
            log.exception("download %s failed", key)
            self._set(job, State.FAILED, f"Download failed: {exc}")
        finally:
            lock.release(finished=job.state == State.DONE)
            if job.state == State.DONE:
                self._store.remove(key)

    def _transfer_settings(self) -> TransferSettings:
        return TransferSettings(self.endpoint, self.token, self.retries, self.backoff, self.stall_timeout)

    def _hooks(self, key: str) -> TransferHooks:
        def watch(response: Any) -> None:
            with self._lock:
                self._responses[key] = response
                stopping = bool(self._stop_flags.get(key))
            if stopping:  # asked to stop while connecting: this response's first read would never see it
                _close(response)

        return TransferHooks(
            lock=self._lock,
            report=self._set,
            stop_requested=lambda: bool(self._stopping(key)),
            check_space=self._check_space,
            watch=watch,
        )

    def _claim(self, job: Download, lock: DownloadLock) -> None:
        """Take the destination's cross-process lock, waiting (pausable) while another process holds it."""
        waiting = False
        while not lock.try_acquire():
            if not waiting:
                waiting = True
                log.info("download %s: another process holds %s; waiting", job.key, lock.path)
                self._set(job, State.QUEUED, BUSY_MESSAGE)
            if self._stopping(job.key):
                raise Stop
            time.sleep(0.1)

    def _finish_stop(self, job: Download) -> None:
        how = self._stopping(job.key) or "pause"
        if how == "cancel":
            remove_files(job.part, job.record)
            self._set(job, State.CANCELLED, "Cancelled")
        else:
            self._set(job, State.PAUSED, "Paused" if how == "pause" else "Paused (resumes at the next start)")

    def _set(self, job: Download, state: State | None = None, message: str | None = None) -> None:
        with self._lock:
            if state is not None:
                job.state = state
            if message is not None:
                job.message = message
            self.version += 1
        if self.on_change is not None:
            self.on_change(replace(job))

    # persistence
    def _restore(self, autostart: bool) -> None:
        jobs = restore_jobs(self._store.load(), self.models_dir, autostart=autostart)
        with self._lock:
            for job in jobs:
                self._jobs[job.key] = job
            self.version += 1
        if autostart:
            for job in jobs:
                if job.state == State.QUEUED:
                    self._start(job.key)


def _close(response: Any) -> None:
    """Close a transfer's response; a read blocked on a stalled connection only wakes when its socket is shut down."""
    with contextlib.suppress(Exception):
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()
