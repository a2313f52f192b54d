"""A chat's images as its session holds them: each kept (in the image store, or in memory for a session without
one) before any message names it, and loaded again by its part when a turn sends it."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.chat.items import TurnError
from app.core.history.store import StoreError
from app.core.media.images import CheckedImage
from app.core.media.store import ImageStore
from app.core.prompting.parts import ImagePart, Part


class AttachedImages:
    """The images a session has seen, by hash; ``store`` None: this process's memory only."""

    def __init__(self, store: ImageStore | None) -> None:
        self.store = store
        self._seen: dict[str, CheckedImage] = {}

    def keep(self, images: Sequence[CheckedImage]) -> tuple[Part, ...]:
        """Each image kept before any message refers to it; its part (what a message stores)."""
        parts: list[Part] = []
        for image in images:
            if self.store is not None:
                try:
                    parts.append(self.store.put(image))
                except OSError as exc:
                    raise StoreError(f"The image {image.name} could not be saved ({exc.strerror or exc})") from exc
            else:
                parts.append(ImagePart(image.sha256, image.mime, image.width, image.height, image.name))
            self._seen[image.sha256] = image
        return tuple(parts)

    def load(self, part: ImagePart) -> CheckedImage:
        """The image a message's part names (from memory, else the store); TurnError when it is not here."""
        if part.sha256 not in self._seen:
            if self.store is None:
                raise TurnError(f"The image {part.name or part.sha256[:12]} of this chat is not available here.")
            self._seen[part.sha256] = self.store.load(part)
        return self._seen[part.sha256]
