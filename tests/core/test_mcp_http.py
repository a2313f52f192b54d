"""A real Streamable HTTP MCP server (the SDK's ``MCPServer`` under uvicorn, ``tests/core/mcp_http_server.py``) on
127.0.0.1 in a child process: the hub lists and calls its tools with the entry's headers, and every fault ends in
a clear ``McpError`` within its deadline: a call that hangs, a 10 MB result, a tool error, a server that dies
mid-call, a server that is not there."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from app.core.tools.mcp_client import McpError, McpHub
from app.core.tools.mcp_config import parse_config

HEADERS = {"Authorization": "Bearer s3cret-token", "X-Hermes-Test": "header-arrived"}


@pytest.fixture
def http_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.core.mcp_http_server"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())  # bound and listening before it is printed
        yield process, f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_streamable_http_lists_calls_sends_headers_and_survives_faults(http_server) -> None:
    process, url = http_server
    configs = parse_config({"mcpServers": {
        "web": {"url": url, "headers": HEADERS},
        "absent": {"url": f"http://127.0.0.1:{_closed_port()}/mcp"},
    }})  # fmt: skip
    assert configs[0].transport == "http"
    hub = McpHub(configs, start_seconds=20, call_seconds=3, max_result_chars=2_000)
    try:
        names = {tool.spec.name for tool in hub.tools()}
        assert {"web__whoami", "web__add", "web__hang", "web__crash", "web__huge", "web__fail"} <= names
        assert hub.state("web") == "running"
        assert "could not start" in hub.errors["absent"]  # nothing listens there: said, not hung

        seen = hub.call("web__whoami", {}).text
        assert "authorization=Bearer s3cret-token" in seen and "x-hermes-test=header-arrived" in seen
        assert hub.call("web__add", {"a": 2, "b": 40}).text == "42"

        failed = hub.call("web__fail", {"reason": "testing"})
        assert failed.is_error and "fail" in failed.text

        huge = hub.call("web__huge", {})  # 10 MB arrives, the model is given 2,000 characters and told so
        assert huge.truncated and "the result was cut: 2,000 of 10,485,760 characters" in huge.text
        assert len(huge.text) < 2_200

        started = time.monotonic()
        with pytest.raises(McpError, match=r"'hang' did not answer within 3 s"):
            hub.call("web__hang", {})
        assert time.monotonic() - started < 3 + 5  # the call's deadline, with the hub's margin as a ceiling
        assert hub.call("web__add", {"a": 1, "b": 1}).text == "2"  # a timed-out call leaves the server usable

        started = time.monotonic()
        with pytest.raises(McpError, match="closed the connection mid-call"):
            hub.call("web__crash", {})
        assert time.monotonic() - started < 3 + 5
        assert process.wait(10) == 3  # it really went away
        assert hub.state("web").startswith("failed: The MCP server 'web' stopped")
        with pytest.raises(McpError, match="stopped"):  # later calls fail at once, with the reason
            hub.call("web__add", {"a": 1, "b": 1})
    finally:
        hub.close()


def test_a_silent_http_server_is_given_up_on_at_the_start_deadline() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hub = McpHub(parse_config({"mcpServers": {"mute": {"url": f"http://127.0.0.1:{port}/mcp"}}}), start_seconds=2)
        try:
            started = time.monotonic()
            assert hub.tools() == []
            assert time.monotonic() - started < 2 + 10  # its deadline, and a generous ceiling for a loaded machine
            assert "did not answer within 2 s" in hub.errors["mute"]
            with pytest.raises(McpError, match="did not answer"):
                hub.call("mute__anything", {})
        finally:
            hub.close()
