"""The window's tools in one place: the MCP servers, the turns with tools, the approval card in the chat, and the chat
bar's Tools menu (its choice is the next turn's).

Only the servers' files are read at start; the tool turns, the approval card and the Tools menu (shown only while a
server is on), and the modules they need, are built when a server is first switched on (a chat without servers on
never needs them), or when first asked for (``turns``, ``card``, ``menu``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.core.paths import AppPaths
from app.ui.tools.tools_service import ToolsService

if TYPE_CHECKING:
    from app.ui.chat.conversation import Conversation
    from app.ui.tools.approval_card import ApprovalCard
    from app.ui.tools.mcp_section import McpSection
    from app.ui.tools.tool_menu import ToolMenu
    from app.ui.tools.tool_turn import ToolTurns


class WindowTools(QObject):
    def __init__(self, paths: AppPaths, conversation: Conversation, chat_column: QWidget, parent: QObject) -> None:
        super().__init__(parent)
        self.conversation = conversation
        self.chat_column = chat_column
        self.service = ToolsService(paths.mcp_file, paths.tool_prefs_file, self)
        self._built: tuple[ToolTurns, ApprovalCard, ToolMenu] | None = None
        self.service.changed.connect(self._follow_servers)
        self._follow_servers()

    @Slot()
    def _follow_servers(self) -> None:
        if self.service.active and self._built is None:
            self._build()

    @property
    def turns(self) -> ToolTurns:
        return self._build()[0]

    @property
    def card(self) -> ApprovalCard:
        return self._build()[1]

    @property
    def menu(self) -> ToolMenu:
        return self._build()[2]

    def _build(self) -> tuple[ToolTurns, ApprovalCard, ToolMenu]:
        if self._built is not None:
            return self._built
        from app.core.tools.specs import ChoiceMode, ToolChoice
        from app.ui.tools.approval_card import ApprovalCard
        from app.ui.tools.tool_menu import ToolMenu
        from app.ui.tools.tool_turn import ToolTurns

        chat_column = self.chat_column
        turns = ToolTurns(self.conversation.client.service, self.service, self)
        self.conversation.tools = turns
        card = ApprovalCard(chat_column)
        column = chat_column.layout()
        if isinstance(column, QVBoxLayout):
            column.insertWidget(column.count() - 1, card)  # above the input row
        turns.approval_needed.connect(card.ask)
        turns.approval_closed.connect(card.hide)
        card.decided.connect(turns.answer)
        menu = ToolMenu(self.service, chat_column)
        buttons = getattr(chat_column, "buttons", None)
        if isinstance(buttons, QVBoxLayout):
            buttons.insertWidget(1, menu.button)  # above Think and Send
        menu.choice_changed.connect(lambda choice: setattr(turns, "choice", choice))
        turns.choice_spent.connect(lambda: menu.set_choice(ToolChoice(ChoiceMode.AUTO)))
        self._built = (turns, card, menu)
        return self._built

    def section(self) -> McpSection:
        from app.ui.tools.mcp_section import McpSection

        return McpSection(self.service)

    def shutdown(self) -> None:
        if self._built is not None:
            turns = self._built[0]
            turns.stop()
            turns.wait(10)
        self.service.close()
