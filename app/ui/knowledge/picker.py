"""Which knowledge collections a chat answers from: a button with a menu of the collections, each checkable.

The names come from the knowledge database (``set_names``: the window lists them off the GUI thread and again
whenever the Knowledge page changes them); a collection the chat (or its persona) names that is not there any more
stays listed, marked missing, until it is unchecked. "Manage collections…" opens the Knowledge page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QToolButton, QWidget


class CollectionPicker(QToolButton):
    changed = Signal()  # the user checked or unchecked a collection
    manage_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setAccessibleName("Knowledge collections of this chat")
        self.setToolTip("The chat answers from these collections, citing their passages")
        self.names: list[str] = []
        self.chosen: tuple[str, ...] = ()
        # the menu's entries are choices (like a combo box's items), not commands: the menu is kept here, not made a
        # child of the panel, so the menu bar's check of every command (View → Knowledge opens the page) skips them
        self._menu = QMenu()
        self.setMenu(self._menu)
        self._menu.aboutToShow.connect(self._rebuild)
        self._rebuild()

    def set_names(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self._rebuild()

    def set_chosen(self, names: Sequence[str]) -> None:
        """Shown without telling ``changed`` (a chat or a persona loaded)."""
        self.chosen = tuple(dict.fromkeys(names))
        self._rebuild()

    def set_collection(self, name: str, on: bool) -> None:
        chosen = [n for n in self.chosen if n != name] + ([name] if on else [])
        self.chosen = tuple(chosen)
        self._show_text()  # the menu is built again when it next opens (not under the action that was toggled)
        self.changed.emit()

    @property
    def missing(self) -> list[str]:
        return [name for name in self.chosen if name not in self.names]

    def _rebuild(self) -> None:
        menu = self.menu()
        menu.clear()
        for name in [*self.names, *self.missing]:
            label = name if name in self.names else f"{name} (missing)"
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(name in self.chosen)
            action.toggled.connect(lambda on, target=name: self.set_collection(target, on))
        if not self.names:
            menu.addAction("No collections yet").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Manage collections…").triggered.connect(self.manage_requested)
        self._show_text()

    def _show_text(self) -> None:
        if not self.chosen:
            self.setText("None")
        elif len(self.chosen) == 1:
            self.setText(self.chosen[0] + (" (missing)" if self.missing else ""))
        else:
            self.setText(f"{len(self.chosen)} collections")
