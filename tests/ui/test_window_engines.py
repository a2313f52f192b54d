"""The window with engines beyond its own: a remote OpenAI-compatible server's models in the picker, a chat through
one of them, back to a local model; and the Server page serving the window's model while the window chats."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from PySide6.QtCore import Qt

from app.core.engines.remote_store import RemoteEngineStore
from tests.server.conftest import Process, free_port, llama_cpp_server


@pytest.fixture(scope="module")
def llama_server(starter_model: Path) -> Iterator[Process]:
    process = llama_cpp_server(starter_model, alias="smol-remote")
    yield process
    process.stop()


@pytest.mark.slow
def test_a_remote_engines_model_is_picked_chatted_with_and_left(
    qtbot, window, library_with_model: Path, llama_server: Process
) -> None:
    RemoteEngineStore(window.paths.config).add("loopback", llama_server.url)
    window.model_bar.refresh_models()
    qtbot.waitUntil(lambda: window.model_picker.findText("smol-remote  (remote · loopback)") > 0, timeout=30_000)
    index = window.model_picker.findText("smol-remote  (remote · loopback)")
    with qtbot.waitSignal(window.model_ready, timeout=30_000) as ready:
        window.model_picker.setCurrentIndex(index)
        window.model_picker.activated.emit(index)
    assert ready.args[0].info.architecture == "remote"
    assert window.model_bar.placement.text().strip() == f"Remote · {llama_server.url}"
    assert window.model_picker.currentIndex() == index
    # issue 25: what the user is told of a remote model
    assert window.statusBar().currentMessage().startswith("Connected to smol-remote on loopback")
    assert not window.model_bar.options_action.isEnabled()
    window.side_tabs.setCurrentIndex(1)  # the Prompt preview: the messages sent, not a ChatML guess
    window.input.setPlainText("Preview me")
    qtbot.waitUntil(lambda: '"content": "Preview me"' in window.preview.toPlainText(), timeout=10_000)
    assert "<|im_start|>" not in window.preview.toPlainText()
    assert "server formats the prompt" in window.preview_notes.text()
    window.input.clear()
    window.side_tabs.setCurrentIndex(0)

    qtbot.keyClicks(window.input, "Say hello.")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    reply = done.args[0]
    assert reply.text.strip() and reply.stats is not None and reply.stats.generated_tokens > 0
    path = window.store.active_path(window.session.chat_id)
    assert path[-1].content == reply.text and path[-1].model == "smol-remote"

    # back to this machine's llama.cpp
    with qtbot.waitSignal(window.model_ready, timeout=30_000) as local:
        window.model_bar.load_model(str(library_with_model))
    assert local.args[0].info.architecture == "llama" and local.args[0].placement is not None
    assert not window.client.service.engine.capabilities.remote


@pytest.mark.slow
def test_the_server_page_serves_the_windows_model(qtbot, window, library_with_model: Path) -> None:
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    window.router.show("server")
    page = window.router.page("server")
    page.port.setValue(free_port())
    with qtbot.waitSignal(page.running_changed, timeout=30_000):
        page.toggle.click()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{page.port.value()}/v1", api_key="unused", max_retries=0)
    answer = client.chat.completions.create(
        model=library_with_model.stem, messages=[{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0
    )
    assert answer.choices[0].message.content and answer.usage.completion_tokens > 0
    with qtbot.waitSignal(page.running_changed, timeout=30_000):
        page.toggle.click()
