"""SQLite errors, sorted: what the environment did (a full disk, a read-only file, a damaged database, another
process holding a lock) becomes a ``StoreError`` with a message for people; anything else is a bug and is raised
unchanged. The UI catches ``StoreError`` and never needs to import ``sqlite3`` (as qutebrowser's ``misc/sql.py``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from app.core.errors import HermesError

BUSY_TIMEOUT = 20.0  # seconds a write waits for another process (a window, `chat --save`) to finish its own


class StoreError(HermesError):
    """A chat operation that cannot be done (an unknown chat, a bad import file, a disk or database problem)."""


class StoreDiskError(StoreError):
    """The disk is full or failed a write (SQLITE_FULL, SQLITE_IOERR)."""


class StoreReadOnlyError(StoreError):
    """The database or its folder cannot be written (SQLITE_READONLY, SQLITE_PERM, SQLITE_CANTOPEN)."""


class StoreDamagedError(StoreError):
    """The database file is damaged or not a database (SQLITE_CORRUPT, SQLITE_NOTADB)."""


class StoreBusyError(StoreError):
    """Another process held the database for longer than the busy timeout (SQLITE_BUSY, SQLITE_LOCKED)."""


# Primary SQLite result codes (https://sqlite.org/rescode.html) → the error people get. Anything
# else (a syntax error, a constraint, a misuse) is a bug in this app and is raised unchanged.
_KNOWN: dict[int, tuple[type[StoreError], str]] = {
    13: (StoreDiskError, "The disk is full: the chat history could not be saved. Free some space and try again."),
    10: (StoreDiskError, "The chat history could not be written (a disk error, or the disk is full)."),
    8: (StoreReadOnlyError, "The chat history is read-only: it cannot be changed. Check the permissions of {path}."),
    3: (StoreReadOnlyError, "The chat history cannot be written: permission denied for {path}."),
    23: (StoreReadOnlyError, "The chat history cannot be written: permission denied for {path}."),
    14: (StoreReadOnlyError, "The chat history at {path} cannot be opened (a missing or read-only folder?)."),
    11: (
        StoreDamagedError,
        "The chat history database is damaged. Restart the app: it keeps the damaged file aside and starts a new one.",
    ),
    26: (
        StoreDamagedError,
        "The chat history file is not a database. Restart the app: it keeps the file aside and starts a new one.",
    ),
    5: (
        StoreBusyError,
        "The chat history is busy in another Hermes Studio (a window or a `chat --save`); try again in a moment.",
    ),
    6: (StoreBusyError, "The chat history is busy; try again in a moment."),
    15: (StoreBusyError, "The chat history is busy; try again in a moment."),
}
_BY_TEXT = {"database or disk is full": 13, "disk i/o error": 10, "readonly database": 8, "database is locked": 5,
            "malformed": 11, "file is not a database": 26, "unable to open database": 14}  # fmt: skip


def classify(exc: sqlite3.Error, path: Path | str = "") -> Exception:
    """The ``StoreError`` for an environmental SQLite error, or ``exc`` itself for a bug."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary is None:
        text = str(exc).lower()
        primary = next((number for words, number in _BY_TEXT.items() if words in text), None)
    known = _KNOWN.get(primary) if primary is not None else None
    if known is None:
        return exc
    kind, message = known
    error = kind(message.format(path=path))
    error.sqlite_error = str(exc)  # type: ignore[attr-defined]
    return error


def _raise_classified(exc: sqlite3.Error, path: Path) -> None:
    error = classify(exc, path)
    if error is not exc:
        raise error from exc


class GuardedConnection:
    """The connection, with every environmental SQLite error raised as a ``StoreError`` (bugs pass through)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db, self._path = db, path

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.Error as exc:
            _raise_classified(exc, self._path)
            raise

    def executescript(self, script: str) -> sqlite3.Cursor:
        try:
            return self._db.executescript(script)
        except sqlite3.Error as exc:
            _raise_classified(exc, self._path)
            raise

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def close(self) -> None:
        self._db.close()
