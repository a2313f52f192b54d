"""Which lorebook entries fire for a turn, and why: SillyTavern's rules, in time linear in the text scanned.

Every key of every entry becomes one pattern in a ``re2.Set`` (one set per scan depth), so a turn is one pass
of RE2's automaton over the last messages, whatever the number of entries: no Python loop over 20,000
entries, and no backtracking (RE2 has none), so ``/(a+)+$/`` on a long line costs what any key costs. A key
RE2 refuses (a back-reference, a look-around) is reported and ignored. Then, for the entries whose primary
key matched: secondary keys and their logic, probability (rolled from the turn's seed, so a preview and the
reply agree), recursion through the fired entries' text (bounded), and the token budget (lowest order dropped).

Decorators honoured: ``@@activate``, ``@@dont_activate``, ``@@depth N``, ``@@position P``, ``@@scan_depth N``;
any other decorator (and the ``@@@`` fallbacks) is kept in the entry and ignored.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.personas.lorebook import V3_POSITIONS, Entry, Logic, Lorebook, Position

if TYPE_CHECKING:
    import re2

HONOURED_DECORATORS = ("activate", "dont_activate", "depth", "position", "scan_depth")
MAX_SCANNED_CHARS = 200_000  # the buffer a turn scans (the last scan_depth messages), newest kept
MAX_RECURSION = 8


@functools.cache
def _re2() -> tuple[Any, Any]:
    """The re2 module and its options, on the first scan or key checked (off the window's start path)."""
    import re2

    options = re2.Options()
    options.max_mem = 512 << 20  # a set of 40,000 keys needs more than RE2's default 8 MB of automaton
    options.log_errors = False
    return re2, options


def approx_tokens(text: str) -> int:
    """About four characters a token (the budget's default measure when no tokenizer is at hand)."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Fired:
    book: str
    entry: Entry
    reason: str  # "key 'dragon'", "constant", "@@activate", "key 'x' in the text of 'Y'" …
    position: Position
    depth: int
    text: str  # the content without its decorators
    tokens: int


@dataclass
class Activation:
    fired: list[Fired] = field(default_factory=list)  # in insertion order: by position, then by order
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (entry label, why)
    notes: list[str] = field(default_factory=list)

    def at(self, position: Position) -> list[Fired]:
        return [fired for fired in self.fired if fired.position == position]


@dataclass
class _Plan:
    """One entry's effective settings, decorators applied."""

    book: str
    entry: Entry
    position: Position
    depth: int
    scan_depth: int
    always: bool
    never: bool
    recurse_depth: int = 0


def label(entry: Entry) -> str:
    return entry.comment or (entry.keys[0] if entry.keys else f"entry {entry.uid}")


class Scanner:
    """Lorebooks compiled once (keys into RE2 sets); ``activate`` is then called once per turn."""

    def __init__(self, books: Sequence[Lorebook], *, max_recursion: int | None = None) -> None:
        self.books = list(books)
        self.notes: list[str] = []
        self.plans: list[_Plan] = []
        self.max_recursion = min(MAX_RECURSION, max((b.max_recursion for b in books), default=0))
        if max_recursion is not None:
            self.max_recursion = min(MAX_RECURSION, max_recursion)
        self.recursive = any(book.recursive_scanning for book in books)
        self._keys: dict[int, list[tuple[int, bool, str, str]]] = {}  # depth -> [(plan, secondary, key, RE2)]
        self._sets: dict[int, re2.Set] = {}
        self._users: dict[int, list[list[tuple[int, str]]]] = {}  # depth -> pattern -> [(plan, primary key)]
        self._secondary: dict[int, list[tuple[int, str]]] = {}  # plan -> [(pattern, secondary key)]
        for book in books:
            for entry in book.entries:
                if entry.enabled:
                    self._add(book, entry)
        for scan_depth, keys in self._keys.items():
            self._sets[scan_depth] = self._compile(scan_depth, keys)
        self._keys.clear()
        self._always = [index for index, plan in enumerate(self.plans) if plan.always]  # a turn never walks them all

    def _add(self, book: Lorebook, entry: Entry) -> None:
        position, depth, scan_depth = entry.position, entry.depth, entry.scan_depth
        scan_depth = book.scan_depth if scan_depth is None else scan_depth
        always = never = False
        for name, value in entry.decorators:
            if name == "activate":
                always = True
            elif name == "dont_activate":
                never = True
            elif name == "depth" and value.isdigit():
                position, depth = Position.AT_DEPTH, int(value)
            elif name == "scan_depth" and value.isdigit():
                scan_depth = int(value)
            elif name == "position":
                position = V3_POSITIONS.get(value) or _position(value) or position
        plan = _Plan(book.name, entry, position, depth, scan_depth, always or entry.constant, never)
        index = len(self.plans)
        self.plans.append(plan)
        if never:
            return
        case = book.case_sensitive if entry.case_sensitive is None else entry.case_sensitive
        whole = book.whole_words if entry.whole_words is None else entry.whole_words
        keys = self._keys.setdefault(scan_depth, [])
        secondary = entry.secondary_keys if entry.selective else []
        for is_secondary, group in ((False, entry.keys), (True, secondary)):
            for key in group:
                keys.append((index, is_secondary, key, _pattern(key, case=case, whole=whole, regex=entry.use_regex)))

    def _compile(self, depth: int, keys: list[tuple[int, bool, str, str]]) -> re2.Set:
        """One RE2 set of the distinct patterns of this scan depth (a key shared by 10,000 entries is one pattern)."""
        re2, options = _re2()
        patterns = re2.Set.SearchSet(options)
        ids: dict[str, int] = {}
        users: list[list[tuple[int, str]]] = []
        for index, secondary, key, pattern in keys:
            pid = ids.get(pattern)
            if pid is None:
                try:
                    if not pattern:
                        raise ValueError("empty")
                    pid = patterns.Add(pattern)
                except Exception as exc:  # re2.error: a syntax RE2 lacks (back-references, look-around)
                    plan = self.plans[index]
                    self.notes.append(
                        f"{plan.book}: key “{key}” of “{label(plan.entry)}” is ignored: RE2 cannot run it "
                        f"(no back-references or look-arounds) ({exc})."
                    )
                    continue
                ids[pattern] = pid
                users.append([])
            if secondary:
                self._secondary.setdefault(index, []).append((pid, key))
            else:
                users[pid].append((index, key))
        patterns.Compile()
        self._users[depth] = users
        return patterns

    def activate(
        self,
        messages: Sequence[str],
        *,
        seed: int,
        budget: int | None = None,
        count_tokens: Callable[[str], int] = approx_tokens,
    ) -> Activation:
        """The entries that fire for ``messages`` (oldest first; the newest is the message being sent)."""
        result = Activation(notes=list(self.notes))
        fired: dict[int, str] = {index: _always_reason(self.plans[index]) for index in self._always}
        scanned = {depth: _buffer(messages, depth) for depth in self._sets}
        self._match(scanned, fired, result, seed, recursion=None)
        if self.recursive:
            for round_number in range(1, self.max_recursion + 1):
                new = [i for i in fired if self.plans[i].recurse_depth == round_number - 1]
                text = "\n".join(self.plans[i].entry.body for i in new if not self.plans[i].entry.prevent_recursion)
                if not text:
                    break
                before = len(fired)
                self._match({depth: text for depth in self._sets}, fired, result, seed, recursion=round_number)
                if len(fired) == before:
                    break
            else:
                result.notes.append(f"Recursion stopped after {self.max_recursion} rounds.")
        for index in fired:  # only what fired had a recursion round set
            self.plans[index].recurse_depth = 0
        self._fit(fired, result, budget if budget is not None else self._budget(), count_tokens)
        return result

    def _match(
        self, buffers: dict[int, str], fired: dict[int, str], result: Activation, seed: int, recursion: int | None
    ) -> None:
        primary: dict[int, str] = {}
        hits: set[int] = set()
        for depth, patterns in self._sets.items():
            text = buffers[depth]
            if not text:
                continue
            users = self._users[depth]
            for pid in patterns.Match(text) or ():
                hits.add(pid)
                for index, key in users[pid]:
                    if index not in fired and not (recursion and self.plans[index].entry.exclude_recursion):
                        primary.setdefault(index, key)
        for index, key in sorted(primary.items()):
            plan = self.plans[index]
            wanted = self._secondary.get(index, [])
            matched = {secondary_key for pid, secondary_key in wanted if pid in hits}
            if wanted and not _logic_holds(plan.entry.logic, len(matched), len({k for _, k in wanted})):
                continue
            entry = plan.entry
            if entry.use_probability and entry.probability < 100:
                roll = random.Random(f"{seed}:{plan.book}:{entry.uid}").random() * 100
                if roll >= entry.probability:
                    result.dropped.append((label(entry), f"probability {entry.probability} % (rolled {roll:.0f})"))
                    continue
            why = f"key {key!r}" + (f" and {sorted(matched)!r}" if matched and entry.logic != Logic.NOT_ANY else "")
            fired[index] = why + (f" (recursion {recursion})" if recursion else "")
            plan.recurse_depth = recursion or 0

    def _fit(self, fired: dict[int, str], result: Activation, budget: int, count: Callable[[str], int]) -> None:
        ranked = sorted(fired, key=lambda i: (not self.plans[i].always, -self.plans[i].entry.order, i))
        used = 0
        kept: list[Fired] = []
        for index in ranked:
            plan = self.plans[index]
            tokens = count(plan.entry.body)
            if used + tokens > budget:
                result.dropped.append((label(plan.entry), f"over the token budget ({used + tokens} > {budget})"))
                continue
            used += tokens
            kept.append(Fired(plan.book, plan.entry, fired[index], plan.position, plan.depth, plan.entry.body, tokens))
        order = list(Position)
        kept.sort(key=lambda f: (order.index(f.position), f.entry.order))
        result.fired = kept

    def _budget(self) -> int:
        return min((book.token_budget for book in self.books), default=1024)


def _logic_holds(logic: Logic, matched: int, wanted: int) -> bool:
    if logic == Logic.AND_ANY:
        return matched > 0
    if logic == Logic.AND_ALL:
        return matched == wanted
    if logic == Logic.NOT_ANY:
        return matched == 0
    return matched < wanted  # NOT_ALL


def _always_reason(plan: _Plan) -> str:
    return "constant" if plan.entry.constant else "@@activate"


def _buffer(messages: Sequence[str], depth: int) -> str:
    if depth <= 0:
        return ""
    return "\n".join(messages[-depth:])[-MAX_SCANNED_CHARS:]


def _position(value: str) -> Position | None:
    try:
        return Position(value)
    except ValueError:
        return None


def _pattern(key: str, *, case: bool, whole: bool, regex: bool) -> str:
    """RE2 syntax for one key: ``/…/flags`` (or a V3 ``use_regex`` entry) as written, else the literal text."""
    if regex:
        return key
    if len(key) > 2 and key.startswith("/") and key.rfind("/") > 0:
        end = key.rfind("/")
        flags = "".join(f for f in key[end + 1 :] if f in "ims")
        if end > 1 and len(flags) == len(key) - end - 1 - key[end + 1 :].count("g") - key[end + 1 :].count("u"):
            return (f"(?{flags})" if flags else "") + key[1:end]
    body = _re2()[0].escape(key.strip())
    if whole and " " not in key.strip():
        body = rf"(?:^|\W){body}(?:$|\W)"
    return body if case else f"(?i){body}"


def key_problem(key: str, *, regex: bool = False) -> str:
    """Why a key can never match (RE2 refuses its pattern), or "" when it can: said as the key is typed."""
    pattern = _pattern(key, case=False, whole=False, regex=regex)
    try:
        if not pattern:
            return "it is empty"
        re2, options = _re2()
        re2.compile(pattern, options)
    except Exception as exc:  # re2.error: back-references, look-arounds, a broken pattern
        detail = exc.args[0] if exc.args else exc
        detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        return f"RE2 cannot run it (no back-references or look-arounds): {detail}"
    return ""
