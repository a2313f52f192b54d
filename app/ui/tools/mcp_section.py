"""Settings → MCP servers: each server of ``mcp.json`` with its state and tools, switched on and off.

A server's or a tool's check box is saved at once (``tools.json``); a server switched off is stopped and never
started. "Edit mcp.json…" edits the file in place: what is saved is checked first (a mistake is shown, nothing
is written). "Start servers" starts the servers that are on, to list their tools (off the GUI thread).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HermesError
from app.ui.theme import secondary_text
from app.ui.tools.tools_service import ToolsService

NAME_ROLE = Qt.ItemDataRole.UserRole


class McpSection(QGroupBox):
    def __init__(self, tools: ToolsService, parent: QWidget | None = None) -> None:
        super().__init__("MCP servers", parent)
        self.tools = tools
        self.where = QLabel(f"Servers come from {tools.config_file} (the mcp.json shape of LM Studio and Claude).")
        self.where.setWordWrap(True)
        secondary_text(self.where)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d9534f;")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Server / tool", "State"])
        self.tree.setAccessibleName("MCP servers and their tools")
        self.tree.setMinimumHeight(140)
        self.tree.setColumnWidth(0, 260)
        self.edit_button = QPushButton("Edit mcp.json…")
        self.start_button = QPushButton("Start servers")
        self.start_button.setToolTip("Start the servers that are on, to list their tools")
        self.edit_button.clicked.connect(self.edit_config)
        self.start_button.clicked.connect(tools.start)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.start_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.problem)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self.tree.itemChanged.connect(self._on_checked)
        # queued: a check box's own signal changes the settings, and the rows are rebuilt after it returns
        tools.changed.connect(self.refresh, Qt.ConnectionType.QueuedConnection)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        tools = self.tools
        problems = [p for p in (tools.config_error, tools.prefs.load_error, tools.save_error) if p]
        self.problem.setText("\n".join(problems))
        self.problem.setVisible(bool(problems))
        self.tree.blockSignals(True)
        self.tree.clear()
        for config in tools.configs:
            on = tools.prefs.server_on(config.name)
            where = " ".join((config.command, *config.args)) if config.command else config.url
            item = QTreeWidgetItem([config.name, tools.state(config.name)])
            item.setToolTip(0, where)
            item.setToolTip(1, tools.state(config.name))
            item.setData(0, NAME_ROLE, ("server", config.name))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            for tool in tools.tools_of(config.name) if on else []:
                child = QTreeWidgetItem([tool.name, "on" if tools.prefs.tool_on(tool.spec.name) else "off"])
                child.setToolTip(0, tool.spec.description)
                child.setData(0, NAME_ROLE, ("tool", tool.spec.name))
                child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                child.setCheckState(
                    0, Qt.CheckState.Checked if tools.prefs.tool_on(tool.spec.name) else Qt.CheckState.Unchecked
                )
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        if not tools.configs:
            empty = QTreeWidgetItem(["No servers yet: Edit mcp.json… to add one", ""])
            self.tree.addTopLevelItem(empty)
            empty.setFirstColumnSpanned(True)
        self.tree.blockSignals(False)

    def item(self, name: str) -> QTreeWidgetItem | None:
        """The row of a server or of a tool (``server__tool``)."""
        for index in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(index)
            if top is None:
                continue
            for row in (top, *(top.child(i) for i in range(top.childCount()))):
                data = row.data(0, NAME_ROLE) if row is not None else None
                if data and data[1] == name:
                    return row
        return None

    @Slot(QTreeWidgetItem, int)
    def _on_checked(self, item: QTreeWidgetItem, column: int) -> None:
        data = item.data(0, NAME_ROLE)
        if column != 0 or not data:
            return
        on = item.checkState(0) == Qt.CheckState.Checked
        kind, name = data
        if kind == "server":
            self.tools.set_server(name, on)
        else:
            self.tools.set_tool(name, on)

    @Slot()
    def edit_config(self) -> None:
        ConfigEditor(self.tools, self).exec()


class ConfigEditor(QDialog):
    """mcp.json as text; Save checks it and writes it, or says what is wrong and keeps the dialog open."""

    def __init__(self, tools: ToolsService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("mcp.json")
        self.tools = tools
        self.text = QPlainTextEdit(tools.config_text())
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setMinimumSize(560, 320)
        self.text.setAccessibleName("mcp.json")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d9534f;")
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    @Slot()
    def save(self) -> None:
        try:
            self.tools.write_config(self.text.toPlainText())
        except HermesError as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        self.accept()
