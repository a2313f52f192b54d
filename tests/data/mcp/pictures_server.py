"""A tiny MCP server over stdio whose one tool returns text and a PNG (tests: images in tool results)."""

import io

from mcp.server.mcpserver import Image, MCPServer
from PIL import Image as Picture

server = MCPServer(name="pics")


@server.tool(description="A small chart.")
def chart() -> list:
    data = io.BytesIO()
    Picture.new("RGB", (8, 6), (200, 30, 30)).save(data, "PNG")
    return ["A red chart", Image(data=data.getvalue(), format="png")]


server.run(transport="stdio")
