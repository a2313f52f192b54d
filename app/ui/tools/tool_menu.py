"""The chat bar's Tools menu: the tools the model is offered, by server, and what it may do with them next turn.

A button beside Think, shown while an MCP server is on. Its menu lists each server that is on (its state) and its
tools, each one checkable (the same switch as Settings → MCP); then the tool choice for the next reply: Auto (the
model decides), Required (it must call one), None (it answers without tools) or one named tool (called at once,
its arguments constrained by the tool's schema). The button says the choice when it is not Auto; once a reply has
used it, it is Auto again (a forced call on every turn would never let the model answer in its own way).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from app.core.tools.specs import ChoiceMode, ToolChoice
from app.ui.tools.tools_service import ToolsService

CHOICES = (
    (ChoiceMode.AUTO, "Auto: the model decides"),
    (ChoiceMode.REQUIRED, "Required: call a tool first"),
    (ChoiceMode.NONE, "None: answer without tools"),
)


class ToolMenu(QObject):
    """The button and its menu; ``choice`` is what the next turn asks of the model."""

    choice_changed = Signal(object)  # ToolChoice

    def __init__(self, tools: ToolsService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools = tools
        self.choice = ToolChoice(ChoiceMode.AUTO)
        self.button = QToolButton(parent)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setToolTip("The tools the model may call, and whether it must (MCP servers: Settings → MCP)")
        self.button.setAccessibleName("Tools for the next reply")
        self.menu = QMenu(self.button)
        self.button.setMenu(self.menu)
        self.menu.aboutToShow.connect(self.rebuild)
        tools.changed.connect(self.refresh)
        self.refresh()
        self.rebuild()

    def refresh(self) -> None:
        """Shown while a server is on; the label says a choice other than Auto."""
        self.button.setVisible(self.tools.active)
        choice = self.choice
        label = {ChoiceMode.AUTO: "Tools", ChoiceMode.REQUIRED: "Tools: required", ChoiceMode.NONE: "Tools: none"}
        tool = choice.name.partition("__")[2] or choice.name
        self.button.setText(label.get(choice.mode, f"Tools: {tool}"))

    def set_choice(self, choice: ToolChoice) -> None:
        self.choice = choice
        self.refresh()
        self.choice_changed.emit(choice)

    def rebuild(self) -> None:
        """The menu as things are now (servers start when a turn needs them, or from here)."""
        menu = self.menu
        menu.clear()
        named: list[str] = []
        for config in self.tools.configs:
            state = self.tools.state(config.name)
            if state == "off":
                continue
            menu.addSection(f"{config.name} · {state}")
            listed = self.tools.tools_of(config.name)
            if not listed:
                start = menu.addAction("List this server's tools (starts it)")
                start.triggered.connect(self.tools.start)
            for tool in listed:
                on = self.tools.prefs.tool_on(tool.spec.name)
                action = menu.addAction(tool.name)
                action.setCheckable(True)
                action.setChecked(on)
                action.setToolTip(tool.spec.description[:300])
                action.setObjectName(f"tool:{tool.spec.name}")
                action.toggled.connect(lambda checked, name=tool.spec.name: self.tools.set_tool(name, checked))
                if on:
                    named.append(tool.spec.name)
        menu.addSection("Next reply")
        group = QActionGroup(menu)
        for mode, text in CHOICES:
            self._choice_action(menu, group, ToolChoice(mode), text)
        calls = menu.addMenu("Call this tool")
        calls.setEnabled(bool(named))
        for name in named:
            self._choice_action(calls, group, ToolChoice(ChoiceMode.NAMED, name), name)

    def actions(self) -> list[QAction]:
        """Every action of the menu and its submenu (for tests and the keyboard)."""
        found: list[QAction] = []
        for action in self.menu.actions():
            found.append(action)
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                found += submenu.actions()
        return found

    def _choice_action(self, menu: QMenu, group: QActionGroup, choice: ToolChoice, text: str) -> None:
        action = menu.addAction(text)
        action.setCheckable(True)
        action.setChecked(choice == self.choice)
        action.setObjectName(f"choice:{choice.mode.value}:{choice.name}")
        group.addAction(action)
        action.triggered.connect(lambda _checked=False, chosen=choice: self.set_choice(chosen))
