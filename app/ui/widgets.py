"""Small widgets of the main window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QIcon,
    QIconEngine,
    QKeyEvent,
    QPainter,
    QPalette,
    QPixmap,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTabBar,
    QTableView,
    QTextEdit,
    QToolButton,
    QWidget,
)

from app.ui.avatars import avatar_pixmap
from app.ui.theme import RADIUS, SPACE_S, SPACE_XS, color, icon, scheme

if TYPE_CHECKING:
    from app.core.personas.presets import Preset

_Index = QModelIndex | QPersistentModelIndex


def tool_button(
    parent: QWidget | None = None,
    *,
    text: str = "",
    icon: QIcon | None = None,
    tooltip: str = "",
    auto_raise: bool = False,
) -> QToolButton:
    """A tool button with its text or icon and its tooltip (PySide6's property keywords, typed)."""
    button = QToolButton(parent)
    if text:
        button.setText(text)
    if icon is not None:
        button.setIcon(icon)
    if tooltip:
        button.setToolTip(tooltip)
    button.setAutoRaise(auto_raise)
    return button


class ChatInput(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line.

    Text with a long run without spaces (a pasted base64 blob, a minified file) wraps anywhere: Qt's word wrap
    looks for a break that never comes, again for every line (100,000 characters: 0.9 s, then 0.5 s a keystroke;
    anywhere: 0.05 s). Ordinary text wraps at words.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Type a message — Enter to send, Shift+Enter for a new line")
        self.setTabChangesFocus(True)
        self.textChanged.connect(self._short_again)

    def _short_again(self) -> None:
        """Sent or cleared: ordinary text wraps at words again."""
        if self.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere and self.document().characterCount() < 300:
            self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)

    def setPlainText(self, text: str) -> None:
        self._wrap_for(text)
        super().setPlainText(text)

    def insertFromMimeData(self, source) -> None:
        if source.hasText():
            self._wrap_for(source.text(), adding=True)
        super().insertFromMimeData(source)

    def _wrap_for(self, text: str, *, adding: bool = False) -> None:
        from app.core.rendering.big_text import has_long_run

        anywhere = has_long_run(text) or (adding and self.wordWrapMode() == QTextOption.WrapMode.WrapAnywhere)
        mode = QTextOption.WrapMode.WrapAnywhere if anywhere else QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
        if self.wordWrapMode() != mode:
            self.setWordWrapMode(mode)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MessageEditor(ChatInput):
    """Edits a message in place: Enter sends the new version, Shift+Enter starts a new line, Esc cancels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Enter sends this as a new version of your message · Esc cancels")
        self.setTabChangesFocus(True)


class ErrorBanner(QFrame):
    """A dismissible banner above the chat for errors that need attention (a failed load, say)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setAccessibleName("Error")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = tool_button(icon=icon("x"), tooltip="Dismiss")
        close.setAccessibleName("Dismiss the error")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        self.close_button = close
        layout = QHBoxLayout(self)
        layout.setContentsMargins(SPACE_S + SPACE_XS, SPACE_XS + 2, SPACE_XS + 2, SPACE_XS + 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._restyle()
        self.hide()

    def _restyle(self) -> None:
        """The theme's error colours (light pink on light, deep red on dark), again at every palette change."""
        palette = QApplication.palette()
        if getattr(self, "_scheme", None) == scheme(palette):
            return  # setting the style sheet changes the palette too: no loop
        self._scheme = scheme(palette)
        fg, bg, border = (color("error", palette), color("error", palette, background=True),
                          color("error_border", palette))  # fmt: skip
        self.setStyleSheet(
            f"#errorBanner {{ background: {bg.name()}; border: 1px solid {border.name()}; border-radius: {RADIUS}px; }}"
            f"#errorBanner QLabel {{ color: {fg.name()}; }}"
        )

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()
        super().changeEvent(event)

    def show_message(self, message: str) -> None:
        self.label.setText(message)
        self.show()

    @property
    def message(self) -> str:
        return self.label.text() if self.isVisible() else ""


def avatar_icon(preset: Preset, size: int = 32) -> QIcon:
    """The preset's avatar (decoded bounded and once: ``app.ui.avatars``), or a disc of its colour with its initial."""
    avatar = avatar_pixmap(preset.avatar_png, size) if preset.avatar_png else None
    if avatar is not None:
        return QIcon(avatar)

    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(preset.color))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(0, 0, size, size)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setBold(True)
    font.setPixelSize(int(size * 0.5))
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, (preset.name[:1] or "?").upper())
    painter.end()
    return QIcon(pixmap)


def show_in_folder(path: Path) -> bool:
    """Open the folder holding ``path`` in the desktop's file manager."""
    folder = path if path.is_dir() else path.parent
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def style_slim_meter(bar: QProgressBar) -> None:
    """A thin progress bar (the context meter): a track and a fill, no frame, no text."""
    bar.setTextVisible(False)
    bar.setFixedHeight(SPACE_XS + 2)
    bar.setObjectName("slimMeter")
    bar.setStyleSheet(
        "#slimMeter { border: none; border-radius: 3px; background: palette(mid); }"
        "#slimMeter::chunk { border-radius: 3px; background: palette(highlight); }"
    )


class _Placeholder:
    """Paints a grey hint in the middle of an empty item view."""

    def __init__(self, view: QAbstractItemView, text: str) -> None:
        self.view, self.text = view, text

    def paint(self) -> None:
        model = self.view.model()
        if model is None or model.rowCount() > 0 or not self.text:
            return
        viewport = self.view.viewport()
        painter = QPainter(viewport)
        painter.setPen(self.view.palette().color(QPalette.ColorRole.PlaceholderText))
        margin = SPACE_S * 2
        area = QRect(viewport.rect().adjusted(margin, margin, -margin, -margin))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.text)
        painter.end()


class _WithPlaceholder:
    """For item views: says what goes in the view while it is empty."""

    _placeholder: _Placeholder

    def set_placeholder(self, text: str) -> None:
        self._placeholder.text = text
        self.viewport().update()  # type: ignore[attr-defined]

    def placeholder(self) -> str:
        return self._placeholder.text

    def paintEvent(self, event) -> None:
        super().paintEvent(event)  # type: ignore[misc]
        self._placeholder.paint()


class EmptyListView(_WithPlaceholder, QListView):
    """A list view that says what goes in it while it is empty."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = _Placeholder(self, placeholder)


class EmptyTableView(_WithPlaceholder, QTableView):
    """A table view that says what goes in it while it is empty."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = _Placeholder(self, placeholder)


INTERACTIVE = (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QTabBar,
)  # fmt: skip


def _derived_name(widget: QWidget) -> str:
    """What a screen reader should call a widget that was not named: its text, label, hint or tooltip."""
    parent = widget.parentWidget()
    layout = parent.layout() if parent is not None else None
    if isinstance(layout, QFormLayout):
        label = layout.labelForField(widget)
        if isinstance(label, QLabel) and label.text():
            return label.text().replace("&", "")
    for label in widget.window().findChildren(QLabel):
        if label.buddy() is widget and label.text():
            return label.text().replace("&", "")
    if isinstance(widget, QTabBar):
        return "Tabs: " + ", ".join(widget.tabText(i).replace("&", "") for i in range(widget.count()))
    if isinstance(widget, QAbstractButton) and widget.text().strip(" ⋯…"):
        return widget.text().replace("&", "").strip()
    if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit) and widget.placeholderText():
        return widget.placeholderText()
    return widget.toolTip().split("\n")[0]


def name_for_accessibility(root: QWidget) -> list[QWidget]:
    """Give every interactive widget under ``root`` an accessible name (its own, or one derived from its
    label, text, placeholder or tooltip). Returns the focusable widgets left without one."""
    unnamed: list[QWidget] = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or widget.accessibleName():
            continue
        if widget.parentWidget() is not None and isinstance(widget.parentWidget(), QAbstractSpinBox | QComboBox):
            continue  # the line edit inside a spin box or an editable combo box: its owner is named
        name = _derived_name(widget)
        if name:
            widget.setAccessibleName(name)
        elif widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
            unnamed.append(widget)
    return unnamed


def badge_icon(name: str, count: int, size: int = 36) -> QIcon:
    """A bundled icon with a count in a small disc at its top right (nothing drawn for 0), drawn in the palette's
    colours when it is painted (a theme switched while running reaches it)."""
    if count <= 0:
        return icon(name)
    return QIcon(_BadgeEngine(name, count, size))


class _BadgeEngine(QIconEngine):
    def __init__(self, name: str, count: int, size: int) -> None:
        super().__init__()
        self.name, self.count, self.size = name, count, size

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        side = self.size
        pixmap = QPixmap(side, side)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        inner = int(side * 0.72)
        painter.drawPixmap(0, side - inner, icon(self.name).pixmap(inner, inner, mode, state))
        disc = int(side * 0.56)
        fg, bg = color("badge"), color("badge", background=True)
        painter.setBrush(bg)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(side - disc, 0, disc, disc)
        font = painter.font()
        font.setBold(True)
        font.setPixelSize(int(disc * 0.7))
        painter.setFont(font)
        painter.setPen(fg)
        text = str(self.count) if self.count < 10 else "9+"
        painter.drawText(QRect(side - disc, 0, disc, disc), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        return pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.drawPixmap(rect, self.pixmap(rect.size(), mode, state))

    def clone(self) -> QIconEngine:
        clone = _BadgeEngine(self.name, self.count, self.size)
        self._clones = [*getattr(self, "_clones", []), clone][-4:]  # alive until Qt owns it
        return clone


# a fit badge -> its semantic colour and icon
FIT_STYLE = {
    "Full GPU offload": ("fit_full", "zap"),
    "Partial offload": ("fit_partial", "gauge"),
    "CPU only": ("fit_cpu", "cpu"),
    "Too large": ("fit_too_large", "triangle-alert"),
}


class FitPillDelegate(QStyledItemDelegate):
    """The fit as a pill: a tinted rounded rectangle with an icon and the badge's words (read from ``role``)."""

    def __init__(self, role: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        badge = index.data(self.role)
        if badge not in FIT_STYLE:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        option.text = ""
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        name, icon_name = FIT_STYLE[badge]
        fg, bg = color(name, option.palette), color(name, option.palette, background=True)
        metrics = option.fontMetrics
        side = metrics.height()
        width = min(option.rect.width() - 2 * SPACE_XS, side + SPACE_XS * 3 + metrics.horizontalAdvance(badge) + 4)
        pill = QRect(option.rect.x() + SPACE_XS, option.rect.center().y() - side // 2 - 2, width, side + 4)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(bg)
        painter.drawRoundedRect(pill, RADIUS + 2, RADIUS + 2)
        icon_rect = QRect(pill.x() + SPACE_XS + 2, pill.y() + 2, side, side)
        icon(icon_name, fg).paint(painter, icon_rect.adjusted(2, 2, -2, -2))
        painter.setPen(fg)
        text_rect = pill.adjusted(side + SPACE_XS * 2, 0, -SPACE_XS, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(badge, Qt.TextElideMode.ElideRight, text_rect.width()))  # fmt: skip
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + option.fontMetrics.height() + SPACE_S * 2, hint.height())


VISION_MARK = "· Vision"  # after a model's name (My Models, the picker) and a quant's (Discover): it reads images


def scrolling(panel: QWidget) -> QScrollArea:
    """``panel`` in a scroll area fitted to its width: a short window scrolls the panel instead of growing past the
    screen to hold it (a side column at 900×600)."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setFocusProxy(panel)
    area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the panel's fields take the focus, not a frame around them
    area.setMinimumWidth(panel.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    return area
