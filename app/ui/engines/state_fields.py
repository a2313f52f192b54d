"""Settings → Performance, the rest of it: the chat state cache (budgets, what it holds, Clear) and prompt lookup."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from app.core.engines.load_options import MAX_DRAFT
from app.core.engines.state_cache import StateCache
from app.core.settings import Settings
from app.ui.theme import secondary_text


def _mib(value: int) -> str:
    return f"{value / (1 << 20):,.1f} MiB"


class StateCacheFields:
    """The budgets of ``cache`` (the engine's; None: a remote engine, budgets only), its holdings and Clear."""

    def __init__(self, settings: Settings, cache: StateCache | None) -> None:
        self.cache = cache
        self.memory = QSpinBox(minimum=0, maximum=1 << 20, singleStep=256, suffix=" MiB")
        self.memory.setValue(settings.state_memory_mib)
        self.memory.setToolTip("Saved states of recent chats kept in memory (0: none)")
        self.disk = QSpinBox(minimum=0, maximum=1 << 24, singleStep=1024, suffix=" MiB")
        self.disk.setValue(settings.state_disk_mib)
        self.disk.setToolTip("Saved states kept in the cache folder, for chats continued later or after a restart")
        self.held = QLabel()
        secondary_text(self.held)
        self.clear = QPushButton("Clear")
        self.clear.setAccessibleName("Clear the saved chat states")
        self.clear.setEnabled(cache is not None)
        self.clear.clicked.connect(self.clear_states)
        self.held_row = QHBoxLayout()
        self.held_row.addWidget(self.held, 1)
        self.held_row.addWidget(self.clear)
        self.prompt_lookup = QSpinBox(minimum=0, maximum=MAX_DRAFT, suffix=" draft tokens")
        self.prompt_lookup.setSpecialValueText("Off")
        self.prompt_lookup.setValue(settings.prompt_lookup)
        self.prompt_lookup.setToolTip(
            "Prompt-lookup decoding: tokens copied from the chat are checked by the model in one batch. The same "
            "replies; faster where a reply repeats the chat (code edits), slower elsewhere on most CPUs."
        )
        self.refresh()

    def rows(self) -> list[tuple[str, QWidget | QHBoxLayout]]:
        return [("Chat states in memory", self.memory), ("Chat states on disk", self.disk),
                ("Saved states", self.held_row), ("Prompt lookup", self.prompt_lookup)]  # fmt: skip

    def refresh(self) -> None:
        if self.cache is None:
            self.held.setText("None: the engine in use keeps no states")
            return
        held = self.cache.holdings()
        self.held.setText(
            f"{held.memory_entries} in memory ({_mib(held.memory_bytes)}), "
            f"{held.disk_entries} on disk ({_mib(held.disk_bytes)})"
        )

    def clear_states(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        self.refresh()

    def values(self) -> dict[str, int]:
        """The settings these fields edit."""
        return {"state_memory_mib": self.memory.value(), "state_disk_mib": self.disk.value(),
                "prompt_lookup": self.prompt_lookup.value()}  # fmt: skip
