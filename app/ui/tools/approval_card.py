"""The card that asks before a tool runs: the tool, its server, its arguments; allow once, always, or deny."""

from __future__ import annotations

import json

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.core.tools.mcp_config import SEPARATOR
from app.core.tools.specs import ToolCall
from app.ui.theme import SPACE_S, secondary_text
from app.ui.tools.tool_turn import ALWAYS, DENY, ONCE


class ApprovalCard(QFrame):
    """Hidden until a call waits for the user; ``decided`` carries ``once``, ``always`` or ``deny``."""

    decided = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("approvalCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("A tool asks to run")
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.server = QLabel()
        secondary_text(self.server)
        self.arguments = QPlainTextEdit(readOnly=True)
        self.arguments.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.arguments.setMaximumHeight(110)
        self.arguments.setAccessibleName("The tool's arguments")
        self.allow_once = QPushButton("Allow once")
        self.allow_always = QPushButton("Always allow this tool")
        self.deny = QPushButton("Deny")
        self.allow_once.setDefault(True)
        for button, decision in ((self.allow_once, ONCE), (self.allow_always, ALWAYS), (self.deny, DENY)):
            button.clicked.connect(lambda _checked=False, choice=decision: self._decide(choice))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.deny, self.allow_always, self.allow_once):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setSpacing(SPACE_S)
        layout.addWidget(self.title)
        layout.addWidget(self.server)
        layout.addWidget(self.arguments)
        layout.addLayout(buttons)
        self.hide()

    def ask(self, call: ToolCall, server: str) -> None:
        tool = call.name.partition(SEPARATOR)[2] or call.name
        self.title.setText(f"The model wants to run the tool <b>{tool}</b>. Allow it?")
        self.server.setText(f"MCP server: {server} · {call.name}")
        try:
            shown = json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
        except ValueError:
            shown = call.arguments
        self.arguments.setPlainText(shown)
        self.show()
        self.allow_once.setFocus()

    def _decide(self, decision: str) -> None:
        self.hide()
        self.decided.emit(decision)
