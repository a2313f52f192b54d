"""Card portraits are decoded bounded and once (issue 28, item 17).

Before: a 200 KB card PNG of 8000×8000 pixels cost the window ~245 MB and seconds of CPU on every decode (here
6.5 s; the issue measured 0.75 s on a quiet machine), and the persona picker decoded every avatar on every
refresh. Now the header is read first (an image above 4096×4096 is not decoded: the colour disc shows), and
a decoded avatar is kept by its hash.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage

from app.core.personas.presets import builtin_presets
from app.ui import avatars
from app.ui.avatars import avatar_icon

ROOT = Path(__file__).resolve().parents[2]


def solid_png(width: int, height: int) -> bytes:
    """A PNG of one colour, written row by row (an 8000×8000 one is ~190 KB and never exists unpacked here)."""
    row = b"\x00" + b"\x33\x66\x99" * width
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def png_of(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


@pytest.fixture(autouse=True)
def _fresh_cache():
    avatars.clear_cache()
    yield
    avatars.clear_cache()


def test_an_avatar_is_decoded_once(qapp, monkeypatch: pytest.MonkeyPatch) -> None:
    image = QImage(300, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("#aa3300"))
    portrait = png_of(image)
    decodes: list[int] = []
    real = avatars.decode
    monkeypatch.setattr(avatars, "decode", lambda png, size: decodes.append(size) or real(png, size))
    preset = replace(builtin_presets()[0], avatar_png=portrait)
    for _ in range(3):  # the picker's refreshes, the editor's colour button
        icon = avatar_icon(preset, 20)
    other = replace(builtin_presets()[1], avatar_png=portrait)  # another card, the same image
    avatar_icon(other, 20)
    assert decodes == [20]
    shown = icon.pixmap(20, 20).toImage()
    assert shown.width() == 20 and shown.height() <= 14  # scaled to fit, its shape kept
    assert shown.pixelColor(10, shown.height() // 2) == QColor("#aa3300")
    avatar_icon(preset, 32)
    assert decodes == [20, 32]  # another size is another decode, once too


def test_a_huge_portrait_is_not_decoded(qapp) -> None:
    huge = solid_png(8000, 8000)
    assert len(huge) < 400_000  # a small card that unpacks to 256 MB
    assert avatars.avatar_pixmap(huge, 20) is None
    icon = avatar_icon(replace(builtin_presets()[0], avatar_png=huge), 20)
    assert not icon.isNull()  # the colour disc with the initial
    fits = solid_png(4096, 4096)
    assert avatars.avatar_pixmap(fits, 20) is not None  # the limit itself still decodes


MEASURE = """
import json, resource, sys, time
from dataclasses import replace
from PySide6.QtWidgets import QApplication
from app.core.personas.presets import builtin_presets
from app.ui.avatars import avatar_icon
app = QApplication([])
preset = replace(builtin_presets()[0], avatar_png=open(sys.argv[1], "rb").read())
avatar_icon(builtin_presets()[0], 20)  # Qt's painting set up before the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.process_time()
for _ in range(10):
    avatar_icon(preset, 20)
cpu = time.process_time() - started
print(json.dumps({"grown_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, "cpu_s": cpu}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="ru_maxrss")
def test_ten_huge_portraits_cost_no_memory(tmp_path: Path) -> None:
    """In a fresh process (the peak RSS is the process's own): ten icons of an 8000×8000 avatar. Before, each
    decode peaked at ~245 MB more; now the peak does not move by more than a few MB."""
    card = tmp_path / "huge.png"
    card.write_bytes(solid_png(8000, 8000))
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(card)], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n10 icons of an 8000x8000 avatar: peak RSS +{figures['grown_mib']:.1f} MiB, {figures['cpu_s']:.3f} s CPU")
    assert figures["grown_mib"] < 32, figures
