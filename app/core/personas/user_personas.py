"""The user's own personas (who "{{user}}" is): a name, a description and an avatar, one of them the default.

Kept in ``user_personas.json`` in the data folder (an avatar as base64 PNG, 1 MB at most); a damaged file is
reported and the built-in "User" used.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.errors import HermesError

FILE_NAME = "user_personas.json"
MAX_DESCRIPTION = 64_000
MAX_AVATAR_BYTES = 1 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UserPersonaError(HermesError):
    """A user persona that cannot be used or saved."""


@dataclass(frozen=True)
class UserPersona:
    name: str
    description: str = ""
    avatar_png: bytes = field(default=b"", repr=False)


class UserPersonaStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self.problem = ""
        self._personas: list[UserPersona] = []
        self.default = ""
        if self.path.is_file():
            try:
                document = bounded_json.load_file(self.path, max_bytes=8 << 20)
                self._personas = [_persona(item) for item in document.get("personas", [])]
                self.default = str(document.get("default", ""))
            except (OSError, ValueError, AttributeError, UserPersonaError) as exc:
                self.problem = f"{self.path.name} could not be read ({exc}); using 'User'."

    def personas(self) -> list[UserPersona]:
        return list(self._personas)

    def get(self, name: str | None = None) -> UserPersona:
        """The named persona, else the default one, else plain "User"."""
        wanted = (name or self.default).strip().lower()
        for persona in self._personas:
            if persona.name.lower() == wanted:
                return persona
        if name:
            known = ", ".join(p.name for p in self._personas) or "none yet"
            raise UserPersonaError(f"No user persona named {name!r} (yours: {known}).")
        return UserPersona("User")

    def save(self, persona: UserPersona, *, default: bool = False, replacing: str = "") -> None:
        """Add ``persona``, or change the one of its name (or the one named ``replacing``: a rename)."""
        checked = _persona({"name": persona.name, "description": persona.description})
        if persona.avatar_png and (
            len(persona.avatar_png) > MAX_AVATAR_BYTES or not persona.avatar_png.startswith(PNG_SIGNATURE)
        ):
            raise UserPersonaError(f"An avatar must be a PNG image of up to {MAX_AVATAR_BYTES >> 20} MB.")
        persona = UserPersona(checked.name, checked.description, persona.avatar_png)
        gone = {persona.name.lower(), replacing.strip().lower()} - {""}
        taken = [p for p in self._personas if p.name.lower() in gone]
        index = self._personas.index(taken[0]) if taken else len(self._personas)
        was_default = any(p.name == self.default for p in taken)
        self._personas = [p for p in self._personas if p.name.lower() not in gone]
        self._personas.insert(min(index, len(self._personas)), persona)
        if default or not self.default or was_default:
            self.default = persona.name
        self._write()

    def set_default(self, name: str) -> None:
        self.default = self.get(name).name
        self._write()

    def remove(self, name: str) -> None:
        persona = self.get(name)
        self._personas.remove(persona)
        if self.default == persona.name:
            self.default = self._personas[0].name if self._personas else ""
        self._write()

    def _write(self) -> None:
        personas = [
            {"name": p.name, "description": p.description}
            | ({"avatar": base64.b64encode(p.avatar_png).decode("ascii")} if p.avatar_png else {})
            for p in self._personas
        ]
        document = {"default": self.default, "personas": personas}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(document, indent=2, ensure_ascii=False))
        except OSError as exc:
            raise UserPersonaError(f"Could not save the user personas: {exc.strerror or exc}") from None


def _persona(item: object) -> UserPersona:
    if not isinstance(item, dict):
        raise UserPersonaError("a user persona must be an object")
    name, description = item.get("name"), item.get("description", "")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise UserPersonaError("a user persona needs a name (up to 200 characters)")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise UserPersonaError(f"a user persona's description must be text of up to {MAX_DESCRIPTION:,} characters")
    avatar = item.get("avatar", "")
    try:
        png = base64.b64decode(avatar, validate=True) if isinstance(avatar, str) and avatar else b""
    except (binascii.Error, ValueError):
        png = b""  # a damaged avatar: the persona stays, without it
    if len(png) > MAX_AVATAR_BYTES or (png and not png.startswith(PNG_SIGNATURE)):
        png = b""
    return UserPersona(name.strip(), description, png)
