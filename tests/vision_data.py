"""The tiny vision model (tests/data/vision, made by scripts/make_tiny_vision_model.py) and test pictures."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
VISION_DIR = REPO / "tests" / "data" / "vision"
TINY_VISION = VISION_DIR / "tiny-vision.gguf"
TINY_PROJECTOR = VISION_DIR / "mmproj-tiny-vision.gguf"


def maker() -> ModuleType:
    """scripts/make_tiny_vision_model.py as a module (write_projector for mismatched and audio-only projectors)."""
    spec = importlib.util.spec_from_file_location("make_tiny_vision_model", REPO / "scripts/make_tiny_vision_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def red_sun() -> bytes:
    picture = Image.new("RGB", (96, 80), (220, 30, 30))
    ImageDraw.Draw(picture).ellipse((10, 10, 60, 60), fill=(255, 255, 0))
    return png(picture)


def blue_field() -> bytes:
    picture = Image.new("RGB", (64, 64), (20, 40, 200))
    ImageDraw.Draw(picture).rectangle((0, 32, 64, 64), fill=(0, 200, 0))
    return png(picture)


def pair_folder(folder: Path, projector: Path | None = TINY_PROJECTOR) -> Path:
    """``folder`` holding (links to) the tiny model and ``projector`` (None: the model alone); the model's path."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / TINY_VISION.name
    model.symlink_to(TINY_VISION)
    if projector is not None:
        (folder / projector.name).symlink_to(projector.resolve())
    return model
