"""``mcp.json``: the MCP servers a user connects, in the shape LM Studio, Claude Desktop and Cursor share.

``{"mcpServers": {"name": {"command": …, "args": […], "env": {…}} | {"url": …, "headers": {…}}}}``. Read with
bounded JSON; every mistake is an ``McpConfigError`` naming the server and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.bounded_json import load_file
from app.core.errors import HermesError

MAX_CONFIG_BYTES = 1 << 20
MAX_SERVERS = 64
SEPARATOR = "__"  # between a server's name and its tool's name in a qualified tool name (server__tool)
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # it prefixes tool names: letters, digits, '_', '-'


class McpConfigError(HermesError):
    """An ``mcp.json`` that cannot be used; the message says where."""


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    command: str = ""  # stdio: the program and its arguments, started as a child process
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""  # Streamable HTTP
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"


def load_config(path: Path) -> list[McpServerConfig]:
    """The servers of an ``mcp.json`` file."""
    try:
        data = load_file(path, max_bytes=MAX_CONFIG_BYTES, what=path.name)
    except FileNotFoundError:
        raise McpConfigError(f"{path}: no such file.") from None
    except OSError as exc:
        raise McpConfigError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise McpConfigError(f"{path.name} is not valid JSON: {exc.msg} at {where}.") from None
    except (HermesError, ValueError, UnicodeDecodeError) as exc:
        raise McpConfigError(f"{path.name}: {exc}") from None
    return parse_config(data, path.name)


def parse_config(data: Any, where: str = "mcp.json") -> list[McpServerConfig]:
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'{where} must be an object with "mcpServers": {{"name": {{"command": …}}}}.')
    if len(servers) > MAX_SERVERS:
        raise McpConfigError(f"{where} lists {len(servers)} servers, above the limit of {MAX_SERVERS}.")
    return [_server(name, entry, f"{where}: server {name!r}") for name, entry in servers.items()]


def _server(name: str, entry: Any, where: str) -> McpServerConfig:
    if not SERVER_NAME.match(name):
        raise McpConfigError(f"{where}: a server's name must be 1 to 32 letters, digits, '_' or '-'.")
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where} must be an object.")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise McpConfigError(f'{where} needs either "command" (a program) or "url" (a Streamable HTTP server).')
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise McpConfigError(f'{where}: "command" must be a program name or path.')
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise McpConfigError(f'{where}: "args" must be an array of strings.')
        return McpServerConfig(name, command=command, args=tuple(args), env=_strings(entry.get("env"), where, "env"))
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise McpConfigError(f'{where}: "url" must be an http:// or https:// address.')
    return McpServerConfig(name, url=url, headers=_strings(entry.get("headers"), where, "headers"))


def _strings(value: Any, where: str, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise McpConfigError(f'{where}: "{key}" must be an object of strings.')
    return dict(value)
