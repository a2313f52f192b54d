"""The window's tools in one place: the MCP servers, the turns with tools, the approval card in the chat, and the chat
bar's Tools menu (its choice is the next turn's)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.core.paths import AppPaths
from app.core.tools.specs import ChoiceMode, ToolChoice
from app.ui.chat.conversation import Conversation
from app.ui.tools.approval_card import ApprovalCard
from app.ui.tools.mcp_section import McpSection
from app.ui.tools.tool_menu import ToolMenu
from app.ui.tools.tool_turn import ToolTurns
from app.ui.tools.tools_service import ToolsService


class WindowTools(QObject):
    def __init__(self, paths: AppPaths, conversation: Conversation, chat_column: QWidget, parent: QObject) -> None:
        super().__init__(parent)
        self.service = ToolsService(paths.mcp_file, paths.tool_prefs_file, self)
        self.turns = ToolTurns(conversation.client.service, self.service, self)
        conversation.tools = self.turns
        self.card = ApprovalCard(chat_column)
        column = chat_column.layout()
        if isinstance(column, QVBoxLayout):
            column.insertWidget(column.count() - 1, self.card)  # above the input row
        self.turns.approval_needed.connect(self.card.ask)
        self.turns.approval_closed.connect(self.card.hide)
        self.card.decided.connect(self.turns.answer)
        self.menu = ToolMenu(self.service, chat_column)
        buttons = getattr(chat_column, "buttons", None)
        if isinstance(buttons, QVBoxLayout):
            buttons.insertWidget(1, self.menu.button)  # above Think and Send
        self.menu.choice_changed.connect(lambda choice: setattr(self.turns, "choice", choice))
        self.turns.choice_spent.connect(lambda: self.menu.set_choice(ToolChoice(ChoiceMode.AUTO)))

    def section(self) -> McpSection:
        return McpSection(self.service)

    def shutdown(self) -> None:
        self.turns.stop()
        self.turns.wait(10)
        self.service.close()
