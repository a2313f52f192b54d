"""The window\x27s tools: MCP servers in Settings, approval cards and tool steps in the chat."""
