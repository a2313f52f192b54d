"""A minimal MCP server over stdio that the self-test starts from the app's own executable (frozen or not).

``hermes-studio --self-test-mcp-server`` runs it: one tool, ``add``, so the self-test proves that the app can start a
child MCP server from its bundle, list its tools and call one (what a user's ``mcp.json`` servers need).
"""

from __future__ import annotations

import sys


def command() -> list[str]:
    """The argv that starts this server: the frozen executable itself, or this interpreter with ``-m app``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--self-test-mcp-server"]
    return [sys.executable, "-m", "app", "--self-test-mcp-server"]


def serve() -> int:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="hermes-self-test", instructions="The Hermes Studio self-test's probe server.")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    server.run(transport="stdio")
    return 0
