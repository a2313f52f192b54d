"""A reply's tool steps as message parts: a forced call through the grammar with the real engine and the starter
model, kept in a real SQLite history, reopened, sent to the model in the next turn as the template's own tool
turns (ChatML's Hermes fallback, Qwen 2.5's and Llama 3.1's templates), and carried by every export."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.chat.session import ChatSession, TurnSettings
from app.core.chat.tool_turn import run_tool_turn
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService, GenerationRequest
from app.core.history.exchange import export_markdown, export_openai, export_tree, import_tree
from app.core.history.store import ChatStore
from app.core.paths import resolve_paths
from app.core.prompting.parts import (
    ImagePart,
    OtherPart,
    ReasoningPart,
    ToolCallPart,
    ToolResultPart,
    parts_from_json,
    parts_to_json,
)
from app.core.prompting.prompt_formats import CUSTOM, ChatMessage, RenderedPrompt
from app.core.prompting.tool_parts import NOT_RUN, answer_of, fold_tool_turns, reply_messages, steps_markdown
from app.core.prompting.types import GenerationStats, MessageState, Sampling
from app.core.tools.mcp_client import ToolResult
from app.core.tools.rounds import DENIED
from app.core.tools.specs import ChoiceMode, ToolCall, ToolChoice, ToolSpec

TEMPLATES = Path(__file__).parent.parent / "data" / "chat_templates"
WEATHER = ToolSpec(
    "weather__forecast",
    "The weather forecast for a city.",
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]},
)
FORCED = ToolChoice(ChoiceMode.NAMED, WEATHER.name)
TURN = TurnSettings(
    system_prompt="You are a helpful assistant.",
    model="SmolLM2",
    sampling=Sampling(temperature=0.0, max_tokens=48, seed=1),
)
SHA = "ab" * 32


def _forecast(call: ToolCall) -> ToolResult:
    return ToolResult(f"Sunny in {call.arguments_object().get('city', '?')}, 21 °C (forecast #7731)", truncated=True)


def _tool_turn(session: ChatSession, service: EngineService, request: GenerationRequest, allow: bool = True) -> None:
    asked: list[str] = []

    def approve(call: ToolCall) -> bool:
        asked.append(call.name)
        assert session.last().waiting.startswith("Waiting for your approval")  # the reply says what it waits for
        return allow

    run_tool_turn(session, service, request, [WEATHER], FORCED, approve=approve, run_tool=_forecast,
                  server_of=lambda name: name.partition("__")[0], max_rounds=1)  # fmt: skip
    assert asked == [WEATHER.name]


def _prompt(service: EngineService, request: GenerationRequest) -> tuple[str, GenerationStats]:
    """The prompt the engine rendered for ``request`` (one token generated: the prompt is what is looked at)."""
    seen: list[RenderedPrompt] = []
    one = dataclasses.replace(request, sampling=dataclasses.replace(request.sampling, max_tokens=1))
    stats = service.generate(one, lambda _piece: None, on_start=lambda prompt, _stats: seen.append(prompt)).result()
    return seen[0].text, stats


def test_parts_are_stored_and_read_back_and_damage_is_kept() -> None:
    image = ImagePart(SHA, "image/png", 4, 3, "chart.png")
    parts = (
        ReasoningPart("thinking"),
        ToolCallPart("call_1", "weather__forecast", '{"city": "Oslo"}', "weather", round=0, at=5),
        ToolResultPart("call_1", "Snow", "weather__forecast", truncated=True, error=False, images=(image,)),
    )
    again, damaged = parts_from_json(parts_to_json(parts))
    assert again == parts and damaged == ""
    broken = json.dumps([{"type": "tool_call", "id": 7, "name": "x"}, {"type": "tool_result", "call_id": "c"}])
    kept, _ = parts_from_json(broken)
    assert all(isinstance(part, OtherPart) for part in kept)  # unreadable steps are kept as stored, never lost
    assert json.loads(parts_to_json(kept)) == json.loads(broken)


def test_a_reply_becomes_its_rounds_of_calls_and_results() -> None:
    content = "Let me look. Oslo is snowy; Bergen rainy."
    parts = (
        ToolCallPart("c1", "weather__forecast", '{"city": "Oslo"}', "weather", round=0, at=12),
        ToolResultPart("c1", "Snow", "weather__forecast"),
        ToolCallPart("c2", "weather__forecast", '{"city": "Bergen"}', "weather", round=1, at=12),
    )
    messages = reply_messages(content, parts)
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == "Let me look." and messages[0]["tool_calls"][0]["id"] == "c1"
    assert messages[1] == {"role": "tool", "tool_call_id": "c1", "name": "weather__forecast", "content": "Snow"}
    assert messages[2]["content"] == ""
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"city": "Bergen"}'
    assert messages[3]["content"] == NOT_RUN  # a call the reply was stopped before running is answered
    assert messages[4]["content"] == " Oslo is snowy; Bergen rainy." == answer_of(content, parts)
    assert "MCP server weather" in steps_markdown(parts) and "No result yet" in steps_markdown(parts)
    # and back: a client's OpenAI history folds into the same reply (the server's --save keeps it so)
    whole = (*(dataclasses.replace(p, server="") if isinstance(p, ToolCallPart) else p for p in parts),  # no server
             ToolResultPart("c2", "Rain", "weather__forecast"))  # fmt: skip
    question: ChatMessage = {"role": "user", "content": "Weather?"}
    folded = fold_tool_turns([question, *reply_messages(content, whole), {"role": "user", "content": "Thanks"}])
    assert folded == [(question, ()), ({"role": "assistant", "content": content}, whole),
                      ({"role": "user", "content": "Thanks"}, ())]  # fmt: skip


def test_a_tool_round_trip_is_saved_reopened_sent_next_turn_and_exported(
    service: EngineService, tmp_path: Path
) -> None:
    store = ChatStore(tmp_path / "chats.db")
    session = ChatSession(store)
    _tool_turn(session, service, session.send("What is the weather in Oslo?", TURN))
    reply = session.last()
    assert reply.state is MessageState.DONE and "#7731" not in reply.reasoning  # the step is parts, not reasoning
    call, result = reply.tools
    assert isinstance(call, ToolCallPart) and isinstance(result, ToolResultPart)
    arguments = json.loads(call.arguments)  # the grammar made the tiny model write a valid call
    assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
    assert call.server == "weather" and result.call_id == call.id and result.truncated and not result.error
    assert "forecast #7731" in result.content
    chat_id = session.chat_id
    store.close()

    store = ChatStore(tmp_path / "chats.db")  # reopened: the steps come back from the parts
    reopened = ChatSession(store)
    reopened.open(chat_id)
    assert reopened.last().tools == reply.tools and reopened.last().text == reply.text

    # the next turn sends the call and its result back, in ChatML's Hermes fallback (SmolLM2 has no tool template)
    request = reopened.send("And tomorrow?", TURN)
    roles = [m["role"] for m in request.messages]
    assert roles[:4] == ["system", "user", "assistant", "tool"]
    assert request.messages[2]["tool_calls"][0]["id"] == call.id
    prompt, stats = _prompt(service, request)
    reopened.finish(stats)
    body = json.dumps({"name": WEATHER.name, "arguments": arguments}, ensure_ascii=False)
    assert f"<|im_start|>assistant\n<tool_call>\n{body}\n</tool_call><|im_end|>" in prompt
    assert f"<|im_start|>user\n<tool_response>\n{result.content}\n</tool_response><|im_end|>" in prompt
    assert prompt.index("</tool_response>") < prompt.index("And tomorrow?")

    # exports: OpenAI's tool_calls and role "tool"; Markdown shows the step; JSON keeps the parts through an import
    exported = export_openai(store, chat_id)
    assistant = next(m for m in exported if m.get("tool_calls"))
    assert assistant["tool_calls"] == [{"id": call.id, "type": "function",
                                        "function": {"name": WEATHER.name, "arguments": call.arguments}}]  # fmt: skip
    tool = exported[exported.index(assistant) + 1]
    assert tool == {"role": "tool", "tool_call_id": call.id, "name": WEATHER.name, "content": result.content}
    markdown = export_markdown(store, chat_id)
    assert "Tools used" in markdown and f"`{WEATHER.name}(" in markdown and "forecast #7731" in markdown
    copy = import_tree(store, export_tree(store, chat_id))
    assert ChatSession(store).store.active_path(copy)[2].parts == store.active_path(chat_id)[2].parts

    # regenerate: the new version has its own steps, the old one keeps its own (a sibling), each read back
    _tool_turn(reopened, service, reopened.regenerate(TURN), allow=False)
    denied = reopened.last()
    assert denied.sibling_count == 2 and len(denied.tools) == 2 and denied.tools[1].content == DENIED
    assert denied.tools[1].error
    last = len(reopened.items) - 1
    reopened.switch_version(last, -1)  # the first version had no tool step
    assert reopened.last().tools == () and reopened.items[1].tools == reply.tools
    reopened.switch_version(last, +1)  # read back from the store
    assert reopened.last().tools == denied.tools
    store.close()


@pytest.mark.parametrize(
    ("template", "call_shape", "result_shape"),
    [
        ("Qwen-Qwen2.5-7B-Instruct.jinja", '<tool_call>\n{"name": "weather__forecast", "arguments": {"city": ',
         "<|im_start|>user\n<tool_response>\n"),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", '{"name": "weather__forecast", "parameters": {"city": ',
         "<|start_header_id|>ipython<|end_header_id|>\n\n"),
    ],
)  # fmt: skip
def test_the_next_turn_renders_the_steps_in_the_models_own_template(
    service: EngineService, tmp_path: Path, template: str, call_shape: str, result_shape: str
) -> None:
    turn = TurnSettings(system_prompt="You are a helpful assistant.", model="SmolLM2",
                        sampling=Sampling(temperature=0.0, max_tokens=48, seed=1),
                        prompt_format=(CUSTOM, (TEMPLATES / template).read_text()))  # fmt: skip
    store = ChatStore(tmp_path / "chats.db")
    session = ChatSession(store)
    _tool_turn(session, service, session.send("What is the weather in Oslo?", turn))
    result = session.last().tools[1]
    prompt = _prompt(service, session.send("And tomorrow?", turn))[0]
    assert call_shape in prompt and result_shape in prompt and result.content in prompt
    assert prompt.index(call_shape) < prompt.index(result.content) < prompt.index("And tomorrow?")
    store.close()


def test_the_cli_keeps_calls_and_results_in_the_history(starter_model: Path, tmp_path: Path) -> None:
    """`chat --mcp … --allow-tools … --save` with a real MCP server over stdio: the step is the reply's parts, and
    `chats export --format openai` carries it as tool_calls and a role "tool" message."""
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"time": {
        "command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}}}))  # fmt: skip
    home = tmp_path / "home"
    chat = subprocess.run(
        [sys.executable, "-m", "app", "chat", "--basedir", str(home), "--model", str(starter_model), "--save",
         "--mcp", str(config), "--tool-choice", "time__get_current_time", "--allow-tools", "time__get_current_time",
         "--max-tokens", "40", "--temperature", "0", "--seed", "1", "--max-tool-rounds", "1", "What time is it?"],
        check=False, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert "saved in chat 1" in chat.stderr and "Traceback" not in chat.stderr
    store = ChatStore(resolve_paths(home).chats_db)
    try:
        reply = store.active_path(1)[-1]
        call, result = (part for part in reply.parts if isinstance(part, ToolCallPart | ToolResultPart))
        assert isinstance(call, ToolCallPart) and call.name == "time__get_current_time" and call.server == "time"
        assert isinstance(result, ToolResultPart) and result.call_id == call.id and '"timezone"' in result.content
        assert result.content not in reply.reasoning  # a part, not reasoning text
    finally:
        store.close()
    exported = subprocess.run(
        [sys.executable, "-m", "app", "chats", "export", "1", "--format", "openai", "--basedir", str(home)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    messages = json.loads(exported.stdout)
    assistant = next(m for m in messages if m.get("tool_calls"))
    assert assistant["tool_calls"][0]["id"] == call.id
    assert assistant["tool_calls"][0]["function"] == {"name": call.name, "arguments": call.arguments}
    tool = messages[messages.index(assistant) + 1]
    assert tool["role"] == "tool" and tool["tool_call_id"] == call.id and tool["content"] == result.content


def test_the_servers_save_keeps_a_clients_tool_turns_as_parts(starter_model: Path, tmp_path: Path) -> None:
    """`serve --save` with the `openai` client: a history with an assistant's tool_calls and a role "tool" result is
    saved as one reply with its call and result parts (not refused by the history), and exported back as it came."""
    import openai

    from app.server.app import ServerOptions
    from app.server.runner import ServerRunner

    service = EngineService()
    db = tmp_path / "chats.sqlite3"
    runner = ServerRunner(service, ServerOptions(port=0, chats_db=db))
    history = [
        {"role": "user", "content": "What is the weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_oslo", "type": "function",
         "function": {"name": "weather__forecast", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_oslo", "content": "Snow, -3 °C"},
    ]  # fmt: skip
    try:
        service.load(starter_model, LoadOptions(context_size=2048)).result(60)
        runner.start()
        client = openai.OpenAI(base_url=runner.url, api_key="none", max_retries=0, timeout=120)
        answer = client.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1", messages=history, tools=[WEATHER.as_openai()], tool_choice="none",
            max_tokens=8, temperature=0,
        )  # fmt: skip
    finally:
        runner.stop()
        service.close()
    store = ChatStore(db)
    try:
        [chat] = store.list_chats()
        user, reply = store.active_path(chat.id)[-2:]
        assert user.role == "user" and reply.role == "assistant"
        assert reply.content == answer.choices[0].message.content
        call, result = (part for part in reply.parts if isinstance(part, ToolCallPart | ToolResultPart))
        assert call == ToolCallPart("call_oslo", "weather__forecast", '{"city": "Oslo"}', round=0, at=0)
        assert result == ToolResultPart("call_oslo", "Snow, -3 °C")
        exported = export_openai(store, chat.id)
        assert [m["role"] for m in exported][-3:] == ["assistant", "tool", "assistant"]
        assert exported[-3]["tool_calls"][0]["id"] == "call_oslo" and exported[-2]["content"] == "Snow, -3 °C"
    finally:
        store.close()


def test_images_a_tool_returns_are_kept_as_image_parts(tmp_path: Path) -> None:
    """A real MCP server (stdio) returns text and a PNG: the PNG is checked, kept in the image store, and stored as an
    image of the result part; it comes back when the chat is reopened, and the step says so."""
    from app.core.chat.tool_turn import checked_images
    from app.core.media.store import ImageStore
    from app.core.tools.mcp_client import McpHub
    from app.core.tools.mcp_config import parse_config

    server = Path(__file__).parent.parent / "data" / "mcp" / "pictures_server.py"
    configs = parse_config({"mcpServers": {"pics": {"command": sys.executable, "args": [str(server)]}}})
    with McpHub(configs, start_seconds=60) as hub:
        result = hub.call("pics__chart", {})
    call = ToolCall("pics__chart", "{}")
    images = checked_images(result, call)
    assert result.text.startswith("A red chart") and [(i.width, i.height) for i in images] == [(8, 6)]
    store, pictures = ChatStore(tmp_path / "chats.db"), ImageStore(tmp_path / "images")
    session = ChatSession(store, images=pictures)
    session.send("Draw me a chart", TURN)
    session.tool_step(ToolCallPart(call.id, call.name, call.arguments, "pics"))
    session.tool_step(ToolResultPart(call.id, result.text, call.name), images)
    session.append("Here it is.")
    session.finish(GenerationStats(finish_reason="stop"))
    chat_id = session.chat_id
    store.close()
    store = ChatStore(tmp_path / "chats.db")
    reopened = ChatSession(store, images=pictures)
    reopened.open(chat_id)
    kept = reopened.last().tools[1]
    assert isinstance(kept, ToolResultPart) and [(i.width, i.height, i.mime) for i in kept.images] == [
        (8, 6, "image/png")
    ]
    assert pictures.load(kept.images[0]).data == images[0].data  # the bytes, by content, in the data folder
    assert pictures.prune(store.image_hashes(), older_than_s=0) == 0  # a result's image is not pruned as unused
    assert "1 image" in steps_markdown(reopened.last().tools)
    store.close()


def test_continue_after_tool_rounds_sends_the_rounds_and_carries_on_the_answer(tmp_path: Path) -> None:
    store = ChatStore(tmp_path / "chats.db")
    session = ChatSession(store)
    session.send("Weather in Oslo?", TURN)
    session.append("Looking. ")
    session.tool_step(ToolCallPart("c1", WEATHER.name, '{"city": "Oslo"}', "weather"))
    session.tool_step(ToolResultPart("c1", "Snow", WEATHER.name))
    session.append("It snows in")
    session.finish(GenerationStats(finish_reason="cancelled"))  # Stop pressed mid-answer
    assert session.last().state is MessageState.STOPPED and session.last().tools[0].at == len("Looking. ")
    request = session.continue_last(TURN)
    assert request.continue_text == "It snows in"  # the answer after the rounds carries on ...
    assert [m["role"] for m in request.messages][-3:] == ["user", "assistant", "tool"]  # ... after them
    assert request.messages[-2]["content"] == "Looking. " and request.messages[-1]["content"] == "Snow"
    session.fail("not generated here")
    store.close()
