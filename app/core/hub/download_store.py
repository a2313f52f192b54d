"""The saved download queue: one row per download in a small SQLite file, written one row at a time.

A Download click inserts one row, a pause or a resume updates one, a finished or cancelled download deletes
one: the cost of a click does not grow with the queue, and each change is a transaction, so a process killed
while saving (kill -9) loses nothing that was already queued. ``paused`` is the user's pause only: a transfer
stopped because the app closed stays unpaused and resumes at the next start; one the user paused stays paused.
The queue of earlier versions (``downloads.json``, rewritten whole at each change) is imported once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    repo_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    revision TEXT NOT NULL,
    sha256 TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class SavedDownload:
    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    total: int
    paused: bool

    @property
    def key(self) -> str:
        return f"{self.repo_id}@{self.revision}:{self.filename}"


def queue_paths(state_file: Path) -> tuple[Path, Path]:
    """(the SQLite file, the older JSON queue it imports): ``downloads.json`` or ``downloads.db`` name both."""
    if state_file.suffix == ".json":
        return state_file.with_suffix(".db"), state_file
    return state_file, state_file.with_suffix(".json")


def saved_queue_exists(state_file: Path) -> bool:
    return any(path.exists() for path in queue_paths(state_file))


class QueueStore:
    """The rows of the saved queue, in the order they were queued; safe to call from any thread."""

    def __init__(self, state_file: Path) -> None:
        self.path, self.legacy = queue_paths(state_file)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = self._open()
        if self._db is not None and self.legacy.exists():
            self._import_legacy()

    def _open(self) -> sqlite3.Connection | None:
        problem: Exception
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            problem = exc
            if self.path.exists():  # not a database, or damaged: kept aside (nothing deleted), a fresh queue
                aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
                log.warning("the saved download queue %s is unreadable (%s); kept as %s", self.path, exc, aside)
                try:
                    self.path.replace(aside)
                    for suffix in ("-wal", "-shm"):
                        self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
                    return self._connect()
                except (OSError, sqlite3.DatabaseError) as again:
                    problem = again
        except OSError as exc:
            problem = exc
        log.warning("could not open the download queue %s: %s; downloads will not be remembered", self.path, problem)
        return None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses no commit; WAL keeps it atomic
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM downloads").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _import_legacy(self) -> None:
        """The JSON queue of earlier versions, once: rows added in one transaction, then the file removed."""
        try:
            saved = json.loads(self.legacy.read_text(encoding="utf-8")).get("downloads", [])
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("could not read the older download queue %s: %s", self.legacy, exc)
            saved = []
        rows = []
        for entry in saved if isinstance(saved, list) else []:
            try:
                rows.append(SavedDownload(str(entry["repo_id"]), str(entry["filename"]), str(entry["revision"]),
                                          entry.get("sha256"), int(entry.get("total") or 0),
                                          bool(entry.get("paused"))))  # fmt: skip
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.warning("dropping a saved download entry: %s", exc)
        if self._write_many(rows, replace=False):
            self.legacy.unlink(missing_ok=True)  # imported; a crash before this imports it again (no duplicates)

    def load(self) -> list[SavedDownload]:
        if self._db is None:
            return []
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT repo_id, filename, revision, sha256, total, paused FROM downloads ORDER BY id"
                ).fetchall()
        except sqlite3.Error as exc:
            log.warning("could not read the download queue: %s", exc)
            return []
        return [SavedDownload(r[0], r[1], r[2], r[3], int(r[4] or 0), bool(r[5])) for r in rows]

    def put(self, saved: SavedDownload) -> None:
        """Add one download (or update it in place: its place in the queue is kept)."""
        self._write_many([saved], replace=True)

    def set_paused(self, key: str, paused: bool) -> None:
        self._execute("UPDATE downloads SET paused = ? WHERE key = ?", (int(paused), key))

    def remove(self, key: str) -> None:
        self._execute("DELETE FROM downloads WHERE key = ?", (key,))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _write_many(self, rows: list[SavedDownload], *, replace: bool) -> bool:
        conflict = (
            "DO UPDATE SET sha256 = excluded.sha256, total = excluded.total, paused = excluded.paused"
            if replace
            else "DO NOTHING"
        )
        sql = (
            "INSERT INTO downloads (key, repo_id, filename, revision, sha256, total, paused) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) {conflict}"
        )
        values = [(r.key, r.repo_id, r.filename, r.revision, r.sha256, r.total, int(r.paused)) for r in rows]
        if self._db is None:
            return False
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(sql, values)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("could not save the download queue: %s", exc)
            return False
        return True

    def _execute(self, sql: str, values: tuple[object, ...]) -> None:
        if self._db is None:
            return
        try:
            with self._lock:
                self._db.execute(sql, values)  # autocommit: one statement, one transaction
        except sqlite3.Error as exc:
            log.warning("could not save the download queue: %s", exc)
