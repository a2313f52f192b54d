"""A JSON schema checked before it becomes a grammar: size, depth, counts, patterns and ``$ref``s.

Each limit is a cost the grammar converter or llama.cpp's grammar engine pays in proportion to it: a
``maxLength`` n becomes n nested groups (llama.cpp's parser refuses ~1,000 and crashes at ~20,000), a
``minLength`` n becomes n copies in one rule (100,000,000 of them exhaust the memory), a pattern's ``{m,n}``
is expanded the same way, a union of n alternatives is tried n ways at every token. The walk is iterative,
so no schema, however deep, makes it recurse. What a schema means (cycles that can only expand forever,
left recursion) is checked on the grammar itself (``gbnf_bounds``), where it is exact.

Every refusal is a ``GrammarRefused`` whose message names the keyword, its place and the limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.core.prompting.gbnf_bounds import GrammarRefused


@dataclass(frozen=True)
class SchemaLimits:
    depth: int = 32  # JSON levels of the schema document: OpenAI's 10 levels of objects take about 20
    nodes: int = 20_000  # objects, arrays and values in the schema document
    properties: int = 5_000  # properties in all objects together (OpenAI's structured outputs limit)
    object_properties: int = 256  # properties of one object: the converter recurses once per optional one
    alternatives: int = 1_000  # entries of one anyOf / oneOf / enum (OpenAI: 1,000 enum values in all)
    enum_values: int = 1_000  # enum values in all (OpenAI's limit)
    text: int = 120_000  # characters of property names, enum values and consts together (OpenAI's limit)
    count: int = 500  # minLength, maxLength, minItems, maxItems, min/maxProperties, a pattern's {m,n}
    pattern: int = 1_000  # characters of one pattern
    pattern_groups: int = 32  # nested groups in one pattern
    pattern_branches: int = 256  # '|' in one pattern
    refs: int = 1_000  # $refs in the schema


LIMITS = SchemaLimits()

COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains")
UNIONS = ("anyOf", "oneOf", "allOf", "enum", "prefixItems")
_QUANTIFIER = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


def check(schema: Any, where: str = "json_schema", limits: SchemaLimits = LIMITS) -> None:
    """Refuse ``schema`` (``GrammarRefused``) if it is over a limit; ``where`` prefixes the place in messages."""
    if not isinstance(schema, dict):
        raise GrammarRefused(f"{where}: a JSON schema must be an object")
    walk = _Walk(schema, where, limits)
    walk.run()


class _Walk:
    def __init__(self, root: dict[str, Any], where: str, limits: SchemaLimits) -> None:
        self.root = root
        self.where = where
        self.limits = limits
        self.nodes = self.properties = self.enum_values = self.text = self.refs = 0

    def refuse(self, path: str, what: str) -> GrammarRefused:
        nested = path.count(".") + path.count("[") > 1  # a top-level keyword names itself in ``what``
        return GrammarRefused(f"{self.where}: {what}" + (f" (at {path.lstrip('.')})" if nested else ""))

    def run(self) -> None:
        limits = self.limits
        todo: list[tuple[Any, str, int]] = [(self.root, "", 1)]
        while todo:
            node, path, depth = todo.pop()
            self.nodes += 1
            if self.nodes > limits.nodes:
                raise self.refuse("", f"the schema has more than the limit of {limits.nodes:,} values")
            if depth > limits.depth:
                raise self.refuse(path, f"the schema nests deeper than the limit of {limits.depth} levels")
            if isinstance(node, dict):
                self.keywords(node, path)
                todo.extend((value, f"{path}.{key}", depth + 1) for key, value in node.items())
            elif isinstance(node, list):
                todo.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(node))

    def keywords(self, node: dict[str, Any], path: str) -> None:
        limits = self.limits
        for name in COUNTS:
            if name in node and not isinstance(node[name], dict):  # a dict: a property called so
                self.count(node[name], f"{path}.{name}", name)
        for name in UNIONS:
            value = node.get(name)
            if isinstance(value, list) and len(value) > limits.alternatives:
                raise self.refuse(
                    f"{path}.{name}", f"{name} has {len(value):,} entries, above the limit of {limits.alternatives:,}"
                )
        if isinstance(node.get("enum"), list):
            self.enum_values += len(node["enum"])
            if self.enum_values > limits.enum_values:
                raise self.refuse(f"{path}.enum", f"the schema has more than {limits.enum_values:,} enum values")
            self.add_text(sum(len(json.dumps(value)) for value in node["enum"]), path)
        if "const" in node:
            self.add_text(len(json.dumps(node["const"])), path)
        properties = node.get("properties")
        if isinstance(properties, dict) and not isinstance(properties.get("type"), str):
            if len(properties) > limits.object_properties:
                raise self.refuse(
                    f"{path}.properties",
                    f"an object has {len(properties):,} properties, above the limit of {limits.object_properties:,}",
                )
            self.properties += len(properties)
            if self.properties > limits.properties:
                raise self.refuse(path, f"the schema has more than the limit of {limits.properties:,} properties")
            self.add_text(sum(len(key) for key in properties), path)
        if isinstance(node.get("pattern"), str):
            self.pattern(node["pattern"], f"{path}.pattern")
        if "$ref" in node and not isinstance(node["$ref"], dict):
            self.ref(node["$ref"], f"{path}.$ref")

    def count(self, value: Any, path: str, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.refuse(path, f"{name} must be a whole number from 0 to {self.limits.count:,}")
        if value > self.limits.count:
            raise self.refuse(path, f"{name} {value} is above the limit of {self.limits.count:,}")

    def add_text(self, size: int, path: str) -> None:
        self.text += size
        if self.text > self.limits.text:
            raise self.refuse(
                path, f"names, enum values and consts add up to more than the limit of {self.limits.text:,} characters"
            )

    def pattern(self, pattern: str, path: str) -> None:
        limits = self.limits
        if len(pattern) > limits.pattern:
            raise self.refuse(
                path, f"the pattern is {len(pattern):,} characters, above the limit of {limits.pattern:,}"
            )
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise self.refuse(path, "a pattern must start with ^ and end with $")
        for match in _QUANTIFIER.finditer(pattern):
            for number in match.groups():
                if number and int(number) > limits.count:
                    raise self.refuse(
                        path, f"the pattern's {match.group()} is above the limit of {limits.count:,} repetitions"
                    )
        if pattern.count("|") > limits.pattern_branches:
            raise self.refuse(path, f"the pattern has more than the limit of {limits.pattern_branches} alternatives")
        self.pattern_groups(pattern, path)

    def pattern_groups(self, pattern: str, path: str) -> None:
        """Nesting of groups, and a quantified group holding an unbounded quantifier (``(a+)+``): its
        grammar matches one text in exponentially many ways, and llama.cpp follows every one at each token."""
        limits = self.limits
        open_groups: list[bool] = []  # per open group: does it hold an unbounded quantifier
        closed_unbounded = False  # the group just closed held one
        i, in_class = 0, False
        while i < len(pattern):
            char = pattern[i]
            if char == "\\":
                i += 2
                closed_unbounded = False
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "(":
                open_groups.append(False)
                if len(open_groups) > limits.pattern_groups:
                    raise self.refuse(
                        path, f"the pattern nests groups deeper than the limit of {limits.pattern_groups}"
                    )
            elif char == ")":
                if not open_groups:
                    raise self.refuse(path, "the pattern's parentheses do not match")
                inner = open_groups.pop()
                if open_groups and inner:
                    open_groups[-1] = True
                closed_unbounded = inner
                i += 1
                continue
            elif char in "*+{":
                if closed_unbounded:
                    raise self.refuse(path, "the pattern repeats a group that repeats without bound, as in (a+)+")
                if (char != "{" or _unbounded(pattern, i)) and open_groups:
                    open_groups[-1] = True
            closed_unbounded = False
            i += 1
        if open_groups:
            raise self.refuse(path, "the pattern's parentheses do not match")

    def ref(self, ref: Any, path: str) -> None:
        self.refs += 1
        if self.refs > self.limits.refs:
            raise self.refuse(path, f"the schema has more than the limit of {self.limits.refs:,} $refs")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise self.refuse(
                path,
                f"$ref {ref!r} is not supported: only refs inside the schema ('#/$defs/name'), "
                "and not '#' itself (put a recursive schema in $defs)",
            )
        target: Any = self.root
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                raise self.refuse(path, f"$ref {ref!r} points at nothing in the schema")
        if not isinstance(target, dict):
            raise self.refuse(path, f"$ref {ref!r} points at something that is not a schema")


def _unbounded(pattern: str, i: int) -> bool:
    match = _QUANTIFIER.match(pattern, i)
    return match is not None and "," in match.group() and not match.group(2)
