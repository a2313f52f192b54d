"""The bytes of one download: HTTP Range into a ``.part`` file, retried, checked on disk, renamed into place.

``huggingface_hub`` >= 1.18 no longer resumes across processes and has no cancel, so the transfer is
built on the client's own pieces — ``hf_hub_url``, ``get_hf_file_metadata`` (size, etag, commit, redirect
target), its HTTP client and auth headers. The ``.part`` sits beside a small JSON record of what it is,
so a killed process resumes from the bytes on disk, and only when it is the same file. 429 and 5xx are
retried (after ``Retry-After`` when the Hub gives one), a stall longer than ``stall_timeout`` counts as
a drop, and a finished file is checked *as it is on disk* — size and sha256 against the Hub's — before
it is renamed into the library. The queue (``downloads``) runs a transfer under the destination's
cross-process lock and hands it the hooks it reports through.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.atomic import atomic_write_text
from app.core.hub.connection import HubAuthError, HubError, translate_error
from app.core.hub.download_guard import (
    DownloadError,
    Interrupted,
    RetryLater,
    read_only_message,
    retry_after_seconds,
    set_aside,
    verify_on_disk,
)
from app.core.hub.download_jobs import Download, State, remove_files
from app.core.library.models import human_size

log = logging.getLogger(__name__)


class Stop(Exception):
    """Raised inside a transfer when it is paused or cancelled."""


@dataclass(frozen=True)
class TransferSettings:
    endpoint: str | None
    token: str | None
    retries: int
    backoff: float
    stall_timeout: float


@dataclass(frozen=True)
class TransferHooks:
    """What a transfer needs from the queue that runs it."""

    lock: threading.RLock  # guards the job's fields, which the queue's readers copy
    report: Callable[[Download, State | None, str | None], None]  # a state, a message or progress
    stop_requested: Callable[[], bool]  # a pause or cancel was asked for
    check_space: Callable[[Download], None]  # raises DownloadError when the disk cannot take the rest
    watch: Callable[[Any], None]  # the open response, so a stop can shut a read blocked on a stall


class FileTransfer:
    """One file, from the Hub's metadata to a verified file in the models folder."""

    def __init__(self, job: Download, settings: TransferSettings, hooks: TransferHooks) -> None:
        self.job = job
        self.settings = settings
        self.hooks = hooks

    def _check_stop(self) -> None:
        if self.hooks.stop_requested():
            raise Stop

    def run(self) -> None:
        from huggingface_hub import hf_hub_url

        from app.core.hub.bounds import bounded

        job, settings = self.job, self.settings
        self.hooks.report(job, State.DOWNLOADING, "Connecting…")
        url = hf_hub_url(job.repo_id, job.filename, revision=job.revision, endpoint=settings.endpoint)
        meta: Any = None
        total, expected = 0, ""
        attempt = 0
        while True:
            self._check_stop()
            try:
                if meta is None:
                    with bounded(job.filename):  # a deadline and capped Retry-After for the metadata request
                        meta = self._metadata(url)
                    total = int(meta.size or 0)
                    expected = _sha256(job.sha256) or _sha256(meta.etag)
                    with self.hooks.lock:
                        job.total, job.sha256 = total or job.total, expected or None
                    if total and job.destination.exists() and job.destination.stat().st_size == total:
                        self._already_there()  # another process finished it while this one waited
                        return
                    self.hooks.check_space(job)
                    identity = {"repo": job.repo_id, "file": job.filename, "revision": job.revision, "etag": meta.etag,
                                "commit": meta.commit_hash, "size": total, "sha256": expected}  # fmt: skip
                    self._prepare_part(identity)
                start = job.part.stat().st_size
                if total and start >= total:
                    break
                headers = _auth_headers(settings.token)
                if start:
                    headers["Range"] = f"bytes={start}-"
                self._stream(meta.location or url, headers, start, total)
                if not total or job.part.stat().st_size >= total:
                    break
                raise ConnectionError("the connection closed before the end of the file")
            except (Stop, HubError, DownloadError):
                raise
            except Exception as exc:
                if self.hooks.stop_requested():
                    raise Stop from None
                attempt += 1
                if attempt > settings.retries:
                    raise DownloadError(
                        f"{job.filename}: the connection kept dropping ({exc or type(exc).__name__}); gave up after "
                        f"{settings.retries} retries. Resume to try again: nothing downloaded so far is lost."
                    ) from exc
                hinted = exc.delay if isinstance(exc, RetryLater) else None
                delay = hinted if hinted is not None else settings.backoff * 2 ** (attempt - 1)
                what = f"The Hub is busy ({exc})" if isinstance(exc, RetryLater) else "Connection dropped"
                message = f"{what} — retrying in {delay:.0f} s ({attempt}/{settings.retries})"
                self.hooks.report(job, State.DOWNLOADING, message)
                log.warning("download %s: %s; retry %d in %.1f s", job.key, exc or type(exc).__name__, attempt, delay)
                self._sleep(delay)
        self._verify_and_place(total, expected)

    def _sleep(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            self._check_stop()
            time.sleep(min(0.05, left))

    def _metadata(self, url: str) -> Any:
        """The Hub's size, etag, commit and redirect target; 429 and 5xx come back as ``RetryLater``."""
        from huggingface_hub import get_hf_file_metadata
        from huggingface_hub.errors import HfHubHTTPError

        settings, name = self.settings, self.job.filename
        try:
            return get_hf_file_metadata(
                url, token=settings.token, endpoint=settings.endpoint, timeout=settings.stall_timeout
            )
        except HfHubHTTPError as exc:
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", 0) or 0
            if status == 429 or status >= 500:
                hint = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
                raise RetryLater(f"HTTP {status}", hint) from exc
            raise translate_error(exc, name) from exc
        except Exception as exc:
            if "timeout" in type(exc).__name__.lower() or "connect" in type(exc).__name__.lower():
                raise  # a network hiccup: retried
            raise translate_error(exc, name) from exc

    def _already_there(self) -> None:
        job = self.job
        remove_files(job.part, job.record)
        with self.hooks.lock:
            job.done = job.total
            job.speed = 0.0
        self.hooks.report(job, State.DONE, "Already downloaded (by another Hermes Studio)")

    def _prepare_part(self, identity: dict[str, Any]) -> None:
        """Keep a partial file only if it is the same file (same etag, revision, size) and not too long."""
        job = self.job
        try:
            previous = json.loads(job.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        size = job.part.stat().st_size if job.part.exists() else None
        if size is not None and previous == identity and (not identity["size"] or size <= identity["size"]):
            with self.hooks.lock:
                job.done = size
            self.hooks.report(job, None, f"Resuming at {human_size(size)}")
            return
        if size:
            why = "its record is unreadable" if previous is None else "it is not this file (or too long)"
            log.info("download %s: starting over, the partial file %s is discarded: %s", job.key, job.part, why)
        try:
            job.destination.parent.mkdir(parents=True, exist_ok=True)
            remove_files(job.part)
            job.part.write_bytes(b"")
            atomic_write_text(job.record, json.dumps(identity))
        except OSError as exc:
            raise DownloadError(read_only_message(job.destination.parent, exc)) from exc
        with self.hooks.lock:
            job.done = 0

    def _stream(self, url: str, headers: dict[str, str], start: int, total: int = 0) -> None:
        """Append the body to the .part; never past ``total`` (the announced size), whatever the server sends."""
        from huggingface_hub import get_session

        job = self.job
        session = get_session()
        timeout = self.settings.stall_timeout
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
            self.hooks.watch(response)
            window_start, window_bytes = time.monotonic(), 0
            # Unbuffered: a failed write surfaces here, never later from close() (where it would pass
            # for a dropped connection and be retried), and the .part holds exactly what was written.
            room = total - start if total else None
            with job.part.open("ab", buffering=0) as handle:
                for received in response.iter_bytes():  # as it arrives: nothing received is held back
                    self._check_stop()
                    block = received if room is None else received[:room]
                    if room is not None:
                        room -= len(block)
                    try:
                        write_all(handle, block)
                    except OSError as exc:
                        kept = job.part.stat().st_size if job.part.exists() else job.done
                        raise DownloadError(
                            f"Could not write {job.filename} ({exc.strerror or exc}; is the disk full?). "
                            f"The {human_size(kept)} downloaded so far are kept: free some space and resume."
                        ) from exc
                    now = time.monotonic()
                    window_bytes += len(block)
                    with self.hooks.lock:
                        job.done += len(block)
                        if now - window_start >= 0.5:
                            rate = window_bytes / (now - window_start)
                            job.speed = rate if not job.speed else 0.7 * job.speed + 0.3 * rate
                            window_start, window_bytes = now, 0
                            job.message = ""
                    self.hooks.report(job, None, None)
                    if room == 0:  # the announced size is here: more would be the Hub's error (checked by sha256)
                        break

    def _verify_and_place(self, total: int, expected: str) -> None:
        """Check the file as it is on disk (size, sha256) and only then rename it into the library."""
        job = self.job
        self.hooks.report(job, State.VERIFYING, "Checking the file…")
        try:
            problem = verify_on_disk(job.part, total, expected, self.hooks.stop_requested)
        except Interrupted:
            raise Stop from None
        if problem:
            kept = set_aside(job.part, job.destination)
            remove_files(job.record)
            with self.hooks.lock:
                job.done = 0
            raise DownloadError(
                f"{job.filename} arrived damaged ({problem}), so it is not offered for loading. Its bytes were "
                f"kept aside as {kept.name}; Retry downloads it again."
            )
        os.replace(job.part, job.destination)
        remove_files(job.record, job.destination.with_name(job.destination.name + ".corrupt"))
        with self.hooks.lock:
            job.done = job.total = job.destination.stat().st_size
            job.speed = 0.0
        self.hooks.report(job, State.DONE, "Verified" if expected else "Done (the Hub gave no checksum)")


def _sha256(value: object) -> str:
    """A sha256 as 64 lowercase hex digits, or "" (a Hub that sends a number or junk gets no trust, nor a crash)."""
    return value.lower() if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value) else ""


def _auth_headers(token: str | None) -> dict[str, str]:
    from huggingface_hub.utils import build_hf_headers

    return dict(build_hf_headers(token=token))


def write_all(handle: Any, block: bytes) -> None:
    """Write every byte of ``block`` to an unbuffered file: a short write is followed by the rest (or its error)."""
    view = memoryview(block)
    while view:
        written = handle.write(view)
        view = view[written:]
