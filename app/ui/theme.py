"""Light, dark, or whatever the desktop uses; the app's colours, spacing scale and icons.

"system" asks the platform (Windows, macOS and GNOME/KDE report their colour scheme to Qt).
Light and dark set an explicit Fusion palette too, because not every platform theme honours a
requested colour scheme (X11 without a desktop portal does not). Both palettes are spelled out here
so their text contrast can be computed (WCAG AA: 4.5:1 for every text role on its background).

Icons are Lucide's (resources/icons, ISC licence in LICENSE-lucide.txt), drawn in the palette's text
colour when they are painted, so they follow a theme change without being set again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.resource_files import icon_path

if TYPE_CHECKING:
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QIcon

# (``Qt``, QEvent and the icons' types are imported where they are used: PySide6 builds the ``Qt`` namespace's 93 enum
# classes on its first use, ~15 ms of the cold start, and the first paint has no icon to draw; issue 20, part 4)

W = TypeVar("W", bound=QWidget)

# The spacing scale: every margin and gap of the window is one of these (px).
SPACE_XS, SPACE_S, SPACE_M, SPACE_L, SPACE_XL = 4, 8, 12, 16, 24
RADIUS = 6
ICON_SIZE = 18  # toolbar and rail icons

_LIGHT = {
    "Window": "#f3f3f5",
    "WindowText": "#1d1d21",
    "Base": "#ffffff",
    "AlternateBase": "#f6f6f8",
    "ToolTipBase": "#ffffff",
    "ToolTipText": "#1d1d21",
    "PlaceholderText": "#5f5f68",
    "Text": "#1d1d21",
    "Button": "#e9e9ed",
    "ButtonText": "#1d1d21",
    "BrightText": "#b3261e",
    "Link": "#1a5fb4",
    "Highlight": "#2c64c8",
    "HighlightedText": "#ffffff",
    "Light": "#ffffff",
    "Midlight": "#e3e3e7",
    "Mid": "#c4c4ca",
    "Dark": "#9e9ea6",
    "Shadow": "#6b6b72",
}
_LIGHT_DISABLED = "#8a8a93"

_DARK = {
    "Window": "#2b2b2e",
    "WindowText": "#e8e8ea",
    "Base": "#1e1e21",
    "AlternateBase": "#34343a",
    "ToolTipBase": "#3a3a40",
    "ToolTipText": "#e8e8ea",
    "PlaceholderText": "#a3a3ad",
    "Text": "#e8e8ea",
    "Button": "#36363b",
    "ButtonText": "#e8e8ea",
    "BrightText": "#ff8a80",
    "Link": "#8fbcff",
    "Highlight": "#3a6ccc",
    "HighlightedText": "#ffffff",
    "Light": "#4a4a50",
    "Midlight": "#3f3f45",
    "Mid": "#2f2f34",
    "Dark": "#202024",
    "Shadow": "#111113",
}
_DARK_DISABLED = "#7c7c85"

# Text roles and the backgrounds they are drawn on (the WCAG check walks these).
TEXT_PAIRS = (
    ("WindowText", "Window"),
    ("Text", "Base"),
    ("Text", "AlternateBase"),
    ("ButtonText", "Button"),
    ("ToolTipText", "ToolTipBase"),
    ("HighlightedText", "Highlight"),
    ("PlaceholderText", "Base"),
    ("PlaceholderText", "Window"),  # secondary text on the window (notes, the machine line)
    ("Link", "Base"),
    ("Link", "Window"),
)

# Colours with a meaning, per scheme: (foreground, background) pairs, each checked for contrast too.
SEMANTIC = {
    "light": {
        "error": ("#7a1420", "#fbe3e4"),
        "error_border": ("#e3a1a8", "#fbe3e4"),
        "warning": ("#7a4a00", "#fff1d6"),
        "fit_full": ("#1b6b2e", "#e2f3e6"),
        "fit_partial": ("#164f9e", "#e1ecfb"),
        "fit_cpu": ("#5d4037", "#efe7e3"),
        "fit_too_large": ("#a1221b", "#fbe4e2"),
        "recommended": ("#1d1d21", "#fff2c2"),
        "badge": ("#ffffff", "#2c64c8"),
        "loaded": ("#1b6b2e", "#ffffff"),
        "fired": ("#1b6b2e", "#e2f3e6"),  # a lorebook entry that fires (the Lorebooks page's Test box)
        "card_book": ("#6a2c91", "#f1e7f8"),  # a lorebook that belongs to a character card
    },
    "dark": {
        "error": ("#ffd9dc", "#4a1f24"),
        "error_border": ("#8a3a44", "#4a1f24"),
        "warning": ("#ffd27a", "#3d3120"),
        "fit_full": ("#8fe0a0", "#1f3a26"),
        "fit_partial": ("#a9c9ff", "#1f2e4a"),
        "fit_cpu": ("#e0c4b6", "#3a2f2a"),
        "fit_too_large": ("#ffaaa3", "#4a2220"),
        "recommended": ("#f3e6b8", "#4a3f1a"),
        "badge": ("#ffffff", "#3a6ccc"),
        "loaded": ("#8fe0a0", "#1e1e21"),
        "fired": ("#8fe0a0", "#1f3a26"),
        "card_book": ("#dcb8ff", "#33264a"),
    },
}


def palette_colors(scheme: str) -> dict[str, str]:
    """The palette of "light" or "dark", role name -> colour."""
    return dict(_DARK if scheme == "dark" else _LIGHT)


def _palette(colors: dict[str, str], disabled: str) -> QPalette:
    palette = QPalette()
    for role_name, color in colors.items():
        palette.setColor(getattr(QPalette.ColorRole, role_name), QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return palette


def dark_palette() -> QPalette:
    return _palette(_DARK, _DARK_DISABLED)


def light_palette() -> QPalette:
    return _palette(_LIGHT, _LIGHT_DISABLED)


FUSION_PROPERTY = "hermesFusion"  # set on an application created with the Fusion style (``fusion_arguments``)


def fusion_arguments(argv: list[str]) -> list[str]:
    """``argv`` for a new QApplication that starts in Fusion: asking the style afterwards (``app.style()``) makes
    PySide6 build the QStyle type, ~6–10 ms of the cold start (issue 20, part 4). ``-style`` outranks
    $QT_STYLE_OVERRIDE, as ``setStyle`` does."""
    return [*argv[:1], "-style", "Fusion", *argv[1:]]


def apply_theme(app: QApplication, theme: str, remembered: Path | None = None) -> None:
    """Fusion everywhere (one look on every OS), in the chosen colour scheme.

    ``remembered``: a file holding the desktop's scheme as last seen ("dark" or "light"). For "system", the palette is
    then set from it without asking the desktop now: reading its answer makes PySide6 build the ``Qt`` namespace's 93
    enum classes, ~15 ms of the cold start (issue 20, part 4). ``confirm_scheme``, in the first turn after the first
    paint, asks, follows a scheme changed since, and remembers it."""
    if app.property(FUSION_PROPERTY) is not True and app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    hints = app.styleHints()
    if theme in ("dark", "light"):
        from PySide6.QtCore import Qt

        hints.setColorScheme(Qt.ColorScheme.Dark if theme == "dark" else Qt.ColorScheme.Light)
        app.setPalette(dark_palette() if theme == "dark" else light_palette())
        return
    hints.unsetColorScheme()
    last = _remembered_scheme(remembered)
    if last:
        app.setPalette(dark_palette() if last == "dark" else light_palette())  # confirmed after the first paint
    else:
        confirm_scheme(app, remembered)


def confirm_scheme(app: QApplication, remembered: Path | None = None) -> None:
    """The "system" theme: the palette of the scheme the desktop reports now; remembered for the next start."""
    from PySide6.QtCore import Qt

    now = "dark" if app.styleHints().colorScheme() == Qt.ColorScheme.Dark else "light"
    wanted = dark_palette() if now == "dark" else light_palette()
    if app.palette() != wanted:
        app.setPalette(wanted)
    if remembered is not None and _remembered_scheme(remembered) != now:
        try:
            remembered.parent.mkdir(parents=True, exist_ok=True)
            remembered.write_text(now, encoding="utf-8")
        except OSError:
            pass  # (only the next start's first paint is slower: it asks the desktop again)


def _remembered_scheme(remembered: Path | None) -> str:
    if remembered is None:
        return ""
    try:
        text = remembered.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text in ("dark", "light") else ""


# reading the palette
def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def scheme(palette: QPalette | None = None) -> str:
    return "dark" if is_dark(palette) else "light"


def color(name: str, palette: QPalette | None = None, *, background: bool = False) -> QColor:
    """A semantic colour ("error", "fit_full"…) of the scheme now shown."""
    foreground, back = SEMANTIC[scheme(palette)][name]
    return QColor(back if background else foreground)


def secondary_text_css(palette: QPalette | None = None) -> str:
    """A style sheet for secondary text, in the colours of the theme shown NOW: it does not follow a theme change.

    Prefer ``secondary_text(widget)``, which reads the palette when the text is painted.
    """
    palette = palette or QGuiApplication.palette()
    return f"color: {palette.color(QPalette.ColorRole.PlaceholderText).name()};"


def secondary_text(widget: W) -> W:
    """Secondary text (a description, a note, a summary) that still meets 4.5:1 in either theme: the palette's
    PlaceholderText role, read when the text is painted, so a theme switched while running reaches it too."""
    widget.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return widget


class _Tone(QObject):
    """Keeps a widget's text in a semantic colour of the scheme shown, again at every palette change."""

    def __init__(self, widget: QWidget, name: str) -> None:
        super().__init__(widget)
        self.name = name
        widget.installEventFilter(self)
        self.apply(widget)

    def apply(self, widget: QWidget) -> None:
        wanted = color(self.name, QGuiApplication.palette())
        palette = widget.palette()
        if palette.color(QPalette.ColorRole.WindowText) == wanted and palette.color(QPalette.ColorRole.Text) == wanted:
            return  # (setting a palette sends a palette change: no loop)
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text):
            palette.setColor(role, wanted)
        widget.setPalette(palette)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        from PySide6.QtCore import QEvent

        if event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange) and isinstance(
            watched, QWidget
        ):
            self.apply(watched)
        return False


def tone(widget: W, name: str) -> W:
    """Text in a semantic colour ("error", "warning"…) that follows the theme, also one switched while running."""
    _Tone(widget, name)
    return widget


# WCAG 2.x contrast
def relative_luminance(value: str | QColor) -> float:
    c = QColor(value)

    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast_ratio(foreground: str | QColor, background: str | QColor) -> float:
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def contrast_report(scheme_name: str) -> dict[str, float]:
    """Every text role and semantic pair of a scheme, with its contrast ratio."""
    colors = palette_colors(scheme_name)
    report = {f"{fg} on {bg}": contrast_ratio(colors[fg], colors[bg]) for fg, bg in TEXT_PAIRS}
    for name, (fg, bg) in SEMANTIC[scheme_name].items():
        if name == "error_border":
            continue  # a border, not text
        report[name] = contrast_ratio(fg, bg)
        if name.startswith("fit_") or name in ("warning", "fired", "card_book"):  # also drawn on lists' Base
            report[f"{name} on Base"] = contrast_ratio(fg, colors["Base"])
    return report


# icons (drawn by app/ui/theme_icons.py, imported with the first icon: its QtSvg, QPainter and QIconEngine types are
# no part of the first paint)
def icon(name: str, fixed_color: str | QColor | None = None) -> QIcon:
    """A bundled icon by its Lucide name ("download", "triangle-alert"…); null if there is no such file."""
    from PySide6.QtGui import QIcon

    if not icon_path(name).is_file():
        return QIcon()
    from app.ui.theme_icons import PaletteIconEngine

    fixed = QColor(fixed_color).name() if fixed_color is not None else None
    return QIcon(PaletteIconEngine(name, fixed))  # the icon owns its engine
