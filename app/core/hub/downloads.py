"""The download queue: resumable, verified model downloads from the Hugging Face Hub, a few at a time.

Each job runs on its own thread (``concurrency`` at once) as a ``transfer.FileTransfer``: HTTP Range
into a ``.part`` file, so a download survives a dropped connection (retried with backoff), a pause,
and a killed process (resumed from the bytes on disk); the file is checked on disk before it becomes
a ``.gguf`` the library would offer. Every process takes the destination's cross-process lock before
it touches the ``.part`` (``download_guard``): a second Hermes Studio waits, it never appends to the
same file. The queue is saved (``download_jobs``) so that it comes back at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core.hub.connection import HubError, configure_hub_environment, hub_endpoint, hub_token
from app.core.hub.download_guard import BUSY_MESSAGE, DownloadError, DownloadLock
from app.core.hub.download_jobs import Download, State, load_queue, remove_files, safe_destination, save_queue
from app.core.hub.transfer import FileTransfer, Stop, TransferHooks, TransferSettings
from app.core.library.models import human_size

log = logging.getLogger(__name__)

DISK_MARGIN = 200 << 20
STALL_TIMEOUT = 30.0  # seconds without a byte before a connection counts as dropped (and is retried)
__all__ = ["Download", "DownloadError", "DownloadManager", "State", "safe_destination"]


class DownloadManager:
    """A queue of downloads, ``concurrency`` at a time, on its own threads; state persisted for restarts."""

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
        self._jobs: dict[str, Download] = {}
        self._stop_flags: dict[str, str] = {}  # key -> "pause" | "cancel"
        self._responses: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._slots = threading.Semaphore(concurrency)
        self._threads: dict[str, threading.Thread] = {}
        self._closed = False
        self._restore(autostart)

    # queue
    def enqueue(
        self, repo_id: str, filename: str, *, revision: str = "main", sha256: str | None = None, size: int = 0
    ) -> Download:
        """Queue one file (a no-op for one already queued or on disk)."""
        destination = safe_destination(self.models_dir, repo_id, filename, revision)
        job = Download(repo_id, filename, revision, destination, sha256=sha256, total=size)
        with self._lock:
            existing = self._jobs.get(job.key)
            if existing is not None and existing.state not in (State.FAILED, State.CANCELLED):
                return replace(existing)
            if destination.exists() and (not size or destination.stat().st_size == size):
                job.state, job.done, job.total = State.DONE, destination.stat().st_size, destination.stat().st_size
                self._jobs[job.key] = job
                return replace(job)
            self._check_space(job)
            self._jobs[job.key] = job
            self._save()
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

    def pause(self, key: str) -> None:
        self._interrupt(key, "pause")

    def cancel(self, key: str) -> None:
        """Stop and delete the partial file."""
        self._interrupt(key, "cancel")
        with self._lock:
            job = self._jobs.get(key)
            running = key in self._threads and self._threads[key].is_alive()
            if job is not None and not running and not job.finished:
                self._set(job, State.CANCELLED, "Cancelled")
                remove_files(job.part, job.record)
                self._save()

    def resume(self, key: str) -> None:
        with self._lock:
            job = self._jobs[key]
            if job.state in (State.PAUSED, State.FAILED, State.CANCELLED):
                self._set(job, State.QUEUED, "")
                self._save()
        self._start(key)

    def retry(self, key: str) -> None:
        self.resume(key)

    def wait(self, key: str, timeout: float = 300) -> Download:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                thread = self._threads.get(key)
            if thread is None or not thread.is_alive():
                return self.job(key)
            thread.join(0.05)
        return self.job(key)

    def shutdown(self) -> None:
        """Pause every transfer (it resumes at the next start) and wait for the threads."""
        self._closed = True
        with self._lock:
            keys = [key for key, thread in self._threads.items() if thread.is_alive()]
        for key in keys:
            self._interrupt(key, "pause-quietly")
        for key in keys:
            self._threads[key].join(10)
        self._save()

    def forget(self, key: str) -> None:
        """Remove a finished, failed or cancelled entry from the list."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state in (State.DONE, State.FAILED, State.CANCELLED):
                del self._jobs[key]
                self._save()

    # threads
    def _start(self, key: str) -> None:
        with self._lock:
            previous = self._threads.get(key)
            stopping = previous is not None and previous.is_alive()
            if self._closed or (stopping and not self._stop_flags.get(key)):
                return  # running, and not asked to stop: nothing to do
            if not stopping:
                self._stop_flags.pop(key, None)
            # Resumed while the last transfer is still winding down (a pause in progress): start after it, not never.
            thread = threading.Thread(
                target=self._run_after, args=(key, previous if stopping else None), name=f"download {key}", daemon=True
            )
            self._threads[key] = thread
        thread.start()

    def _run_after(self, key: str, previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
            with self._lock:
                self._stop_flags.pop(key, None)
                if self._jobs[key].state != State.QUEUED:
                    return  # finished, cancelled or paused again meanwhile
        self._run(key)

    def _interrupt(self, key: str, how: str) -> None:
        with self._lock:
            self._stop_flags[key] = how
            response = self._responses.get(key)
        if response is not None:
            # A read blocked on a stalled connection only wakes when its socket is shut down.
            with contextlib.suppress(Exception):
                stream = response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                response.close()

    def _stopping(self, key: str) -> str | None:
        return self._stop_flags.get(key)

    def _run(self, key: str) -> None:
        with self._slots:
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
                with self._lock:
                    self._responses.pop(key, None)
                self._save()

    def _transfer_settings(self) -> TransferSettings:
        return TransferSettings(self.endpoint, self.token, self.retries, self.backoff, self.stall_timeout)

    def _hooks(self, key: str) -> TransferHooks:
        def watch(response: Any) -> None:
            with self._lock:
                self._responses[key] = response

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
        if self.on_change is not None:
            self.on_change(replace(job))

    # persistence
    def _save(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            save_queue(self.state_file, jobs, closing=self._closed)

    def _restore(self, autostart: bool) -> None:
        for job in load_queue(self.state_file, self.models_dir, autostart=autostart):
            self._jobs[job.key] = job
        if autostart:
            for key, job in list(self._jobs.items()):
                if job.state == State.QUEUED:
                    self._start(key)
