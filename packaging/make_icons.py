"""Render resources/icons/hermes-studio.svg into the icon files installers need (PNG, ICO, ICNS), with Qt.

python packaging/make_icons.py          # writes build/icons/, packaging/windows/*.ico, packaging/macos/*.icns
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

REPO = Path(__file__).resolve().parents[1]


def render(svg: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    svg.render(painter)
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])
    svg = QSvgRenderer(str(REPO / "resources" / "icons" / "hermes-studio.svg"))
    out = REPO / "build" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for size in (16, 32, 48, 64, 128, 256, 512):
        render(svg, size).save(str(out / f"hermes-studio-{size}.png"))
    ok = render(svg, 256).save(str(REPO / "packaging" / "windows" / "hermes-studio.ico"))
    ok &= render(svg, 512).save(str(REPO / "packaging" / "macos" / "hermes-studio.icns"))
    print(f"icons in {out}" + ("" if ok else " (ICO/ICNS writers missing in this Qt build)"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
