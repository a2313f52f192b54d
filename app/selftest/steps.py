"""The self-test's headless steps: each proves one capability through the same core the faces use.

A step gets a ``Probe`` (the model, a scratch folder, an engine service loaded on first use) and returns a short
detail for its line, or raises with the reason it failed. Nothing here needs the network or files that do not ship
with the app: the thinking model is a copy of the given model with another template, written on the fly.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.chat.session import ChatSession, TurnSettings
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.service import EngineService, GenerationRequest
from app.core.engines.state_cache import StateCache
from app.core.history.store import ChatStore
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import Sampling
from app.selftest.probe import OPTIONS, Probe, Step, check

GREEDY = Sampling(temperature=0.0, max_tokens=8, seed=1)
# A ChatML template that opens <think> (as Qwen 3's and DeepSeek R1's do): the reasoning split runs on real tokens.
THINK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
FORCED_THOUGHT = 'root ::= "Sky means blue." "</think>" "\\n\\nBlue."'


def engine_chat(probe: Probe) -> str:
    """The engine service loads the model and streams a greedy reply."""
    pieces: list[str] = []
    request = GenerationRequest([{"role": "user", "content": "Say hello."}], GREEDY)
    stats = probe.service.generate(request, pieces.append).result()
    check(bool("".join(pieces).strip()), "the model produced an empty reply")
    return f"{stats.generated_tokens} tokens, {stats.tokens_per_s:.0f} tok/s"


def reasoning(probe: Probe) -> str:
    """A thinking model's reply is split into reasoning and answer, saved, and left out of the next prompt."""
    thinking = write_thinking_copy(probe.model, probe.scratch / "thinking.gguf")
    service = EngineService(name="self-test-thinking")
    try:
        service.load(thinking, OPTIONS).result()
        session = ChatSession(ChatStore.in_memory())
        turn = TurnSettings(model="thinking", sampling=Sampling(temperature=0.0, max_tokens=40, seed=1))
        request = dataclasses.replace(session.send("Colour of the sky?", turn), grammar=FORCED_THOUGHT)
        session.run(service, request)
        reply = session.items[-1]
        check((reply.reasoning, reply.text) == ("Sky means blue.", "Blue."),
              f"expected the thought and the answer apart, got {reply.reasoning!r} / {reply.text!r}")  # fmt: skip
        follow_up = session.send("And grass?", turn)
        check(all("Sky means" not in str(m.get("content", "")) for m in follow_up.messages),
              "the old reasoning was sent again")  # fmt: skip
        session.run(service, dataclasses.replace(follow_up, sampling=Sampling(temperature=0.0, max_tokens=2)))
    finally:
        service.close()
    return "thought and answer split, old reasoning left out"


def write_thinking_copy(model: Path, target: Path, template_text: str = THINK_TEMPLATE) -> Path:
    """A copy of ``model`` whose chat template is ``template_text`` (gguf's own new-metadata code; the tests use it)."""
    import functools
    from unittest import mock

    import gguf
    from gguf.scripts import gguf_new_metadata
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(model, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    check(arch is not None, f"{model.name} has no architecture")
    assert arch is not None
    writer = gguf.GGUFWriter(target, arch=arch.contents(), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    template = MetadataDetails(gguf.GGUFValueType.STRING, template_text)
    quiet = functools.partial(gguf_new_metadata.tqdm, disable=True)  # its progress bar is not the self-test's
    with mock.patch.object(gguf_new_metadata, "tqdm", quiet):
        copy_with_new_metadata(reader, writer, {gguf.Keys.Tokenizer.CHAT_TEMPLATE: template}, [])
    return target


def long_chat() -> list[ChatMessage]:
    facts = " ".join(f"Fact {i}: the lamp number {i} is {i * 7 % 13}." for i in range(60))
    return [{"role": "system", "content": f"You know these facts. {facts}"},
            {"role": "user", "content": "Tell me about the lamps."}]  # fmt: skip


def state_restore(probe: Probe) -> str:
    """A long prompt's state is saved to disk by one engine and restored by another (a restart), same reply."""
    folder = probe.scratch / "states"
    replies: list[str] = []
    restored = 0
    for _ in range(2):
        engine = LlamaEngine(StateCache(folder, memory_budget=0))
        engine.load(probe.model, OPTIONS)
        try:
            generation = engine.stream(long_chat(), GREEDY)
            replies.append(generation.text())
            restored = generation.stats.restored_tokens
        finally:
            engine.unload()  # flushes the state being written
    check(any(folder.rglob("*")), "no state was written to disk")
    check(restored > 0, "the second engine read the whole prompt again (nothing restored)")
    check(replies[0] == replies[1], f"the restored state replied differently: {replies[0]!r} vs {replies[1]!r}")
    return f"{restored} prompt tokens restored from disk"


def tool_call(probe: Probe) -> str:
    """A forced tool call through a grammar, its arguments parsed, the result handed back to the model."""
    from app.core.tools.rounds import run_rounds
    from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, ToolSpec

    add = ToolSpec("add", "Add two integers.", {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"],
    })  # fmt: skip
    results: list[int] = []

    def execute(call: ToolCall) -> tuple[str, bool]:
        arguments = call.arguments_object()
        total = int(arguments["a"]) + int(arguments["b"])
        results.append(total)
        return str(total), False

    sampling = Sampling(temperature=0.0, max_tokens=64, seed=1)  # room for the whole call
    request = GenerationRequest([{"role": "user", "content": "What is 2 + 3?"}], sampling)
    outcome = run_rounds(probe.service, request, [add], ToolChoice(ChoiceMode.NAMED, "add"),
                         approve=lambda _call: True, execute=execute, max_rounds=1)  # fmt: skip
    check(bool(outcome.calls) and outcome.calls[0].name == "add", f"no call of add: {outcome.calls}")
    check(len(results) == len(outcome.calls), "a call was not executed")
    return f"add({outcome.calls[0].arguments}) = {results[0]}"


def mcp_stdio(probe: Probe) -> str:
    """An MCP server started from the app's own executable over stdio: tools listed, one called, stopped."""
    from app.core.tools.mcp_client import McpHub
    from app.core.tools.mcp_config import parse_config
    from app.selftest.probe_server import command

    argv = command()
    config = parse_config({"mcpServers": {"probe": {"command": argv[0], "args": argv[1:]}}})
    with McpHub(config, start_seconds=60, call_seconds=30) as hub:
        names = {tool.spec.name for tool in hub.tools()}
        check("probe__add" in names, f"the probe server's tools: {sorted(names)}; errors: {hub.errors}")
        result = hub.call("probe__add", {"a": 2, "b": 3})
    check(not result.is_error and result.text.strip() == "5", f"add(2, 3) answered {result.text!r}")
    return "probe__add(2, 3) = 5"


def server(probe: Probe) -> str:
    """The OpenAI-compatible server answers one chat completion on 127.0.0.1."""
    from app.server.app import ServerOptions
    from app.server.runner import ServerRunner

    runner = ServerRunner(probe.service, ServerOptions(host="127.0.0.1", port=0)).start()
    try:
        listed = _request(runner.port, "GET", "/v1/models")
        model = listed["data"][0]["id"]
        body = {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "temperature": 0}
        answer = _request(runner.port, "POST", "/v1/chat/completions", body)
    finally:
        runner.stop()
    content = answer["choices"][0]["message"]["content"]
    check(isinstance(content, str) and bool(content.strip()), f"an empty completion: {answer}")
    return f"{answer['usage']['completion_tokens']} tokens from /v1/chat/completions"


def _request(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        sent = json.dumps(body) if body is not None else None
        connection.request(method, path, sent, {"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    check(response.status == 200, f"HTTP {response.status}: {data[:300]!r}")
    answer: dict[str, Any] = json.loads(data)
    return answer


def _media(name: str) -> Callable[[Probe], str]:
    def run(probe: Probe) -> str:
        from app.selftest import media_steps

        step: Callable[[Probe], str] = getattr(media_steps, name)
        return step(probe)

    return run


HEADLESS_STEPS = (
    Step("engine", "the engine loads the model and streams a reply", engine_chat),
    Step("reasoning", "a thinking model's reply is split, saved and left out of the next prompt", reasoning),
    Step("state", "a chat's state is saved to disk and restored in a new engine", state_restore),
    Step("tools", "a tool call forced through a grammar and run", tool_call),
    Step("mcp", "an MCP server started from the app's executable is called over stdio", mcp_stdio),
    Step("server", "the OpenAI-compatible server answers a request", server),
    Step("vision", "an image reaches a tiny vision model (made here) through its projector", _media("vision")),
    Step("documents", "a PDF, a DOCX and a text file read, indexed and searched", _media("documents")),
)
