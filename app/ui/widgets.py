"""Small widgets shared by the window's parts (the chat's own are in ``app/ui/chat``, the Hub's in ``app/ui/hub``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, Qt, QUrl
from PySide6.QtGui import (
    QDesktopServices,
    QIcon,
    QPainter,
    QPalette,
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
    QTabBar,
    QTableView,
    QTextEdit,
    QToolButton,
    QWidget,
)

from app.ui.theme import RADIUS, SPACE_S, SPACE_XS, color, icon, scheme

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
