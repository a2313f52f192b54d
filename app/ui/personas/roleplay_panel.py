"""The side panel's Roleplay tab: the chat's lorebooks (the card's own always on) and its author's note.

``RoleplayControls`` joins it with the chat bar's user-persona picker: the chat's ``RoleplaySettings`` read from
them for every turn and the preview, kept with the open chat as they change, and shown again when a chat opens.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HermesError
from app.core.history.store import StoreError
from app.core.personas.lorebook import LorebookError
from app.core.personas.presets import Preset
from app.core.personas.roleplay import (
    MAX_DEPTH,
    Roleplay,
    RoleplaySettings,
    RoleplaySources,
    TokenCounter,
    record_with,
    settings_of,
)
from app.ui.chat.conversation import Conversation
from app.ui.engines.engine_client import EngineClient
from app.ui.personas.user_persona_picker import UserPersonaPicker
from app.ui.theme import SPACE_S, secondary_text


class RoleplayPanel(QWidget):
    changed = Signal()
    shown = Signal()  # the tab came into view: the library's books are listed afresh (another page may add one)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.books = QListWidget()
        self.books.setAccessibleName("Lorebooks")
        self.books.setToolTip("Lorebooks this chat uses: their entries enter the prompt when their keys come up")
        self.own = QLabel(wordWrap=True)  # the card's own book, always used
        secondary_text(self.own)
        self.note = QPlainTextEdit()
        self.note.setAccessibleName("Author's note")
        self.note.setPlaceholderText("An author's note: a reminder placed near the end of the conversation")
        self.note.setTabChangesFocus(True)
        self.note_depth = QSpinBox(minimum=0, maximum=MAX_DEPTH, value=4)
        self.note_depth.setAccessibleName("Author's note depth")
        self.note_depth.setToolTip("How many messages from the end the note is placed (0: after the last one)")
        self.note_every = QSpinBox(minimum=0, maximum=MAX_DEPTH, value=1)
        self.note_every.setAccessibleName("Author's note frequency")
        self.note_every.setToolTip("On every Nth message of yours (1: every message; 0: never)")
        form = QFormLayout()
        form.addRow("Depth", self.note_depth)
        form.addRow("Every Nth message", self.note_every)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACE_S, SPACE_S, SPACE_S, SPACE_S)
        layout.setSpacing(SPACE_S)
        layout.addWidget(QLabel("<b>Lorebooks</b>"))
        layout.addWidget(self.own)
        layout.addWidget(self.books, 1)
        layout.addWidget(QLabel("<b>Author's note</b>"))
        layout.addWidget(self.note, 1)
        layout.addLayout(form)
        self.books.itemChanged.connect(lambda _item: self.changed.emit())
        self.note.textChanged.connect(self.changed)
        self.note_depth.valueChanged.connect(self.changed)
        self.note_every.valueChanged.connect(self.changed)

    def showEvent(self, event: QShowEvent) -> None:
        self.shown.emit()
        super().showEvent(event)

    def show_books(self, names: list[str], own: str, checked: tuple[str, ...]) -> None:
        """``names``: every standalone lorebook; ``own``: the card's book ("" if none); ``checked``: the chat's."""
        self.books.blockSignals(True)
        self.books.clear()
        wanted = {name.lower() for name in checked}
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name.lower() in wanted else Qt.CheckState.Unchecked)
            self.books.addItem(item)
        for name in checked:  # kept by the chat, gone from the library: shown so it can be unticked
            if name.lower() not in {n.lower() for n in names}:
                item = QListWidgetItem(f"{name} (missing)")
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                self.books.addItem(item)
        self.books.blockSignals(False)
        self.own.setText(f"{own} (the character's own: always used)" if own else "The character has no lorebook.")

    def checked(self) -> tuple[str, ...]:
        names = []
        for row in range(self.books.count()):
            item = self.books.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                names.append(item.data(Qt.ItemDataRole.UserRole) or item.text())
        return tuple(names)

    def load(self, settings: RoleplaySettings) -> None:
        for widget in (self.note, self.note_depth, self.note_every):
            widget.blockSignals(True)
        self.note.setPlainText(settings.author_note)
        self.note_depth.setValue(settings.author_note_depth)
        self.note_every.setValue(settings.author_note_every)
        for widget in (self.note, self.note_depth, self.note_every):
            widget.blockSignals(False)


class RoleplayControls(QObject):
    """The chat's roleplay as the window's controls say it; kept with the open chat (``chats.settings``)."""

    changed = Signal()  # the prompt may have changed (the preview re-renders)
    error = Signal(str)

    def __init__(
        self,
        sources: RoleplaySources,
        panel: RoleplayPanel,
        picker: UserPersonaPicker,
        conversation: Conversation,
        client: EngineClient,
        *,
        busy: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        """``busy``: a model is loading (the tokenizer is not to be waited for then)."""
        super().__init__(parent)
        self.sources, self.panel, self.picker, self.conversation = sources, panel, picker, conversation
        self.client, self.busy = client, busy
        self.preset: Preset | None = None
        conversation.session.tokens = TokenCounter(self._count)
        panel.changed.connect(self._edited)
        panel.shown.connect(lambda: self._show_books(self.panel.checked()))
        picker.changed.connect(self._edited)
        picker.error.connect(self.error)

    def settings(self) -> RoleplaySettings:
        panel = self.panel
        return RoleplaySettings(
            lorebooks=panel.checked(),
            user_persona=self.picker.current(),
            author_note=panel.note.toPlainText(),
            author_note_depth=panel.note_depth.value(),
            author_note_every=panel.note_every.value(),
        )

    def roleplay(self) -> Roleplay | None:
        """What this turn's prompt is built with (None before a preset is shown)."""
        if self.preset is None:
            return None
        return self.sources.resolve(self.preset, self.settings())

    def greetings(self) -> list[str]:
        roleplay = self.roleplay()
        return roleplay.greetings() if roleplay is not None else []

    @Slot(object)
    def show_preset(self, preset: Preset) -> None:
        self.preset = preset
        self._show_books(self.panel.checked())
        self.changed.emit()

    def show_chat(self, record: str) -> None:
        """A chat opened (``record``: its settings JSON) or a new one (""): its lorebooks, persona and note."""
        settings = settings_of(record)
        self.panel.load(settings)
        self._show_books(settings.lorebooks)
        self.picker.select(settings.user_persona)
        self.changed.emit()

    def _show_books(self, checked: tuple[str, ...]) -> None:
        try:
            infos = self.sources.lorebooks.books()
        except (OSError, LorebookError) as exc:
            self.error.emit(f"The lorebooks could not be read: {exc}")
            infos = []
        own = None
        if self.preset is not None and not self.preset.builtin:
            own = self.sources.lorebooks.card_book(self.preset.id)
        names = [info.name for info in infos if info.source == "world info"]
        self.panel.show_books(names, own.name if own else "", checked)

    @Slot()
    def _edited(self) -> None:
        chat_id = self.conversation.chat_id
        if chat_id is not None:
            store = self.conversation.store
            try:
                store.set_chat_settings(chat_id, record_with(store.chat(chat_id).settings, roleplay=self.settings()))
            except StoreError as exc:
                self.error.emit(str(exc))
        self.changed.emit()

    def _count(self, texts: list[str]) -> list[int] | None:
        """The loaded model's token counts, when its thread is free now (else the estimate is used)."""
        service = self.client.service
        if self.client.closed or self.client.loaded is None or self.busy() or service.queue_length():
            return None
        try:
            return service.submit(lambda engine: [engine.count_tokens(text) for text in texts]).result()
        except HermesError:  # shutting down, or the model went away: the estimate serves this once
            return None
