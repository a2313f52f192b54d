"""The preset editor: every field of a persona. Built-ins open read-only (duplicate them to change)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.personas.cards import CardError, read_png_chunks
from app.core.personas.presets import Preset, PresetError, preset_from_dict
from app.core.prompting.prompt_formats import CUSTOM, FORMAT_CHOICES
from app.core.prompting.types import Sampling
from app.ui.avatars import avatar_icon
from app.ui.theme import tone


class PresetEditor(QDialog):
    def __init__(self, preset: Preset, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._preset = preset
        self._avatar = preset.avatar_png
        self._color = preset.color
        read_only = preset.builtin
        self.setWindowTitle(f"{'View' if read_only else 'Edit'} preset — {preset.name}")
        self.resize(720, 760)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.name = QLineEdit(preset.name)
        self.description = QLineEdit(preset.description)
        self.color_button = QPushButton()
        self.color_button.clicked.connect(self._pick_color)
        self.avatar_button = QPushButton("Avatar…")
        self.avatar_button.clicked.connect(self._pick_avatar)
        look = QHBoxLayout()
        look.addWidget(self.color_button)
        look.addWidget(self.avatar_button)
        look.addStretch(1)
        self.system_prompt = QPlainTextEdit(preset.system_prompt)
        self.greeting = QPlainTextEdit(preset.greeting)
        self.greeting.setPlaceholderText("Optional: the first assistant message of a new chat")
        self.greeting.setMaximumHeight(80)
        self.example_dialogue = QPlainTextEdit(preset.example_dialogue)
        self.example_dialogue.setPlaceholderText("Optional: sample exchanges showing how the persona talks")
        self.example_dialogue.setMaximumHeight(90)
        self.prompt_format = QComboBox()
        for key, label in FORMAT_CHOICES.items():
            self.prompt_format.addItem(label, key)
        self.prompt_format.setCurrentIndex(max(0, self.prompt_format.findData(preset.prompt_format)))
        self.custom_template = QPlainTextEdit(preset.custom_template)
        self.custom_template.setFont(mono)
        self.custom_template.setPlaceholderText("{% for message in messages %}…{% endfor %}")
        self.custom_template.setMaximumHeight(110)
        self.prompt_format.currentIndexChanged.connect(self._format_changed)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        form.addRow("Look", look)
        form.addRow("System prompt", self.system_prompt)
        form.addRow("Greeting", self.greeting)
        form.addRow("Example dialogue", self.example_dialogue)
        form.addRow("Prompt format", self.prompt_format)
        form.addRow("Custom template", self.custom_template)
        self.knowledge = QLineEdit(", ".join(preset.knowledge))
        self.knowledge.setPlaceholderText("Optional: knowledge collections its chats answer from, comma-separated")
        form.addRow("Knowledge", self.knowledge)
        self._form = form

        sampling = preset.sampling
        self.temperature = _double(0, 5, 0.05, sampling.temperature)
        self.top_p = _double(0, 1, 0.01, sampling.top_p)
        self.min_p = _double(0, 1, 0.01, sampling.min_p)
        self.repeat_penalty = _double(0, 10, 0.05, sampling.repeat_penalty)
        self.top_k = QSpinBox(minimum=0, maximum=100_000, value=sampling.top_k)
        self.max_tokens = QSpinBox(minimum=1, maximum=1 << 20, singleStep=128, value=sampling.max_tokens)
        self.stop = QLineEdit(" | ".join(sampling.stop))
        self.stop.setPlaceholderText("strings that end a reply, separated by |")
        self.seed = QSpinBox(minimum=-1, maximum=2**31 - 1, value=-1 if sampling.seed is None else sampling.seed)
        self.seed.setSpecialValueText("random")
        grid = QGridLayout()
        for row, (label, widget, label2, widget2) in enumerate(
            [
                ("Temperature", self.temperature, "Top-p", self.top_p),
                ("Top-k", self.top_k, "Min-p", self.min_p),
                ("Repeat penalty", self.repeat_penalty, "Max tokens", self.max_tokens),
                ("Seed", self.seed, "Stop strings", self.stop),
            ]
        ):
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(widget, row, 1)
            grid.addWidget(QLabel(label2), row, 2)
            grid.addWidget(widget2, row, 3)
        box = QGroupBox("Sampling")
        box.setLayout(grid)

        self.error = QLabel()
        tone(self.error, "error")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Close
            if read_only
            else QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if read_only:
            note = QLabel("This is a built-in preset: read-only. Use “Duplicate” to make your own version.")
            note.setWordWrap(True)
            layout.addWidget(note)
        layout.addLayout(form, 1)
        layout.addWidget(box)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        for line in (self.name, self.description, self.stop):
            line.setReadOnly(read_only)
        for text in (self.system_prompt, self.greeting, self.example_dialogue, self.custom_template):
            text.setReadOnly(read_only)
        if read_only:  # a hint is for typing: in a view it would read as a value
            for field in (self.stop, self.greeting, self.example_dialogue, self.custom_template):
                field.setPlaceholderText("")
        for control in (self.color_button, self.avatar_button, self.prompt_format, box):
            control.setEnabled(not read_only)
        self._show_color()
        self._format_changed()

    def _format_changed(self) -> None:
        custom = self.prompt_format.currentData() == CUSTOM
        self.custom_template.setEnabled(custom and not self._preset.builtin)
        self._form.setRowVisible(self.custom_template, custom)  # no template field for Auto, ChatML…

    def _show_color(self) -> None:
        self.color_button.setText(f"Colour {self._color}")
        self.color_button.setIcon(avatar_icon(replace(self._preset, color=self._color, avatar_png=self._avatar), 16))

    def _pick_color(self) -> None:
        color = QColorDialog.getColor(QColor(self._color), self, "Preset colour")
        if color.isValid():
            self._color = color.name()
            self._show_color()

    def _pick_avatar(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Avatar image", "", "PNG images (*.png)")
        if path:
            self.set_avatar(Path(path).read_bytes())

    def set_avatar(self, png: bytes) -> None:
        try:
            read_png_chunks(png)
        except CardError as exc:
            self.error.setText(str(exc))
            return
        self._avatar = png
        self._show_color()

    def result_preset(self) -> Preset:
        """The edited preset, validated like a file on disk (raises PresetError)."""
        stop = tuple(s.strip() for s in self.stop.text().split("|") if s.strip())
        sampling = Sampling(
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            stop=stop,
            seed=None if self.seed.value() < 0 else self.seed.value(),
        )
        edited = replace(
            self._preset,
            name=self.name.text().strip(),
            description=self.description.text().strip(),
            system_prompt=self.system_prompt.toPlainText(),
            greeting=self.greeting.toPlainText(),
            example_dialogue=self.example_dialogue.toPlainText(),
            prompt_format=self.prompt_format.currentData(),
            custom_template=self.custom_template.toPlainText(),
            sampling=sampling,
            avatar_png=self._avatar,
            color=self._color,
            knowledge=tuple(n.strip() for n in self.knowledge.text().split(",") if n.strip()),
        )
        return preset_from_dict(replace(edited, id=edited.id or "new").to_dict(), builtin=edited.builtin)

    def _accept(self) -> None:
        try:
            self.result_preset()
        except PresetError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


def _double(low: float, high: float, step: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=low, maximum=high, singleStep=step, decimals=2)
    box.setValue(value)
    return box
