"""Where Hermes Studio keeps its files.

Everything lives in platformdirs' per-user directories, unless a base directory is given
(``--basedir DIR`` or ``HERMES_STUDIO_BASEDIR``): then data, config, cache and logs all go
under DIR, so tests and smoke tests never touch the real home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app import APP_ID

BASEDIR_ENV = "HERMES_STUDIO_BASEDIR"


@dataclass(frozen=True)
class AppPaths:
    """The user directories of one running instance."""

    data: Path
    config: Path
    cache: Path
    logs: Path

    @property
    def default_models_dir(self) -> Path:
        return self.data / "models"

    @property
    def chats_db(self) -> Path:
        return self.data / "chats.sqlite3"

    @property
    def images_dir(self) -> Path:
        """Images attached to chats, by content (media.store)."""
        return self.data / "images"

    @property
    def knowledge_db(self) -> Path:
        """Knowledge collections: files, passages, their words and vectors (core.knowledge)."""
        return self.data / "knowledge.sqlite3"

    @property
    def presets_dir(self) -> Path:
        return self.data / "presets"

    @property
    def state_cache_dir(self) -> Path:
        """Saved llama.cpp states of long chats (engines.state_cache): safe to delete at any time."""
        return self.cache / "states"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def mcp_file(self) -> Path:
        """The MCP servers the window connects (``{"mcpServers": …}``, the shape LM Studio and Claude Desktop use)."""
        return self.config / "mcp.json"

    @property
    def tool_prefs_file(self) -> Path:
        """Which MCP servers and tools are switched off, and which tools run without asking (tools.tool_prefs)."""
        return self.config / "tools.json"

    def ensure(self) -> AppPaths:
        """Create the directories (on demand, never at import)."""
        for directory in (self.data, self.config, self.cache, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        return self


def resolve_paths(basedir: str | os.PathLike[str] | None = None) -> AppPaths:
    """Paths for an explicit base directory, else ``$HERMES_STUDIO_BASEDIR``, else platformdirs."""
    chosen = basedir or os.environ.get(BASEDIR_ENV) or None
    if chosen:
        root = Path(chosen).expanduser().resolve()
        return AppPaths(data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs")
    import platformdirs  # (here: ~5 ms of the cold start when a base directory is given; issue 20, part 4)

    dirs = platformdirs.PlatformDirs(APP_ID, appauthor=False)
    return AppPaths(
        data=Path(dirs.user_data_dir),
        config=Path(dirs.user_config_dir),
        cache=Path(dirs.user_cache_dir),
        logs=Path(dirs.user_log_dir),
    )
