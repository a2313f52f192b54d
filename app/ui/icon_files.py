"""Where a bundled icon's SVG is: this checkout's resources/icons, else the installed (or frozen) package's. No Qt:
the theme asks whether an icon exists before it imports the icon engine (app/ui/theme_icons.py), which reads it."""

from __future__ import annotations

from pathlib import Path

_SOURCE_ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"  # a source checkout


def icon_path(name: str) -> Path:
    """The icon's SVG: this checkout's resources/icons, else the installed (or frozen) package's."""
    if _SOURCE_ICONS.is_dir():
        return _SOURCE_ICONS / f"{name}.svg"
    from importlib import resources

    return Path(str(resources.files("app.resources").joinpath("icons", f"{name}.svg")))
