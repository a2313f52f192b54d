"""Light, dark, or whatever the desktop uses.

"system" asks the platform (Windows, macOS and GNOME/KDE report their colour scheme to Qt).
Light and dark set an explicit Fusion palette too, because not every platform theme honours a
requested colour scheme (X11 without a desktop portal does not).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2e",
    QPalette.ColorRole.WindowText: "#e8e8ea",
    QPalette.ColorRole.Base: "#1e1e21",
    QPalette.ColorRole.AlternateBase: "#34343a",
    QPalette.ColorRole.ToolTipBase: "#3a3a40",
    QPalette.ColorRole.ToolTipText: "#e8e8ea",
    QPalette.ColorRole.PlaceholderText: "#8d8d96",
    QPalette.ColorRole.Text: "#e8e8ea",
    QPalette.ColorRole.Button: "#36363b",
    QPalette.ColorRole.ButtonText: "#e8e8ea",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Link: "#7fb2ff",
    QPalette.ColorRole.Highlight: "#4a7fe0",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Light: "#4a4a50",
    QPalette.ColorRole.Midlight: "#3f3f45",
    QPalette.ColorRole.Mid: "#2f2f34",
    QPalette.ColorRole.Dark: "#202024",
    QPalette.ColorRole.Shadow: "#111113",
}
_DARK_DISABLED = "#75757d"


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DARK_DISABLED))
    return palette


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion everywhere (one look on every OS), in the chosen colour scheme."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    hints = app.styleHints()
    if theme == "dark":
        hints.setColorScheme(Qt.ColorScheme.Dark)
        app.setPalette(dark_palette())
    elif theme == "light":
        hints.setColorScheme(Qt.ColorScheme.Light)
        app.setPalette(app.style().standardPalette())
    else:
        hints.unsetColorScheme()
        app.setPalette(dark_palette() if hints.colorScheme() == Qt.ColorScheme.Dark else app.style().standardPalette())
