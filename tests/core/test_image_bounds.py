"""Every hostile image of issue 21 gets a clear message before the engine or the history sees it (media.images)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.core.media.images import MAX_BYTES, ImageRefused, check_image, decode_rgb, parse_data_url, read_image_file
from app.core.media.store import ImageStore
from app.core.prompting.parts import ImagePart, OtherPart, parts_from_json, parts_to_json
from tests.vision_data import png, red_sun


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that says it is ``width`` × ``height`` (a decompression bomb's header: a few hundred bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_a_plain_png_passes_with_its_size_type_and_hash() -> None:
    image = check_image(red_sun(), "red.png")
    assert (image.width, image.height, image.mime, image.extension, image.note) == (96, 80, "image/png", "png", "")
    assert len(image.sha256) == 64
    decoded = decode_rgb(image)
    assert (decoded.width, decoded.height, len(decoded.rgb)) == (96, 80, 96 * 80 * 3)
    assert decoded.rgb[:3] == bytes((220, 30, 30))


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(ImageRefused, match=r"bomb.png is too large in pixels \(a decompression bomb\?\)"):
        check_image(png_header_only(20000, 20000), "bomb.png")  # Pillow's own DecompressionBombError
    with pytest.raises(ImageRefused, match=r"wide.png is 8,000 × 7,500 pixels \(60 million\): too large"):
        check_image(png_header_only(8000, 7500), "wide.png")  # under Pillow's limit, over the app's


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "is an SVG drawing"),
        (b"<svg width='10' height='10'></svg>", "is an SVG drawing"),
        (b"hello, I am text with a .png name", "is not an image this app can read"),
        (b"", "is empty"),
        (b"%PDF-1.4 not an image", "is not an image this app can read"),
    ],
)
def test_what_is_not_an_image_is_refused_whatever_its_name(data: bytes, said: str) -> None:
    with pytest.raises(ImageRefused, match=f"picture.png {said}"):
        check_image(data, "picture.png")


def test_a_truncated_or_corrupt_image_is_refused() -> None:
    whole = png(Image.effect_noise((200, 200), 64).convert("RGB"))
    with pytest.raises(ImageRefused, match=r"cut\.png is damaged or cut short"):
        check_image(whole[: len(whole) // 2], "cut.png")
    corrupt = bytearray(whole)
    corrupt[100:140] = b"\xff" * 40
    with pytest.raises(ImageRefused, match="damaged"):
        check_image(bytes(corrupt), "corrupt.png")


def test_an_attachment_over_20_mb_is_refused_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(ImageRefused, match=r"big.png is 21.0 MB; images of up to 20 MB"):
        check_image(b"\x89PNG" + b"\0" * (MAX_BYTES + 1000), "big.png")
    sparse = tmp_path / "fifty.png"
    with sparse.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # never read: its size says enough
    with pytest.raises(ImageRefused, match=r"fifty.png is 52.4 MB"):
        read_image_file(sparse)


def test_an_animated_gif_is_accepted_with_a_note_and_its_first_frame_sent() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = check_image(buffer.getvalue(), "spin.gif")
    assert image.mime == "image/gif"
    assert image.note == "spin.gif is animated (3 frames): the model sees its first frame."
    first = decode_rgb(image).rgb[:3]
    assert first[0] > 200 and first[1] < 50 and first[2] < 50


def test_an_exif_rotated_jpeg_is_turned_upright() -> None:
    wide = Image.new("RGB", (40, 20), (0, 0, 0))
    wide.paste((255, 255, 255), (0, 0, 20, 20))  # the left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    buffer = io.BytesIO()
    wide.save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    image = check_image(buffer.getvalue(), "phone.jpg")
    assert (image.width, image.height, image.mime) == (20, 40, "image/jpeg")
    decoded = decode_rgb(image)
    assert (decoded.width, decoded.height) == (20, 40)
    top, bottom = decoded.rgb[: 3 * 20], decoded.rgb[-3 * 20 :]
    assert sum(top) / len(top) > 200 and sum(bottom) / len(bottom) < 50  # the white half is on top


def test_transparency_is_laid_on_white() -> None:
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert decode_rgb(check_image(png(clear))).rgb[:3] == b"\xff\xff\xff"


def test_data_urls() -> None:
    url = "data:image/png;base64," + base64.b64encode(red_sun()).decode()
    assert parse_data_url(url).sha256 == check_image(red_sun()).sha256
    for bad, said in (("https://example.com/cat.png", "must be a base64 data: URL"),
                      ("data:image/png,rawbytes", "must be a base64 data: URL"),
                      ("data:image/png;base64,@@@@", "not an image|not valid base64")):  # fmt: skip
        with pytest.raises(ImageRefused, match=said):
            parse_data_url(bad)


def test_the_store_keeps_an_image_once_by_content_and_notices_a_change(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    image = check_image(red_sun(), "red.png")
    part = store.put(image)
    assert store.put(image) == part
    assert part == ImagePart(image.sha256, "image/png", 96, 80, "red.png")
    assert [p.name for p in (tmp_path / "images").rglob("*.png")] == [f"{image.sha256}.png"]
    assert store.load(part).data == image.data
    store.path(part.sha256, part.mime).write_bytes(png(Image.new("RGB", (4, 4))))
    with pytest.raises(ImageRefused, match="changed on disk"):
        store.load(part)
    store.path(part.sha256, part.mime).unlink()
    with pytest.raises(ImageRefused, match="no longer in the data folder"):
        store.load(part)
    with pytest.raises(ImageRefused, match="not a SHA-256"):
        store.path("../../etc/passwd", "image/png")


def test_an_image_part_round_trips_and_a_damaged_one_is_kept_as_stored() -> None:
    part = ImagePart("a" * 64, "image/png", 3, 4, "x.png")
    assert parts_from_json(parts_to_json((part,))) == ((part,), "")
    damaged, _ = parts_from_json('[{"type": "image", "sha256": 5}]')
    assert damaged == (OtherPart("image", {"sha256": 5}),)
