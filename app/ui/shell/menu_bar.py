"""The window's menu bar: File, Edit, View, Model, Chat, Help, carrying every action of the window with its shortcut.

The menus hold the very actions the toolbar, the page rail, the persona panel and the chat view use (one
QAction per command, so a shortcut is never bound twice). Where the platform has a convention, it is used
(Ctrl+O, Ctrl+N, Ctrl+, for settings, Ctrl+Q; on macOS Qt moves Settings, About and Quit to the app menu).
Each menu has a mnemonic (Alt+F, Alt+E, Alt+V, Alt+M, Alt+C, Alt+H), so every action is also reachable
from the keyboard by its menu path. Help → Keyboard shortcuts lists them all, read from the menus.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QSplitter, QWidget

from app.core.settings import THEMES
from app.ui.shell.pages import Page

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


def _keys(text: str | QKeySequence.StandardKey) -> QKeySequence:
    return QKeySequence(text)


class WindowMenus(QObject):
    """Builds the menu bar of ``window`` and owns the actions that exist only there."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.bar: QMenuBar = window.menuBar()
        self.actions: dict[str, QAction] = {}  # the actions made here, by a stable name (tests, the shortcut list)
        self.menus: dict[str, QMenu] = {}
        self._build_file()
        self._build_edit()
        self._build_view()
        self._build_model()
        self._build_chat()
        self._build_help()
        for menu in self.menus.values():
            menu.aboutToShow.connect(self.update_enabled)
            menu.aboutToHide.connect(self._enable_all)

    # building
    def _action(self, name: str, text: str, keys: str | QKeySequence.StandardKey | None, slot: Callable[[], object],
                *, tip: str = "") -> QAction:  # fmt: skip
        action = QAction(text, self.window)
        if keys is not None:
            action.setShortcut(_keys(keys))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.window.addAction(action)  # its shortcut works while the menu is closed, on every page
        self.actions[name] = action
        return action

    def _menu(self, name: str, title: str) -> QMenu:
        menu = self.bar.addMenu(title)
        menu.setObjectName(f"menu_{name}")
        self.menus[name] = menu
        return menu

    def _shared(self, action: QAction, text: str, keys: str | QKeySequence.StandardKey | None = None) -> QAction:
        """An action that lives elsewhere too (the toolbar, a panel): its text gets a mnemonic, and a shortcut."""
        action.setText(text)
        if keys is not None:
            action.setShortcut(_keys(keys))
            self.window.addAction(action)
            shown = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            tip = action.toolTip().replace("&", "")
            if shown and shown not in tip:
                action.setToolTip(f"{tip} ({shown})")
        return action

    def _build_file(self) -> None:
        w, bar = self.window, self.window.model_bar
        menu = self._menu("file", "&File")
        menu.addAction(self._shared(w.new_chat_action, "&New chat", QKeySequence.StandardKey.New))
        menu.addAction(self._shared(w.group.new_action, "New &group chat…", "Ctrl+Shift+M"))
        menu.addAction(self._shared(bar.open_action, "&Open GGUF…", QKeySequence.StandardKey.Open))
        menu.addSeparator()
        menu.addAction(self._action("import_chat", "Import c&hat (JSON)…", "Ctrl+Shift+O", w.history.import_chat))
        menu.addAction(self._action("export_chat", "&Export chat…", "Ctrl+Shift+S", self.export_chat))
        menu.addAction(self._shared(w.persona.import_action, "&Import preset or character card…", "Ctrl+Shift+I"))
        menu.addSeparator()
        w.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        menu.addAction(self._shared(w.settings_action, "&Settings…", "Ctrl+,"))
        menu.addSeparator()
        quit_action = self._action("quit", "&Quit", QKeySequence.StandardKey.Quit, w.close)
        if quit_action.shortcut().isEmpty():  # Windows has no standard Quit key
            quit_action.setShortcut(_keys("Ctrl+Q"))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        menu.addAction(quit_action)

    def _build_edit(self) -> None:
        w = self.window
        menu = self._menu("edit", "&Edit")
        menu.addAction(w.chat_view.key_actions["copy"])
        menu.addAction(self._action("copy_reply", "Copy the last &reply", "Ctrl+Shift+C", self.copy_last_reply))
        menu.addAction(self._action("edit_message", "&Edit message", "F2", self.edit_message,
                                    tip="Edit a message of yours; Enter sends it as a new version"))  # fmt: skip
        menu.addSeparator()
        menu.addAction(self._action("search_chats", "&Find in chats…", "Ctrl+F", self.search_chats))
        menu.addAction(self._action("rename_chat", "Re&name chat…", "Ctrl+Shift+R", self.rename_chat))
        menu.addAction(self._action("delete_chat", "&Delete chat", "Ctrl+Shift+Delete", self.delete_chat))
        menu.addAction(self._action("undo_delete", "&Undo delete chat", "Ctrl+Shift+Z", w.history.undo_delete))

    def _build_view(self) -> None:
        w = self.window
        menu = self._menu("view", "&View")
        menu.addActions(w.router.actions.actions())  # the pages, as the rail has them (app.ui.shell.pages)
        menu.addSeparator()
        menu.addAction(self._action("focus_input", "Go to the message &box", "Ctrl+M", self.focus_input))
        menu.addAction(self._action("show_chats", "Show the c&hats list", "Ctrl+Shift+H",
                                    lambda: self.show_panel(0, w.sidebar.view)))  # fmt: skip
        menu.addAction(self._action("show_persona", "Show the &persona", "Ctrl+Shift+P",
                                    lambda: self.show_side_tab(0)))  # fmt: skip
        menu.addAction(self._action("show_preview", "Show the prompt pre&view", "Ctrl+Shift+V",
                                    lambda: self.show_side_tab(1)))  # fmt: skip
        menu.addSeparator()
        menu.addAction(w.chat_view.key_actions["images"])
        menu.addAction(w.chat_view.key_actions["scroll_left"])
        menu.addAction(w.chat_view.key_actions["scroll_right"])
        menu.addSeparator()
        themes = menu.addMenu("&Theme")
        self.menus["theme"] = themes
        self.theme_group = QActionGroup(self)
        for name in THEMES:
            action = self._action(f"theme_{name}", f"&{name.capitalize()}", None, partial(self.set_theme, name))
            action.setCheckable(True)
            self.theme_group.addAction(action)
            themes.addAction(action)
        themes.addSeparator()
        themes.addAction(self._action("switch_theme", "S&witch light and dark", "Ctrl+Shift+T", self.switch_theme))

    def _build_model(self) -> None:
        w, bar = self.window, self.window.model_bar
        menu = self._menu("model", "&Model")
        menu.addAction(self._action("choose_model", "&Choose a model…", "Ctrl+L", self.choose_model))
        menu.addAction(bar.open_action)
        menu.addAction(self._shared(bar.options_action, "Load o&ptions…", "Ctrl+Shift+L"))
        menu.addAction(self._shared(bar.eject_action, "E&ject", "Ctrl+E"))
        menu.addAction(self._action("cancel_load", "C&ancel loading", "Ctrl+Shift+X", w.client.cancel_load))
        menu.addSeparator()
        menu.addAction(self._shared(bar.engines_action, "E&ngines…", "Ctrl+Shift+E"))

    def _build_chat(self) -> None:
        w = self.window
        menu = self._menu("chat", "&Chat")
        menu.addAction(self._action("send", "&Send", "Ctrl+Return", w.chat.send,
                                    tip="Send the message (Enter in the message box)"))  # fmt: skip
        menu.addAction(self._action("stop", "S&top", "Esc", w.chat.stop))
        menu.addAction(self._action("attach", "Attach &images…", "Ctrl+Shift+A", self.attach_images,
                                    tip="Attach images to the next message (a vision model reads them)"))  # fmt: skip
        for name in ("regenerate", "continue"):
            menu.addAction(w.chat_view.key_actions[name])
        menu.addSeparator()
        for name in ("previous", "next"):
            menu.addAction(w.chat_view.key_actions[name])
        menu.addSeparator()
        think = self._action("think", "T&hink before answering", "Ctrl+T", self.toggle_think)
        think.setCheckable(True)
        menu.addAction(think)
        menu.addSeparator()
        persona = menu.addMenu("Pers&ona")
        self.menus["persona"] = persona
        panel = w.persona
        persona.addAction(self._action("pick_preset", "&Pick a preset…", "Ctrl+Shift+K", self.choose_preset))
        persona.addAction(self._shared(panel.new_action, "&New preset…", "Ctrl+Shift+N"))
        persona.addAction(self._shared(panel.edit_action, "&Edit preset…", "Ctrl+Shift+D"))
        persona.addAction(self._shared(panel.duplicate_action, "&Duplicate preset", "Ctrl+Shift+U"))
        persona.addAction(self._shared(panel.delete_action, "De&lete preset…", "Ctrl+Shift+Backspace"))
        persona.addSeparator()
        persona.addAction(panel.import_action)
        persona.addAction(self._shared(panel.export_json_action, "Export as &JSON…", "Ctrl+Shift+J"))
        persona.addAction(self._shared(panel.export_card_action, "Export as character &card (PNG)…", "Ctrl+Shift+G"))
        menu.addAction(w.new_chat_action)

    def _build_help(self) -> None:
        menu = self._menu("help", "&Help")
        shortcuts = self._action("shortcuts", "&Keyboard shortcuts", QKeySequence.StandardKey.HelpContents,
                                 self.show_shortcuts)  # fmt: skip
        if shortcuts.shortcut().isEmpty():
            shortcuts.setShortcut(_keys("F1"))
        menu.addAction(shortcuts)
        about = self._action("about", "&About Hermes Studio", "Shift+F1", self.window.open_settings)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        menu.addAction(about)

    # what an open menu shows as possible now; closed, every action stays enabled, so that its shortcut
    # always answers (and says why when it cannot run now)
    def update_enabled(self) -> None:
        w = self.window
        chat_open = w.session.chat_id is not None
        for name in ("export_chat", "rename_chat", "delete_chat"):
            self.actions[name].setEnabled(chat_open)
        self.actions["undo_delete"].setEnabled(w.history.undo_chat is not None)
        self.actions["cancel_load"].setEnabled(bool(w.model_bar.loading_path))
        self.actions["stop"].setEnabled(w.chat.generating)
        self.actions["send"].setEnabled(not w.chat.generating and w.client.loaded is not None)
        self.actions["attach"].setEnabled(w.attachments.button.isEnabled())  # documents, or images for a vision model
        think = self.actions["think"]
        think.setEnabled(w.think.isVisible())
        think.setChecked(w.think.isChecked() and w.think.isVisible())
        theme = w.settings.theme
        for name in THEMES:
            self.actions[f"theme_{name}"].setChecked(name == theme)

    def _enable_all(self) -> None:
        for action in self.actions.values():
            action.setEnabled(True)

    # the actions that exist only here
    def toggle_think(self) -> None:
        think = self.window.think
        if not think.isVisible():
            self._say("This model's template cannot switch thinking on or off.")
            return
        think.toggle()
        self._say("Thinking on" if think.isChecked() else "Thinking off")

    def attach_images(self) -> None:
        if not self.window.attachments.button.isEnabled():  # nothing to attach now: why, not a file dialog
            self._say(self.window.attachments.unavailable)
            return
        self.window.attachments.choose()

    def set_theme(self, name: str) -> None:
        self.window.settings_store.update(theme=name)

    def switch_theme(self) -> None:
        from app.ui.theme import is_dark

        self.window.settings_store.update(theme="light" if is_dark() else "dark")

    def export_chat(self) -> None:
        chat_id = self.window.session.chat_id
        if chat_id is None:
            self._say("Open or start a chat first: there is nothing to export.")
            return
        self.window.history.export_chat(chat_id)

    def copy_last_reply(self) -> None:
        view = self.window.chat_view
        for row in range(view.model().rowCount() - 1, -1, -1):
            item = view.item(row)
            if item.role == "assistant" and item.text:
                view.copy_row(row)
                return
        self._say("There is no reply to copy yet.")

    def edit_message(self) -> None:
        if not self.window.chat_view.trigger("edit", self.window.chat_view.row_for("edit")):
            self._say("There is no message of yours to edit now.")

    def search_chats(self) -> None:
        self.show_panel(0, self.window.sidebar.search)
        self.window.sidebar.search.selectAll()

    def rename_chat(self) -> None:
        chat_id = self.window.session.chat_id
        if chat_id is None:
            self._say("Open or start a chat first: there is nothing to rename.")
            return
        self.window.sidebar.rename(chat_id)

    def delete_chat(self) -> None:
        chat_id = self.window.session.chat_id
        if chat_id is None:
            self._say("Open a chat first: there is nothing to delete.")
            return
        self.window.history.delete_chat(chat_id)

    def focus_input(self) -> None:
        self.window.router.show(Page.CHAT)
        self.window.input.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_panel(self, index: int, focus: QWidget) -> None:
        """The chat page with a side column opened again if it was dragged shut, and the focus in it."""
        w = self.window
        w.router.show(Page.CHAT)
        splitter = cast(QSplitter, w.stack.widget(0))
        sizes = splitter.sizes()
        if sizes[index] == 0:
            sizes[index] = 260
            sizes[1] = max(sizes[1] - 260, 420)
            splitter.setSizes(sizes)
        focus.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_side_tab(self, tab: int) -> None:
        w = self.window
        w.side_tabs.setCurrentIndex(tab)
        self.show_panel(2, w.side_tabs.currentWidget())
        w.side_tabs.tabBar().setFocus(Qt.FocusReason.ShortcutFocusReason)

    def choose_model(self) -> None:
        picker = self.window.model_picker
        picker.setFocus(Qt.FocusReason.ShortcutFocusReason)
        picker.showPopup()

    def choose_preset(self) -> None:
        self.show_side_tab(0)
        picker = self.window.persona.picker
        picker.setFocus(Qt.FocusReason.ShortcutFocusReason)
        picker.showPopup()

    def show_shortcuts(self) -> None:
        from app.ui.shell.keyboard import ShortcutsDialog

        ShortcutsDialog(self.bar, self.window).exec()

    def _say(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 5000)
