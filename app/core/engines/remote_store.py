"""The remote engines the user added (Settings → Engines): a name, a base URL, an optional API key.

Kept as JSON in the config directory (``engines.json``), written atomically. A damaged file is set
aside and reported, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from app.core import bounded_json
from app.core.atomic import atomic_write_text
from app.core.errors import HermesError

ENGINES_FILE = "engines.json"


class EnginesError(HermesError):
    """An engine entry that cannot be added (no name, a bad URL, a duplicate name)."""


@dataclass(frozen=True)
class RemoteEngineEntry:
    name: str
    base_url: str  # normalised to end in /v1
    api_key: str = ""


class RemoteEngineStore:
    """``engines.json`` under the config directory."""

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / ENGINES_FILE
        self.problem = ""

    def entries(self) -> list[RemoteEngineEntry]:
        try:
            data = bounded_json.load_file(self.path, max_bytes=1 << 20)
            return [RemoteEngineEntry(str(e["name"]), str(e["base_url"]), str(e.get("api_key", ""))) for e in data]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.problem = f"{self.path.name} could not be read ({exc}); it was left as it is."
            return []

    def get(self, name: str) -> RemoteEngineEntry | None:
        return next((e for e in self.entries() if e.name.lower() == name.lower()), None)

    def add(self, name: str, url: str, api_key: str = "") -> RemoteEngineEntry:
        name = name.strip()
        if not name:
            raise EnginesError("Give the engine a name.")
        entries = self.entries()
        if any(e.name.lower() == name.lower() for e in entries):
            raise EnginesError(f"There is already an engine named {name!r}.")
        from app.core.engines.remote import api_base  # http.client and ssl: off the window's start path

        entry = RemoteEngineEntry(name, api_base(url), api_key.strip())
        self._write([*entries, entry])
        return entry

    def remove(self, name: str) -> None:
        self._write([e for e in self.entries() if e.name.lower() != name.lower()])

    def _write(self, entries: list[RemoteEngineEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps([asdict(e) for e in entries], indent=2) + "\n")


def remote_models(store: RemoteEngineStore, timeout: float = 5.0) -> list[tuple[RemoteEngineEntry, list[str] | str]]:
    """For the model picker: each engine's model ids, or why they could not be listed (a message for people).

    Blocking (one request per engine, ``timeout`` each): call it off the GUI thread.
    """
    from app.core.engines.remote import RemoteEngineError, list_models

    found: list[tuple[RemoteEngineEntry, list[str] | str]] = []
    for entry in store.entries():
        try:
            found.append((entry, list_models(entry.base_url, entry.api_key, timeout)))
        except RemoteEngineError as exc:
            found.append((entry, str(exc)))
    return found
