"""Tools through a remote engine: ``RemoteEngine`` sends ``tools`` and ``tool_choice`` to an OpenAI-compatible server
and hands its streamed ``delta.tool_calls`` on in the shape a local engine's reply has, so the same tool loop
(``run_rounds``: the window's and the CLI's) works with a remote model.

The server is our own ``hermes-studio serve`` with the starter model on loopback (it forces a named call with a
grammar, so even SmolLM2-135M calls); a second, tiny loopback server replays a stream in the shape OpenAI
documents (content, then two calls whose arguments arrive in fragments) and records the request it was sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.core.engines.remote import RemoteEngine
from app.core.engines.service import EngineService, GenerationRequest
from app.core.prompting.types import Sampling
from app.core.tools.rounds import run_rounds
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, parse_tools
from tests.core.openai_replay import DONE, ReplayServer, chunk
from tests.server.conftest import API_KEY, Process
from tests.server.test_tool_calls import ASK, MODEL, TOOLS, WEATHER


def test_the_tool_loop_runs_through_a_remote_engine(served: Process) -> None:
    service = EngineService(RemoteEngine(served.url, API_KEY))
    ran: list[ToolCall] = []

    def execute(call: ToolCall) -> tuple[str, bool]:
        ran.append(call)
        return json.dumps({"temperature": 18, "unit": "celsius"}), False

    try:
        service.load(MODEL).result(60)
        request = GenerationRequest(ASK, Sampling(max_tokens=80, temperature=0.0, seed=1))
        outcome = run_rounds(
            service, request, parse_tools(TOOLS), ToolChoice(ChoiceMode.NAMED, "get_weather"),
            approve=lambda _call: True, execute=execute, max_rounds=1,
        )  # fmt: skip
    finally:
        service.close()
    (call,) = ran  # the server forced it (tool_choice was sent), the stream's deltas were put together
    assert call.name == "get_weather"
    jsonschema.validate(json.loads(call.arguments), WEATHER)
    roles = [m["role"] for m in outcome.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]  # the server took the call and result back
    assert outcome.messages[1]["tool_calls"][0]["id"] == outcome.messages[2]["tool_call_id"] == call.id
    assert outcome.capped and outcome.stats.generated_tokens > 0


def test_the_cli_calls_an_mcp_tool_with_a_remote_model(served: Process, tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"time": {
        "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}}))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--basedir", str(tmp_path / "home"), "--engine", served.url,
         "--api-key", API_KEY, "--model", MODEL, "--mcp", str(config), "--tool-choice", "time__get_current_time",
         "--allow-tools", "all", "--max-tokens", "48", "--temperature", "0", "--seed", "1",
         "--max-tool-rounds", "1", "What time is it?"],
        check=False, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "→ time__get_current_time({" in result.stderr
    assert '← {\n  "timezone"' in result.stderr or "← error: " in result.stderr  # the real server answered
    assert "Traceback" not in result.stderr


FRAGMENTED = [
    chunk({"role": "assistant", "content": "Checking both. "}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris", "unit": "celsius"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                           "function": {"name": "get_time", "arguments": '{"timezone": '}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"Europe/Paris"}'}}]}),
    chunk({}, "tool_calls"),
    DONE,
]  # fmt: skip


@pytest.fixture
def replaying() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with ReplayServer(lambda _body: FRAGMENTED) as server:
        yield server.url, server.received


def test_fragmented_parallel_deltas_are_assembled_and_tools_are_sent(replaying) -> None:
    url, received = replaying
    service = EngineService(RemoteEngine(url))
    ran: list[ToolCall] = []
    try:
        service.load("m").result(30)
        outcome = run_rounds(
            service, GenerationRequest(ASK, Sampling(max_tokens=64)), parse_tools(TOOLS),
            ToolChoice(ChoiceMode.REQUIRED), approve=lambda _call: True,
            execute=lambda call: (ran.append(call), ("ok", False))[1], max_rounds=1,
        )  # fmt: skip
    finally:
        service.close()
    assert [(c.name, json.loads(c.arguments)) for c in ran] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}), ("get_time", {"timezone": "Europe/Paris"})]  # fmt: skip
    assert outcome.messages[1]["content"] == "Checking both."  # the text beside the calls is kept
    first, second = received
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "get_time"]
    assert first["tool_choice"] == "required" and "grammar" not in first  # the server forces it, not our grammar
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "tool"]
    assert second["messages"][1]["tool_calls"][1]["function"]["name"] == "get_time"
    assert "tools" not in second and "tool_choice" not in second  # the last round: the model must answer in words
