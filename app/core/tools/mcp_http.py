"""The Streamable HTTP transport of an ``mcp.json`` entry with a ``url``: its ``headers`` on every request, and
timeouts.

The SDK's ``Client(url)`` makes its own HTTP client and has no place for headers, so the transport is built here:
an ``httpx2.AsyncClient`` (the SDK's HTTP library) with the entry's headers (``Authorization``, an API key…) and
a connect/write deadline of the hub's start timeout, handed to ``streamable_http_client``. Reads keep the SDK's
long deadline because the server's event stream may stay idle for minutes; each call has the hub's own deadline
on top, so nothing waits past it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from app.core.tools.mcp_config import McpServerConfig

READ_SECONDS = 300.0  # the SDK's own: an idle event stream is not a dead server


@contextlib.asynccontextmanager
async def http_transport(config: McpServerConfig, timeouts: tuple[float, float]) -> AsyncIterator[Any]:
    """A transport for ``Client(...)``: enter it in the same task that holds the client (anyio's rule)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    start_seconds, call_seconds = timeouts
    timeout = httpx2.Timeout(start_seconds, read=max(READ_SECONDS, call_seconds))
    async with httpx2.AsyncClient(headers=dict(config.headers), timeout=timeout) as http:
        yield streamable_http_client(config.url, http_client=http)
