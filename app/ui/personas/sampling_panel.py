"""The side panel's sampling: every setting for this chat, the preset's values as defaults, "Reset to preset".

Temperature, max tokens and the overflow policy are always shown; "More sampling" shows top-p, top-k, min-p,
the repeat penalty, the seed (Random, or a number that makes a sampled reply reproducible), stop strings (one
per line) and structured output (a JSON schema: the reply is JSON valid for it, through a grammar built on the
engine thread within ``schema_bounds``). The words of the fields (stop strings' escapes, the schema's limits,
the record kept with the chat) are the core's (``prompting.chat_sampling``); this is their face.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import HermesError
from app.core.prompting.chat_sampling import SEED_MAX, ChatSampling, format_stop, parse_schema, parse_stop
from app.core.prompting.context import ContextPolicy
from app.core.prompting.types import Sampling
from app.ui.knowledge.picker import CollectionPicker

RANDOM_SEED = -1  # the seed field's "Random" (no seed: a new one each reply)
SCHEMA_EXAMPLE = '{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}'


def _spin(low: float, high: float, step: float, decimals: int, name: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(minimum=low, maximum=high, singleStep=step, decimals=decimals)
    spin.setAccessibleName(name)
    return spin


class SamplingPanel(QWidget):
    """The chat's sampling fields. ``chat_sampling()`` reads them (raising what is wrong, for the banner)."""

    changed = Signal()  # a value changed (by the user or by load/reset)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.defaults = Sampling()
        self.temperature = _spin(0.0, 5.0, 0.05, 2, "Temperature")
        self.max_tokens = QSpinBox(minimum=1, maximum=1 << 20, singleStep=128)
        self.max_tokens.setAccessibleName("Max tokens")
        self.overflow = QComboBox(minimumContentsLength=8)  # its label keeps its width in a narrow panel
        self.overflow.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for policy in ContextPolicy:
            self.overflow.addItem(policy.label, policy.value)
        self.overflow.setToolTip("What happens when this chat no longer fits the model's context window")
        self.top_p = _spin(0.0, 1.0, 0.01, 2, "Top-p")
        self.top_k = QSpinBox(minimum=0, maximum=1000)
        self.top_k.setAccessibleName("Top-k")
        self.top_k.setSpecialValueText("off")
        self.min_p = _spin(0.0, 1.0, 0.01, 2, "Min-p")
        self.repeat_penalty = _spin(0.0, 5.0, 0.05, 2, "Repeat penalty")
        self.seed = QSpinBox(minimum=RANDOM_SEED, maximum=SEED_MAX)
        self.seed.setSpecialValueText("Random")
        self.seed.setAccessibleName("Seed")
        self.seed.setToolTip("A fixed seed makes a sampled reply the same every time; Random: a new one each reply")
        self.stop = QPlainTextEdit()
        self.stop.setAccessibleName("Stop strings")
        self.stop.setPlaceholderText("One per line (\\n for a new line)")
        self.stop.setTabChangesFocus(True)
        self.stop.setFixedHeight(self.stop.fontMetrics().lineSpacing() * 3 + 12)
        self.structured = QCheckBox("Reply as JSON for this schema")
        self.schema = QPlainTextEdit()
        self.schema.setAccessibleName("JSON schema")
        self.schema.setPlaceholderText(SCHEMA_EXAMPLE)
        self.schema.setTabChangesFocus(True)
        self.schema.setFixedHeight(self.schema.fontMetrics().lineSpacing() * 5 + 12)
        self.problem = QLabel(wordWrap=True)  # what is wrong with a field, said where it is
        self.problem.hide()
        self.reset_button = QPushButton("Reset to preset")
        self.reset_button.setToolTip("This chat's sampling back to the preset's values")
        self.more = QPushButton("More sampling ▸")
        self.more.setCheckable(True)
        self.more.setFlat(True)

        basic = QFormLayout()
        basic.addRow("Temperature", self.temperature)
        basic.addRow("Max tokens", self.max_tokens)
        basic.addRow("When too long", self.overflow)
        self.knowledge = CollectionPicker()  # the collections this chat answers from (the persona's by default)
        self.default_knowledge: tuple[str, ...] = ()
        basic.addRow("Knowledge", self.knowledge)
        self.advanced = QWidget()
        advanced = QFormLayout(self.advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        advanced.addRow("Top-p", self.top_p)
        advanced.addRow("Top-k", self.top_k)
        advanced.addRow("Min-p", self.min_p)
        advanced.addRow("Repeat penalty", self.repeat_penalty)
        advanced.addRow("Seed", self.seed)
        advanced.addRow("Stop strings", self.stop)
        advanced.addRow(self.structured)
        advanced.addRow(self.schema)
        self.advanced.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.more)
        buttons.addStretch(1)
        buttons.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(basic)
        layout.addLayout(buttons)
        layout.addWidget(self.advanced)
        layout.addWidget(self.problem)

        self.more.toggled.connect(self._show_more)
        self.reset_button.clicked.connect(self.reset)
        self.structured.toggled.connect(self.schema.setEnabled)
        for spin in (self.temperature, self.top_p, self.min_p, self.repeat_penalty):
            spin.valueChanged.connect(self._changed)
        for box in (self.max_tokens, self.top_k, self.seed):
            box.valueChanged.connect(self._changed)
        self.stop.textChanged.connect(self._changed)
        self.knowledge.changed.connect(self._changed)
        self.schema.textChanged.connect(self._changed)
        self.structured.toggled.connect(self._changed)
        self.schema.setEnabled(False)
        self._loading = False

    # values in
    def set_preset(self, sampling: Sampling, knowledge: tuple[str, ...] = ()) -> None:
        """A new preset: its values (and its collections) are the defaults, and the fields show them."""
        self.defaults, self.default_knowledge = sampling, knowledge
        self.load(ChatSampling(sampling, knowledge=knowledge))

    def load(self, chat: ChatSampling) -> None:
        """Show a chat's sampling (kept with it, or the preset's)."""
        values = chat.sampling
        self._loading = True
        try:
            self.temperature.setValue(values.temperature)
            self.max_tokens.setValue(values.max_tokens)
            self.top_p.setValue(values.top_p)
            self.top_k.setValue(values.top_k)
            self.min_p.setValue(values.min_p)
            self.repeat_penalty.setValue(values.repeat_penalty)
            self.seed.setValue(RANDOM_SEED if values.seed is None else values.seed)
            self.stop.setPlainText(format_stop(values.stop))
            self.structured.setChecked(bool(chat.schema.strip()))
            self.schema.setPlainText(chat.schema)
            self.knowledge.set_chosen(chat.knowledge)
        finally:
            self._loading = False
        self._changed()

    def load_record(self, record: str) -> None:
        """A chat's kept record (JSON; '' or damaged: the preset's values)."""
        self.load(ChatSampling.from_json(record, self.defaults, self.default_knowledge))

    def reset(self) -> None:
        """Reset to preset: every field back to the preset's value; no structured output."""
        self.load(ChatSampling(self.defaults, knowledge=self.default_knowledge))

    # values out
    def sampling(self) -> Sampling:
        """The fields as sampling (``SamplingInputError`` for bad stop strings)."""
        return self._numbers().with_overrides(stop=parse_stop(self.stop.toPlainText()))

    def _numbers(self) -> Sampling:
        seed = self.seed.value()
        return self.defaults.with_overrides(
            temperature=self.temperature.value(),
            max_tokens=self.max_tokens.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            seed=None if seed == RANDOM_SEED else seed,
        )

    def schema_text(self) -> str:
        return self.schema.toPlainText() if self.structured.isChecked() else ""

    def json_schema(self) -> dict | None:
        """The structured output's schema (None: free text); raises what is wrong with it."""
        if not self.structured.isChecked():
            return None
        schema = parse_schema(self.schema.toPlainText())
        if schema is None:
            raise HermesError("Structured output is on but the JSON schema is empty.")
        return schema

    def chat_sampling(self) -> ChatSampling:
        return ChatSampling(self.sampling(), self.schema_text(), self.knowledge.chosen)

    def record(self) -> str:
        """What is kept with the chat (JSON); the fields as they are, even where one is not valid yet."""
        try:
            sampling = self.sampling()
        except HermesError:
            sampling = self._numbers()  # the stop strings as the preset has them until they are valid
        return ChatSampling(sampling, self.schema_text(), self.knowledge.chosen).to_json()

    def is_default(self) -> bool:
        try:
            return self.chat_sampling() == ChatSampling(self.defaults, knowledge=self.default_knowledge)
        except HermesError:
            return False

    # helpers
    def _show_more(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.more.setText("More sampling ▾" if shown else "More sampling ▸")

    def _changed(self) -> None:
        if self._loading:
            return
        problem = ""
        try:
            self.sampling()
            self.json_schema()
        except HermesError as exc:
            problem = str(exc)
        self.problem.setText(f"⚠ {problem}" if problem else "")
        self.problem.setVisible(bool(problem))
        self.reset_button.setEnabled(not self.is_default())
        self.changed.emit()
