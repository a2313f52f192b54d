"""A GBNF grammar checked in Python before llama.cpp's parser sees it.

llama.cpp refuses some bad grammars with a message (left recursion, an undefined rule) but llama-cpp-python
then adds the NULL sampler it got to the chain, and the process dies; others crash its recursive parser
outright (tens of thousands of nested groups). ``check`` parses the grammar without recursion (each group
becomes a rule of its own, as llama.cpp does it) and refuses, naming the limit: a syntax it does not know,
an undefined rule, nesting, repetition counts, rule count and text size over the limits, a rule that can
only expand forever (no finite text matches it: a reply under it could never end), and left recursion
(llama.cpp's own rule, computed the same way: through rules that may match nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.core.errors import HermesError


class GrammarRefused(HermesError):
    """A grammar (or the JSON schema it came from) that is not built; the message names the reason or limit."""


@dataclass(frozen=True)
class GrammarLimits:
    # llama.cpp's parser refuses ~1,000 nested groups and crashes the process (stack overflow) at ~20,000;
    # a JSON schema's maxLength n becomes n nested groups, so half the refusal point leaves room for the rest.
    nesting: int = 600
    repeat: int = 1_000  # x{m,n}: llama.cpp's own "sane default" threshold is 2,000
    rules: int = 20_000  # rules after groups become rules (a 5,000-property schema needs about 15,000)
    chars: int = 2 << 20  # 2 MiB of grammar text: compiled in well under a second


LIMITS = GrammarLimits()

_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_SPACE = re.compile(r"(?:[ \t]|#[^\n]*|\\?\r?\n)*")
_SPACE_FLAT = re.compile(r"(?:[ \t]|#[^\n]*)*")
_REPEAT = re.compile(r"\{\s*(\d+)\s*(,\s*(\d*)\s*)?\}")

# An item: ("t", None) a terminal (literal, class, dot) that matches one or more characters, ("e", None) the
# empty literal, ("r", name) a rule; with its repetition (min, max; max None: unbounded).


@dataclass
class Item:
    kind: str
    name: str = ""
    low: int = 1
    high: int | None = 1


@dataclass
class Grammar:
    rules: dict[str, list[list[Item]]] = field(default_factory=dict)  # name -> alternatives
    references: set[str] = field(default_factory=set)


def check(text: str, limits: GrammarLimits = LIMITS, root: str = "root") -> Grammar:
    """Parse and check ``text``; raises ``GrammarRefused`` naming what is wrong."""
    if len(text) > limits.chars:
        raise GrammarRefused(f"the grammar is {len(text):,} characters, above the limit of {limits.chars:,}")
    grammar = _Parser(text, limits).parse()
    if root not in grammar.rules:
        raise GrammarRefused(f"the grammar has no {root!r} rule")
    missing = sorted(grammar.references - grammar.rules.keys())
    if missing:
        raise GrammarRefused(f"the grammar uses undefined rules: {', '.join(missing[:5])}")
    if len(grammar.rules) > limits.rules:
        raise GrammarRefused(f"the grammar has {len(grammar.rules):,} rules, above the limit of {limits.rules:,}")
    _check_finite(grammar, root)
    _check_left_recursion(grammar)
    return grammar


class _Parser:
    """llama.cpp's GBNF syntax, iteratively: an open group is a frame on a stack, never a Python call."""

    def __init__(self, text: str, limits: GrammarLimits) -> None:
        self.text = text
        self.limits = limits
        self.pos = 0
        self.grammar = Grammar()
        self.groups = 0

    def fail(self, what: str) -> GrammarRefused:
        line = self.text.count("\n", 0, self.pos) + 1
        return GrammarRefused(f"the grammar cannot be read at line {line}: {what}")

    def space(self, nested: bool) -> None:
        match = (_SPACE if nested else _SPACE_FLAT).match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def parse(self) -> Grammar:
        while True:
            self.space(nested=True)
            if self.pos >= len(self.text):
                return self.grammar
            name = _NAME.match(self.text, self.pos)
            if not name:
                raise self.fail("a rule name was expected")
            self.pos = name.end()
            self.space(nested=False)
            if not self.text.startswith("::=", self.pos):
                raise self.fail("'::=' was expected")
            self.pos += 3
            self.rule(name.group())

    def rule(self, name: str) -> None:
        # frames: (rule name, its alternatives); the innermost open group is the last
        stack: list[tuple[str, list[list[Item]]]] = [(name, [[]])]
        newline_ok = True  # as in llama.cpp: after '::=', after '|' and inside a group
        while True:
            self.space(nested=newline_ok or len(stack) > 1)
            newline_ok = False
            char = self.text[self.pos] if self.pos < len(self.text) else "\n"
            sequence = stack[-1][1][-1]
            if char == "\n" or (char == "\r" and len(stack) == 1):
                if len(stack) > 1:
                    raise self.fail("a group is not closed")
                self.define(*stack[0])
                return
            if char == "|":
                self.pos += 1
                stack[-1][1].append([])
                newline_ok = True
            elif char == "(":
                self.pos += 1
                if len(stack) > self.limits.nesting:
                    raise GrammarRefused(f"the grammar nests groups deeper than the limit of {self.limits.nesting}")
                self.groups += 1
                group = f"{stack[0][0]}--group{self.groups}"
                sequence.append(Item("r", group))
                stack.append((group, [[]]))
            elif char == ")":
                if len(stack) == 1:
                    raise self.fail("')' without '('")
                self.pos += 1
                self.define(*stack.pop())
                self.repetition(stack[-1][1][-1])
            elif char == '"':
                empty = self.literal()
                sequence.append(Item("e" if empty else "t"))
                self.repetition(sequence)
            elif char == "[":
                self.char_class()
                sequence.append(Item("t"))
                self.repetition(sequence)
            elif char == ".":
                self.pos += 1
                sequence.append(Item("t"))
                self.repetition(sequence)
            elif (match := _NAME.match(self.text, self.pos)) is not None:
                if self.text.startswith("::=", _SPACE_FLAT.match(self.text, match.end()).end()):  # type: ignore[union-attr]
                    if len(stack) > 1:
                        raise self.fail("a group is not closed")
                    self.define(*stack[0])  # the next rule starts on this line's continuation
                    return
                self.pos = match.end()
                sequence.append(Item("r", match.group()))
                self.grammar.references.add(match.group())
                self.repetition(sequence)
            else:
                raise self.fail(f"unexpected {char!r}")

    def define(self, name: str, alternatives: list[list[Item]]) -> None:
        if name in self.grammar.rules:
            raise self.fail(f"the rule {name!r} is defined twice")
        self.grammar.rules[name] = alternatives

    def literal(self) -> bool:
        start = self.pos = self.pos + 1
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            if self.text[self.pos] == "\n":
                break
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        if self.pos >= len(self.text) or self.text[self.pos] != '"':
            raise self.fail("a string is not closed")
        self.pos += 1
        return self.pos - start == 1

    def char_class(self) -> None:
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != "]":
            if self.text[self.pos] == "\n":
                break
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise self.fail("a character class is not closed")
        self.pos += 1

    def repetition(self, sequence: list[Item]) -> None:
        if self.pos >= len(self.text):
            return
        char = self.text[self.pos]
        item = sequence[-1]
        if char in "*+?":
            self.pos += 1
            item.low, item.high = (0 if char in "*?" else 1), (1 if char == "?" else None)
            return
        match = _REPEAT.match(self.text, self.pos) if char == "{" else None
        if match is None:
            return
        self.pos = match.end()
        low = int(match.group(1))
        high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        biggest = max(low, high or 0)
        if biggest > self.limits.repeat:
            raise GrammarRefused(f"the grammar repeats {biggest:,} times, above the limit of {self.limits.repeat:,}")
        if high is not None and high < low:
            raise self.fail(f"the repetition {{{low},{high}}} is empty")
        item.low, item.high = low, high


def _check_finite(grammar: Grammar, root: str) -> None:
    """Every rule reachable from ``root`` must match some finite text (else it can only expand forever)."""
    finite: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, alternatives in grammar.rules.items():
            if name not in finite and any(
                all(item.low == 0 or item.kind != "r" or item.name in finite for item in seq) for seq in alternatives
            ):
                finite.add(name)
                changed = True
    reachable, todo = {root}, [root]
    while todo:
        for seq in grammar.rules[todo.pop()]:
            for item in seq:
                if item.kind == "r" and item.name not in reachable:
                    reachable.add(item.name)
                    todo.append(item.name)
    endless = sorted(name.split("--group")[0] for name in reachable - finite)
    if endless:
        raise GrammarRefused(
            f"{endless[0]!r} can only expand forever (a cycle with no optional way out): no finite reply matches it"
        )


def _check_left_recursion(grammar: Grammar) -> None:
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, alternatives in grammar.rules.items():
            if name not in nullable and any(all(_nullable(item, nullable) for item in seq) for seq in alternatives):
                nullable.add(name)
                changed = True
    leftmost: dict[str, set[str]] = {}
    for name, alternatives in grammar.rules.items():
        targets = leftmost.setdefault(name, set())
        for seq in alternatives:
            for item in seq:
                if item.kind == "r":
                    targets.add(item.name)
                if not _nullable(item, nullable):
                    break
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in grammar.rules:
        if state.get(start):
            continue
        path = [(start, iter(sorted(leftmost[start])))]
        state[start] = 1
        while path:
            name, children = path[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                path.pop()
            elif state.get(child) == 1:
                raise GrammarRefused(f"the grammar is left-recursive at {child.split('--group')[0]!r}")
            elif not state.get(child):
                state[child] = 1
                path.append((child, iter(sorted(leftmost.get(child, ())))))


def _nullable(item: Item, nullable: set[str]) -> bool:
    return item.low == 0 or item.kind == "e" or (item.kind == "r" and item.name in nullable)
