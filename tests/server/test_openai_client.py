"""The official `openai` client against `hermes-studio serve` with the starter model, over real HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from tests.server.conftest import API_KEY, Process

MODEL = "SmolLM2-135M-Instruct.Q4_1"
HELLO = [{"role": "user", "content": "Hello! Who are you?"}]


def client(served: Process, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key=key, max_retries=0, timeout=180)


def post_raw(served: Process, body: bytes, key: str = API_KEY) -> tuple[int, dict]:
    request = urllib.request.Request(
        served.url + "/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def still_answers(served: Process) -> None:
    assert [m.id for m in client(served).models.list()] == [MODEL]


def test_lists_the_loaded_model(served: Process) -> None:
    models = client(served).models.list()
    assert [m.id for m in models] == [MODEL]
    assert models.data[0].object == "model"


def test_non_streamed_chat_has_text_usage_and_finish_reason(served: Process) -> None:
    reply = client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=8, temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason == "length"
    assert reply.usage.completion_tokens == 8
    assert reply.usage.prompt_tokens > 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 8
    assert reply.model == MODEL and reply.object == "chat.completion"


def test_streamed_chat_sends_deltas_then_finish_reason_then_usage(served: Process) -> None:
    stream = client(served).chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    texts = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert chunks[0].choices[0].delta.role == "assistant"
    # at least one delta of text (pieces that arrive while one is sent go out together: on a loaded machine a short
    # reply may come as one delta), and the text is the whole reply (compared with the non-streamed one below)
    assert [t for t in texts if t] and "".join(texts).strip()
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    # the same greedy reply, not streamed, is the same text
    whole = client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=12, temperature=0)
    assert whole.choices[0].message.content == "".join(texts)


def test_stop_sequence_ends_the_reply_before_it(served: Process) -> None:
    messages = [{"role": "user", "content": "Write three sentences about the sea."}]
    # asked twice: from the second time on the prompt comes from the KV cache, and llama.cpp's greedy reply
    # to a cached prompt can differ in its floats from a freshly read one
    for _ in range(2):
        full = client(served).chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0)
    text = full.choices[0].message.content
    words = text.split()
    assert len(words) >= 6, text
    stop_word = words[len(words) // 2]
    cut = client(served).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=40, temperature=0, stop=[stop_word]
    )
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(stop_word)]


def test_json_schema_response_format_yields_valid_json(served: Process) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    reply = client(served).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe a person as JSON."}],
        max_tokens=60,
        temperature=0.7,
        seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    value = json.loads(reply.choices[0].message.content)
    assert set(value) == {"name", "age"} and isinstance(value["name"], str) and isinstance(value["age"], int)


def test_three_concurrent_clients_are_all_answered(served: Process) -> None:
    answers: dict[int, str] = {}

    def ask(index: int) -> None:
        reply = client(served).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"Say the number {index}."}], max_tokens=10
        )
        answers[index] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert sorted(answers) == [0, 1, 2] and all(answers.values())


def test_a_client_hanging_up_mid_stream_frees_the_engine(served: Process) -> None:
    served.drain()
    stream = client(served).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Tell a very long story."}], max_tokens=1500, stream=True
    )
    received = 0
    started = time.perf_counter()
    for chunk in stream:
        received += bool(chunk.choices and chunk.choices[0].delta.content)
        if received == 5:
            break
    per_token = (time.perf_counter() - started) / received
    closed = time.perf_counter()
    stream.close()
    _, noticed = served.wait_for(r"499 .*client went away", timeout=30)
    # the server cancels the ticket at the disconnect; its generation ends within a token or two
    assert noticed - closed < 1.0 + 2 * per_token, noticed - closed
    # and the engine is free: a short request is answered far sooner than the rest of that story would take
    before = time.perf_counter()
    client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4)
    assert time.perf_counter() - before < 0.25 * 1500 * per_token


def test_wrong_or_missing_key_is_401(served: Process) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(served, key="wrong").models.list()
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    status, body = post_raw(served, b"{}", key="")
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    still_answers(served)


def test_malformed_json_is_400_with_an_error_body(served: Process) -> None:
    status, body = post_raw(served, b'{"model": "x", "messages": [')
    assert status == 400
    assert body["error"]["code"] == "invalid_json" and "JSON" in body["error"]["message"]
    assert set(body["error"]) >= {"message", "type", "code"}
    still_answers(served)


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "hot"), ("max_tokens", 1.5), ("stream", "yes"), ("stop", 3), ("messages", "hi"), ("n", 2)],
)
def test_wrong_types_are_400_naming_the_field(served: Process, field: str, value: object) -> None:
    body = {"model": MODEL, "messages": HELLO, field: value}
    status, answer = post_raw(served, json.dumps(body).encode())
    assert status == 400 and answer["error"]["param"] == field, answer
    still_answers(served)


def test_refused_fields_are_400(served: Process) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).chat.completions.create(model=MODEL, messages=HELLO, logit_bias={"1": 5})
    assert caught.value.body["code"] == "unsupported_parameter" and caught.value.body["param"] == "logit_bias"


def test_unknown_model_is_404(served: Process) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(served).chat.completions.create(model="no-such-model", messages=HELLO)
    assert caught.value.body["code"] == "model_not_found"
    assert MODEL in caught.value.body["message"]  # says what is available
    still_answers(served)


def test_a_message_beyond_the_context_is_400(served: Process) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]  # the server's context is 2,048 tokens
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).chat.completions.create(model=MODEL, messages=huge, max_tokens=8)
    assert caught.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):  # streamed too: refused before the 200
        client(served).chat.completions.create(model=MODEL, messages=huge, max_tokens=8, stream=True)
    still_answers(served)


def test_a_40_mb_body_is_413(served: Process) -> None:  # (32 MiB pass: a 20 MB image is 27 MB in base64)
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x" * (40 << 20)}]}).encode()
    status, answer = post_raw(served, body)
    assert status == 413 and answer["error"]["code"] == "request_too_large"
    still_answers(served)


def test_completions_and_embeddings(served: Process) -> None:
    completion = client(served).completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5)
    assert completion.choices[0].text.strip() and completion.usage.completion_tokens == 5
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).embeddings.create(model=MODEL, input="hello")
    assert caught.value.body["code"] == "model_cannot_embed"


def test_unknown_route_is_an_openai_404_and_the_server_still_chats(served: Process) -> None:
    request = urllib.request.Request(served.url + "/nothing-here", headers={"Authorization": f"Bearer {API_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 404 and "error" in json.loads(caught.value.read())
    reply = client(served).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4)
    assert reply.choices[0].message.content
    assert not [line for line in served.lines if "Traceback" in line or " 500 " in line]


def test_a_conversation_continued_is_read_from_its_saved_state_and_clients_stay_apart(served: Process) -> None:
    """Issue 20 on the server: a request that continues an earlier one restores that one's state (usage says how
    many prompt tokens: ``prompt_tokens_details.cached_tokens``); another client's conversation restores nothing."""

    def facts(topic: str) -> str:
        return " ".join(f"Fact {i}: the {topic} number {i} has {i * 7 % 13} boats." for i in range(30))

    mine = [{"role": "system", "content": f"Remember these facts. {facts('harbour')}"},
            {"role": "user", "content": "Which harbour has the most boats?"}]  # fmt: skip
    theirs = [{"role": "system", "content": f"Remember these facts. {facts('lake')}"},
              {"role": "user", "content": "Which lake has the most boats?"}]  # fmt: skip

    def ask(messages: list[dict[str, str]]):
        reply = client(served).chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0)
        assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
        return reply, reply.usage.prompt_tokens_details.cached_tokens or 0

    first, cached = ask(mine)
    assert cached == 0 and first.usage.prompt_tokens > 300
    _, cached = ask(theirs)  # another client in between: it shares no more than the template's first tokens
    assert cached == 0
    going_on = [*mine, {"role": "assistant", "content": first.choices[0].message.content or ""},
                {"role": "user", "content": "And the fewest?"}]  # fmt: skip
    _, cached = ask(going_on)
    assert cached > first.usage.prompt_tokens * 0.9  # the first exchange came from its saved state
