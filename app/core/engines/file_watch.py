"""Notice a loaded model file changed in place under its memory map (issue 28, item 3).

llama.cpp maps the weights of a model loaded with ``use_mmap`` (the default): the pages are read from the file
while tokens are computed. A file *replaced* (a new file renamed over it, as downloads and most copies do) is
harmless: the map keeps the old inode. A file *overwritten in place* (``cp`` onto it, a truncation, an editor
writing into it) changes the mapped pages under the model: garbage weights, or SIGBUS — the process dies — when a
page past the new end of the file is touched.

``FileWatch`` remembers the file's identity at load; the engine asks ``changed_in_place()`` before every
generation and between tokens (a ``stat``: about a microsecond). A change stops the reply with a message and
unloads the model, so a mapped page past the end is never touched after the change is noticed. A truncation that
lands inside one token's computation can still end the process; the reply saved so far is kept (the history's
crash safety) and the next start says which reply was interrupted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ModelFileError


@dataclass(frozen=True)
class FileWatch:
    path: Path
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileWatch:
        found = os.stat(path)
        return cls(path, found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)

    def changed_in_place(self) -> bool:
        """True when the mapped file itself (same inode) was written to or truncated since the load."""
        try:
            found = os.stat(self.path)
        except OSError:
            return False  # deleted or renamed away: the map keeps the old inode alive
        if (found.st_dev, found.st_ino) != (self.device, self.inode):
            return False  # another file now has the name: the map still reads the old one
        return (found.st_size, found.st_mtime_ns) != (self.size, self.mtime_ns)

    def error(self) -> ModelFileError:
        return ModelFileError(
            f"{self.path.name} was changed on disk while it was loaded, so the loaded model can no longer be "
            "trusted (its weights are read from the file as it runs). It was unloaded: load it again. To update a "
            "model file safely, copy the new one beside it and rename it over the old one, or eject the model first."
        )
