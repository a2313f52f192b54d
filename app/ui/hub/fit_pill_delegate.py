"""The fit column's pill (Discover): a tinted rounded rectangle with an icon and the fit badge's words."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.ui.theme import RADIUS, SPACE_S, SPACE_XS, color, icon

_Index = QModelIndex | QPersistentModelIndex

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
