"""One window per base directory: a second start hands its file over to the first and exits.

The first GUI process of a base directory holds a ``QLockFile`` (``instance.lock`` in the data folder) and, once its
window is first painted (``listen``), listens on a ``QLocalServer`` whose name is derived from that folder: the lock
costs the cold start next to nothing, QtNetwork, the name's hash and the server ~15 ms (issue 20, part 4), so only a
later start that finds the lock taken imports them before a window. That later start connects, sends one line of JSON
(``{"open": "<path or empty>"}``), waits for the first instance's ``ok`` and exits 0; the first instance emits
``message_received(path)`` (an empty string: just raise the window).

A crashed instance leaves its lock file behind: ``QLockFile`` sees that the process named in it is gone and takes it
over, and the new first instance removes the dead server's socket before listening. Two starts at the same moment: one
gets the lock, the other waits (a few seconds) for its server to listen, as it does for a first start still painting
its window. The command line (``hermes-studio chat``, ``download`` …) never takes part: it runs freely beside the
window.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QLockFile, QObject, Signal, Slot

from app.core.paths import AppPaths

if TYPE_CHECKING:  # QtNetwork: imported when this instance listens (after its first paint) or hands over
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_NAME = "instance.lock"
CONNECT_PATIENCE_S = 10.0  # how long a second start waits for a first one that is still starting


def server_name(paths: AppPaths) -> str:
    """A local socket name unique to this user and base directory (short: Unix socket paths are limited)."""
    import getpass
    import hashlib

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    key = hashlib.sha256(f"{user}\0{paths.data.resolve()}".encode()).hexdigest()[:16]
    return f"hermes-studio-{key}"


class SingleInstance(QObject):
    """Call ``claim(message)``: True means this process is the first (it holds the lock; call ``listen`` once its
    window is painted); False, it handed over.

    Signals:
        message_received(str): a later start asked this instance to come forward and, when the string is
            not empty, to open that file (a ``.gguf`` model or a character card).
    """

    message_received = Signal(str)

    def __init__(self, paths: AppPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths = paths
        self._name = ""
        paths.data.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(paths.data / LOCK_NAME))
        self._lock.setStaleLockTime(0)  # stale only when its process is gone, however old
        self._server: QLocalServer | None = None

    def claim(self, message: str = "") -> bool:
        deadline = time.monotonic() + CONNECT_PATIENCE_S
        while True:
            if self._lock.tryLock(0):
                return True
            if self._hand_over(message):
                return False
            if time.monotonic() > deadline:
                log.warning("another Hermes Studio holds %s but does not answer; starting anyway", self.lock_file)
                return True
            time.sleep(0.1)

    @property
    def lock_file(self) -> str:
        return self._lock.fileName()

    @property
    def name(self) -> str:
        """The local server's name (worked out when first needed: it costs hashlib)."""
        if not self._name:
            self._name = server_name(self._paths)
        return self._name

    @property
    def listening(self) -> bool:
        return self._server is not None

    def listen(self) -> None:
        """Take later starts' requests (``message_received``); call it once this first instance's window is painted:
        until then a later start waits for it, as for any first start still starting."""
        from PySide6.QtNetwork import QLocalServer

        if self._server is not None or not self._lock.isLocked():
            return
        QLocalServer.removeServer(self.name)  # a crashed instance's socket (we hold the lock: it is dead)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("single instance: cannot listen on %s: %s", self.name, server.errorString())
            return
        server.newConnection.connect(self._accept)
        self._server = server
        log.info("single instance: listening on %s", self.name)

    def _accept(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.setParent(self)
            # A bound slot, not a lambda holding ``self``: a socket deleted later must not hold the last reference to
            # its parent (freeing it while the socket is being deleted deleted the socket twice: a crash).
            socket.readyRead.connect(self._ready_read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    @Slot()
    def _ready_read(self) -> None:
        from PySide6.QtNetwork import QLocalSocket

        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        raw = bytes(socket.readLine().data()).decode("utf-8", "replace")
        try:
            path = str(json.loads(raw).get("open") or "")
        except (ValueError, AttributeError):
            log.info("single instance: ignoring a malformed message %r", raw[:200])
            socket.disconnectFromServer()
            return
        socket.write(b"ok\n")
        socket.flush()
        log.info("single instance: another start asked to open %r", path)
        self.message_received.emit(path)

    def _hand_over(self, message: str) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(1000):
            return False
        payload = json.dumps({"open": message}).encode() + b"\n"
        socket.write(payload)
        answered = socket.waitForBytesWritten(2000) and socket.waitForReadyRead(5000)
        reply = bytes(socket.readAll().data()) if answered else b""
        socket.disconnectFromServer()
        if reply.startswith(b"ok"):
            log.info("single instance: handed %r over to the running Hermes Studio", message)
            return True
        return False

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._lock.unlock()


def resolve_message(model: str | None) -> str:
    """The argument handed over: an absolute path (the first instance may have another working folder)."""
    return str(Path(model).resolve()) if model else ""
