"""The Prompt preview tab: exactly what the model receives for the next message, re-rendered as things change."""

from __future__ import annotations

import json
from collections.abc import Callable

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QFontDatabase, QShowEvent
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.core.chat.items import TurnSettings
from app.core.personas.roleplay import Roleplay
from app.core.rendering.big_text import cut
from app.ui.chat.chat_input import ChatInput
from app.ui.chat.chat_model import ChatModel
from app.ui.engines.engine_client import EngineClient
from app.ui.personas.persona_panel import PersonaPanel

DELAY_MS = 150  # typing re-renders at most this often


class PromptPreview(QWidget):
    """Renders on the GUI thread (templates render in milliseconds), and only while it is shown."""

    def __init__(
        self, chat_model: ChatModel, persona: PersonaPanel, input_box: ChatInput, client: EngineClient
    ) -> None:
        super().__init__()
        self.chat_model = chat_model
        self.persona = persona
        self.input_box = input_box
        self.client = client
        self.roleplay: Callable[[], Roleplay | None] = lambda: None  # the window's: lorebooks, persona, note
        self.group_turn: Callable[[str], TurnSettings | None] = lambda _typed: None  # a group's next speaker
        self.fired: list[str] = []  # the lorebook entries the next message fires, and why
        self.text = QPlainTextEdit(readOnly=True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.notes = QLabel(wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.header = QLabel("Exactly what the model receives for the next message:", wordWrap=True)  # + the format
        self.header.setAccessibleName("Prompt format")
        layout.addWidget(self.header)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.notes)
        self.timer = QTimer(self, singleShot=True, interval=DELAY_MS)
        self.timer.timeout.connect(self.refresh)
        persona.changed.connect(self.schedule)
        input_box.textChanged.connect(self.schedule)
        chat_model.rowsInserted.connect(self.schedule)
        chat_model.modelReset.connect(self.schedule)
        client.model_loaded.connect(self.schedule)  # the model's own template and tokens

    @Slot()
    def schedule(self) -> None:
        if self.isVisible():
            self.timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        self.timer.start()
        super().showEvent(event)

    @Slot()
    def refresh(self) -> None:
        from app.core.chat.roleplay_turn import next_prompt
        from app.core.personas.prompt_build import describe_activation
        from app.core.prompting.prompt_formats import PREVIEW_PLACEHOLDER, preview_prompt

        preset = self.persona.preset
        typed = self.input_box.toPlainText().strip() or PREVIEW_PLACEHOLDER
        system, roleplay = self.persona.system_prompt.toPlainText(), self.roleplay()
        prompt_format, custom_template = preset.prompt_format, preset.custom_template
        group = self.group_turn(self.input_box.toPlainText().strip())  # a group chat: the next speaker's own prompt
        if group is not None:
            system, roleplay = group.system_prompt, group.roleplay
            prompt_format, custom_template = group.prompt_format
        speaking = group.group if group is not None else None
        messages, built = next_prompt(self.chat_model.session, system, roleplay, typed, speaking)
        lore: list[str] = []
        if built is not None:
            self.fired = describe_activation(built.activation)
            tokens = sum(fired.tokens for fired in built.activation.fired)
            count = len(built.activation.fired)
            lore = [f"Lorebook entries: {count} fired, {tokens:,} tokens" if count else "Lorebook entries: none fired"]
            lore += [*self.fired, *(f"note: {note}" for note in built.notes if note not in built.activation.notes)]
        else:
            self.fired = []
        loaded = self.client.loaded
        if loaded is not None and loaded.remote:  # its server applies its own template
            self.text.setPlainText(json.dumps({"messages": messages}, indent=2, ensure_ascii=False))
            where = loaded.info.metadata.get("hermes.remote_base", "the server")
            sent = f"The server formats the prompt with its own chat template: these are the messages sent to {where}."
            self.notes.setText("\n".join([sent, *lore]))
            return
        text, notes = preview_prompt(
            messages,
            prompt_format,
            custom_template=custom_template,
            model_template=loaded.info.chat_template if loaded else None,
            bos_token=loaded.bos_token if loaded else None,
            eos_token=loaded.eos_token if loaded else None,
            model_loaded=loaded is not None,
            add_bos=loaded.add_bos if loaded else False,
            model_format=loaded.format if loaded else None,  # what the engine renders "auto" with
        )
        self.text.setPlainText(cut(text)[0])  # a 5 MB pasted line is cut for display (marks say how much)
        named = notes[0] if text and notes and notes[0].startswith("Format: ") else ""
        self.header.setText(f"Exactly what the model receives for the next message · {named or 'Format: —'}")
        self.notes.setText("\n".join([*(notes[1:] if named else notes), *lore]))
