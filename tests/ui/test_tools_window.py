"""MCP tools in the window (offscreen), with the real engine, the starter model and a real MCP server over stdio
(``mcp_server_time``): Settings lists servers and tools and switches them; a call waits for the approval card;
Allow runs it and the step shows the result; Deny tells the model; "always" skips the card; servers switched
off never start; no server process outlives the window."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.core.tools.rounds import DENIED
from app.core.tools.specs import ChoiceMode, ToolChoice
from app.ui.tools.mcp_section import ConfigEditor, McpSection
from app.ui.tools.tools_service import ToolsService
from tests.core.test_tools import _children
from tests.ui.test_main_window import load_first_model

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts child processes in /proc")

TIME = [sys.executable, "-m", "mcp_server_time", "--local-timezone"]
TOOL = "time__get_current_time"


def _write_config(config_dir: Path, **servers: str) -> None:
    """Servers of mcp_server_time, each with its own local time zone (so their processes can be told apart)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    entries = {name: {"command": TIME[0], "args": [*TIME[1:], zone]} for name, zone in servers.items()}
    (config_dir / "mcp.json").write_text(json.dumps({"mcpServers": entries}))


def _no_children(marker: str) -> bool:
    return not _children(marker)


def test_settings_list_switch_and_persist(qtbot, basedir: Path) -> None:
    paths = resolve_paths(basedir).ensure()
    _write_config(paths.config, time="UTC", spare="Asia/Tokyo")
    config = json.loads(paths.mcp_file.read_text())
    config["mcpServers"]["broken"] = {"command": "/nonexistent/mcp-server"}
    paths.mcp_file.write_text(json.dumps(config))
    service = ToolsService(paths.mcp_file, paths.tool_prefs_file)
    section = McpSection(service)
    qtbot.addWidget(section)
    try:
        assert [section.tree.topLevelItem(i).text(1) for i in range(3)] == ["not started"] * 3
        assert _no_children("mcp_server_time")  # nothing starts before it is needed
        section.item("spare").setCheckState(0, Qt.CheckState.Unchecked)  # the user switches a server off
        assert json.loads(paths.tool_prefs_file.read_text())["disabledServers"] == ["spare"]
        section.start_button.click()
        qtbot.waitUntil(lambda: section.item("broken") is not None and
                        section.item("broken").text(1).startswith("failed"), timeout=60_000)  # fmt: skip
        qtbot.waitUntil(lambda: section.item(TOOL) is not None, timeout=60_000)
        assert section.item("time").text(1) == "running"
        assert "could not start" in section.item("broken").text(1)
        assert section.item("spare").text(1) == "off" and _no_children("Asia/Tokyo")  # off: never started
        section.item("time__convert_time").setCheckState(0, Qt.CheckState.Unchecked)
        assert json.loads(paths.tool_prefs_file.read_text())["disabledTools"] == ["time__convert_time"]
        assert [spec.name for spec in service.specs()] == [TOOL]  # the model is offered the tools that are on
        # the next start reads what was saved
        again = ToolsService(paths.mcp_file, paths.tool_prefs_file)
        assert again.state("spare") == "off" and not again.prefs.tool_on("time__convert_time")
        again.close()
        # a broken mcp.json is refused with its place, and nothing is written
        before = paths.mcp_file.read_text()
        editor = ConfigEditor(service, section)
        editor.text.setPlainText('{"mcpServers": {"x": {"command": 1}}')
        editor.save()
        assert "not valid JSON" in editor.problem.text() and paths.mcp_file.read_text() == before
        editor.text.setPlainText('{"mcpServers": {"x": {"args": []}}}')
        editor.save()
        assert 'either "command"' in editor.problem.text() and paths.mcp_file.read_text() == before
    finally:
        service.close()
    qtbot.waitUntil(lambda: _no_children("mcp_server_time"), timeout=15_000)


@pytest.fixture
def tools_window(qtbot, basedir: Path, library_with_model: Path):
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    _write_config(paths.config, time="UTC", spare="Asia/Tokyo")
    paths.tool_prefs_file.write_text(json.dumps({"disabledServers": ["spare"]}))
    win = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(win)
    win.persona.max_tokens.setValue(64)  # room for the call (its JSON), then a short answer
    win.persona.temperature.setValue(0.0)
    win.show()
    yield win
    win.close()


def _ask(qtbot, window, text: str) -> None:
    window.input.setPlainText(text)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)


def test_approve_deny_always_in_a_chat_and_no_orphans(qtbot, tools_window) -> None:
    window = tools_window
    load_first_model(qtbot, window)
    turns, card = window.tools.turns, window.tools.card
    turns.choice = ToolChoice(ChoiceMode.NAMED, TOOL)  # a grammar makes the tiny model call, reliably
    turns.max_rounds = 1  # then it must answer in words

    # Allow once: the card shows the tool, its server and its arguments; the step shows the server's answer
    _ask(qtbot, window, "What time is it in UTC?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    assert "get_current_time" in card.title.text() and "MCP server: time" in card.server.text()
    arguments = json.loads(card.arguments.toPlainText())
    assert set(arguments) == {"timezone"}  # valid against the tool's schema
    assert window.chat_model.items[-1].reasoning == ""  # nothing ran before the user answered
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        card.allow_once.click()
    reply = done.args[0]
    assert not card.isVisible()
    assert f"Tool call: `{TOOL}(" in reply.reasoning
    assert '"timezone"' in reply.reasoning or "Invalid timezone" in reply.reasoning  # the real server's answer
    assert DENIED not in reply.reasoning
    layout = window.chat_view.message_delegate.layout(
        reply, window.chat_view.viewport().width(), window.chat_view.palette(), window.chat_view.font()
    )
    assert layout.thought is not None and layout.thought.label.startswith("▸ Used a tool")  # collapsed step
    assert _no_children("Asia/Tokyo")  # the server switched off never started

    # Deny: nothing runs, and the model is told
    _ask(qtbot, window, "And now?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        card.deny.click()
    assert "Error:" in done.args[0].reasoning and DENIED in done.args[0].reasoning

    # Always: this call runs, the next one does not ask
    _ask(qtbot, window, "Once more?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    with qtbot.waitSignal(window.reply_finished, timeout=90_000):
        card.allow_always.click()
    assert TOOL in json.loads(window.paths.tool_prefs_file.read_text())["alwaysAllowed"]
    asked: list[object] = []
    turns.approval_needed.connect(lambda call, _server: asked.append(call))
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        _ask(qtbot, window, "Last time?")
    assert not asked and not card.isVisible()
    assert f"Tool call: `{TOOL}(" in done.args[0].reasoning and DENIED not in done.args[0].reasoning

    assert _children("mcp_server_time")
    window.close()
    deadline = time.monotonic() + 15
    while _children("mcp_server_time"):
        assert time.monotonic() < deadline, "an MCP server outlived the window"
        time.sleep(0.1)
