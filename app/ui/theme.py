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
    "Window": "#2b2b2e",
    "WindowText": "#e8e8ea",
    "Base": "#1e1e21",
    "AlternateBase": "#34343a",
    "ToolTipBase": "#3a3a40",
    "ToolTipText": "#e8e8ea",
    "PlaceholderText": "#8d8d96",
    "Text": "#e8e8ea",
    "Button": "#36363b",
    "ButtonText": "#e8e8ea",
    "BrightText": "#ff6b6b",
    "Link": "#7fb2ff",
    "Highlight": "#4a7fe0",
    "HighlightedText": "#ffffff",
    "Light": "#4a4a50",
    "Midlight": "#3f3f45",
    "Mid": "#2f2f34",
    "Dark": "#202024",
    "Shadow": "#111113",
}
_DARK_DISABLED = "#75757d"


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _DARK.items():
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(color))
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
