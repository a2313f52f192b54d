"""The window's tools in one place: the MCP servers, the turns with tools, and the approval card in the chat.

Only the servers' files are read at start; the tool turns and the approval card (and the modules they need) are
built when a server is first switched on (a chat without servers on never needs them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMainWindow, QVBoxLayout, QWidget

from app.core.paths import AppPaths
from app.ui.tools.tools_service import ToolsService

if TYPE_CHECKING:
    from app.ui.chat.conversation import Conversation
    from app.ui.tools.approval_card import ApprovalCard
    from app.ui.tools.mcp_section import McpSection
    from app.ui.tools.tool_turn import ToolTurns


class WindowTools(QObject):
    def __init__(self, paths: AppPaths, conversation: Conversation, chat_column: QWidget, parent: QObject) -> None:
        super().__init__(parent)
        self.conversation = conversation
        self.chat_column = chat_column
        self.service = ToolsService(paths.mcp_file, paths.tool_prefs_file, self)
        self._turns: ToolTurns | None = None
        self._card: ApprovalCard | None = None
        self.service.changed.connect(self._follow_servers)
        self._follow_servers()

    @Slot()
    def _follow_servers(self) -> None:
        if self.service.active and self._turns is None:
            self._build()

    @property
    def turns(self) -> ToolTurns:
        if self._turns is None:
            self._build()
        assert self._turns is not None
        return self._turns

    @property
    def card(self) -> ApprovalCard:
        if self._card is None:
            self._build()
        assert self._card is not None
        return self._card

    def _build(self) -> None:
        from app.ui.tools.approval_card import ApprovalCard
        from app.ui.tools.tool_turn import ToolTurns

        self._turns = turns = ToolTurns(self.conversation.client.service, self.service, self)
        self.conversation.tools = turns
        self._card = card = ApprovalCard(self.chat_column)
        column = self.chat_column.layout()
        if isinstance(column, QVBoxLayout):
            column.insertWidget(column.count() - 1, card)  # above the input row
        turns.approval_needed.connect(card.ask)
        turns.approval_closed.connect(card.hide)
        card.decided.connect(turns.answer)
        parent = self.parent()
        if isinstance(parent, QMainWindow):  # the status bar says what the reply waits for
            status = parent.statusBar()
            turns.approval_needed.connect(
                lambda call, _server: status.showMessage(f"Waiting for you: allow {call.name} to run, or deny it")
            )
            turns.approval_closed.connect(status.clearMessage)

    def section(self) -> McpSection:
        from app.ui.tools.mcp_section import McpSection

        return McpSection(self.service)

    def shutdown(self) -> None:
        if self._turns is not None:
            self._turns.stop()
            self._turns.wait(10)
        self.service.close()
