"""Documents read in a worker process that can be killed: a hostile file costs the worker, never the app.

``ReaderProcess`` starts ``python -m app.core.knowledge.worker`` once and hands it one file at a time (a JSON line
in, a JSON line out). The parent waits at most ``Limits.seconds`` for each file, then kills the worker and says so;
the next file gets a fresh worker. The worker's heap is capped (``RLIMIT_DATA``), so a decompression bomb or a
runaway parser ends in a ``MemoryError`` (or a kill) there. ``cancel()`` from another thread kills it at once.
A frozen build starts its own executable as the worker (``hermes-studio --document-reader``, which runs ``serve``);
only a windowed frozen build (Windows, macOS), whose children get no standard streams from PyInstaller, reads in a
thread of this process (the readers' own checks still hold: sizes, pages, zip members).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from app.core.knowledge.blocks import Block, Document, DocumentError, Limits

_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding this ``app``, for the child's imports


class Cancelled(DocumentError):
    """The reading was cancelled."""


class ReaderProcess:
    """One worker process, reused file after file; killed after a file that takes too long (or on cancel)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self.in_process = bool(getattr(sys, "frozen", False)) and sys.platform in ("win32", "darwin")

    def read(self, path: Path) -> Document:
        """``path`` read in the worker; ``DocumentError`` with the reason (the worker's, or the limit it passed)."""
        if self._cancelled.is_set():
            raise Cancelled("Cancelled.")
        if self.in_process:
            from app.core.knowledge.readers import read_document

            return read_document(path, self.limits)
        process = self._ensure()
        assert process.stdin is not None
        request = json.dumps({"path": str(path), "limits": self.limits.as_dict()}) + "\n"
        try:
            process.stdin.write(request.encode("utf-8", "surrogateescape"))
            process.stdin.flush()
        except OSError:
            self._stop()
            raise DocumentError(f"{path.name}: the document reader stopped unexpectedly; try again.") from None
        try:
            line = self._lines.get(timeout=self.limits.seconds)
        except queue.Empty:
            self._stop()
            raise DocumentError(
                f"Reading {path.name} took longer than {self.limits.seconds:g} s, the limit; it was stopped."
            ) from None
        if not line:  # the worker died (killed, out of memory, crashed in a native library)
            code = self._stop()
            if self._cancelled.is_set():
                raise Cancelled("Cancelled.")
            raise DocumentError(f"{path.name} could not be read: the reader ended while reading it ({_exit(code)}).")
        return _document(path.name, json.loads(line))

    def cancel(self) -> None:
        """Stop the file being read now (from any thread); every later ``read`` raises ``Cancelled``."""
        self._cancelled.set()
        self._stop()

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> ReaderProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _ensure(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")])}
                self._process = subprocess.Popen(
                    worker_command(),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                )  # fmt: skip
                self._lines = queue.Queue()
                assert self._process.stdout is not None
                threading.Thread(
                    target=_pump, args=(self._process.stdout, self._lines), daemon=True, name="document-reader"
                ).start()
            return self._process

    def _stop(self) -> int | None:
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return code


def _pump(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    """The worker's answers, line by line, then ``b""`` when it ends."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):
        pass
    lines.put(b"")


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {-code}; probably the memory limit"
    return f"exit status {code}"


def _document(name: str, answer: dict[str, Any]) -> Document:
    if not answer.get("ok"):
        raise DocumentError(str(answer.get("error") or f"{name} could not be read."))
    blocks = tuple(Block(**block) for block in answer["blocks"])
    return Document(
        answer["kind"], blocks, answer["sha256"], int(answer["size"]), int(answer["pages"]), tuple(answer["notes"])
    )


def _answer(request: dict[str, Any]) -> dict[str, Any]:
    from app.core.knowledge.readers import read_document

    path = Path(request["path"])
    try:
        document = read_document(path, Limits.from_dict(request.get("limits", {})))
    except DocumentError as exc:
        return {"ok": False, "error": str(exc)}
    except MemoryError:
        return {"ok": False, "error": f"{path.name} needs more memory to read than the limit allows."}
    except RecursionError:
        return {"ok": False, "error": f"{path.name} is nested too deeply to read."}
    except Exception as exc:  # a reader library's own error on a damaged file: said, and the worker goes on
        return {"ok": False, "error": f"{path.name} could not be read ({type(exc).__name__}: {str(exc)[:200]})."}
    return {
        "ok": True,
        "kind": document.kind,
        "sha256": document.sha256,
        "size": document.size,
        "pages": document.pages,
        "notes": list(document.notes),
        "blocks": [block.__dict__ for block in document.blocks],
    }


def worker_command() -> list[str]:
    """The worker's argv: this module under this interpreter, or the frozen app's own executable."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--document-reader"]
    return [sys.executable, "-m", "app.core.knowledge.worker"]


def serve() -> int:
    """The worker: one JSON request per line on stdin, one JSON answer per line on stdout."""
    limits = Limits()
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory, limits.memory))
    except (ImportError, ValueError, OSError):
        pass  # Windows, or a lower hard limit already
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        answer = _answer(json.loads(line.decode("utf-8", "surrogateescape")))
        out.write(json.dumps(answer, ensure_ascii=False).encode("utf-8", "replace") + b"\n")  # lone surrogates: ?
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
