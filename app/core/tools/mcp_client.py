"""MCP servers' tools through the ``mcp`` SDK (2.x ``Client``): started lazily, timed out, stopped with the app.

``McpHub`` owns one asyncio loop on a thread of its own; each server is a task on it that holds the SDK's
``Client`` open (stdio: the server is a child process with its ``env``; a ``url``: Streamable HTTP with its
``headers``, ``mcp_http``) until the hub closes. Faces call it synchronously from any thread. Every step has a
deadline (start, listing, each call); a server that does not start, hangs or fails is an ``McpError`` with its
name and the reason, never a hang or a traceback. Tool names are namespaced ``server__tool``; results are text,
cut to ``max_result_chars`` and marked as cut; images come back as bytes (kept with the reply as image parts),
resources are named, not inlined. A server whose connection closes mid-call (its process died, its host went
away) is marked stopped, and later calls say so at once. ``close`` (also at exit) ends every child.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import contextlib
import logging
import threading
import weakref
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.core.errors import HermesError
from app.core.tools.mcp_config import SEPARATOR, McpServerConfig
from app.core.tools.mcp_http import http_transport
from app.core.tools.specs import ToolError, ToolSpec, spec_from

log = logging.getLogger(__name__)
T = TypeVar("T")
CONNECTION_CLOSED = -32000  # the SDK's JSON-RPC code for a transport that ended (mcp_types.CONNECTION_CLOSED)
START_SECONDS = 30.0
CALL_SECONDS = 60.0
STOP_SECONDS = 5.0
MAX_RESULT_CHARS = 16_000  # about 4,000 tokens: a result must leave the context room for the answer
MAX_RESULT_IMAGES = 4  # images of one result kept with the reply (their bytes; a face checks them: media.images)
MAX_IMAGE_BASE64 = 28 << 20  # base64 characters of one image (about 20 MB of bytes)

_LIVE: weakref.WeakSet[McpHub] = weakref.WeakSet()


class McpError(HermesError):
    """An MCP server that could not start, list or call; the message names it."""


class McpServerGone(McpError):
    """The server's connection closed (its process ended, its host went away): later calls fail at once."""


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str  # the server's own name for it
    spec: ToolSpec  # named server__name, for the model


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool = False
    truncated: bool = False
    images: tuple[bytes, ...] = ()  # images the tool returned (undecoded, unchecked: media.images checks them)


@dataclass
class _Server:
    config: McpServerConfig
    client: Any = None
    stop: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None
    error: str = ""
    tools: list[McpTool] = field(default_factory=list)


class McpHub:
    """The tools of a set of MCP servers; nothing starts until ``tools()`` or ``call()`` needs a server."""

    def __init__(
        self,
        configs: Sequence[McpServerConfig],
        *,
        start_seconds: float = START_SECONDS,
        call_seconds: float = CALL_SECONDS,
        max_result_chars: int = MAX_RESULT_CHARS,
    ) -> None:
        self._servers = {config.name: _Server(config) for config in configs}
        self.start_seconds, self.call_seconds, self.max_result_chars = start_seconds, call_seconds, max_result_chars
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        _LIVE.add(self)

    @property
    def errors(self) -> dict[str, str]:
        """Servers that failed, and why."""
        return {name: server.error for name, server in self._servers.items() if server.error}

    def state(self, name: str) -> str:
        """ "not started", "running", or "failed: <reason>" (a server the hub does not have: "not started")."""
        server = self._servers.get(name)
        if server is None or (server.client is None and not server.error):
            return "not started"
        return f"failed: {server.error}" if server.error else "running"

    def tools_of(self, name: str) -> list[McpTool]:
        """The tools a started server offers (none before it starts)."""
        server = self._servers.get(name)
        return list(server.tools) if server is not None else []

    def tools(self) -> list[McpTool]:
        """Every started server's tools (each server started on first use; one that fails is in ``errors``)."""
        found: list[McpTool] = []
        for server in self._servers.values():
            with contextlib.suppress(McpError):
                self._ensure(server)
                found += server.tools
        return found

    def call(self, qualified: str, arguments: dict[str, Any]) -> ToolResult:
        """Call ``server__tool``; an ``McpError`` for an unknown tool, a server that fails, or a timeout."""
        name, _, tool = qualified.partition(SEPARATOR)
        server = self._servers.get(name)
        if server is None or not tool:
            raise McpError(f"There is no MCP tool named {qualified!r}.")
        self._ensure(server)
        if tool not in {t.name for t in server.tools}:
            raise McpError(f"The MCP server {name!r} has no tool named {tool!r}.")
        try:
            result = self._run(_call(server.client, tool, arguments, self.call_seconds), self.call_seconds + 5)
        except McpServerGone as exc:
            server.error = f"The MCP server {name!r} stopped: {exc}"
            raise McpError(server.error) from None
        return _result(result, self.max_result_chars)

    def close(self) -> None:
        """Stop every server (their child processes end) and the loop's thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        for server in self._servers.values():
            if server.stop is not None:
                loop.call_soon_threadsafe(server.stop.set)
        tasks = [s.task for s in self._servers.values() if s.task is not None]
        if tasks:
            waited = asyncio.run_coroutine_threadsafe(asyncio.wait(tasks, timeout=STOP_SECONDS), loop)
            with contextlib.suppress(Exception):
                waited.result(STOP_SECONDS + 2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_SECONDS)

    def __enter__(self) -> McpHub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # the loop
    def _ensure(self, server: _Server) -> None:
        if server.error:
            raise McpError(server.error)
        if server.client is not None:
            return
        try:
            self._run(self._start(server), self.start_seconds + 2)
        except McpError as exc:
            server.error = str(exc)
            raise

    def _run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        loop = self._loop_running()
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise McpError(f"An MCP request took longer than {timeout:g} s.") from None

    def _loop_running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise McpError("The MCP servers have been stopped.")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="mcp", daemon=True)
                self._thread.start()
            return self._loop

    async def _start(self, server: _Server) -> None:
        config = server.config
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        server.stop = asyncio.Event()
        timeouts = (self.start_seconds, self.call_seconds)
        server.task = asyncio.create_task(_hold(config, ready, server.stop, timeouts))
        try:
            client = await asyncio.wait_for(asyncio.shield(ready), self.start_seconds)
            listing = await asyncio.wait_for(client.list_tools(), self.start_seconds)
        except TimeoutError:
            ready.cancel()
            server.stop.set()
            server.task.cancel()
            raise McpError(
                f"The MCP server {config.name!r} did not answer within {self.start_seconds:g} s and was stopped."
            ) from None
        except Exception as exc:  # OSError (no such program), the SDK's errors, a server that exited
            server.stop.set()
            raise McpError(f"The MCP server {config.name!r} could not start: {_reason(exc)}") from None
        server.client = client
        for tool in listing.tools:
            try:
                spec = spec_from(
                    {"name": f"{config.name}{SEPARATOR}{tool.name}", "description": tool.description or "",
                     "parameters": tool.input_schema},
                    f"MCP server {config.name!r}: tool {tool.name!r}",
                )  # fmt: skip
            except ToolError as exc:
                log.warning("%s", exc)
                continue
            server.tools.append(McpTool(config.name, tool.name, spec))


async def _hold(
    config: McpServerConfig, ready: asyncio.Future[Any], stop: asyncio.Event, timeouts: tuple[float, float]
) -> None:
    """Open the SDK's client for ``config``, hand it over, keep it open until ``stop`` (same task: anyio's rule)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    try:
        async with contextlib.AsyncExitStack() as stack:
            target: Any
            if config.command:
                target = StdioServerParameters(command=config.command, args=list(config.args), env=config.env or None)
            else:
                target = await stack.enter_async_context(http_transport(config, timeouts))
            client = await stack.enter_async_context(Client(target))
            ready.set_result(client)
            await stop.wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc if isinstance(exc, Exception) else McpError("the server was stopped"))
        if not isinstance(exc, Exception):
            raise
        log.info("MCP server %s ended: %s", config.name, _reason(exc))


async def _call(client: Any, tool: str, arguments: dict[str, Any], seconds: float) -> Any:
    try:
        return await asyncio.wait_for(client.call_tool(tool, arguments), seconds)
    except TimeoutError:
        raise McpError(f"The tool {tool!r} did not answer within {seconds:g} s.") from None
    except Exception as exc:
        if getattr(exc, "code", None) == CONNECTION_CLOSED and str(getattr(exc, "message", "")) == "Connection closed":
            raise McpServerGone(f"The tool {tool!r} failed: the server closed the connection mid-call.") from None
        raise McpError(f"The tool {tool!r} failed: {_reason(exc)}") from None


def _result(result: Any, limit: int) -> ToolResult:
    parts: list[str] = []
    images: list[bytes] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image" and (image := _image_bytes(block, len(images))) is not None:
            images.append(image)
            parts.append(f"[image {len(images)}: {getattr(block, 'mime_type', '')}, kept with the reply]")
        elif kind in ("image", "audio"):
            size = len(getattr(block, "data", ""))
            parts.append(f"[{kind}: {getattr(block, 'mime_type', '')}, {size:,} base64 characters, not shown]")
        else:
            resource = getattr(block, "resource", None) or block
            parts.append(f"[{kind or 'content'}: {getattr(resource, 'uri', '')}]")
    text = "\n".join(parts)
    truncated = len(text) > limit
    if truncated:
        text = f"{text[:limit]}\n[… the result was cut: {limit:,} of {len(text):,} characters shown]"
    return ToolResult(text, bool(getattr(result, "is_error", False)), truncated, tuple(images))


def _image_bytes(block: Any, kept: int) -> bytes | None:
    """An image block's bytes (None past ``MAX_RESULT_IMAGES``, above ``MAX_IMAGE_BASE64``, or not base64)."""
    data = getattr(block, "data", "")
    if kept >= MAX_RESULT_IMAGES or not isinstance(data, str) or len(data) > MAX_IMAGE_BASE64:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions)
    return str(exc) or type(exc).__name__


@atexit.register
def _close_all() -> None:
    for hub in list(_LIVE):
        with contextlib.suppress(Exception):
            hub.close()
