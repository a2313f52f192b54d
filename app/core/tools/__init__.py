"""Tools: definitions and calls as values, calls parsed from a reply, forced-call grammars, MCP servers."""
