"""Which model answers a request: the loaded one, a library model loaded just in time, and persona presets.

A model is named by its file's stem (``SmolLM2-135M-Instruct.Q4_1``), its file name, or the id a remote
engine gave it. ``MODEL@PRESET`` applies a persona preset (its system prompt where the request has
none, its prompt format, its sampling under the request's own fields). With just-in-time loading on, a
library model that is not loaded is loaded first (queued like any job: a chat in progress finishes
first); with it off, or for a name that is not in the library, the answer is 404. Only library models
can be loaded this way, never an arbitrary path a client names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.core.library.models import scan_models
from app.core.personas.presets import Preset, PresetError, PresetLibrary
from app.server.errors import ApiError


@dataclass(frozen=True)
class Resolved:
    model_id: str
    preset: Preset | None


class ModelHost:
    def __init__(
        self,
        service: EngineService,
        library_folders: Callable[[], list[Path]] | None = None,
        presets: PresetLibrary | None = None,
        jit: bool = False,
        load_options: LoadOptions = LoadOptions(),
    ) -> None:
        self.service = service
        self.library_folders = library_folders or (lambda: [])
        self.presets = presets
        self.jit = jit
        self.load_options = load_options
        self._loading = asyncio.Lock()
        self._created = int(time.time())

    def loaded_id(self) -> str | None:
        loaded = self.service.loaded
        if loaded is None:
            return None
        path = loaded.info.path
        return str(path) if loaded.remote else path.stem

    def _names_of_loaded(self) -> set[str]:
        loaded = self.service.loaded
        if loaded is None:
            return set()
        path = loaded.info.path
        return {name.lower() for name in (str(path), path.name, path.stem)}

    def names_the_chat_model(self, name: str) -> bool:
        return name.lower() in self._names_of_loaded()

    def listing(self) -> list[dict[str, object]]:
        ids: list[str] = []
        loaded = self.loaded_id()
        if loaded:
            ids.append(loaded)
        embedding = self.service.embedding_loaded
        if embedding is not None and embedding.info.path.stem != loaded:
            ids.append(embedding.info.path.stem)
        if self.jit:
            ids += [m.name for m in scan_models(self.library_folders()) if m.name != loaded]
        return [{"id": i, "object": "model", "created": self._created, "owned_by": "hermes-studio"} for i in ids]

    async def resolve(self, name: str) -> Resolved:
        model, _, preset_name = name.rpartition("@") if "@" in name else (name, "", "")
        preset = self._preset(preset_name) if preset_name else None
        if model.lower() in self._names_of_loaded():
            return Resolved(self.loaded_id() or model, preset)
        path = self._library_model(model) if self.jit else None
        if path is None:
            available = ", ".join(str(entry["id"]) for entry in self.listing()) or "none"
            raise ApiError(
                404, f"The model {model!r} does not exist or is not loaded (available: {available}).",
                code="model_not_found", param="model",
            )  # fmt: skip
        async with self._loading:
            if model.lower() not in self._names_of_loaded():
                future = self.service.submit(lambda engine: engine.load(path, self.load_options))
                try:
                    await asyncio.wrap_future(future)
                except HermesError as exc:
                    raise ApiError(
                        503, f"The model {model!r} could not be loaded: {exc}", code="model_load_failed"
                    ) from None
        return Resolved(self.loaded_id() or model, preset)

    def _library_model(self, name: str) -> Path | None:
        wanted = name.lower()
        for found in scan_models(self.library_folders()):
            if wanted in (found.name.lower(), found.path.name.lower()):
                return found.path
        return None

    def _preset(self, name: str) -> Preset:
        if self.presets is None:
            raise ApiError(404, "This server has no persona presets.", code="preset_not_found", param="model")
        try:
            return self.presets.get(name)
        except PresetError as exc:
            raise ApiError(404, str(exc), code="preset_not_found", param="model") from None
