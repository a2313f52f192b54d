"""Tool calls parsed from each family's output shapes, the template's family, tools in the prompt, mcp.json, and a
real MCP server (`mcp-server-time`) over stdio: started lazily, called, timed out, and no child left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.prompting.prompt_formats import CHATML_TEMPLATE, LLAMA_3_TEMPLATE, PromptFormat
from app.core.prompting.tool_prompt import ToolFamily, tool_family
from app.core.tools.mcp_client import McpError, McpHub
from app.core.tools.mcp_config import McpConfigError, load_config, parse_config
from app.core.tools.parsing import CallGate, parse_calls

QWEN_LIKE = "{% if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools>{% endif %}<tool_call>"
LLAMA31_LIKE = "{% if tools %}{{ tools | tojson }}{% endif %}<|start_header_id|>ipython<|end_header_id|>"
MISTRAL_LIKE = "{% if tools %}[AVAILABLE_TOOLS]{{ tools | tojson }}[/AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]"


def test_the_family_comes_from_the_template() -> None:
    assert tool_family(QWEN_LIKE) is ToolFamily.HERMES
    assert tool_family(LLAMA31_LIKE) is ToolFamily.LLAMA3
    assert tool_family(MISTRAL_LIKE) is ToolFamily.MISTRAL
    assert tool_family(LLAMA_3_TEMPLATE) is ToolFamily.HERMES  # cannot show tools: our instructions, Hermes calls
    assert tool_family(CHATML_TEMPLATE) is ToolFamily.HERMES


def test_hermes_calls_parallel_unclosed_and_malformed() -> None:
    first = '<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>'
    text = f'Sure.{first}\n<tool_call>{{"name": "b", "arguments": {{}}}}'
    reply = parse_calls(text, ToolFamily.HERMES)
    assert [(c.name, json.loads(c.arguments)) for c in reply.calls] == [("a", {"x": 1}), ("b", {})]
    assert reply.content == "Sure." and not reply.problems
    bad = parse_calls('<tool_call>{"name": "a", "arguments": {</tool_call>', ToolFamily.HERMES)
    assert not bad.calls and bad.problems and "<tool_call>" in bad.content


def test_llama3_and_mistral_shapes() -> None:
    llama = parse_calls('<|python_tag|>{"name": "f", "parameters": {"q": "x"}}; {"name": "g", "parameters": {}}',
                        ToolFamily.LLAMA3)  # fmt: skip
    assert [c.name for c in llama.calls] == ["f", "g"] and json.loads(llama.calls[0].arguments) == {"q": "x"}
    assert parse_calls('{"answer": 42}', ToolFamily.LLAMA3).content == '{"answer": 42}'  # JSON, not a call
    mistral = parse_calls('[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {}}]',
                          ToolFamily.MISTRAL)  # fmt: skip
    assert [c.name for c in mistral.calls] == ["f", "g"]
    newer = parse_calls('[TOOL_CALLS]f[ARGS]{"a": 2}', ToolFamily.MISTRAL)
    assert newer.calls[0].name == "f" and json.loads(newer.calls[0].arguments) == {"a": 2}
    assert parse_calls("[TOOL_CALLS][{oops", ToolFamily.MISTRAL).problems


def test_the_stream_gate_holds_only_what_may_be_a_call() -> None:
    gate = CallGate(ToolFamily.HERMES)
    shown = "".join(gate.feed(p) for p in ["Hello <", "tool", '_call>{"name": "f", "arguments": {}}</tool_call>'])
    assert shown == "Hello "
    assert [c.name for c in gate.finish().calls] == ["f"]


def test_tools_reach_the_template_or_the_system_prompt() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    aware = PromptFormat("qwen-like", QWEN_LIKE + "{% for m in messages %}{{ m.content }}{% endfor %}")
    assert '"lookup"' in aware.render([{"role": "user", "content": "hi"}], tools).text
    chatml = PromptFormat("ChatML", CHATML_TEMPLATE)
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}]},
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]  # fmt: skip
    text = chatml.render(history, tools).text
    assert "<tools>" in text and '<tool_call>\n{"name": "lookup", "arguments": {"q": 1}}' in text
    assert "<tool_response>\n42\n</tool_response>" in text


def test_mcp_json_errors_are_clear(tmp_path: Path) -> None:
    broken = tmp_path / "mcp.json"
    broken.write_text('{"mcpServers": {"a": {"command": "x",}}}')
    with pytest.raises(McpConfigError, match=r"not valid JSON.*line 1"):
        load_config(broken)
    with pytest.raises(McpConfigError, match='either "command"'):
        parse_config({"mcpServers": {"a": {}}})
    with pytest.raises(McpConfigError, match="name must be"):
        parse_config({"mcpServers": {"a b": {"command": "x"}}})
    with pytest.raises(McpConfigError, match="no such file"):
        load_config(tmp_path / "missing.json")


def _children(name: str) -> list[int]:
    """Processes whose parent is this one and whose command line mentions ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and name in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_real_stdio_server_lazily_with_timeouts_and_no_orphans() -> None:
    configs = parse_config({"mcpServers": {
        "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "missing": {"command": "/nonexistent/mcp-server"},
        "hangs": {"command": sys.executable, "args": ["-c", "import time; time.sleep(60)"]},
    }})  # fmt: skip
    hub = McpHub(configs, start_seconds=20, call_seconds=30, max_result_chars=40)  # a loaded machine starts slowly
    try:
        assert not _children("mcp_server_time")  # nothing starts before it is needed
        started = time.monotonic()
        names = {tool.spec.name for tool in hub.tools()}
        assert time.monotonic() - started < 60  # the hanging server is given up on at its deadline
        assert {"time__get_current_time", "time__convert_time"} <= names
        assert "could not start" in hub.errors["missing"] and "did not answer within 20 s" in hub.errors["hangs"]
        assert _children("mcp_server_time")
        result = hub.call("time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert result.truncated and "Asia/Tokyo" in result.text and "the result was cut" in result.text
        assert hub.call("time__get_current_time", {"timezone": "Not/AZone"}).is_error
        with pytest.raises(McpError, match="no tool named"):
            hub.call("time__nope", {})
        with pytest.raises(McpError, match="could not start"):
            hub.call("missing__anything", {})
    finally:
        hub.close()
    deadline = time.monotonic() + 10
    while _children("mcp_server_time") or _children("time.sleep"):
        assert time.monotonic() < deadline, "an MCP server outlived its hub"
        time.sleep(0.1)


def test_the_cli_runs_an_allowed_call_and_refuses_others(starter_model: Path, tmp_path: Path) -> None:
    from app.cli.tools import Approvals
    from app.core.tools.specs import ToolCall

    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"time": {
        "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}}))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--basedir", str(tmp_path / "home"), "--model", str(starter_model),
         "--mcp", str(config), "--tool-choice", "time__get_current_time", "--allow-tools", "time__get_current_time",
         "--max-tokens", "48", "--temperature", "0", "--seed", "1", "--max-tool-rounds", "1", "What time is it?"],
        check=False, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "→ time__get_current_time({" in result.stderr
    assert '← {\n  "timezone"' in result.stderr  # the real server's answer
    assert "Traceback" not in result.stderr
    refuse = Approvals("time__convert_time", interactive=False)
    assert not refuse(ToolCall("time__get_current_time", "{}"))
    assert Approvals("all", interactive=False)(ToolCall("anything", "{}"))
