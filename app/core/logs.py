"""Logging: everything to a log file in the logs directory (rotated at start), warnings and worse to stderr."""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_NAME = "hermes-studio.log"
ROTATE_AT_BYTES = 2 << 20
KEEP_OLD = 3


def configure_logging(log_dir: Path, *, stderr_level: int = logging.WARNING) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / LOG_NAME
    rotate_if_large(log_file)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_hermes", False):
            root.removeHandler(handler)
    to_file = logging.FileHandler(log_file, encoding="utf-8", delay=True)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    to_stderr = logging.StreamHandler()
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
