"""`/v1/embeddings` made real: `hermes-studio serve --embedding-model` with the starter embedding model beside the
starter chat model, through the official `openai` client (base64, its default, and float) and hostile bodies."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from tests.conftest import REPO
from tests.server.conftest import API_KEY, Process, hermes_serve

CHAT = "SmolLM2-135M-Instruct.Q4_1"
EMBED = "all-MiniLM-L6-v2.F16"
REFERENCE = json.loads((REPO / "tests" / "data" / "minilm_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def served(
    starter_model: Path, starter_embedding_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    basedir = tmp_path_factory.mktemp("serve-embeddings")
    process = hermes_serve(basedir, "--model", str(starter_model), "--embedding-model", str(starter_embedding_model),
                           "--api-key", API_KEY, "--context-size", "1024")  # fmt: skip
    yield process
    assert process.stop() == 0, "\n".join(process.lines)


def client(served: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url, api_key=API_KEY, max_retries=0, timeout=180)


def post(served: Process, body: object) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(served.url + "/embeddings", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_both_models_are_listed_and_the_loads_were_said(served: Process) -> None:
    assert [m.id for m in client(served).models.list()] == [CHAT, EMBED]
    assert any("for embeddings (inputs of up to 512 tokens)" in line for line in served.lines)


def test_related_sentences_are_closer_than_unrelated_ones(served: Process) -> None:
    texts = ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The stock market fell sharply today."]
    answer = client(served).embeddings.create(model=EMBED, input=texts)  # the client asks for base64 and decodes it
    cat, kitten, stocks = (item.embedding for item in answer.data)
    assert [item.index for item in answer.data] == [0, 1, 2] and len(cat) == 384
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.3
    assert answer.model == EMBED and answer.usage.prompt_tokens == answer.usage.total_tokens > 10


def test_float_and_base64_agree_and_match_sentence_transformers(served: Process) -> None:
    sentences = REFERENCE["sentences"]
    as_floats = client(served).embeddings.create(model=EMBED, input=sentences, encoding_format="float")
    as_base64 = client(served).embeddings.create(model=EMBED, input=sentences, encoding_format="base64")
    floats = [item.embedding for item in as_floats.data]
    assert isinstance(floats[0][0], float)
    # asked for explicitly, base64 comes back as it was sent: little-endian float32 bytes
    decoded = [np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in as_base64.data]
    assert np.allclose(floats, decoded, atol=1e-6)
    assert min(cosine(a, b) for a, b in zip(floats, REFERENCE["embeddings"], strict=True)) > 0.9999
    assert as_floats.usage.prompt_tokens == sum(len(ids) for ids in REFERENCE["token_ids"])
    one = client(served).embeddings.create(model=EMBED, input=sentences[0], encoding_format="float")
    assert len(one.data) == 1 and cosine(one.data[0].embedding, floats[0]) > 0.99999


def test_dimensions_only_as_the_models_own(served: Process) -> None:
    assert len(client(served).embeddings.create(model=EMBED, input="x", dimensions=384).data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError) as caught:
        client(served).embeddings.create(model=EMBED, input="x", dimensions=128)
    assert caught.value.body["param"] == "dimensions"


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({"model": EMBED, "input": ""}, 400, "invalid_value", "'input[0]' is empty"),
        ({"model": EMBED, "input": ["fine", ""]}, 400, "invalid_value", "'input[1]' is empty"),
        ({"model": EMBED, "input": []}, 400, "invalid_value", "non-empty array"),
        ({"model": EMBED}, 400, "invalid_value", "'input' must be"),
        ({"model": EMBED, "input": {"text": "hi"}}, 400, "invalid_value", "'input' must be"),
        ({"model": EMBED, "input": ["ok", 3]}, 400, "invalid_value", "'input' must be"),
        ({"model": EMBED, "input": [101, 7592, 102]}, 400, "unsupported_value", "token ids"),
        ({"model": EMBED, "input": [[101, 102]]}, 400, "unsupported_value", "token ids"),
        ({"model": EMBED, "input": ["x"] * 2049}, 400, "invalid_value", "above the limit of 2,048"),
        ({"model": EMBED, "input": ["word " * 600]}, 400, "input_too_long", "'input[0]': Input 0 is 602 tokens"),
        ({"model": EMBED, "input": ["y" * 600_000, "z" * 600_000]}, 400, "invalid_value", "characters"),
        ({"model": EMBED, "input": "x", "encoding_format": "hex"}, 400, "invalid_value", "'float' or 'base64'"),
        ({"model": EMBED, "input": "x", "dimensions": "384"}, 400, "invalid_value", "positive integer"),
        ({"model": CHAT, "input": "x"}, 400, "model_cannot_embed", f"name the embedding model ({EMBED})"),
        ({"model": "text-embedding-3-small", "input": "x"}, 404, "model_not_found", EMBED),
        ({"model": 7, "input": "x"}, 400, "invalid_value", "'model'"),
        (b"[1, 2, 3]", 400, None, ""),
        (b'{"model": ', 400, None, ""),
    ],
)
def test_hostile_bodies_get_clear_errors_and_the_server_carries_on(
    served: Process, body: object, status: int, code: str | None, says: str
) -> None:
    got, answer = post(served, body)
    assert got == status, answer
    assert says in answer["error"]["message"]
    if code:
        assert answer["error"]["code"] == code
    ok, fine = post(served, {"model": EMBED, "input": "still here"})
    assert ok == 200 and len(fine["data"][0]["embedding"]) == 384


def test_chat_still_answers_beside_the_embedding_model(served: Process) -> None:
    reply = client(served).chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    assert reply.choices[0].message.content
    assert not [line for line in served.lines if "Traceback" in line or " 500 " in line]


def test_serve_refuses_a_chat_model_or_a_missing_one_as_the_embedding_model(
    starter_model: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "serve", "--basedir", str(tmp_path), "--port", "0", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    chat = serve("--embedding-model", str(starter_model))
    assert chat.returncode == 1 and "is not an embedding model" in chat.stderr
    missing = serve("--embedding-model", "no-such-model")
    assert missing.returncode == 1 and "setup --embeddings" in missing.stderr


def test_a_chat_request_answers_from_a_collection(served: Process, starter_embedding_model: Path) -> None:
    """`hermes.knowledge` through the `openai` client's `extra_body`: the question grounded in the collection's
    passages (hybrid: the served embedding model embeds the question), the sources in the reply's `hermes`."""
    from app.core.engines.llama_embedder import LlamaEmbedder
    from app.core.knowledge.base import KnowledgeBase
    from app.core.paths import resolve_paths
    from tests.knowledge_corpus import write_corpus

    basedir = Path(served.popen.args[served.popen.args.index("--basedir") + 1])
    with LlamaEmbedder(starter_embedding_model) as embedder:
        base = KnowledgeBase(resolve_paths(basedir).knowledge_db, embedder)
        assert base.add("island", write_corpus(basedir / "island-docs")).count("added") == 4
        best = base.search("island", "Who keeps the lamp of the Varnholm lighthouse?", top=1)[0]
        base.close()
    assert "Edda Quillon" in best.text
    question = [{"role": "user", "content": "Who keeps the lamp of the Varnholm lighthouse?"}]
    openai_client = client(served)
    reply = openai_client.chat.completions.create(
        model=CHAT, messages=question, max_tokens=8, temperature=0, extra_body={"hermes": {"knowledge": "island"}}
    )
    assert reply.choices[0].message.content
    sources = (reply.model_extra or {})["hermes"]["sources"]
    assert sources[0]["file"] == "notes.md" and sources[0]["location"].startswith("lines ")
    assert sources[0]["chunk_id"] == best.chunk_id and sources[0]["collection"] == "island"
    assert [s["index"] for s in sources] == list(range(1, len(sources) + 1)) and len(sources) <= 4

    stream = openai_client.chat.completions.create(
        model=CHAT, messages=question, max_tokens=4, temperature=0, stream=True,
        extra_body={"hermes": {"knowledge": ["island"], "top": 2}},
    )  # fmt: skip
    chunks = list(stream)
    assert [s["file"] for s in (chunks[0].model_extra or {})["hermes"]["sources"]][:1] == ["notes.md"]
    assert len(chunks[0].model_extra["hermes"]["sources"]) == 2

    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.chat.completions.create(
            model=CHAT, messages=question, max_tokens=4, extra_body={"hermes": {"knowledge": "atlantis"}}
        )
    assert missing.value.code == "knowledge_not_found" and "(collections: island)" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as malformed:
        openai_client.chat.completions.create(
            model=CHAT, messages=question, max_tokens=4, extra_body={"hermes": {"knowledge": 7}}
        )
    assert malformed.value.code == "invalid_value" and "hermes.knowledge" in str(malformed.value)
