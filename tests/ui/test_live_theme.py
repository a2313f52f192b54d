"""Issue 25, defect 4: a theme switched while the app runs reaches every label: each colour comes from the palette
when it is painted, so every label of the window meets WCAG AA (4.5:1) after a live switch, both ways."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from app.ui import theme


def background(widget: QWidget) -> QColor:
    """What a widget's text is drawn on: the first ancestor (or itself) that fills its background, else its window."""
    current: QWidget | None = widget
    while current is not None:
        if current.autoFillBackground() or current.testAttribute(Qt.WidgetAttribute.WA_StyledBackground):
            return current.palette().color(current.backgroundRole())
        if current.isWindow():
            return current.palette().color(QPalette.ColorRole.Window)
        current = current.parentWidget()
    return QApplication.palette().color(QPalette.ColorRole.Window)


def low_contrast_labels(root: QWidget) -> list[str]:
    failing = []
    for label in root.findChildren(QLabel):
        if not (label.isVisibleTo(root) and label.isEnabled() and label.text().strip()):
            continue
        label.ensurePolished()
        fg = label.palette().color(label.foregroundRole())
        bg = background(label)
        ratio = theme.contrast_ratio(fg, bg)
        if ratio < 4.5:
            failing.append(f"{label.text()[:40]!r}: {fg.name()} on {bg.name()} = {ratio:.2f}")
    return failing


def test_every_label_meets_wcag_aa_after_a_live_theme_switch(qtbot, qapp, window) -> None:
    from app.ui.settings_dialog import SettingsDialog

    try:
        window.settings_store.update(theme="light")
        pages = [window.hub.page(name) for name in ("discover", "models", "downloads", "server", "lorebooks")]
        pages[-1].say("A refused file: the message line in the error colour.")
        dialog = SettingsDialog(window.settings, window.paths.default_models_dir, window)
        qtbot.addWidget(dialog)
        assert window.persona.description.text()  # the persona's description, secondary text
        for scheme in ("dark", "light", "dark"):
            window.settings_store.update(theme=scheme)  # as Settings → Theme does, while everything is built
            # the palette reaches the widgets through the event loop
            qtbot.waitUntil(lambda scheme=scheme: theme.scheme(window.palette()) == scheme)
            failing = []
            for page in pages:
                window.stack.setCurrentWidget(page)
                failing += low_contrast_labels(page)
            window.stack.setCurrentIndex(0)
            failing += low_contrast_labels(window)
            dialog.show()
            failing += low_contrast_labels(dialog)
            dialog.hide()
            assert not failing, (scheme, failing)
            secondary = window.persona.description.palette().color(window.persona.description.foregroundRole())
            assert secondary == QColor(theme.palette_colors(scheme)["PlaceholderText"])
    finally:
        theme.apply_theme(qapp, "system")


def test_the_downloads_badge_follows_a_live_theme_switch(qapp) -> None:
    """The rail's Downloads icon with its count was drawn once, in the theme of the moment (white on light)."""
    from app.ui.widgets import badge_icon

    badged = badge_icon("download", 2)

    def darkest_stroke() -> int:
        image = badged.pixmap(36, 36).toImage()
        strokes = [
            image.pixelColor(x, y).lightness()
            for x in range(0, 14)  # the icon's lower left, away from the disc
            for y in range(20, 36)
            if image.pixelColor(x, y).alpha() > 200
        ]
        assert strokes
        return min(strokes)

    try:
        theme.apply_theme(qapp, "dark")
        assert darkest_stroke() > 150  # light strokes on dark
        theme.apply_theme(qapp, "light")
        assert darkest_stroke() < 80  # the same icon, now dark on light
    finally:
        theme.apply_theme(qapp, "system")
