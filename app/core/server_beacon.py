"""Which API servers run from this base directory: ``serve`` announces itself, the window shows it.

A running ``serve`` writes ``<data>/servers/<pid>.json`` (its URL) once it listens and removes it when it stops;
the window's status bar reads the folder every few seconds. A file left by a server that died (kill -9) is
recognised by its port no longer answering on loopback, and removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.errors import HermesError

MAX_BEACONS = 16  # more files than this in the folder: the rest are not read
CONNECT_S = 0.2  # a connect to loopback answers (or is refused) at once


@dataclass(frozen=True)
class Beacon:
    pid: int
    url: str  # ending in /v1
    started: float


def announce(folder: Path, url: str) -> Path:
    """Say that this process serves ``url``; returns the file to ``withdraw`` when it stops."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}.json"
    atomic_write_text(path, json.dumps({"pid": os.getpid(), "url": url, "started": time.time()}))
    return path


def withdraw(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def running(folder: Path) -> list[Beacon]:
    """The servers that announced themselves here and still answer (stale announcements are removed)."""
    try:
        paths = sorted(folder.glob("*.json"))[:MAX_BEACONS]
    except OSError:
        return []
    found: list[Beacon] = []
    for path in paths:
        beacon = _read(path)
        if beacon is None:
            continue
        if _answers(beacon.url):
            found.append(beacon)
        else:
            withdraw(path)
    return found


def _read(path: Path) -> Beacon | None:
    try:
        data = bounded_json.load_file(path, max_bytes=4096)
    except (OSError, ValueError, HermesError):
        return None
    if not isinstance(data, dict):
        return None
    pid, url, started = data.get("pid"), data.get("url"), data.get("started")
    if not isinstance(pid, int) or not isinstance(url, str) or not isinstance(started, int | float):
        return None
    return Beacon(pid, url, float(started))


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with socket.create_connection((host, parts.port or 80), timeout=CONNECT_S):
            return True
    except OSError:
        return False
