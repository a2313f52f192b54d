"""The chat column's controller: turns the user's intent (send, stop, regenerate, edit, continue) into
turns of the open ``Conversation``, and shows what its session says (status line, Send/Stop, figures).

It decides nothing about messages: the session owns each turn and its state; this renders them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.session import ChatItem, TurnSettings
from app.core.errors import HermesError
from app.core.history.store import StoreError
from app.core.media.images import CheckedImage
from app.core.personas.roleplay import Roleplay
from app.core.prompting.parts import reasoning_for, thinking_switch
from app.core.prompting.types import GenerationStats, ResponseState
from app.ui.chat.attachments import Attachments, ComposerInput, DropArea, column_with_tray
from app.ui.chat.chat_input import ChatInput
from app.ui.chat.chat_model import ChatModel
from app.ui.chat.chat_view import ChatView
from app.ui.chat.conversation import Conversation
from app.ui.chat.documents import DocumentTray, GroundingTask

if TYPE_CHECKING:
    from app.ui.chat.group_chat import GroupChat
    from app.ui.personas.persona_panel import PersonaPanel  # built after the window's first paint
from app.ui.engines.engine_client import EngineClient
from app.ui.welcome import WelcomePage
from app.ui.widgets import ErrorBanner

if TYPE_CHECKING:  # the knowledge package (numpy) loads with the first attached document
    from app.core.knowledge.embedder import Embedder
    from app.core.knowledge.grounding import Grounding

STATUS = {
    ResponseState.QUEUED: "Waiting for the engine (another request is being answered)… (Esc to stop)",
    ResponseState.READING_PROMPT: "Reading the conversation… (Esc to stop)",
    ResponseState.GENERATING: "Generating… (Esc to stop)",
    ResponseState.AWAITING_APPROVAL: "Waiting for your approval: allow the tool to run, or deny it (Esc to stop)",
}


class ChatFigures:
    """Speed, time to first token and the context meter, in the status bar."""

    def __init__(self, status_bar: QStatusBar) -> None:
        self.speed_label = QLabel("— tok/s")
        self.ttft_label = QLabel("TTFT —")
        self.context_label = QLabel("context —")
        self.context_meter = QProgressBar(textVisible=False, maximum=1000)
        self.context_meter.setMaximumWidth(120)
        self.context_meter.setToolTip("How much of the context window this chat uses")
        for label in (self.speed_label, self.ttft_label, self.context_label):
            label.setContentsMargins(8, 0, 8, 0)
            status_bar.addPermanentWidget(label)
        status_bar.addPermanentWidget(self.context_meter)

    def show_stats(self, stats: GenerationStats, lore_tokens: int = 0) -> None:
        if stats.generated_tokens:
            self.speed_label.setText(f"{stats.tokens_per_s:.1f} tok/s")
            self.ttft_label.setText(f"TTFT {stats.ttft_s * 1000:.0f} ms")
        else:  # stopped (or failed) before a token came: there is no speed, and no first token to time
            self.speed_label.setText("stopped before the first token")
            self.ttft_label.setText("TTFT —")
        self.show_context(stats.context_used, stats.context_size, stats.image_tokens, stats.image_encode_s, lore_tokens)

    def clear(self, context_size: int = 0) -> None:
        self.speed_label.setText("— tok/s")
        self.ttft_label.setText("TTFT —")
        self.show_context(0, context_size)

    def show_context(
        self, used: int, size: int, image_tokens: int = 0, encode_s: float = 0.0, lore_tokens: int = 0
    ) -> None:
        """``image_tokens``: of ``used``, what the chat's images cost (``encode_s``: the projector's time on them);
        ``lore_tokens``: what its lorebook entries cost."""
        images = f" · {image_tokens:,} image" if image_tokens and size else ""
        lore = f" · {lore_tokens:,} lore" if lore_tokens and size else ""
        self.context_label.setText(f"context {used:,} / {size:,}{images}{lore}" if size else "context —")
        self.context_meter.setValue(int(1000 * min(1.0, used / size)) if size else 0)
        tip = f"This chat uses {used:,} of {size:,} context tokens" if size else ""
        if images:
            tip += f", {image_tokens:,} of them for its images (encoded in {encode_s * 1000:,.0f} ms)"
        if lore:
            tip += f"; {lore_tokens:,} for the lorebook entries that fired"
        self.context_meter.setToolTip(tip)
        self.context_label.setToolTip(tip)


class ChatColumn(QWidget):
    """The middle column: the welcome page or the chat, and the input row."""

    def __init__(self, chat_model: ChatModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chat_view = ChatView()
        self.chat_view.setModel(chat_model)
        self.welcome = WelcomePage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.chat_view)
        self.input = ComposerInput()
        self.input.setFixedHeight(84)
        self.attachments = Attachments()  # images for the next message: the attach button, paste and drop
        self.documents = DocumentTray()  # documents for the next message (the same button, paste and drop)
        self.attachments.documents = self.documents
        self.attachments.set_model(None)
        self.input.take_media = self.attachments.add_mime
        self.drops = DropArea(self, self.attachments, lambda _path: False)  # the window says which files it opens
        self.send_button = QPushButton("Send")
        self.send_button.setMinimumWidth(90)
        self.send_button.setEnabled(False)
        self.think = QPushButton("Think")  # shown for templates that can switch it
        self.think.setCheckable(True)
        self.think.setChecked(True)
        self.think.setToolTip("Let the model think before it answers (its reasoning shows above the answer)")
        self.think.setAccessibleName("Think before answering")
        self.think.hide()
        buttons = self.buttons = QVBoxLayout()  # the Tools menu (app.ui.tools) goes above Think
        buttons.addStretch(1)
        buttons.addWidget(self.think)
        send_row = QHBoxLayout()
        send_row.addWidget(self.attachments.button)
        send_row.addWidget(self.send_button, 1)
        buttons.addLayout(send_row)
        input_row = QHBoxLayout()
        input_row.addLayout(column_with_tray(self.attachments, self.input), 1)
        input_row.addLayout(buttons)
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(8, 8, 8, 8)
        self.column.addWidget(self.pages, 1)
        self.column.addLayout(input_row)

    def add_above_input(self, widget: QWidget) -> None:
        """A row between the chat and the input (the user-persona picker)."""
        self.column.insertWidget(self.column.count() - 1, widget)

    def show_chat(self) -> None:
        self.pages.setCurrentWidget(self.chat_view)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.drops.drag_enter(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self.drops.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drops.drop(event)


@dataclass
class ChatWidgets:
    """The widgets of the chat column the controller drives (built by the window)."""

    input: ChatInput
    send_button: QPushButton
    think: QPushButton  # the Think toggle (visible when the model's template can switch thinking)
    banner: ErrorBanner
    chat_view: ChatView
    status_bar: QStatusBar
    show_chat: Callable[[], None]  # bring the chat page to the front
    attachments: Attachments  # the images for the next message
    documents: DocumentTray | None = None  # the documents for the next message


class ChatController(QObject):
    reply_finished = Signal(object)  # the finished (or failed) ChatItem
    chat_changed = Signal()  # a turn started or ended: the sidebar's order and titles may have moved

    def __init__(
        self,
        conversation: Conversation,
        client: EngineClient,
        persona: PersonaPanel,
        widgets: ChatWidgets,
        *,
        loading: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.conversation = conversation
        self.client = client
        self.persona = persona
        self.widgets = widgets
        self.figures = ChatFigures(widgets.status_bar)
        self._loading = loading
        self.embedder: Callable[[], Embedder | None] = lambda: None  # on the grounding thread: the library's model
        self.grounding: GroundingTask | None = None  # the attached documents being read for the next turn
        self.roleplay: Callable[[], Roleplay | None] = lambda: None  # the window's: lorebooks, user persona, note
        self.knowledge_db: Path | None = None  # where the chat's collections are (the window sets it)
        self.group: GroupChat | None = None  # a group chat's speakers (app.ui.chat.group_chat), set by the window
        conversation.state_changed.connect(self._on_state)
        conversation.reply_finished.connect(self._on_finished)
        conversation.reply_failed.connect(self._on_failed)
        conversation.save_failed.connect(widgets.banner.show_message)
        conversation.left_out.connect(self._on_left_out)
        conversation.reading.connect(self._on_reading)
        widgets.input.submitted.connect(self.send)
        widgets.send_button.clicked.connect(self.send_or_stop)
        widgets.chat_view.edit_submitted.connect(self.resend_edited)

    @property
    def generating(self) -> bool:
        return self.conversation.session.busy or self.grounding is not None

    def turn(self) -> TurnSettings:
        """This turn's settings, from the persona panel and the loaded model."""
        loaded = self.client.loaded
        model = loaded.info.path.stem if loaded else ""
        preset = self.persona.preset
        switch = thinking_switch(loaded.info.chat_template or "") if loaded else ""
        turn = TurnSettings(
            system_prompt=self.persona.system_prompt.toPlainText(),
            model=model,
            preset=preset.id,
            speaker=f"{model} · {preset.name}",
            sampling=self.persona.sampling(),  # raises what is wrong with a field: the turn does not start
            json_schema=self.persona.sampling_panel.json_schema(),
            chat_settings=self.persona.sampling_panel.record(),
            prompt_format=(preset.prompt_format, preset.custom_template),
            context_policy=self.persona.overflow.currentData(),
            reasoning=reasoning_for(switch, self.widgets.think.isChecked()),
            roleplay=self.roleplay(),
        )
        return self.group.turn(turn) if self.group is not None and self.group.active else turn

    # the user's intent
    @Slot()
    def send_or_stop(self) -> None:
        if self.generating:
            self.stop()
        else:
            self.send()

    @Slot()
    def send(self) -> None:
        text = self.widgets.input.toPlainText().strip()
        attachments = self.widgets.attachments
        documents = self.widgets.documents
        has_documents = documents is not None and bool(documents.paths)
        if not (text or attachments.images or has_documents) or self.generating or not self._ready():
            return
        images = attachments.take()
        self.widgets.input.clear()
        if self.group is not None:
            self.group.typed = text  # who answers may depend on whom it names
        collections = self.persona.sampling_panel.knowledge.chosen  # the chat's knowledge collections
        if (documents is not None and has_documents) or (collections and text):
            self._ground(text, images, documents.take() if documents is not None else [], collections)
            return
        if not self._start(lambda turn: self.conversation.send(text, turn, images), "send again"):
            self.widgets.input.setPlainText(text)  # nothing typed or attached is lost
            attachments.restore(images)

    def regenerate(self) -> None:
        if not self.generating and self._ready():
            if self.group is not None:
                self.group.typed = None  # the same speaker again
            self._start(self.conversation.regenerate, "try again")

    def reply(self) -> None:
        """Another reply with nothing new of yours (a group chat's next speaker)."""
        if not self.generating and self._ready():
            self._start(self.conversation.reply, "try again")

    def continue_reply(self) -> None:
        if not self.generating and self._ready():
            if self.group is not None:
                self.group.typed = None
            self._start(self.conversation.continue_last, "try again")

    def abandon_reply(self) -> None:
        """Leaving the chat: a reply still being written is stopped and kept."""
        self.conversation.close()

    def show_context(self, used: int, size: int) -> None:
        if not size and self.client.loaded is not None:  # a chat of no replies yet (or of a remote model's)
            size = self.client.loaded.context_size
        self.figures.show_context(used, size)

    def edit_message(self, row: int) -> None:
        """Edit a message of yours in place; Enter sends it as a new version (a branch from that point)."""
        if self.generating or not self.widgets.chat_view.start_editing(row):
            return
        self.widgets.status_bar.showMessage(
            "Editing — Enter sends a new version (the old one stays), Esc cancels", 10000
        )

    @Slot(int, str)
    def resend_edited(self, row: int, text: str) -> None:
        if self.generating or not self._ready() or row >= len(self.conversation.session.items):
            return
        if text == self.conversation.session.items[row].text:
            self.widgets.status_bar.clearMessage()
            return  # unchanged: nothing to send
        if self.group is not None:
            self.group.typed = text
        self._start(lambda turn: self.conversation.edit(row, text, turn), "try again")

    @Slot()
    def stop(self) -> None:
        if self.grounding is not None:
            self.grounding.cancel()
        self.conversation.stop()

    # documents: read off the GUI thread, then the turn starts grounded in them
    def _ground(
        self, text: str, images: list[CheckedImage], paths: list[Path], collections: Sequence[str] = ()
    ) -> None:
        question = text or "Summarize the attached document."
        task = GroundingTask(question, paths, self.embedder, self, collections=collections,
                             knowledge_db=self.knowledge_db)  # fmt: skip
        task.typed, task.images = text, images
        task.progress.connect(self._on_grounding_progress, Qt.ConnectionType.QueuedConnection)
        task.finished.connect(self._on_grounded, Qt.ConnectionType.QueuedConnection)
        task.failed.connect(self._on_not_grounded, Qt.ConnectionType.QueuedConnection)
        self.grounding = task
        self.widgets.send_button.setText("Stop")
        task.start()

    @Slot(str)
    def _on_grounding_progress(self, message: str) -> None:
        if self.grounding is not None:
            self.widgets.status_bar.showMessage(message + " (Esc to stop)")

    @Slot(object)
    def _on_grounded(self, grounding: Grounding) -> None:
        task = self.grounding
        if task is None:
            return
        if task.token.cancelled:
            self._on_not_grounded("Stopped while reading the documents; nothing was sent.")
            return
        if grounding.failures and not grounding.sources:
            self._on_not_grounded(" ".join(grounding.failures) + " Nothing was sent.")
            return
        self._finish_grounding()
        if grounding.failures:
            self.widgets.banner.show_message(" ".join(grounding.failures))
        if grounding.notes:
            self.widgets.status_bar.showMessage("; ".join(grounding.notes), 10000)
        text, images = task.question, task.images
        if not self._start(lambda turn: self.conversation.send(text, turn, images, grounding), "send again"):
            self._give_back(task)

    @Slot(str)
    def _on_not_grounded(self, message: str) -> None:
        task = self.grounding
        if task is None:
            return
        self._finish_grounding()
        self.widgets.banner.show_message(message)
        self._give_back(task)

    def _finish_grounding(self) -> None:
        self.grounding = None
        self.widgets.send_button.setText("Send")
        self.widgets.status_bar.clearMessage()

    def _give_back(self, task: GroundingTask) -> None:
        """A turn that did not start: nothing typed or attached is lost."""
        self.widgets.input.setPlainText(task.typed)
        self.widgets.attachments.restore(task.images)
        if self.widgets.documents is not None:
            self.widgets.documents.restore(task.attachments)

    # what the session says
    @Slot(object)
    def _on_state(self, state: ResponseState) -> None:
        self.widgets.send_button.setText("Stop" if state.busy else "Send")
        message = STATUS.get(state)
        status = self.widgets.status_bar
        if message:
            last = self.conversation.session.last()
            if state is ResponseState.READING_PROMPT and last is not None and last.reading:
                message = f"Reading the conversation… {last.reading} (Esc to stop)"
            elif state is ResponseState.AWAITING_APPROVAL and last is not None and last.waiting:
                message = f"{last.waiting}: allow it, or deny it (Esc to stop)"
            status.showMessage(message)
        elif status.currentMessage() in STATUS.values() or status.currentMessage().startswith(("Reading", "Waiting")):
            status.clearMessage()
        self.chat_changed.emit()

    @Slot(str)
    def _on_reading(self, progress: str) -> None:
        if self.conversation.session.response_state is ResponseState.READING_PROMPT:
            self.widgets.status_bar.showMessage(f"Reading the conversation… {progress} (Esc to stop)")

    @Slot(object)
    def _on_finished(self, item: ChatItem) -> None:
        if item.stats is not None:
            built = self.conversation.session.built
            self.figures.show_stats(item.stats, sum(fired.tokens for fired in built.activation.fired) if built else 0)
        self.reply_finished.emit(item)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.widgets.banner.show_message(message)
        last = self.conversation.session.last()
        if last is not None:
            self.reply_finished.emit(last)

    @Slot(int)
    def _on_left_out(self, count: int) -> None:
        noun = "message was" if count == 1 else "messages were"
        self.widgets.status_bar.showMessage(
            f"{count} earlier {noun} left out to fit the context (dimmed in the chat).", 10000
        )

    # helpers
    def _ready(self) -> bool:
        if self.client.loaded is None:
            self.widgets.banner.show_message(
                "Still loading the model — one moment." if self._loading() else "Pick a model to chat with first."
            )
            return False
        self.widgets.banner.hide()
        self.widgets.show_chat()
        return True

    def _start(self, start: Callable[[TurnSettings], None], retry: str) -> bool:
        """Start a turn; a turn that cannot start (or be saved) says why and changes nothing."""
        try:
            start(self.turn())
        except StoreError as exc:
            self.widgets.banner.show_message(f"{exc}; free some disk space and {retry}.")
            return False
        except HermesError as exc:
            self.widgets.banner.show_message(str(exc))
            return False
        self.chat_changed.emit()
        return True
