"""Bounded JSON, JSON schema bounds and GBNF bounds: the checks that stand before llama.cpp's grammar parser.

The crashing cases are built for real (converter, then llama.cpp's parser in a child process), so each test
here failed (a dead child, a hang, a RecursionError) before the checks existed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core import bounded_json
from app.core.engines.grammar_build import build_grammar
from app.core.engines.llama_adapter import grammar_compiles, json_schema_grammar
from app.core.prompting import gbnf_bounds, schema_bounds
from app.core.prompting.gbnf_bounds import GrammarRefused

ROOT = Path(__file__).resolve().parents[2]

NODE = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}},
    "required": ["value"],
}
LINKED_LIST = {"$ref": "#/$defs/node", "$defs": {"node": NODE}}
TREE = {
    "$defs": {
        "tree": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
            },
            "required": ["name", "children"],
        }
    },
    "$ref": "#/$defs/tree",
}
SELF_LOOP = {
    "properties": {"a": {"$ref": "#/definitions/loop"}},
    "definitions": {"loop": {"$ref": "#/definitions/loop"}},
}


# bounded JSON


def test_deep_json_is_refused_before_it_is_parsed() -> None:
    started = time.perf_counter()
    with pytest.raises(bounded_json.JsonLimitError, match="deeper than the limit of 64 levels"):
        bounded_json.loads("[" * 100_000 + "]" * 100_000)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("depth", [63, 64])
def test_json_at_the_depth_limit_is_parsed(depth: int) -> None:
    assert bounded_json.loads('{"a":' * depth + "1" + "}" * depth)["a"] is not None


def test_depth_counts_alternating_arrays_and_objects_and_ignores_brackets_in_strings() -> None:
    assert not bounded_json.nesting_over(b'["[[[[[[", "{{{{"]', 2)
    assert bounded_json.nesting_over(b'{"a":[{"b":[1]}]}', 3)
    assert not bounded_json.nesting_over(b'{"a":[{"b":[1]}]}', 4)


def test_size_limit_and_invalid_json() -> None:
    with pytest.raises(bounded_json.JsonLimitError, match="above the limit of 10 bytes"):
        bounded_json.loads(b"[" + b"1," * 10 + b"1]", max_bytes=10)
    with pytest.raises(json.JSONDecodeError):
        bounded_json.loads("[1, 2")
    with pytest.raises(ValueError, match="NaN is not JSON"):
        bounded_json.loads("[NaN]")


def test_chats_import_of_a_deep_file_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    done = subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(tmp_path / "home"), "chats", "import", str(deep)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr
    assert "deep.json nests deeper than the limit of 64 levels" in done.stderr


def test_presets_and_cards_refuse_deep_json(tmp_path: Path) -> None:
    from app.core.personas.cards import CardError, parse_card_json
    from app.core.personas.presets import PresetError, parse_import

    deep = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    with pytest.raises(CardError, match="deeper than the limit"):
        parse_card_json(deep)
    with pytest.raises(PresetError, match="deeper than the limit"):
        parse_import(deep, "deep.json")


# JSON schema bounds


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "maxLength": 1_000_000_000}, "json_schema: maxLength 1000000000 is above the limit of 500"),
        ({"type": "string", "minLength": 100_000_000}, "minLength 100000000 is above the limit of 500"),
        ({"type": "array", "items": {}, "maxItems": -1}, "maxItems must be a whole number from 0 to 500"),
        ({"type": "string", "pattern": "^[a-z]{1,100000}$"}, r"\{1,100000\} is above the limit of 500 repetitions"),
        ({"type": "string", "pattern": "^(a+)+$"}, r"repeats a group that repeats without bound"),
        ({"type": "string", "pattern": "^" + "(" * 40 + "a" + ")" * 40 + "$"}, "nests groups deeper than the limit"),
        ({"type": "string", "pattern": "[a-z]"}, "must start with \\^ and end with \\$"),
        ({"enum": list(range(5_000))}, "enum has 5,000 entries, above the limit of 1,000"),
        ({"anyOf": [{"const": i} for i in range(2_000)]}, "anyOf has 2,000 entries"),
        ({"$ref": "#"}, "not supported"),
        ({"$ref": "https://example.com/schema"}, "not supported"),
        ({"$ref": "#/$defs/missing"}, "points at nothing"),
        ({"properties": {f"p{i}": {"type": "integer"} for i in range(300)}}, "300 properties, above the limit of 256"),
        ({"properties": {"a": {"items": {"maxLength": 10**6}}}}, r"above the limit of 500 \(at properties.a.items"),
    ],
)
def test_schema_limits_are_named(schema: dict, message: str) -> None:
    with pytest.raises(GrammarRefused, match=message):
        schema_bounds.check(schema)


def test_a_deep_schema_is_refused_without_recursion() -> None:
    deep: dict = {"type": "integer"}
    for _ in range(20_000):
        deep = {"type": "array", "items": deep}
    with pytest.raises(GrammarRefused, match="nests deeper than the limit of 32 levels"):
        schema_bounds.check(deep)


# GBNF bounds


@pytest.mark.parametrize(
    ("grammar", "message"),
    [
        ('root ::= a\na ::= a "x" | "y"', "left-recursive at 'a'"),
        ('root ::= a\na ::= "" a | "y"', "left-recursive at 'a'"),
        ("root ::= b", "undefined rules: b"),
        ('root ::= "{" root "}"', "'root' can only expand forever"),
        ("root ::= " + '("a" ' * 5_000 + ")?" * 5_000, "nests groups deeper than the limit of 600"),
        ('root ::= "a"{0,1000000000}', "repeats 1,000,000,000 times"),
        ('root ::= "a" @', "cannot be read at line 1"),
        ("start ::= [a-z]", "no 'root' rule"),
    ],
)
def test_bad_grammars_are_refused_in_python(grammar: str, message: str) -> None:
    with pytest.raises(GrammarRefused, match=message):
        gbnf_bounds.check(grammar)


def test_good_grammars_pass_and_compile() -> None:
    for schema in (None, LINKED_LIST, TREE, {"type": "string", "pattern": r"^[a-z]{1,20}@[a-z]+\.com$"}):
        text = json_schema_grammar(schema)
        gbnf_bounds.check(text)
        assert grammar_compiles(text)
    gbnf_bounds.check('root ::= (\n  "a" |\n  "b"\n)* x # comment\nx ::= [0-9]{1,3}')


# the whole build, crashing cases in a child


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (SELF_LOOP, "can only expand forever"),
        ({"type": "string", "maxLength": 1_000_000_000}, "maxLength 1000000000 is above the limit"),
        (
            {"$ref": "#/$defs/e", "$defs": {"e": {"anyOf": [{"$ref": "#/$defs/e"}, {"type": "integer"}]}}},
            "left-recursive",
        ),
        (
            {"$ref": "#/$defs/node", "$defs": {"node": {**NODE, "required": ["value", "next"]}}},
            "can only expand forever",
        ),
    ],
)
def test_build_grammar_refuses_in_time(schema: dict, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(GrammarRefused, match=message):
        build_grammar(schema, "response_format.json_schema")
    assert time.perf_counter() - started < 30


def test_recursive_schemas_build() -> None:
    for schema in (LINKED_LIST, TREE):
        text = build_grammar(schema)
        assert "ref-" in text and grammar_compiles(text)
