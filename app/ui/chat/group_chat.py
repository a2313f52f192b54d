"""Group chats in the window: choosing the members, the speaker bar above the composer, who answers each turn.

A group chat is made from the New chat menu or the persona panel (``GroupDialog``: tick two or more personas).
The speaker bar shows the members (avatar and name): clicking one makes that one speak next (at once, after
what you typed if anything); "Auto" lets every member answer your message in turn (those you name first),
else one answers: the one you name, or the next in turn. Each reply's bubble carries its speaker's name and
avatar. The core decides the rest (``chat.group``, ``chat.group_cast``); this only asks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.group import GroupError, Member, Policy, members_from_json, next_speaker
from app.core.chat.group_cast import GroupCast
from app.core.chat.items import ChatItem, TurnSettings
from app.core.errors import HermesError
from app.core.personas.presets import PresetError, PresetLibrary
from app.core.personas.roleplay import RoleplaySources
from app.core.prompting.types import MessageState
from app.ui.avatars import avatar_icon
from app.ui.chat.chat_controller import ChatController
from app.ui.chat.conversation import Conversation
from app.ui.theme import SPACE_S, secondary_text

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

AVATAR = 22
GROUP_PROMPT_TIP = "In a group chat each persona speaks with its own card's system prompt, lorebook and sampling."


class GroupDialog(QDialog):
    """Tick the personas of a new group chat (two or more)."""

    def __init__(self, library: PresetLibrary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New group chat")
        self.list = QListWidget()
        self.list.setAccessibleName("Members")
        self.list.setIconSize(QSize(AVATAR, AVATAR))
        for preset in library.presets():
            item = QListWidgetItem(avatar_icon(preset, AVATAR), preset.name)
            item.setData(Qt.ItemDataRole.UserRole, Member(preset.id, preset.name))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start group chat")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        hint = QLabel("Tick two or more personas. Each speaks with its own card, lorebook and sampling.", wordWrap=True)
        secondary_text(hint)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.buttons)
        self.list.itemChanged.connect(self._update)
        self._update()

    def members(self) -> list[Member]:
        rows = (self.list.item(row) for row in range(self.list.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in rows if item.checkState() == Qt.CheckState.Checked]

    def check(self, preset_ids: Sequence[str]) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole).preset_id in preset_ids:
                item.setCheckState(Qt.CheckState.Checked)

    @Slot()
    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(len(self.members()) >= 2)


class SpeakerBar(QWidget):
    """The members above the composer: click one to make it speak next; Auto: all answer, in turn."""

    speak = Signal(object)  # Member

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Speakers")
        self.label = QLabel("Speaks next:")
        secondary_text(self.label)
        self.auto = QToolButton()
        self.auto.setText("Auto")
        self.auto.setCheckable(True)
        self.auto.setChecked(True)
        self.auto.setToolTip("Every member answers your message in turn (those you name first); "
                             "off: one answers, the one you name or the next in turn")  # fmt: skip
        self.auto.setAccessibleName("Auto turns")
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, SPACE_S // 2, 0, SPACE_S // 2)
        self.row.setSpacing(SPACE_S)
        self.buttons: dict[str, QToolButton] = {}
        self.hide()

    def show_members(self, cast: GroupCast | None) -> None:
        while self.row.count():
            taken = self.row.takeAt(0)
            widget = taken.widget() if taken is not None else None
            if widget is not None and widget not in (self.label, self.auto):
                widget.deleteLater()
        self.buttons = {}
        if cast is None:
            self.hide()
            return
        self.row.addWidget(self.label)
        for member in cast.members:
            button = QToolButton()
            button.setText(member.name)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setIconSize(QSize(AVATAR, AVATAR))
            button.setAutoRaise(True)
            button.setCheckable(True)
            try:
                button.setIcon(avatar_icon(cast.preset(member), AVATAR))
            except GroupError:
                button.setEnabled(False)
                button.setToolTip(f"{member.name} is no longer in the persona library")
            else:
                button.setToolTip(f"Let {member.name} speak now (after what you typed, if anything)")
            button.setAccessibleName(f"Let {member.name} speak")
            button.clicked.connect(lambda _checked=False, who=member: self.speak.emit(who))
            self.buttons[member.preset_id] = button
            self.row.addWidget(button)
        self.row.addStretch(1)
        self.row.addWidget(self.auto)
        self.show()

    def show_speaking(self, member: Member | None) -> None:
        """The member whose reply is being written is marked."""
        for preset_id, button in self.buttons.items():
            button.setChecked(member is not None and preset_id == member.preset_id)


class GroupChat(QObject):
    """The open chat's group (None for a one-persona chat): its turns' speakers and the speaker bar."""

    error = Signal(str)

    def __init__(
        self, conversation: Conversation, chat: ChatController, sources: RoleplaySources,
        parent: QObject | None = None,
    ) -> None:  # fmt: skip
        """``sources``: the window's roleplay sources (the persona library, lorebooks, user personas)."""
        super().__init__(parent)
        self.conversation, self.chat, self.sources, self.library = conversation, chat, sources, sources.presets
        self.before_new: Callable[[], None] = lambda: None  # the window: a new chat's roleplay controls reset
        self.cast: GroupCast | None = None
        self.bar = SpeakerBar()
        self.new_action = QAction("New group chat…", self)
        self.new_action.setToolTip("A chat with two or more personas")
        self.typed: str | None = None  # the message being sent (None: a regenerate, continue or next reply)
        self.next: Member | None = None  # the member who speaks next, when already decided (clicked, or in turn)
        self.left = 0  # Auto: how many more members answer the message just sent
        self._starting = False
        chat.group = self
        chat.widgets.chat_view.message_delegate.avatar_for = self.avatar
        conversation.opened.connect(self._on_opened)
        conversation.reply_finished.connect(self._on_reply_finished)
        conversation.reply_failed.connect(lambda _message: self._stop_turns())
        self.bar.speak.connect(self.speak)
        self.new_action.triggered.connect(self.choose_members)

    @property
    def active(self) -> bool:
        return self.cast is not None

    # making one
    @Slot()
    def choose_members(self) -> None:
        dialog = GroupDialog(self.library, self.chat.widgets.chat_view.window())
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start(dialog.members())

    def start(self, members: Sequence[Member]) -> bool:
        """A new group chat with ``members``, opening with their greetings; False (and said why) if it cannot be."""
        try:
            cast = self._cast(members)
            greetings = cast.greetings()
        except (HermesError, PresetError) as exc:
            self.error.emit(str(exc))
            return False
        self.before_new()
        self._starting = True
        try:
            self.conversation.new(group_greetings=greetings)
        finally:
            self._starting = False
        self._use(cast)
        self.chat.widgets.show_chat()
        return True

    # turns
    def turn(self, base: TurnSettings) -> TurnSettings:
        """The turn for whoever speaks now (ChatController.turn asks, for every turn of a group chat)."""
        assert self.cast is not None
        items: list[ChatItem] = list(self.conversation.session.items)
        typed, self.typed = self.typed, None
        member, self.next = self.next, None
        if typed is not None:
            items.append(ChatItem(role="user", text=typed))
            self.left = len(self.cast.members) - 1 if self.bar.auto.isChecked() else 0
            if member is None:
                member = next_speaker(self.cast.members, items, Policy.AUTO)
        elif member is None:  # a regenerate or a continue: the one who wrote the last reply
            member = self._writer_of_last() or next_speaker(self.cast.members, items, Policy.ROUND_ROBIN)
        self.bar.show_speaking(member)
        return self.cast.turn(member, base, _overrides(base), base.roleplay.settings if base.roleplay else None)

    @Slot(object)
    def speak(self, member: Member) -> None:
        """``member`` answers now: after what you typed, if anything, else with nothing new of yours."""
        if self.chat.generating:
            return
        self.next = member
        if self.chat.widgets.input.toPlainText().strip():
            self.chat.send()
            self.left = 0  # a chosen speaker answers alone
        else:
            self.left = 0
            self.chat.reply()
        self.next = None  # a turn that did not start leaves no choice behind

    def preview_turn(self, typed: str) -> TurnSettings | None:
        """The turn the next speaker would get for ``typed`` (the Prompt preview's; nothing is decided by it)."""
        if self.cast is None:
            return None
        items: list[ChatItem] = list(self.conversation.session.items)
        if typed:
            items.append(ChatItem(role="user", text=typed))
        try:
            member = self.next or next_speaker(self.cast.members, items, Policy.AUTO)
            roleplay = self.chat.roleplay()  # the chat's lorebooks, user persona and note, for every speaker
            return self.cast.turn(member, TurnSettings(), settings=roleplay.settings if roleplay else None)
        except HermesError:
            return None

    def avatar(self, item: ChatItem) -> QPixmap | None:
        """A group reply's avatar for its bubble (None outside a group chat, or for a persona no longer there)."""
        if self.cast is None or not item.speaker or not item.preset_id:
            return None
        try:
            return avatar_icon(self.library.get(item.preset_id), AVATAR).pixmap(AVATAR, AVATAR)
        except PresetError:
            return None

    # what happens
    @Slot()
    def _on_opened(self) -> None:
        if self._starting:
            return
        chat_id = self.conversation.session.chat_id
        members = (
            members_from_json(self.conversation.session.store.chat(chat_id).members) if chat_id is not None else []
        )
        cast = None
        if members:
            try:
                cast = self._cast(members)
            except HermesError as exc:
                self.error.emit(f"This group chat cannot go on: {exc}")
        self._use(cast)

    @Slot(object)
    def _on_reply_finished(self, item: ChatItem) -> None:
        self.bar.show_speaking(None)
        if self.cast is None or self.left <= 0 or item.state is not MessageState.DONE:
            self._stop_turns()
            return
        self.left -= 1
        self.next = next_speaker(self.cast.members, self.conversation.session.items, Policy.AUTO)
        QTimer.singleShot(0, self._next_turn)

    @Slot()
    def _next_turn(self) -> None:
        if self.next is not None and not self.chat.generating:
            self.chat.reply()
        self.next = None

    def _stop_turns(self) -> None:
        self.left, self.next = 0, None
        self.bar.show_speaking(None)

    # helpers
    def _cast(self, members: Sequence[Member]) -> GroupCast:
        roleplay = self.chat.roleplay()
        return GroupCast(self.sources, members, roleplay.settings if roleplay else None)

    def _use(self, cast: GroupCast | None) -> None:
        self.cast, self.left, self.next, self.typed = cast, 0, None, None
        self.bar.show_members(cast)
        field = self.chat.persona.system_prompt  # a group's speakers each use their own card's: not this one
        field.setReadOnly(cast is not None)
        field.setToolTip(GROUP_PROMPT_TIP if cast is not None else "")

    def _writer_of_last(self) -> Member | None:
        assert self.cast is not None
        last = next((i for i in reversed(self.conversation.session.items) if i.role == "assistant"), None)
        return next((m for m in self.cast.members if last is not None and m.preset_id == last.preset_id), None)


def _overrides(base: TurnSettings) -> dict[str, object]:
    """Each speaker's own sampling; the chat's reply length (and seed, if set) from the side panel."""
    overrides: dict[str, object] = {"max_tokens": base.sampling.max_tokens}
    if base.sampling.seed is not None:
        overrides["seed"] = base.sampling.seed
    return overrides


def install(window: MainWindow) -> GroupChat:
    """The window's group chats: the speaker bar above the composer, "New group chat…" in the New chat button's
    menu, the persona panel's menu and the File menu (added by the menus)."""
    group = GroupChat(window.conversation, window.chat, window.roleplay.sources, window)
    group.before_new = lambda: window.roleplay.show_chat("")  # no lorebooks of its own yet, no note
    column = window.chat_column.layout()
    if isinstance(column, QVBoxLayout):
        column.insertWidget(1, group.bar)  # between the messages and the composer
    group.error.connect(window.banner.show_message)
    window.prompt_preview.group_turn = group.preview_turn
    group.bar.speak.connect(lambda _member: window.prompt_preview.schedule())
    button = window.model_bar.widgetForAction(window.new_chat_action)
    if isinstance(button, QToolButton):
        menu = QMenu(button)
        menu.addAction(group.new_action)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
    panel_menu = window.persona.menu_button.menu()
    if panel_menu is not None:
        panel_menu.insertAction(window.persona.edit_action, group.new_action)
    return group
