"""Resumable, verified model downloads from the Hugging Face Hub.

``huggingface_hub`` >= 1.18 no longer resumes across processes and has no cancel, so the
transfer is built on the client's own pieces — ``hf_hub_url``, ``get_hf_file_metadata`` (size,
etag, commit, redirect target), its HTTP client and auth headers — streaming with HTTP Range into
a ``.part`` file this module controls, beside a small JSON record of what it is. A download
survives a dropped connection (retried with backoff), a pause, and a killed process (resumed from
the bytes on disk). Every process takes the destination's cross-process lock before it touches the
``.part`` (``download_guard``): a second Hermes Studio waits, it never appends to the same file. A
finished file is checked *as it is on disk* — size and sha256 against the Hub's — before it is renamed
into place; until then it is never a ``.gguf`` the library would offer. 429 and 5xx are retried (after
``Retry-After`` when the Hub gives one), and a stall longer than ``stall_timeout`` counts as a drop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core.atomic import atomic_write_text
from app.core.hub.connection import (
    HubAuthError,
    HubError,
    configure_hub_environment,
    hub_endpoint,
    hub_token,
    translate_error,
)
from app.core.hub.download_guard import (
    BUSY_MESSAGE,
    DownloadError,
    DownloadLock,
    Interrupted,
    RetryLater,
    read_only_message,
    retry_after_seconds,
    set_aside,
    verify_on_disk,
)
from app.core.hub.download_jobs import Download, State, safe_destination
from app.core.library.models import human_size

log = logging.getLogger(__name__)

DISK_MARGIN = 200 << 20
STALL_TIMEOUT = 30.0  # seconds without a byte before a connection counts as dropped (and is retried)
__all__ = ["Download", "DownloadError", "DownloadManager", "State", "safe_destination"]


class _Stop(Exception):
    """Raised inside a transfer when it is paused or cancelled."""


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
                _remove(job.part, job.record)
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
                self._transfer(job)
            except _Stop:
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

    def _claim(self, job: Download, lock: DownloadLock) -> None:
        """Take the destination's cross-process lock, waiting (pausable) while another process holds it."""
        waiting = False
        while not lock.try_acquire():
            if not waiting:
                waiting = True
                log.info("download %s: another process holds %s; waiting", job.key, lock.path)
                self._set(job, State.QUEUED, BUSY_MESSAGE)
            if self._stopping(job.key):
                raise _Stop
            time.sleep(0.1)

    def _finish_stop(self, job: Download) -> None:
        how = self._stopping(job.key) or "pause"
        if how == "cancel":
            _remove(job.part, job.record)
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

    # the transfer (under the destination's lock)
    def _transfer(self, job: Download) -> None:
        from huggingface_hub import hf_hub_url

        self._set(job, State.DOWNLOADING, "Connecting…")
        url = hf_hub_url(job.repo_id, job.filename, revision=job.revision, endpoint=self.endpoint)
        meta: Any = None
        total, expected = 0, ""
        attempt = 0
        while True:
            if self._stopping(job.key):
                raise _Stop
            try:
                if meta is None:
                    meta = self._metadata(job, url)
                    total = int(meta.size or 0)
                    expected = job.sha256 or (meta.etag if re.fullmatch(r"[0-9a-f]{64}", meta.etag or "") else "")
                    expected = expected.lower()
                    with self._lock:
                        job.total, job.sha256 = total or job.total, expected or None
                    if total and job.destination.exists() and job.destination.stat().st_size == total:
                        self._already_there(job)  # another process finished it while this one waited
                        return
                    self._check_space(job)
                    identity = {"repo": job.repo_id, "file": job.filename, "revision": job.revision, "etag": meta.etag,
                                "commit": meta.commit_hash, "size": total, "sha256": expected}  # fmt: skip
                    self._prepare_part(job, identity)
                start = job.part.stat().st_size
                if total and start >= total:
                    break
                headers = _auth_headers(self.token)
                if start:
                    headers["Range"] = f"bytes={start}-"
                self._stream(job, meta.location or url, headers, start)
                if not total or job.part.stat().st_size >= total:
                    break
                raise ConnectionError("the connection closed before the end of the file")
            except (_Stop, HubError, DownloadError):
                raise
            except Exception as exc:
                if self._stopping(job.key):
                    raise _Stop from None
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(
                        f"{job.filename}: the connection kept dropping ({exc or type(exc).__name__}); gave up after "
                        f"{self.retries} retries. Resume to try again: nothing downloaded so far is lost."
                    ) from exc
                hinted = exc.delay if isinstance(exc, RetryLater) else None
                delay = hinted if hinted is not None else self.backoff * 2 ** (attempt - 1)
                what = f"The Hub is busy ({exc})" if isinstance(exc, RetryLater) else "Connection dropped"
                self._set(job, State.DOWNLOADING, f"{what} — retrying in {delay:.0f} s ({attempt}/{self.retries})")
                log.warning("download %s: %s; retry %d in %.1f s", job.key, exc or type(exc).__name__, attempt, delay)
                self._sleep(job, delay)
        self._verify_and_place(job, total, expected)

    def _sleep(self, job: Download, delay: float) -> None:
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping(job.key):
                raise _Stop
            time.sleep(min(0.05, left))

    def _metadata(self, job: Download, url: str) -> Any:
        """The Hub's size, etag, commit and redirect target; 429 and 5xx come back as ``RetryLater``."""
        from huggingface_hub import get_hf_file_metadata
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return get_hf_file_metadata(url, token=self.token, endpoint=self.endpoint, timeout=self.stall_timeout)
        except HfHubHTTPError as exc:
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", 0) or 0
            if status == 429 or status >= 500:
                hint = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
                raise RetryLater(f"HTTP {status}", hint) from exc
            raise translate_error(exc, f"{job.filename}") from exc
        except Exception as exc:
            if "timeout" in type(exc).__name__.lower() or "connect" in type(exc).__name__.lower():
                raise  # a network hiccup: retried
            raise translate_error(exc, f"{job.filename}") from exc

    def _already_there(self, job: Download) -> None:
        _remove(job.part, job.record)
        with self._lock:
            job.done = job.total
            job.speed = 0.0
        self._set(job, State.DONE, "Already downloaded (by another Hermes Studio)")

    def _prepare_part(self, job: Download, identity: dict[str, Any]) -> None:
        """Keep a partial file only if it is the same file (same etag, revision, size) and not too long."""
        try:
            previous = json.loads(job.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        size = job.part.stat().st_size if job.part.exists() else None
        if size is not None and previous == identity and (not identity["size"] or size <= identity["size"]):
            with self._lock:
                job.done = size
            self._set(job, message=f"Resuming at {human_size(size)}")
            return
        if size:
            why = "its record is unreadable" if previous is None else "it is not this file (or too long)"
            log.info("download %s: starting over, the partial file %s is discarded: %s", job.key, job.part, why)
        try:
            job.destination.parent.mkdir(parents=True, exist_ok=True)
            _remove(job.part)
            job.part.write_bytes(b"")
            atomic_write_text(job.record, json.dumps(identity))
        except OSError as exc:
            raise DownloadError(read_only_message(job.destination.parent, exc)) from exc
        with self._lock:
            job.done = 0

    def _stream(self, job: Download, url: str, headers: dict[str, str], start: int) -> None:
        from huggingface_hub import get_session

        session = get_session()
        timeout = self.stall_timeout
        with session.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as response:
            status = response.status_code
            if status in (401, 403):
                raise HubAuthError(f"{job.filename}: this model needs a Hugging Face token (HF_TOKEN).")
            if status == 404:
                raise DownloadError(f"{job.filename}: the file is no longer on the Hub.")
            if status == 416:
                return
            if status == 429 or status >= 500:
                raise RetryLater(f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After")))
            if status >= 400:
                raise ConnectionError(f"HTTP {status}")
            if start and status != 206:
                raise DownloadError(f"{job.filename}: the server ignored the resume request (HTTP {status}).")
            with self._lock:
                self._responses[job.key] = response
            window_start, window_bytes = time.monotonic(), 0
            # Unbuffered: a failed write surfaces here, never later from close() (where it would pass
            # for a dropped connection and be retried), and the .part holds exactly what was written.
            with job.part.open("ab", buffering=0) as handle:
                for block in response.iter_bytes():  # as it arrives: nothing received is held back
                    if self._stopping(job.key):
                        raise _Stop
                    try:
                        _write_all(handle, block)
                    except OSError as exc:
                        kept = job.part.stat().st_size if job.part.exists() else job.done
                        raise DownloadError(
                            f"Could not write {job.filename} ({exc.strerror or exc}; is the disk full?). "
                            f"The {human_size(kept)} downloaded so far are kept: free some space and resume."
                        ) from exc
                    now = time.monotonic()
                    window_bytes += len(block)
                    with self._lock:
                        job.done += len(block)
                        if now - window_start >= 0.5:
                            rate = window_bytes / (now - window_start)
                            job.speed = rate if not job.speed else 0.7 * job.speed + 0.3 * rate
                            window_start, window_bytes = now, 0
                            job.message = ""
                    if self.on_change is not None:
                        self.on_change(replace(job))

    def _verify_and_place(self, job: Download, total: int, expected: str) -> None:
        """Check the file as it is on disk (size, sha256) and only then rename it into the library."""
        self._set(job, State.VERIFYING, "Checking the file…")
        try:
            problem = verify_on_disk(job.part, total, expected, lambda: self._stopping(job.key))
        except Interrupted:
            raise _Stop from None
        if problem:
            kept = set_aside(job.part, job.destination)
            _remove(job.record)
            with self._lock:
                job.done = 0
            raise DownloadError(
                f"{job.filename} arrived damaged ({problem}), so it is not offered for loading. Its bytes were "
                f"kept aside as {kept.name}; Retry downloads it again."
            )
        os.replace(job.part, job.destination)
        _remove(job.record, job.destination.with_name(job.destination.name + ".corrupt"))
        with self._lock:
            job.done = job.total = job.destination.stat().st_size
            job.speed = 0.0
        self._set(job, State.DONE, "Verified" if expected else "Done (the Hub gave no checksum)")

    # persistence
    def _save(self) -> None:
        with self._lock:
            pending = [
                {
                    "repo_id": j.repo_id,
                    "filename": j.filename,
                    "revision": j.revision,
                    "sha256": j.sha256,
                    "total": j.total,
                    "paused": j.state == State.PAUSED and not self._closed,
                }
                for j in self._jobs.values()
                if not j.finished or j.state == State.FAILED
            ]
        try:
            atomic_write_text(self.state_file, json.dumps({"version": 1, "downloads": pending}, indent=1))
        except OSError as exc:
            log.warning("could not save the download queue: %s", exc)

    def _restore(self, autostart: bool) -> None:
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8")).get("downloads", [])
        except (OSError, ValueError, AttributeError):
            return
        for entry in saved if isinstance(saved, list) else []:
            try:
                destination = safe_destination(self.models_dir, entry["repo_id"], entry["filename"], entry["revision"])
                job = Download(entry["repo_id"], entry["filename"], entry["revision"], destination,
                               sha256=entry.get("sha256"), total=int(entry.get("total") or 0))  # fmt: skip
            except (KeyError, TypeError, ValueError, DownloadError) as exc:
                log.warning("dropping a saved download entry: %s", exc)
                continue
            job.done = job.part.stat().st_size if job.part.exists() else 0
            job.state = State.PAUSED if entry.get("paused") or not autostart else State.QUEUED
            self._jobs[job.key] = job
        if autostart:
            for key, job in list(self._jobs.items()):
                if job.state == State.QUEUED:
                    self._start(key)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _auth_headers(token: str | None) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    return dict(build_hf_headers(token=token))


def _write_all(handle: Any, block: bytes) -> None:
    """Write every byte of ``block`` to an unbuffered file: a short write is followed by the rest (or its error)."""
    view = memoryview(block)
    while view:
        written = handle.write(view)
        view = view[written:]
