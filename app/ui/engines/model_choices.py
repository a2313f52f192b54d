"""What the model bar offers and says, apart from the bar itself: the picker's rows (a remote model's key, each
model's load estimate shown in the open list), the library scan and the estimates (background tasks, off the start
path), and a loaded model's format tooltip and placement line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from app.core.engines.interface import LoadedModel
from app.core.engines.load_options import LoadOptions
from app.core.prompting.prompt_formats import NO_TEMPLATE

if TYPE_CHECKING:  # the library scan and the estimates run in the background, after the window is shown
    from app.core.engines.memory_use import LoadEstimate
    from app.core.library.gguf_file import GGUFInfo
    from app.core.library.models import LocalModel

REMOTE = "remote\x1f"  # the picker's data for a remote model: REMOTE + engine name + "\x1f" + model id
ESTIMATE_ROLE = Qt.ItemDataRole.UserRole + 1  # what a model would need, read in the background


class ListWithEstimates(QStyledItemDelegate):
    """The picker's list says what each model would need ("needs ≈ 286 MB RAM"); the closed picker stays short."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        estimate = index.data(ESTIMATE_ROLE)
        if estimate:
            option.text = f"{option.text}  · {estimate}"


def remote_key(engine: str, model_id: str) -> str:
    return f"{REMOTE}{engine}\x1f{model_id}"


def format_tooltip(loaded: LoadedModel) -> str:
    """The tooltip line "Prompt format: …", and what it means for a model without a chat template."""
    if loaded.has_template:
        return f"Prompt format: {loaded.prompt_format}"
    return (
        f"Prompt format: {loaded.prompt_format}\n{NO_TEMPLATE}: {loaded.name} has no tokenizer.chat_template, "
        "so a format was chosen for it. Replies may wander; pick another in Load options…"
    )


def estimate_models(
    wanted: dict[str, LoadOptions], stop: Callable[[], bool] = lambda: False
) -> dict[str, LoadEstimate]:
    """Each model file's load estimate (a background task); files that cannot be read are left out. ``stop``
    is asked between files: a window closing does not wait for a library of hundreds of headers."""
    from app.core.engines.devices import list_devices
    from app.core.engines.memory_use import estimate_load
    from app.core.errors import HermesError

    try:
        report = list_devices()
    except (HermesError, OSError):
        return {}
    found = {}
    for path, options in wanted.items():
        if stop():
            return {}
        try:
            found[path] = estimate_load(read_gguf_header(path), options, report)
        except (HermesError, OSError):
            continue
    return found


def placement_text(loaded: LoadedModel) -> str:
    """Where the model runs and what it costs: "CPU · 8 threads · ≈ 160 MB RAM", "Vulkan · … · 33/33 layers on GPU
    · 8 CPU threads · ≈ 4.1 GB VRAM + 300 MB RAM", "Remote · GPU box"."""
    if loaded.placement is not None:
        return loaded.placement.summary
    base = loaded.info.metadata.get("hermes.remote_base", "")
    return f"Remote · {base}" if base else ""


def with_vision(models: list[LocalModel]) -> tuple[list[LocalModel], frozenset[Path]]:
    """The models, and which of them read images (their projector's header read here, off the GUI thread)."""
    return models, frozenset(model.path for model in models if model.vision)


def scan_models(folders: list[Path]) -> list[LocalModel]:
    from app.core.library import models  # (in the background: off the start path)

    return models.scan_models(folders)


def read_gguf_header(path: str | Path) -> GGUFInfo:
    from app.core.library.gguf_file import read_gguf

    return read_gguf(path)
