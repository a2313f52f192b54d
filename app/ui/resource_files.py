"""Where a bundled resource is: this checkout's resources/, else the installed (or frozen) package's
(``app.resources``). No Qt: the theme asks whether an icon exists before it imports the icon engine
(app/ui/theme_icons.py), and the start path reads the app's icon without ``importlib.resources`` (a few ms)."""

from __future__ import annotations

from pathlib import Path

_SOURCE_RESOURCES = Path(__file__).resolve().parents[2] / "resources"  # a source checkout


def resource_file(*parts: str) -> Path:
    """A file under resources/ (the package ``app.resources``), from a checkout, installed, editable or frozen."""
    source = _SOURCE_RESOURCES.joinpath(*parts)
    if source.exists():
        return source
    from importlib import resources

    return Path(str(resources.files("app.resources").joinpath(*parts)))


def icon_path(name: str) -> Path:
    """A bundled icon's SVG, by its Lucide name."""
    return resource_file("icons", f"{name}.svg")
