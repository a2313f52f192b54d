"""Lorebooks: a card's ``character_book`` (V2/V3) and SillyTavern World Info files, read and written.

An entry's fields are checked one by one: an entry with a wrong type is skipped and named in ``skipped`` (a safe
partial import); a document that is not a lorebook at all is refused. Fields this app does not use are kept
(``raw``) and written back, so a book survives import and export unchanged.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.core.errors import HermesError

MAX_ENTRIES = 50_000
MAX_KEYS = 256
MAX_CONTENT = 1 << 20
DECORATOR = re.compile(r"^@@(@?)([a-z_]+)(?:[ \t]+(.*))?$")


class LorebookError(HermesError):
    """A document that is not a usable lorebook."""


class Logic(StrEnum):
    """SillyTavern's selective logic for secondary keys (its numbers: 0, 3, 2, 1)."""

    AND_ANY = "and_any"
    AND_ALL = "and_all"
    NOT_ANY = "not_any"
    NOT_ALL = "not_all"


ST_LOGIC = {0: Logic.AND_ANY, 1: Logic.NOT_ALL, 2: Logic.NOT_ANY, 3: Logic.AND_ALL}


class Position(StrEnum):
    """Where an entry goes; SillyTavern numbers them 0..6 in this order."""

    BEFORE_CHAR = "before_char"
    AFTER_CHAR = "after_char"
    AN_TOP = "an_top"
    AN_BOTTOM = "an_bottom"
    AT_DEPTH = "at_depth"
    EM_TOP = "em_top"
    EM_BOTTOM = "em_bottom"


ST_POSITIONS = list(Position)
V3_POSITIONS = {"before_desc": Position.BEFORE_CHAR, "after_desc": Position.AFTER_CHAR}


@dataclass
class Entry:
    uid: int
    keys: list[str]
    content: str
    secondary_keys: list[str] = field(default_factory=list)
    logic: Logic = Logic.AND_ANY
    selective: bool = False
    comment: str = ""
    constant: bool = False
    enabled: bool = True
    order: int = 100
    position: Position = Position.BEFORE_CHAR
    depth: int = 4
    probability: int = 100
    use_probability: bool = False
    case_sensitive: bool | None = None  # None: the book's setting
    whole_words: bool | None = None
    scan_depth: int | None = None
    use_regex: bool = False  # V3: every key is a regular expression
    exclude_recursion: bool = False  # not activated by other entries' text
    prevent_recursion: bool = False  # its text activates nothing
    raw: dict[str, Any] = field(default_factory=dict)  # the entry as read: unknown fields go back out
    decorators: list[tuple[str, str]] = field(init=False)
    body: str = field(init=False)

    def __post_init__(self) -> None:
        self.decorators, self.body = split_decorators(self.content)


@dataclass
class Lorebook:
    name: str
    entries: list[Entry] = field(default_factory=list)
    description: str = ""
    scan_depth: int = 2
    token_budget: int = 1024
    recursive_scanning: bool = True
    max_recursion: int = 3
    case_sensitive: bool = False
    whole_words: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # entries left out of the import, and why


def split_decorators(content: str) -> tuple[list[tuple[str, str]], str]:
    """V3 decorators (``@@name value`` lines at the top; ``@@@`` fallbacks kept too) and the text after them."""
    lines = content.split("\n")
    decorators: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        match = DECORATOR.match(lines[index].strip())
        if not match:
            break
        decorators.append((("@" if match.group(1) else "") + match.group(2), (match.group(3) or "").strip()))
        index += 1
    return decorators, "\n".join(lines[index:]) if decorators else content


def parse_book(document: Any, *, name: str = "") -> Lorebook:
    """A ``character_book`` or a World Info file (``{"entries": {"0": {...}}}``); LorebookError if neither."""
    if not isinstance(document, dict):
        raise LorebookError("A lorebook must be a JSON object.")
    entries = document.get("entries")
    if isinstance(entries, dict):
        items, world_info = list(entries.values()), True
    elif isinstance(entries, list):
        items, world_info = entries, False
    else:
        raise LorebookError("This JSON is not a lorebook: it has no 'entries' (a list, or an object of entries).")
    if len(items) > MAX_ENTRIES:
        raise LorebookError(f"This lorebook has {len(items):,} entries; the limit is {MAX_ENTRIES:,}.")
    book = Lorebook(
        name=_str(document.get("name")) or name or "Lorebook",
        description=_str(document.get("description")),
        raw={k: copy.deepcopy(v) for k, v in document.items() if k != "entries"},
    )
    book.scan_depth = _int(document.get("scan_depth"), book.scan_depth, 0, 1000)
    book.token_budget = _int(document.get("token_budget"), book.token_budget, 1, 1 << 20)
    recursive = document.get("recursive_scanning")
    book.recursive_scanning = recursive if isinstance(recursive, bool) else book.recursive_scanning
    for index, item in enumerate(items):
        try:
            entry = _world_info_entry(item, index) if world_info else _book_entry(item, index)
        except (LorebookError, TypeError, ValueError) as exc:
            label = item.get("comment") or item.get("name") if isinstance(item, dict) else None
            book.skipped.append(f"entry {index + 1}{f' ({label})' if isinstance(label, str) and label else ''}: {exc}")
            continue
        book.entries.append(entry)
    return book


def _book_entry(item: Any, index: int) -> Entry:
    """A V2/V3 ``character_book`` entry; SillyTavern keeps its extra settings under ``extensions``."""
    if not isinstance(item, dict):
        raise LorebookError("not an object")
    ext = item.get("extensions") or {}
    if not isinstance(ext, dict):
        raise LorebookError("'extensions' must be an object")
    position = item.get("position")
    st_position = ext.get("position")
    if isinstance(st_position, int) and not isinstance(st_position, bool) and 0 <= st_position < len(ST_POSITIONS):
        where = ST_POSITIONS[st_position]
    elif position in ("before_char", "after_char", None, ""):
        where = Position(position or "before_char")
    else:
        raise LorebookError(f"unknown position {position!r}")
    return Entry(
        uid=_int(item.get("id"), index, 0, 1 << 62),
        keys=_keys(item.get("keys"), "keys"),
        content=_content(item.get("content")),
        secondary_keys=_keys(item.get("secondary_keys"), "secondary_keys"),
        logic=ST_LOGIC.get(_int(ext.get("selectiveLogic"), 0, 0, 3), Logic.AND_ANY),
        selective=_bool(item.get("selective"), False),
        comment=_str(item.get("comment")) or _str(item.get("name")),
        constant=_bool(item.get("constant"), False),
        enabled=_bool(item.get("enabled"), True),
        order=_int(item.get("insertion_order"), 100, -(1 << 31), 1 << 31),
        position=where,
        depth=_int(ext.get("depth"), 4, 0, 10_000),
        probability=_int(ext.get("probability"), 100, 0, 100),
        use_probability=_bool(ext.get("useProbability"), False),
        case_sensitive=_opt_bool(item.get("case_sensitive", ext.get("case_sensitive"))),
        whole_words=_opt_bool(ext.get("match_whole_words")),
        scan_depth=_opt_int(ext.get("scan_depth")),
        use_regex=_bool(item.get("use_regex"), False),
        exclude_recursion=_bool(ext.get("exclude_recursion"), False),
        prevent_recursion=_bool(ext.get("prevent_recursion"), False),
        raw=_json_copy(item),
    )


def _world_info_entry(item: Any, index: int) -> Entry:
    """A SillyTavern World Info entry (``key``, ``keysecondary``, ``selectiveLogic``, ``position`` 0..6, …)."""
    if not isinstance(item, dict):
        raise LorebookError("not an object")
    position = _int(item.get("position"), 0, 0, len(ST_POSITIONS) - 1)
    return Entry(
        uid=_int(item.get("uid"), index, 0, 1 << 62),
        keys=_keys(item.get("key"), "key"),
        content=_content(item.get("content")),
        secondary_keys=_keys(item.get("keysecondary"), "keysecondary"),
        logic=ST_LOGIC[_int(item.get("selectiveLogic"), 0, 0, 3)],
        selective=_bool(item.get("selective"), True),
        comment=_str(item.get("comment")),
        constant=_bool(item.get("constant"), False),
        enabled=not _bool(item.get("disable"), False),
        order=_int(item.get("order"), 100, -(1 << 31), 1 << 31),
        position=ST_POSITIONS[position],
        depth=_int(item.get("depth"), 4, 0, 10_000),
        probability=_int(item.get("probability"), 100, 0, 100),
        use_probability=_bool(item.get("useProbability"), True),
        case_sensitive=_opt_bool(item.get("caseSensitive")),
        whole_words=_opt_bool(item.get("matchWholeWords")),
        scan_depth=_opt_int(item.get("scanDepth")),
        exclude_recursion=_bool(item.get("excludeRecursion"), False),
        prevent_recursion=_bool(item.get("preventRecursion"), False),
        raw=_json_copy(item),
    )


def to_world_info(book: Lorebook) -> dict[str, Any]:
    """A SillyTavern World Info document (with the book's scan depth, budget and recursion, which SillyTavern keeps
    in its own settings and ignores here, so that the book reads back as it was edited)."""
    entries: dict[str, Any] = {}
    for entry in book.entries:
        item = dict(entry.raw) if "key" in entry.raw else {}
        item.update(
            uid=entry.uid,
            key=list(entry.keys),
            keysecondary=list(entry.secondary_keys),
            comment=entry.comment,
            content=entry.content,
            constant=entry.constant,
            selective=entry.selective,
            selectiveLogic=_st_logic(entry.logic),
            order=entry.order,
            position=ST_POSITIONS.index(entry.position),
            disable=not entry.enabled,
            depth=entry.depth,
            probability=entry.probability,
            useProbability=entry.use_probability,
            caseSensitive=entry.case_sensitive,
            matchWholeWords=entry.whole_words,
            scanDepth=entry.scan_depth,
            excludeRecursion=entry.exclude_recursion,
            preventRecursion=entry.prevent_recursion,
        )
        entries[str(entry.uid)] = item
    settings = {"scan_depth": book.scan_depth, "token_budget": book.token_budget,
                "recursive_scanning": book.recursive_scanning}  # fmt: skip
    return {**copy.deepcopy(book.raw), "name": book.name, **settings, "entries": entries}


def to_character_book(book: Lorebook) -> dict[str, Any]:
    """A V2/V3 ``character_book`` (SillyTavern's extra settings under each entry's ``extensions``)."""
    items = []
    for entry in book.entries:
        item = dict(entry.raw) if "keys" in entry.raw else {}
        ext = dict(item.get("extensions") or {})
        ext.update(
            position=ST_POSITIONS.index(entry.position),
            depth=entry.depth,
            probability=entry.probability,
            useProbability=entry.use_probability,
            selectiveLogic=_st_logic(entry.logic),
            match_whole_words=entry.whole_words,
            scan_depth=entry.scan_depth,
            exclude_recursion=entry.exclude_recursion,
            prevent_recursion=entry.prevent_recursion,
        )
        where = entry.position if entry.position in (Position.BEFORE_CHAR, Position.AFTER_CHAR) else "before_char"
        item.update(
            id=entry.uid,
            keys=list(entry.keys),
            secondary_keys=list(entry.secondary_keys),
            content=entry.content,
            comment=entry.comment,
            selective=entry.selective,
            constant=entry.constant,
            enabled=entry.enabled,
            insertion_order=entry.order,
            position=str(where),
            case_sensitive=entry.case_sensitive,
            use_regex=entry.use_regex,
            extensions=ext,
        )
        items.append(item)
    book_raw = {k: v for k, v in copy.deepcopy(book.raw).items() if k not in ("originalData",)}
    return {
        **book_raw,
        "name": book.name,
        "description": book.description,
        "scan_depth": book.scan_depth,
        "token_budget": book.token_budget,
        "recursive_scanning": book.recursive_scanning,
        "extensions": book_raw.get("extensions") or {},
        "entries": items,
    }


def _json_copy(value: Any) -> Any:
    """A copy of decoded JSON (objects, arrays, scalars): deepcopy's result, several times faster (20,000 entries)."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _st_logic(logic: Logic) -> int:
    return next(number for number, value in ST_LOGIC.items() if value == logic)


def _keys(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise LorebookError(f"'{name}' must be a list of text")
    if len(value) > MAX_KEYS:
        raise LorebookError(f"'{name}' has more than {MAX_KEYS} keys")
    return [key for key in value if key.strip()]


def _content(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LorebookError(f"'content' must be text, not {type(value).__name__}")
    if len(value) > MAX_CONTENT:
        raise LorebookError(f"'content' is longer than {MAX_CONTENT:,} characters")
    return value


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise LorebookError(f"expected true or false, not {value!r}")
    return value


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else _bool(value, False)


def _int(value: Any, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise LorebookError(f"expected a number, not {value!r}")
    return max(low, min(high, int(value)))


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value, 0, 0, 10_000)
