"""Logging: everything to a log file in the logs directory (rotated at start), warnings and worse to stderr."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

LOG_NAME = "hermes-studio.log"
ROTATE_AT_BYTES = 2 << 20
KEEP_OLD = 3


class _NeverFails:
    """A handler that never breaks the program it logs for (issue 28, items 11 and 20).

    ``logging``'s own handlers raise out of the logging call when a delayed log file cannot be opened (a read-only
    logs folder: the Hub's callers then reported "cannot reach the Hub") and print a traceback for every record
    that cannot be written (a full disk: 13 tracebacks on stderr). Here the first failure prints one line on
    stderr and the handler goes quiet.
    """

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            name = getattr(self, "baseFilename", "standard error")
            reason = getattr(exc, "strerror", None) or exc
            with contextlib.suppress(OSError, ValueError, AttributeError):
                print(f"warning: cannot write the log ({name}): {reason}; logging there stops.", file=sys.__stderr__)


class _LogFile(_NeverFails, logging.FileHandler):
    def open_now(self) -> None:
        """Open the file at start, so a failure is told before anything (llama.cpp's loader) redirects stderr."""
        try:
            self.stream = self._open()
        except OSError:
            self.handleError(logging.makeLogRecord({}))

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        try:
            if self.stream is None:
                self.stream = self._open()
        except OSError:
            self.handleError(record)
            return
        logging.StreamHandler.emit(self, record)  # its own failures reach handleError


class _Stderr(_NeverFails, logging.StreamHandler):  # type: ignore[type-arg]
    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)


def configure_logging(log_dir: Path, *, stderr_level: int = logging.WARNING) -> Path:
    with contextlib.suppress(OSError):  # the file handler says once that it cannot write there; the app goes on
        log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / LOG_NAME
    rotate_if_large(log_file)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_hermes", False):
            root.removeHandler(handler)
    to_file = _LogFile(log_file, encoding="utf-8", delay=True)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    to_file.open_now()
    to_stderr = _Stderr()
    to_stderr.setLevel(stderr_level)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handlers: tuple[logging.Handler, ...] = (to_file, to_stderr)
    for handler in handlers:
        handler._hermes = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("llama.cpp").setLevel(logging.INFO)
    return log_file


def rotate_if_large(log_file: Path, limit: int = ROTATE_AT_BYTES, keep: int = KEEP_OLD) -> None:
    """Keep ``log.1`` … ``log.N`` like RotatingFileHandler, but only at start.

    One session's log stays in one file, and ``logging.handlers`` (socket, pickle, queue…) stays off the
    start path.
    """
    try:
        if log_file.stat().st_size < limit:
            return
        for number in range(keep - 1, 0, -1):
            older = log_file.with_name(f"{log_file.name}.{number}")
            if older.exists():
                os.replace(older, log_file.with_name(f"{log_file.name}.{number + 1}"))
        os.replace(log_file, log_file.with_name(f"{log_file.name}.1"))
    except OSError:
        pass  # no log yet, or a read-only folder: logging goes on in the file as it is
