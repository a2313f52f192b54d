"""The tool loop's faults, each ending in a clear message to the model or the user, nothing run that should not be:
a call with malformed JSON, an unknown tool, arguments against the schema, a model that calls forever (capped
per reply), a tool whose description tells the model it is pre-approved (it is not), and an MCP server over
stdio that hangs or dies mid-call.

The model's side is a scripted OpenAI-compatible stream on loopback (``openai_replay``) read by the real
``RemoteEngine`` under the real ``run_rounds``; the MCP servers are real (``mcp_http_server``, over HTTP and stdio).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.cli.tools import Approvals
from app.core.engines.remote import RemoteEngine
from app.core.engines.service import EngineService, GenerationRequest
from app.core.prompting.types import Sampling
from app.core.tools.mcp_client import McpError, McpHub
from app.core.tools.mcp_config import parse_config
from app.core.tools.rounds import DENIED, RoundEvents, RoundsOutcome, run_rounds
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, ToolSpec, parse_tools
from tests.core.openai_replay import Answer, ReplayServer, call_chunks, text_chunks

ROOT = Path(__file__).resolve().parents[2]
WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"],
           "additionalProperties": False}  # fmt: skip
TOOLS = parse_tools([{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}])
ASK: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
AUTO = ToolChoice(ChoiceMode.AUTO)


class Loop:
    """One reply's rounds against a scripted stream; what was asked, run and noted."""

    def __init__(self, answer: Answer, specs: list[ToolSpec] = TOOLS, approve: bool = True) -> None:
        self.answer, self.specs, self.approve = answer, specs, approve
        self.asked: list[ToolCall] = []
        self.ran: list[ToolCall] = []
        self.notes: list[str] = []
        self.received: list[dict[str, Any]] = []

    def run(self, choice: ToolChoice = AUTO, max_rounds: int = 4) -> RoundsOutcome:
        with ReplayServer(self.answer) as server:
            self.received = server.received
            service = EngineService(RemoteEngine(server.url))
            try:
                service.load("m").result(30)
                return run_rounds(
                    service, GenerationRequest(ASK, Sampling(max_tokens=64)), self.specs, choice,
                    approve=self._approve, execute=self._execute, events=RoundEvents(note=self.notes.append),
                    max_rounds=max_rounds,
                )  # fmt: skip
            finally:
                service.close()

    def _approve(self, call: ToolCall) -> bool:
        self.asked.append(call)
        return self.approve

    def _execute(self, call: ToolCall) -> tuple[str, bool]:
        self.ran.append(call)
        return "18 C", False


def _first_round_then_words(*calls: tuple[str, str]) -> Answer:
    return lambda body: call_chunks(*calls) if len(body["messages"]) == 1 else text_chunks("Sorry, I could not.")


def test_malformed_unknown_and_schema_violating_calls_are_told_not_run() -> None:
    loop = Loop(_first_round_then_words(
        ("get_weather", '{"city": '),  # cut off: not JSON
        ("delete_everything", "{}"),  # not offered
        ("get_weather", '{"city": "Paris", "force": true}'),  # against the schema
        ("get_weather", '{"city": 75}'),
    ))  # fmt: skip
    outcome = loop.run()
    assert not loop.asked and not loop.ran  # no one is asked to run a call that cannot run
    assert any("could not be read" in note and "not valid JSON" in note for note in loop.notes)
    results = [m["content"] for m in outcome.messages if m["role"] == "tool"]
    assert results[0].startswith("There is no tool named 'delete_everything' (tools: get_weather)")
    assert "do not match its schema" in results[1] and "'force' was unexpected" in results[1]
    assert "at city: 75 is not of type 'string'" in results[2]
    assert outcome.messages[-1] == {"role": "assistant", "content": "Sorry, I could not."}  # told, it answered
    told = loop.received[1]["messages"]  # the second request carried the three answers back to the model
    assert [m["role"] for m in told] == ["user", "assistant", "tool", "tool", "tool"]


def test_a_call_loop_is_capped_per_reply_and_said() -> None:
    def always_calls(body: dict[str, Any]) -> list[bytes]:
        if "tools" in body:
            return call_chunks(("get_weather", '{"city": "Paris"}'))
        return text_chunks("It is 18 C.")

    loop = Loop(always_calls)
    outcome = loop.run(max_rounds=3)
    assert len(loop.ran) == 3 and outcome.rounds == 4 and outcome.capped
    assert "stopped after 3 tool rounds" in loop.notes[-1]
    assert "tools" not in loop.received[-1]  # the last round was offered no tools
    assert outcome.messages[-1]["content"] == "It is 18 C."


def test_a_description_that_claims_approval_does_not_approve(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-m", "tests.core.mcp_http_server"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/mcp"
        with McpHub(parse_config({"mcpServers": {"web": {"url": url}}})) as hub:
            specs = [tool.spec for tool in hub.tools() if tool.name == "sneaky"]
            assert "pre-approved" in specs[0].description  # the server's words reach the model as they are
            loop = Loop(_first_round_then_words(("web__sneaky", '{"note": "a"}')), specs, approve=False)
            outcome = loop.run()
    finally:
        server.kill()
        server.wait(10)
    assert [c.name for c in loop.asked] == ["web__sneaky"] and not loop.ran  # asked, refused, not run
    assert [m["content"] for m in outcome.messages if m["role"] == "tool"] == [DENIED]
    sent = loop.received[0]["tools"][0]["function"]
    assert sent["name"] == "web__sneaky" and "pre-approved" in sent["description"]
    assert not Approvals("", interactive=False)(ToolCall("web__sneaky", '{"note": "a"}'))  # the CLI refuses too


def test_a_stdio_server_that_hangs_or_dies_mid_call() -> None:
    config = {"command": sys.executable, "args": ["-m", "tests.core.mcp_http_server", "--stdio"],
              "env": {"PYTHONPATH": str(ROOT)}}  # fmt: skip
    with McpHub(parse_config({"mcpServers": {"io": config}}), start_seconds=30, call_seconds=3) as hub:
        assert "io__crash" in {tool.spec.name for tool in hub.tools()}
        started = time.monotonic()
        with pytest.raises(McpError, match=r"'hang' did not answer within 3 s"):
            hub.call("io__hang", {})
        assert time.monotonic() - started < 3 + 5
        assert hub.call("io__add", {"a": 20, "b": 22}).text == "42"
        started = time.monotonic()
        with pytest.raises(McpError, match="closed the connection mid-call"):
            hub.call("io__crash", {})
        assert time.monotonic() - started < 3 + 5
        assert hub.state("io").startswith("failed:")
        with pytest.raises(McpError, match="stopped"):  # later calls say why at once
            hub.call("io__add", {"a": 1, "b": 1})


def test_calls_after_a_forced_round_are_not_forced_again() -> None:
    loop = Loop(_first_round_then_words(("get_weather", '{"city": "Paris"}')))
    outcome = loop.run(ToolChoice(ChoiceMode.NAMED, "get_weather"))
    assert [c.name for c in loop.ran] == ["get_weather"] and not outcome.capped
    first, second = loop.received
    assert first["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert second["tool_choice"] == "auto"
    assert json.loads(second["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
