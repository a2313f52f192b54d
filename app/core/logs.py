"""Logging: everything to a rotating file in the logs directory, warnings and worse to stderr."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def configure_logging(log_dir: Path, *, stderr_level: int = logging.WARNING) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "hermes-studio.log"
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, "_hermes", False):
            root.removeHandler(handler)
    to_file = logging.handlers.RotatingFileHandler(log_file, maxBytes=2 << 20, backupCount=3, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(stderr_level)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    for handler in (to_file, to_stderr):
        handler._hermes = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    logging.getLogger("llama.cpp").setLevel(logging.INFO)
    return log_file
