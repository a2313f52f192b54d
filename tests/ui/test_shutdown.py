"""Closing the window while work is under way: a Discover search, a download, a model load, a streaming reply and
an API request. Each closes the real window in the middle of it; the window closes cleanly, the work stops, no
thread of the app's is left running (the engine and QThread checks of tests/conftest.py run after each test too),
nothing is logged, and no answer that arrives afterwards reaches a widget or queues more work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import openai
import pytest
from PySide6.QtCore import QCoreApplication, QTimer

from app.core.history.store import ChatStore
from app.core.hub import catalogue
from app.core.hub.download_jobs import load_queue
from app.core.hub.downloads import State
from tests.server.conftest import free_port

APP_THREADS = ("background", "download", "engine", "api-server")  # the names of the threads the window starts


@pytest.fixture
def app_threads() -> Callable[[], list[str]]:
    """The app's threads started since the test began that still run."""
    before = set(threading.enumerate())

    def running() -> list[str]:
        return [t.name for t in threading.enumerate() if t not in before and t.name.startswith(APP_THREADS)]

    return running


@pytest.fixture
def hub_faults(hub) -> Iterator[Any]:
    hub.faults.clear()
    yield hub
    hub.faults.clear()


def close_and_settle(window) -> None:
    """Close the window, then deliver whatever was still queued for it (late answers must be dropped)."""
    window.close()
    assert not window.isVisible()
    QCoreApplication.processEvents()
    QCoreApplication.processEvents()
    assert [timer for timer in window.findChildren(QTimer) if timer.isActive()] == []  # no timer fires after it


def spy(signal) -> list[tuple]:
    heard: list[tuple] = []
    signal.connect(lambda *args: heard.append(args))
    return heard


def test_closing_during_a_discover_search(qtbot, hf_env, window, app_threads, monkeypatch) -> None:
    """The flake of issue 18: an answer already on its way when the window closes selected a result, whose
    details were then submitted to a pool already shut down."""
    page = window.hub.discover_page
    qtbot.waitUntil(lambda: page.memory is not None, timeout=10_000)
    go = threading.Event()
    real_search = catalogue.search

    def search_when_told(*args: Any, **options: Any) -> Any:
        assert go.wait(30)
        return real_search(*args, **options)

    monkeypatch.setattr(catalogue, "search", search_when_told)
    answered = threading.Event()  # set on the pool's thread just after the answer was posted to the GUI thread
    real_run = window.background.run

    def run_and_watch(*args: Any) -> Future:
        future = real_run(*args)
        future.add_done_callback(lambda _f: answered.set())  # runs after the Background's own callback
        return future

    monkeypatch.setattr(window.background, "run", run_and_watch)
    submitted = spy(window.background.unhandled)
    page.query.setText("SmolLM2")
    page.search()
    go.set()
    assert answered.wait(30)  # the loopback Hub answered; the GUI thread has not seen it yet
    close_and_settle(window)
    assert page.results.rowCount() == 0 and page.status.text() == "Searching…"  # dropped, not shown
    assert page.title.text() == "" and not submitted
    assert window.background.run(lambda: 1, lambda _r: None).cancelled()  # after the close: a quiet no-op
    assert app_threads() == []


def test_closing_while_the_hub_answers(qtbot, hf_env, window, app_threads, monkeypatch) -> None:
    """A search still running when the window closes: the close waits for it and drops its answer."""
    page = window.hub.discover_page
    real_search = catalogue.search
    started = threading.Event()

    def answer_once_closing(*args: Any, **options: Any) -> Any:
        started.set()
        assert wait_on_this_thread(lambda: window.background.closed)
        return real_search(*args, **options)

    monkeypatch.setattr(catalogue, "search", answer_once_closing)
    page.query.setText("SmolLM2")
    page.search()
    assert started.wait(30)
    close_and_settle(window)
    assert page.results.rowCount() == 0 and page.status.text() == "Searching…"
    assert app_threads() == []


def wait_on_this_thread(condition: Callable[[], bool], timeout: float = 30) -> bool:
    """On a worker thread (no Qt event loop there to wait with): wait until ``condition`` holds."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return False


def test_closing_during_a_download(qtbot, hf_env, hub_faults, window, app_threads) -> None:
    hub_faults.fault("SmolLM2*.gguf", "slow", seconds=0.05, times=-1)  # ~20 s for the whole file: mid-way at the close
    page = window.hub.discover_page
    page.query.setText("SmolLM2")
    page.search()
    qtbot.waitUntil(lambda: page.quants.rowCount() == 1 and page.download_button.isEnabled(), timeout=120_000)
    page.download_button.click()
    manager = window.hub.downloads
    qtbot.waitUntil(lambda: any(job.done > 0 for job in manager.jobs()), timeout=120_000)
    downloaded = spy(window.hub.downloads_page.model_downloaded)
    close_and_settle(window)
    assert app_threads() == [] and not window.hub.downloads_page.timer.isActive()
    (job,) = manager.jobs()
    assert job.state == State.PAUSED and 0 < job.done < job.total and not downloaded
    assert job.part.stat().st_size == job.done  # the transfer stopped: the bytes on disk are the bytes counted
    (saved,) = load_queue(manager.state_file, manager.models_dir, autostart=True)  # resumed at the next start
    assert saved.key == job.key and saved.done == job.done and saved.state == State.QUEUED


def test_closing_during_a_model_load(qtbot, window, library_with_model: Path, app_threads) -> None:
    client = window.client
    ready, failed = spy(window.model_ready), spy(window.model_failed)
    with qtbot.waitSignal(client.load_progress, timeout=120_000):
        window.model_bar.load_model(str(library_with_model))
    close_and_settle(window)
    assert not ready and not failed  # nothing reaches the window after the close
    assert client.closed and client.loaded is None and not client.running
    assert client.service.engine.loaded is None  # the model (loaded or not by then) is freed
    assert app_threads() == []


def test_closing_during_a_streaming_reply(qtbot, window, library_with_model: Path, app_threads) -> None:
    with qtbot.waitSignal(window.model_ready, timeout=120_000):
        window.model_bar.load_model(str(library_with_model))
    window.persona.max_tokens.setValue(4096)
    window.input.setPlainText("Tell me a very long story about a dragon.")
    tokens = spy(window.client.tokens)
    window.chat.send()
    qtbot.waitUntil(lambda: bool(tokens), timeout=120_000)
    chat_id = window.session.chat_id
    close_and_settle(window)
    shown, heard = window.chat_model.items[-1].text, len(tokens)
    QCoreApplication.processEvents()
    assert len(tokens) == heard and window.chat_model.items[-1].text == shown  # no text after the close
    assert not window.client.running and app_threads() == []
    store = ChatStore(window.paths.chats_db)
    try:
        reply = store.active_path(chat_id)[-1]
    finally:
        store.close()
    assert reply.role == "assistant" and reply.state == "stopped" and reply.content == shown and shown


def test_closing_during_an_api_request(qtbot, window, library_with_model: Path, app_threads) -> None:
    with qtbot.waitSignal(window.model_ready, timeout=120_000):
        window.model_bar.load_model(str(library_with_model))
    window.router.show("server")
    server = window.router.page("server")
    server.port.setValue(free_port())
    with qtbot.waitSignal(server.running_changed, timeout=120_000):
        server.toggle.click()
    first_piece, ended = threading.Event(), threading.Event()
    outcome: list[object] = []

    def api_call() -> None:
        client = openai.OpenAI(base_url=server.runner.url, api_key="x", max_retries=0, timeout=60)
        try:
            stream = client.chat.completions.create(
                model=library_with_model.stem, messages=[{"role": "user", "content": "Tell a long story."}],
                max_tokens=4096, stream=True,
            )  # fmt: skip
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first_piece.set()
            outcome.append("ended")
        except Exception as exc:  # the server went away mid-stream: what a client sees then
            outcome.append(exc)
        finally:
            ended.set()

    caller = threading.Thread(target=api_call, name="test-api-caller")
    caller.start()
    qtbot.waitUntil(first_piece.is_set, timeout=120_000)
    close_and_settle(window)
    assert ended.wait(60), "the API request still streams after the window closed"
    caller.join(10)
    assert not server.running and server.status.text() == "Stopped."
    assert outcome and (outcome[0] == "ended" or isinstance(outcome[0], openai.APIError | OSError))
    assert not window.client.running and app_threads() == []
