"""A chat's roleplay: the lorebooks it uses, who the user is, its author's note; and each turn's prompt from them.

``RoleplaySettings`` is what a chat keeps (under ``"roleplay"`` in the chat's settings JSON, beside its sampling:
``record_with`` merges, ``settings_of`` reads back leniently). ``RoleplaySources`` resolves settings against
the data folder (user personas, lorebooks, the preset's original card) into a ``Roleplay``: what one turn needs.
Its ``build`` is the one function every face's turn goes through (the session's send, regenerate, continue;
the window's preview; ``hermes-studio prompt``), so what a preview shows is what the model is sent.

The turn's seed (lorebook probabilities, ``{{random}}``, ``{{roll}}``) comes from the conversation itself (how
many messages the user has sent and the last one's text), so the preview of a message and its reply agree,
and a regenerated reply keeps the entries its question fired.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core import bounded_json
from app.core.errors import HermesError
from app.core.personas.card_library import CardStore
from app.core.personas.card_v3 import CardDocument, card_of
from app.core.personas.lorebook import Lorebook, LorebookError
from app.core.personas.lorebook_library import FOLDER as LOREBOOK_FOLDER
from app.core.personas.lorebook_library import LorebookLibrary
from app.core.personas.lorebook_scan import Scanner, approx_tokens
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import CARD_EXTENSION, Preset, PresetLibrary, card_to_preset
from app.core.personas.prompt_build import AuthorNote, BuiltPrompt, apply_roleplay
from app.core.personas.user_personas import UserPersona, UserPersonaError, UserPersonaStore
from app.core.prompting.prompt_formats import ChatMessage

MAX_NOTE_CHARS = 16_000
MAX_DEPTH = 1000
_CACHED_SCANNERS = 8


@dataclass(frozen=True)
class RoleplaySettings:
    """One chat's roleplay, as kept with it."""

    lorebooks: tuple[str, ...] = ()  # besides the card's own book, which is always used
    user_persona: str = ""  # one of the user's personas; "": the default one
    user_name: str = ""  # who {{user}} is, over the persona's name (the CLI's --user-name)
    author_note: str = ""
    author_note_depth: int = 4  # messages from the end
    author_note_every: int = 1  # on every Nth message of the user's; 0: never

    def to_dict(self) -> dict[str, Any]:
        return {
            "lorebooks": list(self.lorebooks),
            "user_persona": self.user_persona,
            "user_name": self.user_name,
            "author_note": self.author_note,
            "author_note_depth": self.author_note_depth,
            "author_note_every": self.author_note_every,
        }

    @classmethod
    def from_dict(cls, values: object) -> RoleplaySettings:
        """Each wrong or missing value is the default: an old or damaged record never stops a chat opening."""
        if not isinstance(values, dict):
            return cls()
        books = values.get("lorebooks")
        books = tuple(b for b in books if isinstance(b, str) and b.strip())[:64] if isinstance(books, list) else ()

        def text(name: str, limit: int = 200) -> str:
            value = values.get(name)
            return value[:limit] if isinstance(value, str) else ""

        def number(name: str, default: int) -> int:
            value = values.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DEPTH:
                return value
            return default

        return cls(
            lorebooks=books,
            user_persona=text("user_persona"),
            user_name=text("user_name"),
            author_note=text("author_note", MAX_NOTE_CHARS),
            author_note_depth=number("author_note_depth", 4),
            author_note_every=number("author_note_every", 1),
        )


def settings_of(record: str) -> RoleplaySettings:
    """The roleplay kept in a chat's settings JSON (``chats.settings``); defaults when there is none."""
    document = _document(record)
    return RoleplaySettings.from_dict(document.get("roleplay"))


def record_with(record: str, *, roleplay: RoleplaySettings | None = None, sampling: str | None = None) -> str:
    """A chat's settings JSON with its roleplay and/or its sampling record (``ChatSampling.to_json``) replaced."""
    document = _document(record)
    if sampling is not None:
        document = {"roleplay": document["roleplay"]} if "roleplay" in document else {}
        document.update(_document(sampling))
    if roleplay is not None:
        document["roleplay"] = roleplay.to_dict()
    return json.dumps(document, ensure_ascii=False, sort_keys=True)


def _document(record: str) -> dict[str, Any]:
    if not record.strip():
        return {}
    try:
        document = bounded_json.loads(record, max_bytes=4 << 20, what="The chat's settings")
    except (ValueError, HermesError):
        return {}
    return document if isinstance(document, dict) else {}


class TokenCounter:
    """Tokens of a text by the model's own tokenizer (``batch``: many texts at once), remembered; else estimated."""

    def __init__(self, batch: Callable[[list[str]], list[int] | None] | None = None) -> None:
        self.batch = batch
        self._known: dict[str, int] = {}

    def prepare(self, texts: Sequence[str]) -> None:
        wanted = [text for text in dict.fromkeys(texts) if text not in self._known]
        if not wanted or self.batch is None:
            return
        counts = self.batch(wanted)
        if counts is None:
            return
        if len(self._known) > 4096:
            self._known.clear()
        self._known.update(zip(wanted, counts, strict=True))

    def __call__(self, text: str) -> int:
        known = self._known.get(text)
        return known if known is not None else approx_tokens(text)


def turn_seed(conversation: Sequence[ChatMessage]) -> int:
    """The same for a message's preview and its reply (and a regenerated reply): from the user's messages."""
    asked = [m["content"] for m in conversation if m["role"] == "user"]
    return zlib.crc32(f"{len(asked)}\n{asked[-1] if asked else ''}".encode())


@dataclass
class Roleplay:
    """What one turn needs: the preset (its system prompt as the chat has it), its card, the books, the user."""

    preset: Preset
    settings: RoleplaySettings
    user: UserPersona
    card: CardDocument | None
    scanner: Scanner
    books: list[Lorebook] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out (a lorebook no longer there, say)

    def with_system_prompt(self, system_prompt: str) -> Roleplay:
        """The chat's own system prompt (edited in the side panel) instead of the preset's."""
        return replace(self, preset=replace(self.preset, system_prompt=system_prompt))

    def build(self, conversation: Sequence[ChatMessage], counter: TokenCounter | None = None) -> BuiltPrompt:
        """The messages for ``conversation`` (no system message; the last is the one answered)."""
        seed = turn_seed(conversation)
        count = counter or TokenCounter()
        if count.batch is not None:  # the candidates' tokens counted by the model in one call
            texts = [m["content"] for m in conversation]
            count.prepare([fired.text for fired in self.scanner.activate(texts, seed=seed, budget=1 << 40).fired])
        settings = self.settings
        built = apply_roleplay(
            conversation,
            preset=self.preset,
            scanner=self.scanner,
            card=self.card,
            user=self.user,
            seed=seed,
            author_note=AuthorNote(settings.author_note, settings.author_note_depth, settings.author_note_every),
            count_tokens=count,
        )
        built.notes[:0] = self.notes
        return built

    def greetings(self) -> list[str]:
        """The first message and the card's alternate greetings, ``{{user}}`` and ``{{char}}`` resolved."""
        first = self.preset.greeting
        alternates: list[str] = []
        if self.card is not None:
            data = self.card["data"]
            if not isinstance(data.get("extensions", {}).get(CARD_EXTENSION), dict):
                if card_to_preset(card_of(self.card)).greeting == first:
                    first = str(data.get("first_mes", first))  # unedited: the card's text, macros and all
                alternates = [text for text in data.get("alternate_greetings", []) if isinstance(text, str)]
        context = MacroContext(user=self.user.name, char=self.preset.name, persona=self.user.description)
        return [resolve(text, context).strip() for text in [first, *alternates] if text.strip()]


class RoleplaySources:
    """The data folder's user personas, lorebooks and cards; a preset's scanner is compiled once per change."""

    def __init__(self, data_dir: Path, presets: PresetLibrary) -> None:
        self.data_dir = data_dir
        self.presets = presets
        self.lorebooks = LorebookLibrary(data_dir, presets)
        self._scanners: dict[tuple[str, tuple[str, ...]], tuple[object, Scanner, list[Lorebook], list[str]]] = {}

    def user_personas(self) -> UserPersonaStore:
        return UserPersonaStore(self.data_dir)

    def user(self, settings: RoleplaySettings, *, strict: bool = False) -> tuple[UserPersona, list[str]]:
        store = self.user_personas()
        notes = [store.problem] if store.problem else []
        try:
            user = store.get(settings.user_persona or None)
        except UserPersonaError as exc:
            if strict:
                raise
            notes.append(f"{exc} Using {store.get().name!r}.")
            user = store.get()
        if settings.user_name.strip():
            user = replace(user, name=settings.user_name.strip())
        return user, notes

    def resolve(self, preset: Preset, settings: RoleplaySettings, *, strict: bool = False) -> Roleplay:
        """``strict``: an unknown lorebook or user persona is an error (a name typed on the command line) rather
        than a note (a chat whose lorebook was deleted since)."""
        user, notes = self.user(settings, strict=strict)
        card = None if preset.builtin else CardStore(self.presets.user_dir).load(preset.id)
        key = (preset.id, tuple(name.lower() for name in settings.lorebooks))
        stamp = self._stamp(preset)
        cached = self._scanners.get(key)
        if cached is None or cached[0] != stamp:
            books, problems = self._books(preset, settings.lorebooks, strict=strict)
            if len(self._scanners) >= _CACHED_SCANNERS:
                self._scanners.pop(next(iter(self._scanners)))
            cached = self._scanners[key] = (stamp, Scanner(books), books, problems)
        _, scanner, books, problems = cached
        return Roleplay(preset, settings, user, card, scanner, list(books), notes + problems)

    def _books(self, preset: Preset, names: Sequence[str], *, strict: bool) -> tuple[list[Lorebook], list[str]]:
        books: list[Lorebook] = []
        problems: list[str] = []
        own = None if preset.builtin else self.lorebooks.card_book(preset.id)
        if own is not None:
            books.append(own)
        for name in names:
            try:
                book = self.lorebooks.get(name)
            except LorebookError as exc:
                if strict:
                    raise
                problems.append(f"{exc} It is left out of this chat's prompt.")
                continue
            if all(book.name != other.name for other in books):
                books.append(book)
        return books, problems

    def _stamp(self, preset: Preset) -> object:
        """What the books depend on: the World Info files and the preset's card, as the file system has them."""
        folder = self.data_dir / LOREBOOK_FOLDER
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        card = CardStore(self.presets.user_dir).folder(preset.id) / "card.json"
        stamps = []
        for path in [*files, card]:
            try:
                stat = path.stat()
            except OSError:
                continue
            stamps.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)
