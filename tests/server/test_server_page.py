"""The GUI's Server page (offscreen): it starts and stops the server on the window's engine, logs requests,
and an API request waits behind the window's chat on the shared engine instead of running beside it."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from app.core.engines.service import GenerationRequest
from app.core.prompting.types import Sampling
from app.ui.engines.engine_client import EngineClient
from app.ui.engines.server_page import ServerPage
from tests.server import page_fixtures
from tests.server.conftest import free_port

MODEL = "SmolLM2-135M-Instruct.Q4_1"
engine, page = page_fixtures.engine, page_fixtures.page  # the Server page's fixtures, shared with its other tests


def test_the_page_starts_and_stops_the_server_and_logs_requests(qtbot, page: ServerPage) -> None:
    assert not page.lan.isChecked() and not page.lan_warning.isVisibleTo(page)  # local only by default
    page.lan.setChecked(True)
    assert page.lan_warning.isVisibleTo(page) and "network" in page.lan_warning.text()
    page.lan.setChecked(False)
    page.api_key.setText("page-key")
    page.toggle.click()
    assert page.running and "Serving on http://127.0.0.1:" in page.status.text()
    assert not page.port.isEnabled()
    url = page.runner.url if page.runner else ""
    client = openai.OpenAI(base_url=url, api_key="page-key", max_retries=0, timeout=120)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=6)
    assert reply.usage.completion_tokens == 6
    qtbot.waitUntil(lambda: "tok/s" in "\n".join(page.log_lines()), timeout=10_000)
    assert "POST /v1/chat/completions 200" in "\n".join(page.log_lines())
    page.toggle.click()
    assert not page.running and page.status.text() == "Stopped." and page.port.isEnabled()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/models", timeout=5)


def test_a_taken_port_is_a_message_not_a_crash(qtbot, page: ServerPage) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        page.port.setValue(taken.getsockname()[1])
        assert not page.start()
    assert "Choose another" in page.status.text() and not page.running
    page.port.setValue(free_port())
    assert page.start()


def test_an_api_request_queues_behind_the_windows_chat(qtbot, page: ServerPage, engine: EngineClient) -> None:
    """The window's chat is a ticket on the same service (what EngineClient.generate queues); the API waits for it."""
    assert page.start()
    url = page.runner.url if page.runner else ""
    times: dict[str, float] = {}
    request = GenerationRequest([{"role": "user", "content": "Tell a story."}], Sampling(max_tokens=60))
    window = engine.service.generate(request, lambda _piece: None)
    window.add_done_callback(lambda _ticket: times.setdefault("window_done", time.perf_counter()))

    def api_call() -> None:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=120)
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.setdefault("api_first_token", time.perf_counter())

    caller = threading.Thread(target=api_call)
    caller.start()
    qtbot.waitUntil(lambda: engine.service.queue_length() == 2 or window.done, timeout=30_000)
    assert not window.done, "the window's reply ended before the API request arrived: make it longer"
    caller.join(180)
    assert window.result().generated_tokens == 60
    assert times["api_first_token"] > times["window_done"]  # first come, first served
