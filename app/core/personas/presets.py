"""The persona library: presets (a system prompt plus the settings that go with it).

Built-in presets ship in ``resources/presets`` and are read-only; user presets are one JSON file
each in the user data directory, written atomically. Presets import from and export to JSON and
SillyTavern/TavernAI character cards (PNG or JSON). Every import is validated in full before
anything is written, so a bad file changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.errors import HermesError
from app.core.files import read_regular, write_user_file
from app.core.personas.card_v3 import card_of, read_card_bytes, strip_png
from app.core.personas.cards import (
    MAX_CARD_BYTES,
    Card,
    CardError,
    card_from_dict,
    read_png_chunks,
    substitute_macros,
    write_card_png,
)
from app.core.prompting.chat_sampling import MAX_COLLECTIONS, MAX_NAME_CHARS, knowledge_names
from app.core.prompting.prompt_formats import AUTO, CUSTOM, NAMED_FORMATS
from app.core.prompting.types import Sampling

log = logging.getLogger(__name__)

SCHEMA = "hermes-studio-preset"
SCHEMA_VERSION = 1
CARD_EXTENSION = "hermes_studio"
MAX_IMPORT_BYTES = MAX_CARD_BYTES
MAX_TEXT = 1 << 20
MAX_AVATAR_CHARS = (MAX_CARD_BYTES + 2) // 3 * 4  # a card's whole size as base64: the image is most of a card
PROMPT_FORMATS = (AUTO, *NAMED_FORMATS, CUSTOM)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class PresetError(HermesError):
    """A preset or card that cannot be used, or a library operation that is not allowed."""


_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 5.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 100_000),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.0, 10.0),
    "max_tokens": (1, 1 << 20),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    description: str = ""
    system_prompt: str = ""
    greeting: str = ""
    example_dialogue: str = ""
    prompt_format: str = AUTO
    custom_template: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    avatar_png: bytes = b""
    color: str = "#5b4bdb"
    knowledge: tuple[str, ...] = ()  # knowledge collections its chats answer from (by name)
    builtin: bool = False

    def to_dict(self, *, avatar: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data.pop("builtin")
        data["sampling"]["stop"] = list(self.sampling.stop)
        data["knowledge"] = list(self.knowledge)
        data["avatar_png"] = base64.b64encode(self.avatar_png).decode("ascii") if avatar and self.avatar_png else ""
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **data}


def preset_from_dict(document: Any, *, builtin: bool = False) -> Preset:
    """Validate a preset document in full; raise PresetError saying what is wrong."""
    if not isinstance(document, dict):
        raise PresetError("A preset must be a JSON object.")
    if document.get("schema") != SCHEMA:
        raise PresetError("This JSON is not a Hermes Studio preset (no 'schema': 'hermes-studio-preset').")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
        raise PresetError(f"Unsupported preset schema version {version!r} (this app reads 1 to {SCHEMA_VERSION}).")
    values: dict[str, Any] = {}
    for key in ("id", "name", "description", "system_prompt", "greeting", "example_dialogue", "custom_template"):
        values[key] = _text(document, key, required=key in ("name",))
    if not values["name"].strip():
        raise PresetError("A preset needs a name.")
    values["id"] = values["id"] or slugify(values["name"])
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", values["id"]):
        raise PresetError(f"Bad preset id {values['id']!r}: lowercase letters, digits and dashes only.")
    prompt_format = _text(document, "prompt_format") or AUTO
    if prompt_format not in PROMPT_FORMATS:
        raise PresetError(f"Unknown prompt format {prompt_format!r} (known: {', '.join(PROMPT_FORMATS)}).")
    color = _text(document, "color") or "#5b4bdb"
    if not _COLOR.match(color):
        raise PresetError(f"Bad colour {color!r}: use #RRGGBB.")
    avatar_text = _text(document, "avatar_png", limit=MAX_AVATAR_CHARS)
    try:
        avatar = base64.b64decode(avatar_text, validate=True) if avatar_text else b""
    except (binascii.Error, ValueError):
        raise PresetError("The preset's avatar is not valid base64.") from None
    if avatar:
        try:
            read_png_chunks(avatar)
        except CardError as exc:
            raise PresetError(f"The preset's avatar is not a usable PNG: {exc}") from None
    return Preset(
        **values,
        prompt_format=prompt_format,
        sampling=_sampling(document.get("sampling", {})),
        avatar_png=avatar,
        color=color,
        knowledge=_knowledge(document.get("knowledge", [])),
        builtin=builtin,
    )


def _knowledge(value: Any) -> tuple[str, ...]:
    if knowledge_names(value, ()) or value == []:
        return knowledge_names(value)
    raise PresetError(
        f"The preset's 'knowledge' must be a list of up to {MAX_COLLECTIONS} collection names (text, at most "
        f"{MAX_NAME_CHARS} characters each)."
    )


def _text(document: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = document.get(key)
    if value is None:
        if required:
            raise PresetError(f"The preset has no {key!r}.")
        return ""
    if not isinstance(value, str):
        raise PresetError(f"The preset's {key!r} must be text, not {type(value).__name__}.")
    if len(value) > limit:
        raise PresetError(f"The preset's {key!r} is longer than {limit:,} characters.")
    return value


def _sampling(document: Any) -> Sampling:
    if not isinstance(document, dict):
        raise PresetError("The preset's 'sampling' must be an object.")
    defaults = Sampling()
    values: dict[str, Any] = {}
    for key, (low, high) in _RANGES.items():
        value = document.get(key, getattr(defaults, key))
        integral = isinstance(getattr(defaults, key), int)
        if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
            kind = "a whole number" if integral else "a number"
            raise PresetError(f"Sampling setting {key!r} must be {kind}, not {value!r}.")
        if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
            raise PresetError(f"Sampling setting {key!r} must be between {low:g} and {high:g}, not {value!r}.")
        values[key] = value if integral else float(value)
    stop = document.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 16:
        raise PresetError("Sampling setting 'stop' must be a list of up to 16 non-empty strings.")
    seed = document.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise PresetError("Sampling setting 'seed' must be empty or a whole number from 0 to 4294967295.")
    return Sampling(**values, stop=tuple(stop), seed=seed)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48]
    return slug or "preset"


def card_to_preset(card: Card, avatar_png: bytes = b"", user: str = "User") -> Preset:
    """A preset from a character card; the card's own Hermes Studio preset wins if it carries one."""
    embedded = card.extensions.get(CARD_EXTENSION)
    if isinstance(embedded, dict):
        preset = preset_from_dict(embedded)
        return replace(preset, avatar_png=avatar_png or preset.avatar_png)
    char = card.name.strip()

    def macros(text: str) -> str:
        return substitute_macros(text.strip(), char, user)

    lead = card.system_prompt.replace("{{original}}", "").strip() or "You are {{char}}. Stay in character."
    parts = [macros(lead), macros(card.description)]
    if card.personality.strip():
        parts.append(f"{char}'s personality: {macros(card.personality)}")
    if card.scenario.strip():
        parts.append(f"Scenario: {macros(card.scenario)}")
    if card.mes_example.strip():
        parts.append(f"Example dialogue:\n{macros(card.mes_example)}")
    description = card.description.strip()
    summary = card.creator_notes.strip() or (description.splitlines()[0] if description else "")
    return Preset(
        id=slugify(char),
        name=char,
        description=macros(summary)[:300],
        system_prompt="\n\n".join(p for p in parts if p),
        greeting=macros(card.first_mes),
        example_dialogue=macros(card.mes_example),
        avatar_png=avatar_png,
    )


def preset_to_card(preset: Preset) -> dict[str, Any]:
    """A V2 card: readable by SillyTavern, and carrying the full preset for a lossless round trip."""
    card = Card(
        name=preset.name,
        description=preset.system_prompt,
        first_mes=preset.greeting,
        mes_example=preset.example_dialogue,
        creator_notes=preset.description,
        creator="Hermes Studio",
        extensions={CARD_EXTENSION: preset.to_dict(avatar=False)},
    )
    return card.to_v2()


def parse_import(raw: bytes, filename: str) -> Preset:
    """A preset from the bytes of a preset JSON, a card JSON, or a card PNG."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PresetError(
            f"{filename} is {len(raw) / 1e6:.0f} MB; presets and cards larger than {MAX_IMPORT_BYTES >> 20} MB "
            "are refused."
        )
    try:
        if raw.startswith(b"\x89PNG"):
            return card_to_preset(card_of(read_card_bytes(raw)), avatar_png=strip_png(raw))  # ccv3, else chara
        try:
            document = bounded_json.loads(raw, max_bytes=MAX_IMPORT_BYTES, what="it")
        except bounded_json.JsonLimitError as exc:
            raise PresetError(str(exc)) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise PresetError(f"neither a PNG card nor valid JSON ({exc})") from None
        if isinstance(document, dict) and document.get("schema") == SCHEMA:
            return preset_from_dict(document)
        return card_to_preset(card_from_dict(document))
    except (CardError, PresetError) as exc:
        raise PresetError(f"{filename}: {exc}") from None
    except RecursionError:
        raise PresetError(f"{filename} is nested too deeply to be a preset or a card.") from None


def builtin_presets() -> list[Preset]:
    presets = []
    folder = resources.files("app.resources").joinpath("presets")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            presets.append(preset_from_dict(json.loads(entry.read_text(encoding="utf-8")), builtin=True))
    order = {"hermes-2": 0, "edward-elric": 1}
    return sorted(presets, key=lambda p: (order.get(p.id, 2), p.name.lower()))


class PresetLibrary:
    """Built-ins plus the user's presets; every change is written at once (atomically)."""

    def __init__(self, user_dir: Path) -> None:
        self.user_dir = user_dir
        self.problems: list[str] = []  # user files that could not be read (kept on disk, not shown)
        self._builtins = builtin_presets()
        self._user: dict[str, Preset] = {}
        self.reload()

    def reload(self) -> None:
        """Read the user's presets; a file that cannot be read is skipped (and kept) and listed in ``problems``."""
        self._user.clear()
        self.problems.clear()
        if not self.user_dir.is_dir():
            return
        for path in sorted(self.user_dir.glob("*.json")):
            try:
                if path.stem in self._builtin_ids:
                    raise PresetError("its name clashes with a built-in preset")
                raw = read_regular(path, MAX_IMPORT_BYTES)  # a FIFO in the folder is refused, never waited on
                preset = preset_from_dict(bounded_json.loads(raw, max_bytes=MAX_IMPORT_BYTES, what=path.name))
            except (OSError, ValueError, PresetError, RecursionError) as exc:
                self.problems.append(f"{path.name}: {exc}")
                log.warning("skipping preset %s: %s", path, exc)
                continue
            self._user[path.stem] = replace(preset, id=path.stem)  # the file name is the id

    @property
    def _builtin_ids(self) -> set[str]:
        return {p.id for p in self._builtins}

    def presets(self) -> list[Preset]:
        return [*self._builtins, *sorted(self._user.values(), key=lambda p: p.name.lower())]

    def get(self, key: str) -> Preset:
        wanted = key.strip().lower()
        for preset in self.presets():
            if wanted in (preset.id, preset.name.lower()):
                return preset
        raise PresetError(f"No preset named {key!r}. Known: {', '.join(p.name for p in self.presets())}.")

    def name_of(self, preset_id: str) -> str:
        """A preset's name for people (its id if it no longer exists)."""
        return next((preset.name for preset in self.presets() if preset.id == preset_id), preset_id)

    def save(self, preset: Preset) -> Preset:
        """Create or update a user preset (built-ins are read-only: duplicate them instead)."""
        if preset.id in self._builtin_ids:
            raise PresetError(f"{preset.name!r} is a built-in preset and cannot be changed; duplicate it first.")
        checked = preset_from_dict(preset.to_dict())  # the same validation as a file on disk
        self._write(checked)
        self._user[checked.id] = checked
        return checked

    def create(self, preset: Preset) -> Preset:
        """Save under a fresh id derived from the name."""
        return self.save(replace(preset, id=self._free_id(preset.name), builtin=False))

    def duplicate(self, key: str) -> Preset:
        original = self.get(key)
        return self.create(replace(original, name=self._free_name(f"{original.name} (copy)")))

    def rename(self, key: str, name: str) -> Preset:
        preset = self.get(key)
        if preset.builtin:
            raise PresetError(f"{preset.name!r} is a built-in preset and cannot be renamed.")
        if not name.strip():
            raise PresetError("A preset needs a name.")
        return self.save(replace(preset, name=name.strip()))

    def delete(self, key: str) -> None:
        preset = self.get(key)
        if preset.builtin:
            raise PresetError(f"{preset.name!r} is a built-in preset and cannot be deleted.")
        (self.user_dir / f"{preset.id}.json").unlink(missing_ok=True)
        shutil.rmtree(self.user_dir / "cards" / preset.id, ignore_errors=True)  # its original card, if imported
        del self._user[preset.id]

    def import_file(self, path: Path) -> Preset:
        """Import a preset JSON or a character card (PNG or JSON) as a new user preset."""
        try:
            size = path.stat().st_size
            if size > MAX_IMPORT_BYTES:
                raise PresetError(
                    f"{path.name} is {size / 1e6:.0f} MB; presets and cards larger than "
                    f"{MAX_IMPORT_BYTES >> 20} MB are refused."
                )
            raw = read_regular(path, MAX_IMPORT_BYTES)  # a FIFO or /dev/zero: refused, never waited on
        except OSError as exc:
            raise PresetError(f"Could not read {path.name}: {exc.strerror or exc}") from None
        preset = parse_import(raw, path.name)
        name = self._free_name(preset.name)
        return self.create(replace(preset, name=name))

    def export_json(self, key: str, path: Path) -> None:
        """Write a preset as JSON to a new path or over a regular file (never a device, FIFO, link or folder)."""
        text = json.dumps(self.get(key).to_dict(), indent=2, ensure_ascii=False)
        self._export(path, text.encode("utf-8"))

    def export_card(self, key: str, path: Path) -> None:
        preset = self.get(key)
        self._export(path, write_card_png(preset_to_card(preset), preset.avatar_png or None))

    def _export(self, path: Path, data: bytes) -> None:
        try:
            write_user_file(path, data)
        except OSError as exc:
            raise PresetError(f"Could not export to {str(path)!r}: {exc.strerror or exc}.") from None

    def _write(self, preset: Preset) -> None:
        try:
            self.user_dir.mkdir(parents=True, exist_ok=True)
            self._write_file(preset)
        except OSError as exc:
            raise PresetError(f"Could not save the preset {preset.name!r}: {exc.strerror or exc}") from None

    def _write_file(self, preset: Preset) -> None:
        atomic_write_text(
            self.user_dir / f"{preset.id}.json", json.dumps(preset.to_dict(), indent=2, ensure_ascii=False)
        )

    def _free_id(self, name: str) -> str:
        base = slugify(name)[:56]
        taken = self._builtin_ids | set(self._user)
        candidate, counter = base, 2
        while candidate in taken:
            candidate, counter = f"{base}-{counter}", counter + 1
        return candidate

    def _free_name(self, name: str) -> str:
        names = {p.name.lower() for p in self.presets()}
        candidate, counter = name, 2
        while candidate.lower() in names:
            candidate, counter = f"{name} {counter}", counter + 1
        return candidate
