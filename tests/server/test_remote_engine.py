"""A remote engine no one here wrote: llama-cpp-python's own OpenAI server on loopback, with the starter model.

Hermes Studio lists its models, chats through it (the CLI, and the core path the window takes: a
ChatSession on an EngineService that owns a RemoteEngine), stops mid-stream, saves the chat, and fails
cleanly when the engine goes down.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.remote import RemoteEngine, RemoteEngineError, api_base, list_models
from app.core.engines.remote_store import EnginesError, RemoteEngineStore
from app.core.engines.service import EngineService
from app.core.history.store import ChatStore
from app.core.prompting.types import FinishReason, MessageState, Sampling
from tests.server.conftest import Process, free_port, llama_cpp_server


def run_cli(*args: str, basedir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(basedir), *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_cli_lists_the_remote_engines_models(llama_server: Process, tmp_path: Path) -> None:
    result = run_cli("models", "--engine", llama_server.url.removesuffix("/v1"), basedir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["smol"]


def test_cli_chats_through_it_and_saves_the_chat(llama_server: Process, tmp_path: Path) -> None:
    result = run_cli("chat", "--engine", llama_server.url, "--model", "smol", "--max-tokens", "16", "--save",
                     "Hello,", "who are you?", basedir=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) >= 3
    assert "saved in chat 1" in result.stderr and "tok/s" in result.stderr
    exported = run_cli("chats", "export", "1", "--format", "openai", basedir=tmp_path)
    assert "Hello, who are you?" in exported.stdout and result.stdout.strip()[:20] in exported.stdout


def test_cli_names_a_model_the_engine_lacks(llama_server: Process, tmp_path: Path) -> None:
    result = run_cli("chat", "--engine", llama_server.url, "--model", "nope", "hi", basedir=tmp_path)
    assert result.returncode == 1
    assert "has no model 'nope'" in result.stderr and "smol" in result.stderr


def test_the_window_path_streams_saves_and_reports_stats(llama_server: Process, tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.sqlite3")
    service = EngineService(RemoteEngine(llama_server.url))
    try:
        loaded = service.load("smol").result(30)
        assert loaded.prompt_format == "the server's own format"
        session = ChatSession(store)
        turn = TurnSettings(system_prompt="You are brief.", model="smol", sampling=Sampling(max_tokens=12))
        pieces: list[str] = []
        stats = session.run(service, session.send("Hello!", turn), on_piece=pieces.append)
        assert len(pieces) >= 3
        assert stats.generated_tokens == 12 and stats.finish_reason == "length"
        assert stats.tokens_per_s > 0 and stats.ttft_s > 0
        saved = store.active_path(session.chat_id or 0)
        assert [m.role for m in saved] == ["system", "user", "assistant"]
        assert saved[-1].content == "".join(pieces) and saved[-1].state == MessageState.DONE
        assert saved[-1].stats["generated_tokens"] == 12
    finally:
        service.close()
        store.close()


def test_stop_closes_the_stream_and_the_engine_goes_on(llama_server: Process) -> None:
    service = EngineService(RemoteEngine(llama_server.url))
    try:
        service.load("smol").result(30)
        first = threading.Event()
        session = ChatSession(None)
        turn = TurnSettings(model="smol", sampling=Sampling(max_tokens=1500))
        request = session.send("Tell a very long story.", turn)
        ticket = service.generate(request, lambda _piece: first.set())
        assert first.wait(60)
        cancelled = time.perf_counter()
        ticket.cancel()
        stats = ticket.result(10)
        assert time.perf_counter() - cancelled < 1.0
        assert stats.finish_reason == FinishReason.CANCELLED and stats.generated_tokens < 1500
        again = service.generate(ChatSession(None).send("Hi", TurnSettings(sampling=Sampling(max_tokens=4))), print)
        assert again.result(60).generated_tokens == 4
    finally:
        service.close()


def test_an_engine_that_goes_down_fails_cleanly(starter_model: Path) -> None:
    server = llama_cpp_server(starter_model, alias="doomed")
    service = EngineService(RemoteEngine(server.url, read_timeout=60))
    try:
        service.load("doomed").result(30)
        first = threading.Event()
        request = ChatSession(None).send("Tell a very long story.", TurnSettings(sampling=Sampling(max_tokens=1500)))
        ticket = service.generate(request, lambda _piece: first.set())
        while not (first.wait(0.1) or ticket.done):  # a busy machine: the first token can take a while
            pass
        assert not ticket.done, ticket.result()
        server.popen.kill()
        with pytest.raises(RemoteEngineError, match=r"broke off|stopped answering"):
            ticket.result(15)
        with pytest.raises(RemoteEngineError, match="Could not reach"):  # and now it is down: a clear refusal
            service.generate(request, print).result(15)
    finally:
        server.stop()
        service.close()
    with pytest.raises(RemoteEngineError, match="Could not reach"):
        list_models(f"http://127.0.0.1:{free_port()}")


def test_remote_engine_store_keeps_entries_in_the_config_dir(tmp_path: Path) -> None:
    store = RemoteEngineStore(tmp_path)
    entry = store.add("GPU box", "http://10.0.0.5:8000", "sk-1")
    assert entry.base_url == "http://10.0.0.5:8000/v1"
    assert RemoteEngineStore(tmp_path).entries() == [entry]
    with pytest.raises(EnginesError, match="already"):
        store.add("gpu BOX", "http://x:1")
    with pytest.raises(RemoteEngineError, match="not an http"):
        store.add("bad", "ftp://x")
    store.remove("GPU box")
    assert store.entries() == []
    (tmp_path / "engines.json").write_text("{broken")
    assert store.entries() == [] and "could not be read" in store.problem
    assert api_base("http://h:1/v1/") == "http://h:1/v1"


def test_remote_models_for_the_picker(llama_server: Process, tmp_path: Path) -> None:
    from app.core.engines.remote_store import remote_models

    store = RemoteEngineStore(tmp_path)
    store.add("llama", llama_server.url)
    store.add("gone", f"http://127.0.0.1:{free_port()}")
    found = {entry.name: models for entry, models in remote_models(store)}
    assert found["llama"] == ["smol"]
    assert isinstance(found["gone"], str) and "Could not reach" in found["gone"]


def test_a_service_switches_between_a_local_and_a_remote_engine(llama_server: Process, starter_model: Path) -> None:
    from app.core.engines.llama_engine import LlamaEngine

    service = EngineService()
    try:
        service.load(starter_model).result(60)
        assert service.loaded is not None and service.loaded.name == starter_model.name
        remote = RemoteEngine(llama_server.url)
        service.switch_engine(remote).result(30)
        assert service.engine is remote and service.loaded is None  # the local model was freed
        service.load("smol").result(30)
        request = ChatSession(None).send("Hi", TurnSettings(sampling=Sampling(max_tokens=3)))
        assert service.generate(request, lambda _piece: None).result(60).generated_tokens == 3
        service.switch_engine(LlamaEngine()).result(30)
        service.load(starter_model).result(60)
        assert service.generate(request, lambda _piece: None).result(60).generated_tokens == 3
    finally:
        service.close()
