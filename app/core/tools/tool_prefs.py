"""What the user decided about MCP tools, kept apart from ``mcp.json`` (which stays in the shape other apps share).

``tools.json``: servers and single tools switched off, and tools allowed to run without asking ("always").
Tool names are the namespaced ``server__tool``. A file that cannot be read gives the defaults (everything on,
nothing allowed without asking) and ``load_error`` says why; nothing is lost until the user changes a setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.atomic import atomic_write_text
from app.core.bounded_json import load_file
from app.core.errors import HermesError

MAX_PREFS_BYTES = 1 << 20


@dataclass
class ToolPrefs:
    disabled_servers: set[str] = field(default_factory=set)
    disabled_tools: set[str] = field(default_factory=set)
    always_allowed: set[str] = field(default_factory=set)
    load_error: str = ""

    def server_on(self, server: str) -> bool:
        return server not in self.disabled_servers

    def tool_on(self, qualified: str) -> bool:
        return qualified not in self.disabled_tools

    def set_server(self, server: str, on: bool) -> None:
        (self.disabled_servers.discard if on else self.disabled_servers.add)(server)

    def set_tool(self, qualified: str, on: bool) -> None:
        (self.disabled_tools.discard if on else self.disabled_tools.add)(qualified)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "disabledServers": sorted(self.disabled_servers),
            "disabledTools": sorted(self.disabled_tools),
            "alwaysAllowed": sorted(self.always_allowed),
        }


def load_prefs(path: Path) -> ToolPrefs:
    """The saved choices, or the defaults (with ``load_error``) if the file is missing or unusable."""
    try:
        data = load_file(path, max_bytes=MAX_PREFS_BYTES, what=path.name)
    except FileNotFoundError:
        return ToolPrefs()
    except (OSError, ValueError, UnicodeDecodeError, HermesError) as exc:
        return ToolPrefs(load_error=f"{path.name} could not be read ({exc}); the defaults apply.")
    if not isinstance(data, dict):
        return ToolPrefs(load_error=f"{path.name} is not a JSON object; the defaults apply.")
    return ToolPrefs(_names(data, "disabledServers"), _names(data, "disabledTools"), _names(data, "alwaysAllowed"))


def save_prefs(path: Path, prefs: ToolPrefs) -> None:
    """Write the choices atomically (an ``OSError`` says why it could not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(prefs.as_dict(), indent=2) + "\n")


def _names(data: dict[str, Any], key: str) -> set[str]:
    value = data.get(key)
    return {name for name in value if isinstance(name, str)} if isinstance(value, list) else set()
