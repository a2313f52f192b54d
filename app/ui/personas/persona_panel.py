"""The persona side panel: preset picker and its actions, the system prompt, the chat's sampling (sampling_panel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.personas.presets import Preset, PresetError, PresetLibrary
from app.core.prompting.types import Sampling
from app.ui.avatars import avatar_icon
from app.ui.personas.sampling_panel import SamplingPanel
from app.ui.theme import SPACE_S, secondary_text
from app.ui.widgets import tool_button

APPLY, NEW_CHAT, CANCEL = "apply", "new chat", "cancel"  # the answers to a persona switch mid-chat


class PersonaPanel(QWidget):
    """Owns the preset library's face. The system prompt field is a per-chat override of the preset's."""

    preset_changed = Signal(object)  # Preset
    error = Signal(str)  # a message for the main window's banner
    changed = Signal()  # anything that changes the prompt (for the preview)
    new_chat_requested = Signal()  # a persona switch mid-chat, answered "Start a new chat"

    def __init__(self, library: PresetLibrary, selected: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.chat_in_use: Callable[[], bool] = lambda: False  # the window: does the open chat have messages?
        self.picker = QComboBox(minimumContentsLength=14)
        self.picker.setAccessibleName("Preset")
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setIconSize(self.picker.iconSize())
        self.menu_button = tool_button(text="⋯", tooltip="Preset actions")
        self.menu_button.setAccessibleName("Preset actions")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.menu_button)
        self.new_action = QAction("New preset…", self)
        self.edit_action = QAction("Edit…", self)
        self.duplicate_action = QAction("Duplicate", self)
        self.delete_action = QAction("Delete…", self)
        self.import_action = QAction("Import preset or character card…", self)
        self.export_json_action = QAction("Export as JSON…", self)
        self.export_card_action = QAction("Export as character card (PNG)…", self)
        for action in (self.new_action, self.edit_action, self.duplicate_action, self.delete_action):
            menu.addAction(action)
        menu.addSeparator()
        for action in (self.import_action, self.export_json_action, self.export_card_action):
            menu.addAction(action)
        self.menu_button.setMenu(menu)
        row = QHBoxLayout()
        row.addWidget(self.picker, 1)
        row.addWidget(self.menu_button)

        self.description = QLabel(wordWrap=True)
        secondary_text(self.description)  # secondary, yet readable (a disabled label is not), in either theme
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("No system prompt")
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setTabChangesFocus(True)
        self.sampling_panel = SamplingPanel()  # this chat's sampling, the preset's values as defaults
        self.temperature = self.sampling_panel.temperature
        self.max_tokens = self.sampling_panel.max_tokens
        self.overflow = self.sampling_panel.overflow

        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S, SPACE_S, SPACE_S, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addWidget(QLabel("<b>Preset</b>"))
        layout.addLayout(row)
        layout.addWidget(self.description)
        layout.addWidget(QLabel("<b>System prompt</b>"))
        layout.addWidget(self.system_prompt, 1)
        layout.addWidget(QLabel("<b>Sampling</b>"))
        layout.addWidget(self.sampling_panel)

        self.preset: Preset = library.presets()[0]
        self.picker.activated.connect(self._picked)
        self.new_action.triggered.connect(self.new_preset)
        self.edit_action.triggered.connect(self.edit_preset)
        self.duplicate_action.triggered.connect(self.duplicate_preset)
        self.delete_action.triggered.connect(self.delete_preset)
        self.import_action.triggered.connect(self._choose_import)
        self.export_json_action.triggered.connect(lambda: self._choose_export(card=False))
        self.export_card_action.triggered.connect(lambda: self._choose_export(card=True))
        self.system_prompt.textChanged.connect(self.changed)
        self.refresh(selected)
        try:
            self.apply(library.get(selected))
        except PresetError:
            self.apply(self.preset)
        for problem in library.problems:
            self.error.emit(f"A preset file was skipped: {problem}")

    # the library
    def refresh(self, select: str | None = None) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        for preset in self.library.presets():
            label = preset.name if preset.builtin else f"{preset.name}  (yours)"
            self.picker.addItem(avatar_icon(preset, 20), label, preset.id)
        index = self.picker.findData(select or self.preset.id)
        self.picker.setCurrentIndex(max(0, index))
        self.picker.blockSignals(False)

    def _picked(self, index: int) -> None:
        preset = self.library.get(self.picker.itemData(index))
        if preset.id == self.preset.id:
            return
        if not self.chat_in_use():
            self.apply(preset)
            return
        answer = self.ask_switch(preset)
        if answer == CANCEL:
            self.picker.setCurrentIndex(max(0, self.picker.findData(self.preset.id)))
            return
        self.apply(preset)
        if answer == NEW_CHAT:
            self.new_chat_requested.emit()

    def ask_switch(self, preset: Preset) -> str:
        """Mid-chat, a new persona changes the system prompt and sampling: apply it here, or start afresh?"""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Switch persona")
        box.setText(f"Switch to “{preset.name}”?")
        box.setInformativeText(
            f"“Apply to this chat” keeps the messages so far; the next replies use {preset.name}'s system prompt, "
            f"temperature and length. “Start a new chat” keeps this chat in the history and opens a new one."
        )
        apply = box.addButton("Apply to this chat", QMessageBox.ButtonRole.AcceptRole)
        new = box.addButton("Start a new chat", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(new)
        box.exec()
        clicked = box.clickedButton()
        return APPLY if clicked is apply else NEW_CHAT if clicked is new else CANCEL

    def apply(self, preset: Preset) -> None:
        """Use a preset: its system prompt and sampling fill the panel."""
        self.preset = preset
        self.picker.setCurrentIndex(max(0, self.picker.findData(preset.id)))
        self.description.setText(preset.description)
        self.system_prompt.setPlainText(preset.system_prompt)
        self.sampling_panel.set_preset(preset.sampling, preset.knowledge)
        for action in (self.delete_action,):
            action.setEnabled(not preset.builtin)
        self.edit_action.setText("View…" if preset.builtin else "Edit…")
        self.preset_changed.emit(preset)
        self.changed.emit()

    def sampling(self) -> Sampling:
        """The chat's sampling (``SamplingInputError`` where a field is wrong)."""
        return self.sampling_panel.sampling()

    # actions
    def new_preset(self) -> Preset | None:
        from app.ui.personas.preset_editor import PresetEditor  # opened rarely: kept off the start path

        editor = PresetEditor(Preset(id="", name="New preset", system_prompt=self.system_prompt.toPlainText()), self)
        if not editor.exec():
            return None
        return self._store(editor.result_preset(), create=True)

    def edit_preset(self) -> Preset | None:
        from app.ui.personas.preset_editor import PresetEditor

        editor = PresetEditor(self.preset, self)
        if not editor.exec() or self.preset.builtin:
            return None
        return self._store(editor.result_preset(), create=False)

    def duplicate_preset(self) -> Preset | None:
        return self._run(lambda: self.library.duplicate(self.preset.id))

    def delete_preset(self, confirm: bool = True) -> None:
        preset = self.preset
        if preset.builtin:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Delete preset", f"Delete the preset “{preset.name}”? This cannot be undone."
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            self.library.delete(preset.id)
        except PresetError as exc:
            self.error.emit(str(exc))
            return
        self.refresh(self.library.presets()[0].id)
        self.apply(self.library.presets()[0])

    def import_file(self, path: Path) -> Preset | None:
        """A preset or a card of any format (its original kept: its lorebook, its alternate greetings)."""
        from app.core.personas.card_library import import_card_file

        return self._run(lambda: import_card_file(self.library, path).preset)

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a preset or character card", "", "Presets and cards (*.json *.png *.charx);;All files (*)"
        )
        if path:
            self.import_file(Path(path))

    def export(self, path: Path, *, card: bool) -> None:
        try:
            (self.library.export_card if card else self.library.export_json)(self.preset.id, path)
        except (PresetError, OSError) as exc:
            self.error.emit(f"Export failed: {exc}")

    def _choose_export(self, *, card: bool) -> None:
        suffix, kind = (".png", "Character card (*.png)") if card else (".json", "Preset (*.json)")
        path, _ = QFileDialog.getSaveFileName(self, "Export preset", self.preset.id + suffix, kind)
        if path:
            self.export(Path(path), card=card)

    def _store(self, preset: Preset, *, create: bool) -> Preset | None:
        if create:
            return self._run(lambda: self.library.create(replace(preset, id="")))
        return self._run(lambda: self.library.save(preset))

    def _run(self, operation) -> Preset | None:
        try:
            preset = operation()
        except PresetError as exc:
            self.error.emit(str(exc))
            return None
        self.refresh(preset.id)
        self.apply(preset)
        return preset
