"""Images kept in the data folder by their content: ``<data>/images/<first two hex>/<sha256>.<ext>``.

The history keeps an image part (its hash, type, size and name); the bytes live here once, however many messages
show them. Written atomically; read back with the same checks as a new image (a file changed on disk is refused,
never sent).
"""

from __future__ import annotations

import time
from collections.abc import Set
from pathlib import Path

from app.core.atomic import atomic_write_bytes
from app.core.media.images import EXTENSIONS, CheckedImage, ImageRefused, read_image_file
from app.core.prompting.parts import ImagePart

__all__ = ["ImageStore"]


class ImageStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str, mime: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ImageRefused("An image's stored name is not a SHA-256 hash.")
        return self.folder / sha256[:2] / f"{sha256}.{EXTENSIONS.get(mime, 'img')}"

    def put(self, image: CheckedImage) -> ImagePart:
        """Keep ``image`` (once: an image already kept is not written again); the part a message stores."""
        target = self.path(image.sha256, image.mime)
        if not (target.is_file() and target.stat().st_size == len(image.data)):
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, image.data)
        return ImagePart(image.sha256, image.mime, image.width, image.height, image.name)

    def prune(self, keep: Set[str], older_than_s: float = 3600.0) -> int:
        """Delete the kept images no message refers to any more (``keep``: ``ChatStore.image_hashes()``), once they
        are older than ``older_than_s`` (an image attached right now, its message not yet saved, stays); how many."""
        removed, cutoff = 0, time.time() - older_than_s
        for path in self.folder.glob("??/*.*"):
            if len(path.stem) != 64 or path.stem in keep or path.parent.name != path.stem[:2]:
                continue
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    def load(self, part: ImagePart) -> CheckedImage:
        """The image of a stored part; ImageRefused if it is gone or no longer what was stored."""
        path = self.path(part.sha256, part.mime)
        if not path.is_file():
            raise ImageRefused(f"The image {part.name or part.sha256[:12]} is no longer in the data folder.")
        image = read_image_file(path)
        if image.sha256 != part.sha256:
            raise ImageRefused(f"The image {part.name or part.sha256[:12]} changed on disk since it was attached.")
        return image
