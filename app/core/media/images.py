"""Every image that enters the app is checked here first, and only here: the window, the CLI and the server call it.

The bounds (issue 21's hostile inputs), each refused with a message for people before anything reaches the
engine or the history: more than ``MAX_BYTES`` (20 MB), empty, an SVG drawing or anything that is not a PNG, JPEG,
GIF, WebP or BMP (whatever its name says), a decompression bomb (more than ``MAX_PIXELS`` pixels: Pillow reads only
the header to know; its own ``DecompressionBombError`` is caught too), a damaged or truncated file (decoded in full
once, here). Accepted with a note: an animated GIF (the model sees its first frame). An EXIF-rotated JPEG is turned
upright (its width and height are the upright ones).

An image that is ``plain`` (an opaque, upright PNG, JPEG, GIF or BMP) goes to the engine as its bytes, which mtmd's
own decoder reads (checked here first, so it never sees a hostile file); ``decode_rgb`` gives the engine the others
(EXIF-rotated, transparent, WebP) as upright RGB pixels. mtmd's own preprocessing then resizes either the way the
projector was trained.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import HermesError
from app.core.files import read_regular
from app.core.prompting.media import ImageInput

__all__ = [
    "MAX_BYTES",
    "MAX_PIXELS",
    "CheckedImage",
    "DecodedImage",
    "ImageRefused",
    "check_image",
    "decode_rgb",
    "parse_data_url",
    "read_image_file",
]

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 8,000 × 6,000 photo passes; a 20,000 × 20,000 PNG (400 MP) does not
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp"}
_FORMATS_SAID = "PNG, JPEG, GIF, WebP or BMP"


class ImageRefused(HermesError):
    """An image that cannot be attached, and why (for people)."""


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed every bound: its bytes as given, and what they hold."""

    data: bytes
    sha256: str
    mime: str
    width: int  # upright (after the EXIF orientation)
    height: int
    name: str = ""
    note: str = ""  # what the user should know ("an animated GIF: the model sees its first frame")
    plain: bool = False  # opaque, upright PNG/JPEG/GIF/BMP: mtmd's own decoder reads the bytes as they are

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime]


@dataclass(frozen=True)
class DecodedImage:
    width: int
    height: int
    rgb: bytes  # width × height × 3 bytes, row by row


def _said(name: str) -> str:
    return name or "The image"


def check_image(data: bytes, name: str = "") -> CheckedImage:
    """``data`` checked against every bound (see the module); raises ImageRefused."""
    who = _said(name)
    if len(data) > MAX_BYTES:
        raise ImageRefused(f"{who} is {len(data) / 1e6:,.1f} MB; images of up to {MAX_BYTES // 2**20} MB can be sent.")
    if not data:
        raise ImageRefused(f"{who} is empty.")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head:
        raise ImageRefused(f"{who} is an SVG drawing, which models cannot read: export it as a PNG first.")
    from PIL import Image, UnidentifiedImageError  # Pillow loads with the first image, not at the app's start

    try:
        with Image.open(io.BytesIO(data), formats=list(MIME_TYPES)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _bomb(who, width, height)
            kind, frames = str(image.format), int(getattr(image, "n_frames", 1))
            orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation: 5 to 8 swap width and height
            image.load()  # every pixel of the first frame decoded once: a damaged or cut-short file says so here
            transparent = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
            plain = kind in ("PNG", "JPEG", "GIF", "BMP") and orientation == 1 and not transparent
    except Image.DecompressionBombError:
        raise ImageRefused(
            f"{who} is too large in pixels (a decompression bomb?); images of up to {MAX_PIXELS / 1e6:,.0f} million "
            "pixels can be sent."
        ) from None
    except UnidentifiedImageError:
        raise ImageRefused(f"{who} is not an image this app can read (a {_FORMATS_SAID} file).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # Pillow's words for a damaged or truncated file
        raise ImageRefused(f"{who} is damaged or cut short and cannot be read ({exc}).") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    mime = MIME_TYPES[kind]
    note = f"{who} is animated ({frames} frames): the model sees its first frame." if frames > 1 else ""
    return CheckedImage(data, hashlib.sha256(data).hexdigest(), mime, width, height, name, note, plain)


def _bomb(who: str, width: int, height: int) -> ImageRefused:
    return ImageRefused(
        f"{who} is {width:,} × {height:,} pixels ({width * height / 1e6:,.0f} million): too large to decode safely; "
        f"images of up to {MAX_PIXELS / 1e6:,.0f} million pixels can be sent."
    )


def read_image_file(path: str | Path) -> CheckedImage:
    """A file the user named, read no further than ``MAX_BYTES`` and checked; raises ImageRefused."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageRefused(
                f"{path.name} is {size / 1e6:,.1f} MB; images of up to {MAX_BYTES // 2**20} MB can be sent."
            )
        data = read_regular(path, MAX_BYTES)
    except ImageRefused:
        raise
    except OSError as exc:
        raise ImageRefused(f"{path} cannot be read ({exc.strerror or exc}).") from None
    return check_image(data, path.name)


def parse_data_url(url: str, name: str = "") -> CheckedImage:
    """An OpenAI ``image_url`` of the form ``data:image/png;base64,…``, decoded and checked; raises ImageRefused."""
    head, comma, payload = url.partition(",")
    if not url.startswith("data:") or not comma or ";base64" not in head:
        raise ImageRefused("An image URL must be a base64 data: URL (data:image/png;base64,...).")
    if len(payload) > MAX_BYTES * 4 // 3 + 4:
        raise ImageRefused(f"The image is larger than {MAX_BYTES // 2**20} MB.")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageRefused("The image's data: URL is not valid base64.") from None
    return check_image(data, name)


def decode_rgb(image: ImageInput) -> DecodedImage:
    """The upright first frame as RGB (transparency laid on white), for the engine."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(image.data), formats=list(MIME_TYPES)) as opened:
        opened.seek(0)
        upright = ImageOps.exif_transpose(opened) if opened.getexif().get(0x0112, 1) != 1 else opened
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")
            canvas = Image.new("RGB", rgba.size, (255, 255, 255))
            canvas.paste(rgba, mask=rgba.getchannel("A"))
            rgb = canvas
        else:
            rgb = upright.convert("RGB")
        return DecodedImage(rgb.width, rgb.height, rgb.tobytes())
