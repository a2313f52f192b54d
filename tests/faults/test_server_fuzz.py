"""One request must never crash the server: the issue's crashing requests, legitimate recursive schemas, and
Hypothesis-generated hostile schemas and bodies, against `hermes-studio serve` as a real subprocess on
127.0.0.1 with the real starter model.

Every case must get a 2xx or 4xx within ``BOUND_S`` with the process alive; after the run a normal request is
served. The examples are derandomized (the same cases every run); ``HERMES_FUZZ_EXAMPLES`` sets how many per
property (``make fuzz`` runs many more), and each property's figures are printed (``-s`` shows them).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Process, hermes_serve

BOUND_S = 60.0  # one request's answer, on a slow shared machine (a grammar is built in a child in < 1 s)
EXAMPLES = int(os.environ.get("HERMES_FUZZ_EXAMPLES", "40"))
MODEL = "SmolLM2-135M-Instruct.Q4_1"
FIGURES: dict[str, list[float]] = {}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(starter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    basedir = tmp_path_factory.mktemp("fuzz-home")
    process = hermes_serve(basedir, "--model", str(starter_model), "--context-size", "1024")
    yield process
    alive = process.popen.poll() is None
    code = process.stop()
    assert alive, "the server died:\n" + "\n".join(process.lines[-40:])
    assert code == 0, "\n".join(process.lines[-40:])
    for name, (cases, seconds, slowest) in FIGURES.items():
        print(f"\nfuzz {name}: {cases:.0f} cases in {seconds:.1f} s, slowest {slowest:.2f} s, 0 crashes")


def send(server: Process, path: str, body: bytes | dict | None = None, method: str = "POST") -> tuple[int, Any]:
    """The status and JSON body of one request; asserts the bound and that the server is still alive."""
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    request = urllib.request.Request(
        server.url.removesuffix("/v1") + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=BOUND_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    elapsed = time.perf_counter() - started
    assert server.popen.poll() is None, "the server died:\n" + "\n".join(server.lines[-40:])
    assert status < 500, f"{status} for {data[:300]!r}: {raw[:500]!r}"
    assert elapsed < BOUND_S
    return status, json.loads(raw)


def chat(schema: dict | None, max_tokens: int = 24, content: str = "Give me JSON.") -> dict[str, Any]:
    fmt: dict[str, Any] = {"type": "json_object"}
    if schema is not None:
        fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    return {
        "model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
        "temperature": 0, "seed": 1, "response_format": fmt,
    }  # fmt: skip


def served_normally(server: Process) -> None:
    hello = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    status, body = send(server, "/v1/chat/completions", hello)
    assert status == 200 and body["choices"][0]["message"]["content"]


def record(name: str, one: float) -> None:
    cases, seconds, slowest = FIGURES.get(name, [0.0, 0.0, 0.0])
    FIGURES[name] = [cases + 1, seconds + one, max(slowest, one)]


# the issue's requests


ISSUE_SCHEMAS = {
    "ref cycle": {
        "properties": {"a": {"$ref": "#/definitions/loop"}},
        "definitions": {"loop": {"$ref": "#/definitions/loop"}},
    },
    "pattern {1,100000}": {"type": "string", "pattern": "^[a-z]{1,100000}$"},
    "maxLength 1e9": {"type": "string", "maxLength": 1_000_000_000},
    "minLength 1e8": {"type": "string", "minLength": 100_000_000},
    "escaped dot": {"type": "string", "pattern": r"^[a-z]{1,3}\.[a-z]{1,3}$"},
}


@pytest.mark.parametrize("name", ISSUE_SCHEMAS)
def test_the_issues_schemas_get_an_answer_and_the_server_lives(server: Process, name: str) -> None:
    status, body = send(server, "/v1/chat/completions", chat(ISSUE_SCHEMAS[name]))
    if name == "escaped dot":  # crashed llama.cpp through the converter; now a valid grammar
        assert status == 200, body
    else:
        assert status == 400 and body["error"]["param"] == "response_format", body
        assert body["error"]["message"].startswith("response_format.json_schema: ")
    if name == "maxLength 1e9":
        assert "maxLength 1000000000 is above the limit of 500" in body["error"]["message"]
    served_normally(server)


def test_a_deeply_nested_body_is_a_400(server: Process) -> None:
    status, body = send(server, "/v1/chat/completions", b"[" * 5_000 + b"]" * 5_000)
    assert status == 400 and "deeper than the limit of 64 levels" in body["error"]["message"]
    status, body = send(server, "/v1/chat/completions", b'{"messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert status == 400


def test_an_empty_completion_prompt_is_a_400(server: Process) -> None:
    """Found by the fuzz suite: llama-cpp-python asserted on an empty prompt, and the server answered 500."""
    status, body = send(server, "/v1/completions", {"model": MODEL, "prompt": "", "max_tokens": 4})
    assert status == 400 and "prompt is empty" in body["error"]["message"], body


NODE = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
    "required": ["value"],
}
TREE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}, "maxItems": 2},
    },
    "required": ["name", "children"],
}


def _is_list(value: Any) -> bool:
    while isinstance(value, dict) and set(value) <= {"value", "next"} and isinstance(value.get("value"), int):
        if "next" not in value:
            return True
        value = value["next"]
    return False


def _is_tree(value: Any) -> bool:
    return (
        isinstance(value, dict) and set(value) == {"name", "children"} and isinstance(value["name"], str)
        and isinstance(value["children"], list) and all(_is_tree(child) for child in value["children"])
    )  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "valid"),
    [
        ({"$ref": "#/$defs/node", "$defs": {"node": NODE}}, _is_list),
        ({"$ref": "#/$defs/tree", "$defs": {"tree": TREE}}, _is_tree),
    ],
    ids=["linked list", "tree"],
)
def test_recursive_schemas_give_valid_json(server: Process, schema: dict, valid: Any) -> None:
    status, body = send(
        server, "/v1/chat/completions", chat(schema, max_tokens=200, content="A small example, please.")
    )
    assert status == 200, body
    choice = body["choices"][0]
    if choice["finish_reason"] == "stop":
        assert valid(json.loads(choice["message"]["content"])), choice
    else:  # cut by max_tokens: every prefix the grammar allowed is still a prefix of valid JSON
        assert choice["message"]["content"].lstrip().startswith("{")


# generated cases

REFS = ["#", "#/$defs/a", "#/$defs/b", "#/nowhere", "http://x/y", "#/$defs/a/properties", "#/$defs/a/anyOf/0"]
_names = st.text("abcdefgh_", min_size=1, max_size=4)
_leaf = st.one_of(
    st.just({"type": "string"}), st.just({"type": "integer"}), st.just({"type": "boolean"}), st.just({}),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.sampled_from([0, 5, 500, 501, 10**9])),
    st.builds(lambda n: {"type": "string", "minLength": n}, st.sampled_from([1, 500, 10**8])),
    st.builds(lambda p: {"type": "string", "pattern": p}, st.sampled_from([
        "^[a-z]+$", "^(a+)+$", "^(a|b)*c{2,5}$", "^[a-z]{1,100000}$", "^" + "(a" * 50 + ")" * 50 + "$",
        r"^\d{3}-\d{4}$", r"^[a-z]+\.[a-z]+$", "^(x", "^a{5,2}$", "^" + "|".join("abc" * 100) + "$", "^a{,}$",
    ])),
    st.builds(lambda n: {"enum": list(range(n))}, st.sampled_from([1, 3, 1_000, 1_001, 5_000])),
    st.builds(lambda n: {"anyOf": [{"const": i} for i in range(n)]}, st.sampled_from([2, 1_000, 3_000])),
    st.builds(lambda r: {"$ref": r}, st.sampled_from(REFS)),
)  # fmt: skip


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.builds(
            lambda props, required, extra: {"type": "object", "properties": props, "required": required, **extra},
            st.dictionaries(_names, children, max_size=4), st.lists(_names, max_size=3),
            st.sampled_from([{}, {"additionalProperties": False}, {"minProperties": 3}, {"maxProperties": 10**6}]),
        ),
        st.builds(lambda items, low, high: {"type": "array", "items": items, "minItems": low, "maxItems": high},
                  children, st.sampled_from([0, 1, 2, 600]), st.sampled_from([1, 3, 500, 10**9])),
        st.builds(lambda alts: {"anyOf": alts}, st.lists(children, min_size=1, max_size=4)),
        st.builds(lambda parts: {"allOf": parts}, st.lists(children, min_size=1, max_size=3)),
    )  # fmt: skip


_schemas = st.recursive(_leaf, _extend, max_leaves=12)


@st.composite
def hostile_schema(draw: st.DrawFn) -> dict[str, Any]:
    """A schema with $defs whose refs may form cycles (with or without a way out)."""
    root = draw(_schemas)
    defs = draw(st.dictionaries(st.sampled_from(["a", "b"]), _schemas, max_size=2))
    return {**root, "$defs": defs} if defs else root


def deep_schema_body(schema: dict[str, Any], depth: int) -> bytes:
    """A chat body whose schema is ``schema`` inside ``depth`` arrays, written as text (no recursion here)."""
    text = '{"type": "array", "items": ' * depth + json.dumps(schema) + "}" * depth
    return json.dumps(chat({"$placeholder": 1}, max_tokens=12)).replace('{"$placeholder": 1}', text).encode()


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4))


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    _containers,
    max_leaves=20,
)
_fields = {
    "model": st.one_of(st.just(MODEL), _json, st.text(max_size=3_000)),
    "messages": st.one_of(
        st.lists(st.fixed_dictionaries({"role": st.one_of(st.sampled_from(["user", "system", "tool"]), _json),
                                        "content": st.one_of(st.text(max_size=50), _json)}), max_size=3),
        _json,
    ),
    "prompt": st.one_of(st.text(max_size=50), _json),
    "input": st.one_of(st.text(max_size=50), _json, st.lists(st.text(max_size=5), max_size=3_000)),
    "max_tokens": st.one_of(st.integers(-5, 8), _json),
    "stop": st.one_of(st.text(max_size=2_000), st.lists(st.text(max_size=5), max_size=6), _json),
    "temperature": st.one_of(st.floats(allow_nan=False), _json),
    "seed": st.one_of(st.integers(), _json),
    "top_k": st.one_of(st.integers(), _json),
    "stream": st.one_of(st.booleans(), _json),
    "n": _json, "tools": _json, "logprobs": _json, "stream_options": _json,
    "response_format": st.one_of(_json, st.builds(lambda s: {"type": "json_schema", "json_schema": {"schema": s}},
                                                  st.one_of(_json, _schemas))),
}  # fmt: skip


@st.composite
def hostile_body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object", "object", "object", "raw", "deep", "json"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.sampled_from([63, 64, 65, 3_000]))
        return b'{"model":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "json":
        return json.dumps(draw(_json)).encode()
    # a valid body with a few fields changed, so that most cases get past the first check
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "prompt": "Hi",
                            "input": "Hi", "max_tokens": 4}  # fmt: skip
    for key in draw(st.lists(st.sampled_from(sorted(_fields)), unique=True, max_size=3)):
        body[key] = draw(_fields[key])
    return json.dumps(body).encode()


_SETTINGS = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)  # fmt: skip


@_SETTINGS
@given(schema=hostile_schema(), depth=st.sampled_from([0, 0, 0, 5, 40, 2_000]))
def test_fuzz_hostile_schemas(server: Process, schema: dict[str, Any], depth: int) -> None:
    started = time.perf_counter()
    status, body = send(server, "/v1/chat/completions", deep_schema_body(schema, depth))
    assert status in (200, 400), body
    record("schemas", time.perf_counter() - started)


@_SETTINGS
@given(path=st.sampled_from(["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]), body=hostile_body())
def test_fuzz_hostile_bodies(server: Process, path: str, body: bytes) -> None:
    started = time.perf_counter()
    send(server, path, body)
    record("bodies", time.perf_counter() - started)


def test_models_and_a_normal_request_after_the_fuzz(server: Process) -> None:
    status, body = send(server, "/v1/models", method="GET")
    assert status == 200 and body["data"]
    for method in ("GET", "DELETE", "PUT"):
        assert send(server, "/v1/models/../../etc", method=method)[0] in (404, 405)
    served_normally(server)
