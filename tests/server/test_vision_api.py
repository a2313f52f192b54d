"""OpenAI ``image_url`` parts through the official ``openai`` client, on `hermes-studio serve` with the tiny vision
model (tests/data/vision); a text-only model refuses them with OpenAI's error body."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.server.conftest import API_KEY, Process, hermes_serve
from tests.vision_data import TINY_VISION, blue_field, red_sun

MODEL = TINY_VISION.stem


@pytest.fixture(scope="module")
def vision_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    basedir = tmp_path_factory.mktemp("vision-serve")
    process = hermes_serve(basedir, "--model", str(TINY_VISION), "--api-key", API_KEY, "--context-size", "1024")
    yield process
    assert process.stop() == 0, "\n".join(process.lines)


def client(process: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=process.url, api_key=API_KEY, max_retries=0)


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def ask(url: str) -> list[Any]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": "What is in the picture?"}]}]  # fmt: skip


def test_image_url_parts_reach_the_model_and_change_its_reply(vision_served: Process) -> None:
    api = client(vision_served)
    plain = api.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is in the picture?"}], max_tokens=8, temperature=0
    )
    red = api.chat.completions.create(model=MODEL, messages=ask(data_url(red_sun())), max_tokens=8, temperature=0)
    blue = api.chat.completions.create(model=MODEL, messages=ask(data_url(blue_field())), max_tokens=8, temperature=0)
    assert red.choices[0].message.content and blue.choices[0].message.content
    assert red.choices[0].message.content != blue.choices[0].message.content
    assert red.usage is not None and plain.usage is not None
    assert red.usage.prompt_tokens > plain.usage.prompt_tokens + 16  # the image's 16 tokens and its markers
    streamed = api.chat.completions.create(
        model=MODEL, messages=ask(data_url(red_sun())), max_tokens=8, temperature=0, stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices) == (
        red.choices[0].message.content
    )


@pytest.mark.parametrize(
    ("url", "code", "said"),
    [
        ("https://example.com/cat.png", "invalid_image", "does not fetch images from the network"),
        ("file:///etc/hostname", "local_files_refused", "unless the server runs with --allow-local-files"),
        ("data:image/png;base64," + base64.b64encode(b"<svg></svg>").decode(), "invalid_image", "SVG drawing"),
        ("data:image/png;base64,%%%", "invalid_image", "not valid base64"),
    ],
)
def test_refused_images_are_400s(vision_served: Process, url: str, code: str, said: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(vision_served).chat.completions.create(model=MODEL, messages=ask(url), max_tokens=4)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["code"] == code and said in body["message"] and body["param"] == "messages[0].content[0]"


def test_file_urls_with_allow_local_files(tmp_path: Path) -> None:
    picture = tmp_path / "red.png"
    picture.write_bytes(red_sun())
    process = hermes_serve(tmp_path / "home", "--model", str(TINY_VISION), "--context-size", "1024",
                           "--allow-local-files")  # fmt: skip
    try:
        api = openai.OpenAI(base_url=process.url, api_key="none", max_retries=0)
        by_file = api.chat.completions.create(model=MODEL, messages=ask(picture.as_uri()), max_tokens=8, temperature=0)
        by_data = api.chat.completions.create(model=MODEL, messages=ask(data_url(red_sun())), max_tokens=8,
                                              temperature=0)  # fmt: skip
        assert by_file.choices[0].message.content == by_data.choices[0].message.content
    finally:
        assert process.stop() == 0


def test_a_text_only_model_answers_an_image_with_a_400(served: Process, starter_model: Path) -> None:
    text_only = starter_model.stem
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).chat.completions.create(model=text_only, messages=ask(data_url(red_sun())), max_tokens=4)
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "model_not_vision"
    assert "is a text-only model: it cannot read images" in body["message"]
    with pytest.raises(openai.BadRequestError):  # streamed too: refused before the 200
        client(served).chat.completions.create(model=text_only, messages=ask(data_url(red_sun())), max_tokens=4,
                                               stream=True)  # fmt: skip
    answer = client(served).chat.completions.create(model=text_only, messages=[{"role": "user", "content": "Hi"}],
                                                    max_tokens=4)  # fmt: skip
    assert answer.choices[0].message.content  # the model stays usable


def test_save_keeps_the_images_with_the_chat(tmp_path: Path) -> None:
    from app.core.engines.load_options import LoadOptions
    from app.core.engines.service import EngineService
    from app.core.history.store import ChatStore
    from app.core.prompting.parts import ImagePart
    from app.server.app import ServerOptions
    from app.server.runner import ServerRunner

    service = EngineService()
    db = tmp_path / "chats.sqlite3"
    runner = ServerRunner(service, ServerOptions(port=0, chats_db=db))
    try:
        service.load(TINY_VISION, LoadOptions(context_size=1024)).result(120)
        runner.start()
        api = openai.OpenAI(base_url=runner.url, api_key="none", max_retries=0, timeout=120)
        reply = api.chat.completions.create(model=MODEL, messages=ask(data_url(red_sun())), max_tokens=4)
    finally:
        runner.stop()
        service.close()
    store = ChatStore(db)
    try:
        [chat] = store.list_chats()
        user, answer = store.active_path(chat.id)
        assert user.content == "What is in the picture?" and answer.content == reply.choices[0].message.content
        [part] = user.parts
        assert isinstance(part, ImagePart) and (part.width, part.height) == (96, 80)
        assert (tmp_path / "images" / part.sha256[:2] / f"{part.sha256}.png").read_bytes() == red_sun()
    finally:
        store.close()
