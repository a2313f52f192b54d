"""A server you can see: while the local server runs, the status bar and the page rail say so.

The status bar shows "● API server · http://127.0.0.1:1234/v1" (and how many requests are in flight); a click
opens the Server page. The rail's Server entry gets a dot. Both follow the Server page's ``running_changed``
and its request log, so they are right whoever started or stopped the server (the page, a test, quitting).
A ``serve`` started from a terminal on the same base directory announces itself (``core.server_beacon``); the
indicator reads those announcements every few seconds and shows "● serve · URL" too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRect, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QStatusBar, QToolButton

from app.ui.theme import color, icon

if TYPE_CHECKING:  # the server's modules (Starlette, uvicorn) stay off the window's start path
    from app.core.server_beacon import Beacon
    from app.server.routes import RequestRecord
    from app.ui.engines.server_page import ServerPage


def dot_icon(name: str, size: int = 36) -> QIcon:
    """A bundled icon with a small "running" disc at its top right."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    inner = int(size * 0.72)
    painter.drawPixmap(0, size - inner, icon(name).pixmap(inner, inner))
    disc = int(size * 0.36)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color("fit_full", background=False))
    painter.drawEllipse(QRect(size - disc - 1, 1, disc, disc))
    painter.end()
    return QIcon(pixmap)


class ServerIndicator(QObject):
    """The status bar's server button and the rail's dot, for one Server page (attached when it is built)."""

    POLL_MS = 3000  # how often a terminal's ``serve`` is looked for

    def __init__(
        self,
        status_bar: QStatusBar,
        rail_action: QAction | None,
        open_page: Callable[[], object],
        beacons: Path | None = None,
    ) -> None:
        super().__init__(status_bar)
        self.button = QToolButton()
        self.button.setAutoRaise(True)
        self.button.setAccessibleName("API server running")
        self.button.setToolTip("The local API server is running — open the Server page")
        self.button.clicked.connect(open_page)
        self.button.hide()
        status_bar.addPermanentWidget(self.button)
        self.rail_action = rail_action  # the rail's (and View menu's) Server entry
        self.page: ServerPage | None = None
        self.in_flight: set[int] = set()
        self.elsewhere: list[Beacon] = []  # ``serve`` processes on this base directory
        self.beacons = beacons
        self.timer = QTimer(self, interval=self.POLL_MS)  # (the first look, too: nothing of it on the start path)
        self.timer.timeout.connect(self.poll)
        if beacons is not None:
            self.timer.start()

    @Slot()
    def poll(self) -> None:
        """Look for ``serve`` processes (a folder listing; a loopback connect per announcement)."""
        if self.beacons is None:
            return
        from app.core import server_beacon

        own = self.page.runner.port if self.page is not None and self.page.runner is not None else None
        found = [b for b in server_beacon.running(self.beacons) if own is None or not b.url.endswith(f":{own}/v1")]
        if found != self.elsewhere:
            self.elsewhere = found
            self._show()

    def watch(self, page: ServerPage) -> None:
        self.page = page
        page.running_changed.connect(self._running)
        page.request_logged.connect(self._request)
        self._running(page.running)

    @property
    def shown(self) -> bool:
        return not self.button.isHidden()

    @property
    def page_running(self) -> bool:
        return self.page is not None and self.page.running

    @Slot(bool)
    def _running(self, _running: bool) -> None:
        self.in_flight.clear()
        self._show()

    def _show(self) -> None:
        running = self.page_running or bool(self.elsewhere)
        self.button.setVisible(running)
        if self.rail_action is not None:
            self.rail_action.setIcon(dot_icon("server") if running else icon("server"))
            self.rail_action.setToolTip("Server — running" if running else "Server")
            self.rail_action.setStatusTip(self.rail_action.toolTip())
        self._label()

    @Slot(object)
    def _request(self, record: RequestRecord) -> None:
        if record.phase == "started":  # routes.STARTED
            self.in_flight.add(record.request_id)
        else:
            self.in_flight.discard(record.request_id)
        self._label()

    def _label(self) -> None:
        parts = []
        if self.page_running and self.page is not None and self.page.runner is not None:
            count = len(self.in_flight)
            busy = f" · {count} request{'s' if count != 1 else ''}" if count else ""
            parts.append(f"API server · {self.page.runner.url}{busy}")
        parts += [f"serve · {beacon.url}" for beacon in self.elsewhere]
        self.button.setText("● " + "  ● ".join(parts) if parts else "")
