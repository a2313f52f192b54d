"""A server you can see (issue 25, 11): the request log as requests start, the cheat sheet (the indicator:
tests/ui/test_server_indicator.py).

Real HTTP requests to 127.0.0.1, the real engine with the starter model, and the cheat sheet's snippets run as
they would be pasted: the Python one in a fresh interpreter, the curl one in a shell.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from app.core.engines.service import GenerationRequest
from app.core.prompting.types import Sampling
from app.server.snippets import KEY_VARIABLE
from app.ui.engines.engine_client import EngineClient
from app.ui.engines.server_page import ServerPage
from tests.server import page_fixtures

MODEL = "SmolLM2-135M-Instruct.Q4_1"
engine, page = page_fixtures.engine, page_fixtures.page  # the Server page's fixtures, shared with its other tests


def rows(page: ServerPage, request: str) -> list[str]:
    return [line for line in page.log_lines() if request in line]


def test_a_request_shows_in_the_log_as_it_starts(qtbot, page: ServerPage, engine: EngineClient) -> None:
    assert page.start()
    url = page.runner.url if page.runner else ""
    with urllib.request.urlopen(url + "/models", timeout=30) as answer:  # GET /v1/models: its two lines
        assert answer.status == 200
    qtbot.waitUntil(lambda: any(" 200 " in line for line in rows(page, "GET /v1/models")), timeout=10_000)
    models_line = r"\d\d:\d\d:\d\d GET /v1/models 200 [\d.]+ s · answered \d\d:\d\d:\d\d"
    assert re.match(models_line, rows(page, "GET /v1/models")[0])
    # The engine is busy with a long reply (the window's chat, say): an API request waits behind it, and shows now.
    busy = engine.service.generate(
        GenerationRequest([{"role": "user", "content": "Tell a long story."}], Sampling(max_tokens=400)),
        lambda _piece: None,
    )
    answered = threading.Event()

    def call() -> None:
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        request = urllib.request.Request(url + "/chat/completions", body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as reply:
            reply.read()
        answered.set()

    caller = threading.Thread(target=call)
    caller.start()
    qtbot.waitUntil(lambda: bool(rows(page, "POST /v1/chat/completions")), timeout=30_000)
    line = rows(page, "POST /v1/chat/completions")[0]
    assert re.match(r"\d\d:\d\d:\d\d POST /v1/chat/completions … running", line)
    assert not answered.is_set() and not busy.done  # shown while it waits, not when it is done
    busy.cancel()
    caller.join(300)
    assert answered.is_set()
    qtbot.waitUntil(lambda: " 200 " in rows(page, "POST /v1/chat/completions")[0], timeout=10_000)
    assert "tok/s" in rows(page, "POST /v1/chat/completions")[0]


def test_the_cheat_sheet_s_snippets_work_as_pasted(qtbot, page: ServerPage, tmp_path: Path) -> None:
    page.api_key.setText("sheet-key")
    assert page.start()
    titles = [snippet.title for snippet in page.snippets]
    assert titles == ["curl: chat", "curl: models", "Python (openai)", "Python, streaming"]
    assert all(MODEL in snippet.code for snippet in page.snippets if "models" not in snippet.title)
    assert all("sheet-key" not in snippet.code for snippet in page.snippets)  # the key stays in the environment
    env = {**os.environ, KEY_VARIABLE: "sheet-key"}
    page.snippet_picker.setCurrentIndex(titles.index("Python (openai)"))
    page.copy_snippet.click()
    from PySide6.QtGui import QGuiApplication

    script = tmp_path / "snippet.py"
    script.write_text(QGuiApplication.clipboard().text(), encoding="utf-8")
    run = {"capture_output": True, "text": True, "timeout": 300, "env": env}
    done = subprocess.run([sys.executable, str(script)], check=False, **run)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
    if shutil.which("curl") and shutil.which("bash"):
        for title in ("curl: models", "curl: chat"):
            code = page.snippets[titles.index(title)].code
            done = subprocess.run(["bash", "-c", code], check=False, **run)
            assert done.returncode == 0, done.stderr[-2000:]
            answer = json.loads(done.stdout)
            assert answer["data"][0]["id"] == MODEL if title == "curl: models" else answer["choices"][0]["message"]
    qtbot.waitUntil(lambda: len(rows(page, " 200 ")) >= 2, timeout=10_000)
    assert not rows(page, " 401 ")
