"""The window's pages: each registered once by name with a factory, built the first time it is shown.

The page rail (the toolbar on the left) and the menu bar's View menu hold the very actions this router makes
(one QAction a page, Ctrl+1…Ctrl+9 in the order pages were registered); both go through ``show``. A page is a
plain QWidget: nothing of it (not even its module) is imported before it is first shown, so the window's start
costs the same however many pages there are.

Adding a page is one line where the window registers its pages (``app/ui/shell/window_pages.py``)::

    add(Page.KNOWLEDGE, "&Knowledge", "library", lambda: knowledge_page(window))

where the factory returns the page (import its module inside the factory) and ``Page`` gets the new name
(``KNOWLEDGE = "knowledge"``). A page with a ``shutdown()`` has it called when the window closes.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QStackedWidget, QToolBar, QWidget

from app.ui.theme import icon

__all__ = ["Page", "PageRouter"]


class Page(StrEnum):
    """The window's pages, by the names the router, the rail's actions (``action.data()``) and tests use."""

    CHAT = "chat"
    DISCOVER = "discover"
    MODELS = "models"
    DOWNLOADS = "downloads"
    SERVER = "server"
    LOREBOOKS = "lorebooks"
    KNOWLEDGE = "knowledge"


class PageRouter(QObject):
    """Owns the page stack's pages (built on first show) and the page actions (the rail's and the View menu's)."""

    page_built = Signal(str, object)  # a page's name and the page, once built (before it is first shown)
    page_shown = Signal(str)  # the page now in front

    def __init__(self, stack: QStackedWidget, rail: QToolBar, parent: QObject) -> None:
        super().__init__(parent)
        self.stack = stack
        self.rail = rail
        self.actions = QActionGroup(self)  # exclusive: the page in front is checked
        self._factories: dict[str, Callable[[], QWidget]] = {}
        self._pages: dict[str, QWidget] = {}
        self._closed = False  # the window is closing: no page is built any more

    def add(self, name: Page | str, text: str, icon_name: str, build: Callable[[], QWidget]) -> QAction:
        """Register a page: ``text`` is its rail and View-menu label (``&`` marks the menu's mnemonic), ``build``
        makes it on first show. The first page registered is the one in front (built at once)."""
        if name in self._factories:
            raise ValueError(f"a page named {name!r} is registered already")
        number = len(self._factories) + 1
        action = QAction(icon(icon_name), text, self.parent(), checkable=True)
        if number <= 9:
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
        action.setData(str(name))
        action.triggered.connect(lambda _checked=False, target=str(name): self.show(target))
        self.actions.addAction(action)
        self.rail.addAction(action)
        self._factories[str(name)] = build
        if number == 1:  # in front from the start, so built now (the chat column: the window's own)
            self.stack.setCurrentWidget(self.page(name))
            action.setChecked(True)
        return action

    def action(self, name: Page | str) -> QAction:
        return next(action for action in self.actions.actions() if action.data() == str(name))

    def show(self, name: Page | str) -> QWidget:
        """Bring the page to the front (building it first if it was never shown) and check its action."""
        page = self.page(name)
        self.stack.setCurrentWidget(page)
        for action in self.actions.actions():
            action.setChecked(action.data() == str(name))
        self.page_shown.emit(str(name))
        return page

    def page(self, name: Page | str) -> QWidget:
        """The page, built now if it was not yet (without showing it)."""
        key = str(name)
        if key not in self._pages:
            if key not in self._factories:
                raise KeyError(f"no page named {key!r}")
            if self._closed:
                raise RuntimeError("the window is closing: no page is built any more")
            from app.ui.widgets import name_for_accessibility

            self._pages[key] = page = self._factories[key]()
            if self.stack.indexOf(page) < 0:  # (a page already in the stack is the window's own, named with it)
                name_for_accessibility(page)
                self.stack.addWidget(page)
            self.page_built.emit(key, page)
        return self._pages[key]

    def built(self, name: Page | str) -> QWidget | None:
        """The page if it was built, else None (nothing is built to answer)."""
        return self._pages.get(str(name))

    @property
    def names(self) -> list[str]:
        return list(self._factories)

    @property
    def current(self) -> str:
        widget = self.stack.currentWidget()
        return next((name for name, page in self._pages.items() if page is widget), "")

    def close(self) -> None:
        """The window is closing: pages not built stay unbuilt; each built page with a ``shutdown()`` has it called,
        in the order the pages were registered."""
        self._closed = True
        for name in self._factories:
            shutdown = getattr(self._pages.get(name), "shutdown", None)
            if callable(shutdown):
                shutdown()
