"""Just-in-time loading, MODEL@PRESET, --save, CORS, and a clean stop on Ctrl+C, over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from app.core.engines.service import EngineService
from app.core.history.store import ChatStore
from app.server.app import ServerOptions
from app.server.runner import ServerRunner
from tests.server.conftest import hermes_serve

MODEL = "SmolLM2-135M-Instruct.Q4_1"


@pytest.fixture
def library(tmp_path: Path, starter_model: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    try:
        os.link(starter_model, folder / starter_model.name)
    except OSError:
        shutil.copy2(starter_model, folder / starter_model.name)
    return folder


def test_serve_jit_loads_a_library_model_on_request_and_stops_on_ctrl_c(library: Path, tmp_path: Path) -> None:
    settings = tmp_path / "home" / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"models_dir": str(library), "context_size": 1024}))
    process = hermes_serve(tmp_path / "home", "--jit")
    try:
        client = openai.OpenAI(base_url=process.url, api_key="none", max_retries=0, timeout=120)
        assert [m.id for m in client.models.list()] == [MODEL]  # listed before it is loaded
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
        assert reply.usage.completion_tokens == 3
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="/etc/passwd", messages=[{"role": "user", "content": "Hi"}])
    finally:
        process.popen.send_signal(signal.SIGINT)
        assert process.popen.wait(30) == 0
    process.wait_for("Stopped.", timeout=5)


def test_preset_by_name_and_save(starter_model: Path, tmp_path: Path) -> None:
    service = EngineService()
    db = tmp_path / "chats.sqlite3"
    options = ServerOptions(port=0, chats_db=db, presets_dir=tmp_path / "presets")
    runner = ServerRunner(service, options)
    try:
        service.load(starter_model).result(60)
        runner.start()
        client = openai.OpenAI(base_url=runner.url, api_key="none", max_retries=0, timeout=120)
        messages = [{"role": "user", "content": "Who are you?"}]
        reply = client.chat.completions.create(model=f"{MODEL}@Edward Elric", messages=messages, max_tokens=4)
        assert reply.model == MODEL
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model=f"{MODEL}@Nobody", messages=messages, max_tokens=4)
        assert caught.value.body["code"] == "preset_not_found"
    finally:
        runner.stop()
        service.close()
    store = ChatStore(db)
    try:
        [chat] = store.list_chats()
        saved = store.active_path(chat.id)
        assert [m.role for m in saved] == ["system", "user", "assistant"]
        assert saved[0].content.startswith("You are to roleplay as Edward Elric")  # the preset's system prompt
        assert saved[2].content == reply.choices[0].message.content and saved[2].preset == "edward-elric"
    finally:
        store.close()


def test_cors_allows_only_the_listed_origins(starter_model: Path) -> None:
    service = EngineService()
    runner = ServerRunner(service, ServerOptions(port=0, api_key="k", cors_origins=("http://localhost:3000",)))
    try:
        runner.start()

        def preflight(origin: str) -> dict[str, str]:
            request = urllib.request.Request(
                runner.url + "/chat/completions",
                method="OPTIONS",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "authorization,content-type"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return dict(response.headers)
            except urllib.error.HTTPError as exc:
                return dict(exc.headers)

        assert preflight("http://localhost:3000").get("access-control-allow-origin") == "http://localhost:3000"
        assert "access-control-allow-origin" not in preflight("http://evil.example")
        # a refused key still carries the CORS header, so the page can read the error
        request = urllib.request.Request(runner.url + "/models", headers={"Origin": "http://localhost:3000"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 401
        assert caught.value.headers["access-control-allow-origin"] == "http://localhost:3000"
    finally:
        runner.stop()
        service.close()
