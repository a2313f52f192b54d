"""Who you are in a chat: the user-persona picker of the chat bar (name and avatar) and its "Manage…" dialog
(add, edit, delete personas with a name, a description and an avatar; one of them the default)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.files import read_regular
from app.core.personas.presets import Preset
from app.core.personas.user_personas import MAX_AVATAR_BYTES, UserPersona, UserPersonaError, UserPersonaStore
from app.ui.widgets import avatar_icon, tool_button


def persona_icon(persona: UserPersona, size: int = 20) -> QIcon:
    """The persona's avatar, or a disc with its initial (as a preset's)."""
    return avatar_icon(Preset(id="", name=persona.name, avatar_png=persona.avatar_png, color="#3b7d6b"), size)


class UserPersonaPicker(QWidget):
    """ "You: [Sam ▾] ⋯": the chat's user persona; ``changed`` when another is chosen or the list changes."""

    changed = Signal()
    error = Signal(str)

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.combo = QComboBox(minimumContentsLength=10)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.setAccessibleName("You are")
        self.combo.setToolTip(
            "Who you are in this chat: {{user}} in the prompt, and your description after the character's"
        )
        self.manage_button = tool_button(text="⋯", tooltip="Manage your personas…")
        self.manage_button.setAccessibleName("Manage your personas")
        label = QLabel("You:")
        label.setBuddy(self.combo)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.combo)
        row.addWidget(self.manage_button)
        row.addStretch(1)
        self.combo.activated.connect(lambda _index: self.changed.emit())
        self.manage_button.clicked.connect(self.manage)
        self.refresh()

    def store(self) -> UserPersonaStore:
        return UserPersonaStore(self.data_dir)

    def refresh(self, select: str | None = None) -> None:
        """The personas as saved; ``select`` (else the one shown, else the default) is shown."""
        store = self.store()
        if store.problem:
            self.error.emit(store.problem)
        wanted = (select if select is not None else self.current()) or store.default
        self.combo.blockSignals(True)
        self.combo.clear()
        personas = store.personas() or [UserPersona("User")]
        for persona in personas:
            default = "  (default)" if persona.name == store.default else ""
            self.combo.addItem(persona_icon(persona), persona.name + default, persona.name)
        index = self.combo.findData(wanted) if wanted else -1
        if index < 0:
            index = max(0, self.combo.findData(store.default))
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)

    def current(self) -> str:
        """The persona's name ("": plain "User", no persona saved yet)."""
        name = self.combo.currentData()
        return name if isinstance(name, str) and self.store().personas() else ""

    def select(self, name: str) -> None:
        """A chat's persona ("" or one no longer there: the default)."""
        self.refresh(name or self.store().default)

    @Slot()
    def manage(self) -> None:
        dialog = UserPersonaDialog(self.data_dir, self)
        dialog.exec()
        self.refresh()
        self.changed.emit()


class UserPersonaDialog(QDialog):
    """Your personas: pick one on the left; its name, description and avatar on the right."""

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Your personas")
        self.data_dir = data_dir
        self.avatar = b""
        self.list = QListWidget()
        self.list.setAccessibleName("Your personas")
        self.name = QLineEdit()
        self.name.setAccessibleName("Name")
        self.description = QPlainTextEdit()
        self.description.setAccessibleName("Description")
        self.description.setPlaceholderText("What the model is told about you (after the character's description)")
        self.avatar_button = QPushButton("Choose picture…")
        self.clear_avatar = QPushButton("No picture")
        self.default = QCheckBox("Use in new chats (default)")
        self.problem = QLabel(wordWrap=True)
        self.problem.hide()
        pictures = QHBoxLayout()
        pictures.addWidget(self.avatar_button)
        pictures.addWidget(self.clear_avatar)
        pictures.addStretch(1)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        form.addRow("Avatar", pictures)
        form.addRow("", self.default)
        self.new_button = QPushButton("New")
        self.save_button = QPushButton("Save")
        self.delete_button = QPushButton("Delete")
        actions = QHBoxLayout()
        for button in (self.new_button, self.save_button, self.delete_button):
            actions.addWidget(button)
        actions.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        right = QVBoxLayout()
        right.addLayout(form, 1)
        right.addLayout(actions)
        right.addWidget(self.problem)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(close)
        self.list.currentItemChanged.connect(self._show)
        self.new_button.clicked.connect(self.new)
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        self.avatar_button.clicked.connect(self._choose_avatar)
        self.clear_avatar.clicked.connect(lambda: self._set_avatar(b""))
        self.resize(620, 380)
        self._fill()

    def _fill(self, select: str = "") -> None:
        store = UserPersonaStore(self.data_dir)
        if store.problem:
            self._say(store.problem)
        self.list.blockSignals(True)
        self.list.clear()
        for persona in store.personas():
            item = QListWidgetItem(persona_icon(persona, 24), persona.name)
            item.setData(Qt.ItemDataRole.UserRole, persona.name)
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [p.name for p in store.personas()]
        if names:
            self.list.setCurrentRow(names.index(select) if select in names else 0)
        else:
            self.new()

    @Slot()
    def _show(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        store = UserPersonaStore(self.data_dir)
        persona = store.get(item.data(Qt.ItemDataRole.UserRole))
        self.name.setText(persona.name)
        self.description.setPlainText(persona.description)
        self.default.setChecked(persona.name == store.default)
        self._set_avatar(persona.avatar_png)
        self.delete_button.setEnabled(True)

    @Slot()
    def new(self) -> None:
        self.list.clearSelection()
        self.list.setCurrentRow(-1)
        self.name.setText("")
        self.description.setPlainText("")
        self.default.setChecked(not UserPersonaStore(self.data_dir).personas())
        self._set_avatar(b"")
        self.delete_button.setEnabled(False)
        self.name.setFocus()

    @Slot()
    def save(self) -> bool:
        item = self.list.currentItem()
        replacing = item.data(Qt.ItemDataRole.UserRole) if item is not None else ""
        store = UserPersonaStore(self.data_dir)
        name = self.name.text().strip()
        if not replacing and any(p.name.lower() == name.lower() for p in store.personas()):
            self._say(f"You already have a persona named “{name}”: pick it on the left to change it.")
            return False
        try:
            store.save(UserPersona(name, self.description.toPlainText(), self.avatar), default=self.default.isChecked(),
                       replacing=replacing)  # fmt: skip
        except UserPersonaError as exc:
            self._say(str(exc))
            return False
        self.problem.hide()
        self._fill(name)
        return True

    @Slot()
    def delete(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        UserPersonaStore(self.data_dir).remove(item.data(Qt.ItemDataRole.UserRole))
        self._fill()

    def _choose_avatar(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a picture", "", "PNG images (*.png)")
        if not path:
            return
        try:
            raw = read_regular(Path(path), MAX_AVATAR_BYTES)
        except OSError as exc:
            self._say(f"Could not use {Path(path).name}: {exc}")
            return
        self._set_avatar(raw)

    def _set_avatar(self, png: bytes) -> None:
        self.avatar = png
        self.avatar_button.setIcon(persona_icon(UserPersona(self.name.text() or "?", "", png), 24))
        self.clear_avatar.setEnabled(bool(png))

    def _say(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.show()
