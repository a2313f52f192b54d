"""MCP tools in the window (offscreen), with the real engine, the starter model and a real MCP server over stdio
(``mcp_server_time``): Settings lists servers and tools and switches them; the chat bar's Tools menu picks the
next turn's tool choice (it reaches the engine); a call waits for the approval card while the reply says so;
Allow runs it and the step shows the result (the reply's parts, rebuilt after the chat is reopened); Deny tells
the model; "always" skips the card; servers switched off never start; no server process outlives the window."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.engines.service import GenerationRequest
from app.core.paths import resolve_paths
from app.core.prompting.parts import ToolCallPart, ToolResultPart
from app.core.settings import Settings
from app.core.tools.rounds import DENIED
from app.core.tools.specs import ChoiceMode
from app.ui.chat.message_delegate import stats_line
from app.ui.chat.thought_block import block_text
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
    win.max_tokens.setValue(64)  # room for the call (its JSON), then a short answer
    win.temperature.setValue(0.0)
    win.show()
    yield win
    win.close()


def _ask(qtbot, window, text: str) -> None:
    window.input.setPlainText(text)
    qtbot.keyClick(window.input, Qt.Key.Key_Return)


def _choose(qtbot, window, name: str) -> None:
    """Pick an entry of the chat bar's Tools menu, as the user does (the menu is built as it opens)."""
    menu = window.tools.menu
    assert menu.button.isVisible()
    menu.menu.aboutToShow.emit()
    action = next(action for action in menu.actions() if action.objectName() == name)
    action.trigger()


def _layout(window, item):
    view = window.chat_view
    return view.message_delegate.layout(item, view.viewport().width(), view.palette(), view.font())


def _named_call(qtbot, window) -> None:
    """The model loaded, the servers listed, and the Tools menu set to call the time tool (a grammar makes the tiny
    model call, reliably); after the call it must answer in words."""
    load_first_model(qtbot, window)
    window.tools.turns.max_rounds = 1
    window.tools.service.start()
    qtbot.waitUntil(lambda: bool(window.tools.service.tools_of("time")), timeout=60_000)
    _choose(qtbot, window, f"choice:named:{TOOL}")


def test_menu_choice_approval_wait_step_deny_and_reopen(qtbot, tools_window, monkeypatch) -> None:
    window = tools_window
    turns, card, menu = window.tools.turns, window.tools.card, window.tools.menu
    engine = turns.service
    sent: list[GenerationRequest] = []
    generate = engine.generate
    monkeypatch.setattr(
        engine, "generate", lambda request, *a, **k: (sent.append(request), generate(request, *a, **k))[1]
    )

    # the Tools menu lists the running server's tools; calling one by name is the next turn's choice
    _named_call(qtbot, window)
    assert menu.button.text() == "Tools: get_current_time" and turns.choice.name == TOOL

    # Allow once: the card shows the tool, its server and its arguments; the step shows the server's answer
    _ask(qtbot, window, "What time is it in UTC?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    assert TOOL in sent[0].grammar and "convert_time" not in sent[0].grammar  # the choice reached the engine
    assert "get_current_time" in card.title.text() and "MCP server: time" in card.server.text()
    arguments = json.loads(card.arguments.toPlainText())
    assert set(arguments) == {"timezone"}  # valid against the tool's schema
    waiting = window.chat_model.items[-1]
    qtbot.waitUntil(lambda: stats_line(waiting).startswith("Waiting for your approval"), timeout=10_000)
    assert window.statusBar().currentMessage().startswith(f"Waiting for your approval to run {TOOL}")
    assert [type(part) for part in waiting.tools] == [ToolCallPart]  # nothing ran before the user answered
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        card.allow_once.click()
    reply = done.args[0]
    assert not card.isVisible()
    call, result = reply.tools
    assert isinstance(result, ToolResultPart) and result.call_id == call.id and call.server == "time"
    assert '"timezone"' in result.content or "Invalid timezone" in result.content  # the real server's answer
    assert not result.error and result.content not in reply.reasoning  # a part, not reasoning text
    layout = _layout(window, reply)
    assert layout.thought is not None and layout.thought.label.startswith("▸ Used a tool")  # collapsed step
    assert _no_children("Asia/Tokyo")  # the server switched off never started

    assert menu.button.text() == "Tools" and turns.choice.mode is ChoiceMode.AUTO  # the choice was the last turn's

    # Deny: nothing runs, and the model is told
    _choose(qtbot, window, f"choice:named:{TOOL}")
    _ask(qtbot, window, "And now?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        card.deny.click()
    denied = done.args[0].tools[1]
    assert denied.error and denied.content == DENIED

    # reopened, the steps are rebuilt from the stored parts: the block lists each call and its result
    chat_id = window.conversation.chat_id
    window.conversation.open(chat_id)
    items = window.chat_model.items
    assert items[1].tools == reply.tools and items[3].tools[1] == denied
    window.chat_view.message_delegate.expanded.add(items[1].uid)
    opened = _layout(window, items[1])
    assert opened.thought is not None and opened.thought.label.startswith("▾ Used a tool")
    assert f"`{TOOL}(" in block_text(items[1]) and result.content[:40] in block_text(items[1])

    # None: the next turn offers no tools (no card, nothing forced)
    _choose(qtbot, window, "choice:none:")
    sent.clear()
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        _ask(qtbot, window, "Thanks!")
    assert not card.isVisible() and done.args[0].tools == ()
    assert sent and not sent[0].tools and not sent[0].grammar


def test_always_skips_the_card_and_no_server_outlives_the_window(qtbot, tools_window) -> None:
    window = tools_window
    turns, card = window.tools.turns, window.tools.card
    _named_call(qtbot, window)

    # Always: this call runs, the next one does not ask
    _ask(qtbot, window, "Once more?")
    qtbot.waitUntil(card.isVisible, timeout=90_000)
    with qtbot.waitSignal(window.reply_finished, timeout=90_000):
        card.allow_always.click()
    assert TOOL in json.loads(window.paths.tool_prefs_file.read_text())["alwaysAllowed"]
    asked: list[object] = []
    turns.approval_needed.connect(lambda call, _server: asked.append(call))
    _choose(qtbot, window, f"choice:named:{TOOL}")
    with qtbot.waitSignal(window.reply_finished, timeout=90_000) as done:
        _ask(qtbot, window, "Last time?")
    assert not asked and not card.isVisible()
    ran = done.args[0].tools
    assert ran[0].name == TOOL and ran[1].content != DENIED

    assert _children("mcp_server_time")
    window.close()
    deadline = time.monotonic() + 15
    while _children("mcp_server_time"):
        assert time.monotonic() < deadline, "an MCP server outlived the window"
        time.sleep(0.1)
