"""Reasoning in the OpenAI API, both ways, over real HTTP.

- `hermes-studio serve` with a copy of the starter model whose template opens <think>, asked by the official
  `openai` client: ``reasoning_content`` beside ``content``, streamed and not, the template's switch, the usage.
- A RemoteEngine reading that server (it speaks DeepSeek's convention), and a small stand-in server that sends
  ``reasoning`` deltas, ``<think>`` inside ``content`` and both at once: nothing lost, nothing twice, and no
  reasoning ever sent back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import openai
import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.remote import RemoteEngine
from app.core.engines.service import EngineService
from app.core.history.store import ChatStore
from app.core.prompting.parts import ReasoningOptions
from app.core.prompting.types import Sampling
from tests.server.conftest import API_KEY, Process, hermes_serve

MODEL = "SmolLM2-think"
ASK = [{"role": "user", "content": "What colour is the sky?"}]


@pytest.fixture(scope="module")
def served(thinking_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    basedir = tmp_path_factory.mktemp("think-serve")
    process = hermes_serve(basedir, "--model", str(thinking_model), "--api-key", API_KEY, "--context-size", "2048")
    yield process
    process.stop()


def client(served: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key=API_KEY, max_retries=0, timeout=180)


def test_reasoning_content_beside_content_streamed_and_not(served: Process) -> None:
    asked: dict[str, Any] = {"model": MODEL, "messages": ASK, "max_tokens": 24, "temperature": 0, "seed": 3}
    reply = client(served).chat.completions.create(**asked)
    message = reply.choices[0].message
    thought = message.reasoning_content  # type: ignore[attr-defined]
    assert thought and "<think>" not in thought and message.content == ""  # cut off while it still thought
    usage = reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert 0 < (usage.completion_tokens_details.reasoning_tokens or 0) <= usage.completion_tokens

    reasoning, content = [], []
    stream = client(served).chat.completions.create(**asked, stream=True, stream_options={"include_usage": True})
    streamed_usage = None
    for chunk in stream:
        streamed_usage = chunk.usage or streamed_usage
        for choice in chunk.choices:
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
            content.append(choice.delta.content or "")
    assert "".join(reasoning) == thought and "".join(content) == ""
    assert streamed_usage is not None and streamed_usage.completion_tokens_details is not None
    assert streamed_usage.completion_tokens_details.reasoning_tokens == usage.completion_tokens_details.reasoning_tokens


def test_the_template_switch_and_the_effort_reach_the_template(served: Process) -> None:
    reply = client(served).chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=12, temperature=0, reasoning_effort="low",  # type: ignore[arg-type]
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )  # fmt: skip
    message = reply.choices[0].message
    assert message.content and getattr(message, "reasoning_content", None) is None
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"chat_template_kwargs": {"enable_thinking": "yes"}}, "chat_template_kwargs"),
        ({"chat_template_kwargs": []}, "chat_template_kwargs"),
    ],
)
def test_bad_reasoning_fields_are_400s_naming_the_field(served: Process, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).chat.completions.create(model=MODEL, messages=ASK, max_tokens=4, extra_body=extra)  # type: ignore[arg-type]
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_a_remote_engine_reads_the_servers_reasoning_content(served: Process, tmp_path: Path) -> None:
    service = EngineService(RemoteEngine(served.url, API_KEY))
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        service.load(MODEL).result(30)
        session = ChatSession(store)
        turn = TurnSettings(model=MODEL, sampling=Sampling(temperature=0.0, max_tokens=16, seed=3))
        stats = session.run(service, session.send("What colour is the sky?", turn))
        reply = session.items[-1]
        assert reply.reasoning and reply.text == "" and stats.reasoning_tokens > 0
        assert store.active_path(session.chat_id or 0)[-1].reasoning == reply.reasoning
    finally:
        service.close()
        store.close()


class StandIn(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that streams whatever ``script`` says, and keeps the bodies it was sent."""

    script: ClassVar[list[dict[str, Any]]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, json.dumps({"object": "list", "data": [{"id": "thinker", "object": "model"}]}).encode())

    def do_POST(self) -> None:
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        events = [{"choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in self.script]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9,
                                                "completion_tokens_details": {"reasoning_tokens": 4}}})  # fmt: skip
        payload = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
        self._send(200, payload.encode(), "text/event-stream")

    def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stand_in() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StandIn.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


SCRIPTS = [
    # deltas sent, reasoning kept, answer kept
    ([{"reasoning_content": "Rayleigh "}, {"reasoning_content": "scattering."}, {"content": "Blue."}],
     "Rayleigh scattering.", "Blue."),
    ([{"reasoning": "OpenRouter style."}, {"content": "Blue."}], "OpenRouter style.", "Blue."),
    ([{"reasoning": "both", "reasoning_content": "both"}, {"content": "Blue."}], "both", "Blue."),  # never twice
    ([{"content": "<thi"}, {"content": "nk>in content</th"}, {"content": "ink>\n\nBlue."}], "in content", "Blue."),
    ([{"reasoning_content": "field. "}, {"content": "<think>tags</think>"}, {"content": "Blue."}],
     "field. tags", "Blue."),
    ([{"content": "Blue. </think> stray"}], "", "Blue. </think> stray"),
]  # fmt: skip


@pytest.mark.parametrize(("script", "reasoning", "answer"), SCRIPTS)
def test_a_remote_engine_keeps_every_kind_of_reasoning_apart_and_never_sends_it_back(
    stand_in: str, tmp_path: Path, script: list[dict[str, Any]], reasoning: str, answer: str
) -> None:
    StandIn.script = script
    service = EngineService(RemoteEngine(stand_in))
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        service.load("thinker").result(30)
        session = ChatSession(store)
        turn = TurnSettings(model="thinker", reasoning=ReasoningOptions(enable_thinking=True, effort="high"))
        stats = session.run(service, session.send("Colour of the sky?", turn))
        assert (session.items[-1].reasoning, session.items[-1].text) == (reasoning, answer)
        assert stats.reasoning_tokens == 4
        session.run(service, session.send("And grass?", turn))
        sent = StandIn.bodies[-1]
        assert sent["reasoning_effort"] == "high" and sent["chat_template_kwargs"] == {"enable_thinking": True}
        assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
        assert sent["messages"][1] == {"role": "assistant", "content": answer}  # the answer only
    finally:
        service.close()
        store.close()
