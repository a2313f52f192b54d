"""The window's MCP servers: ``mcp.json`` and ``tools.json`` read and written, one ``McpHub`` of the servers on.

Servers switched off are not in the hub, so they never start. Starting the servers on (to list their tools)
runs on a thread of its own; ``changed`` says when states or tools moved. Everything here is safe to call from
the GUI thread except ``specs``, which may start servers and is called from a tool turn's worker thread.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.core.atomic import atomic_write_text
from app.core.bounded_json import loads
from app.core.errors import HermesError
from app.core.tools.mcp_config import MAX_CONFIG_BYTES, McpConfigError, McpServerConfig, load_config, parse_config
from app.core.tools.tool_prefs import ToolPrefs, load_prefs, save_prefs

if TYPE_CHECKING:  # the MCP client (asyncio, the mcp SDK) loads when a server is first switched on
    from app.core.tools.mcp_client import McpHub, McpTool, ToolResult
    from app.core.tools.specs import ToolSpec

EMPTY_CONFIG = '{\n  "mcpServers": {}\n}\n'


class ToolsService(QObject):
    changed = Signal()  # servers' states or tools changed (may be emitted from a worker thread: queued to the GUI)

    def __init__(self, config_file: Path, prefs_file: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config_file, self.prefs_file = config_file, prefs_file
        self.configs: list[McpServerConfig] = []
        self.config_error = ""
        self.prefs = ToolPrefs()
        self.save_error = ""
        self._hub: McpHub | None = None
        self._lock = threading.Lock()
        self.reload()

    # reading and writing the files
    def reload(self) -> None:
        """Read both files again; the servers running now are stopped (they start again when needed)."""
        self.prefs = load_prefs(self.prefs_file)
        try:
            self.configs = load_config(self.config_file) if self.config_file.exists() else []
            self.config_error = ""
        except McpConfigError as exc:
            self.configs, self.config_error = [], str(exc)
        self._new_hub()
        self.changed.emit()

    def config_text(self) -> str:
        try:
            return self.config_file.read_text(encoding="utf-8")
        except OSError:
            return EMPTY_CONFIG

    def write_config(self, text: str) -> None:
        """Check ``text`` as an ``mcp.json`` and save it (a ``HermesError`` says what is wrong; nothing is written)."""
        try:
            parse_config(loads(text, max_bytes=MAX_CONFIG_BYTES, what="mcp.json"))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise McpConfigError(f"mcp.json is not valid JSON: {exc.msg} at {where}.") from None
        except ValueError as exc:
            raise McpConfigError(f"mcp.json: {exc}") from None
        try:
            self.config_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.config_file, text)
        except OSError as exc:
            raise HermesError(f"{self.config_file} could not be written ({exc.strerror or exc}).") from None
        self.reload()

    def set_server(self, name: str, on: bool) -> None:
        self.prefs.set_server(name, on)
        self._save()
        self._new_hub()  # a server switched off stops; one switched on starts when needed
        self.changed.emit()

    def set_tool(self, qualified: str, on: bool) -> None:
        self.prefs.set_tool(qualified, on)
        self._save()
        self.changed.emit()

    def allow_always(self, qualified: str) -> None:
        self.prefs.always_allowed.add(qualified)
        self._save()

    # the servers
    @property
    def active(self) -> bool:
        """Whether any server is on (a chat turn then offers tools)."""
        return any(self.prefs.server_on(config.name) for config in self.configs)

    def state(self, name: str) -> str:
        if not self.prefs.server_on(name):
            return "off"
        hub = self._hub
        return hub.state(name) if hub is not None else "not started"

    def tools_of(self, name: str) -> list[McpTool]:
        hub = self._hub
        return hub.tools_of(name) if hub is not None else []

    def start(self) -> None:
        """Start the servers that are on (to list their tools), off the GUI thread; ``changed`` when done."""
        hub = self._hub
        if hub is not None:
            threading.Thread(target=self._start, args=(hub,), name="mcp-start", daemon=True).start()

    def specs(self) -> list[ToolSpec]:
        """The tools offered to the model (servers on, tools on); starts servers. Not on the GUI thread."""
        hub = self._hub
        if hub is None:
            return []
        tools = hub.tools()
        self.changed.emit()
        return [tool.spec for tool in tools if self.prefs.tool_on(tool.spec.name)]

    def call(self, qualified: str, arguments: dict[str, object]) -> ToolResult:
        hub = self._hub
        if hub is None:
            raise HermesError("The MCP servers have been stopped.")
        return hub.call(qualified, arguments)

    def close(self) -> None:
        """Stop every server (their processes end)."""
        with self._lock:
            hub, self._hub = self._hub, None
        if hub is not None:
            hub.close()

    def _start(self, hub: McpHub) -> None:
        hub.tools()
        self.changed.emit()

    def _new_hub(self) -> None:
        on = [config for config in self.configs if self.prefs.server_on(config.name)]
        hub: McpHub | None = None
        if on:
            from app.core.tools.mcp_client import McpHub

            hub = McpHub(on)
        with self._lock:
            old, self._hub = self._hub, hub
        if old is not None:
            old.close()

    def _save(self) -> None:
        try:
            save_prefs(self.prefs_file, self.prefs)
            self.save_error = ""
        except OSError as exc:
            self.save_error = f"{self.prefs_file.name} could not be saved ({exc.strerror or exc})."
