"""Files the user names, opened and written safely (issue 28, items 7, 8, 10, 25).

Reading: only regular files, opened without blocking (a FIFO named ``x.gguf`` or ``x.json`` would otherwise wait
forever for a writer), and never more than a limit (``/dev/zero`` or a ``/proc`` file that claims size 0 would
otherwise be read until memory runs out). Writing: only to a new path or over a regular file, atomically; never
over a device, a FIFO, a socket, a folder or a symbolic link (``presets export X /dev/null`` must not replace
``/dev/null``). The refusals are ``OSError``\\ s with a message for people in ``strerror``, so the callers' existing
``except OSError`` paths report them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from app.core.atomic import atomic_write_bytes

MAX_NAME = 255  # bytes in one file name: the limit of ext4, APFS, NTFS


class RefusedFile(OSError):
    """A path that is not a regular file, or too large, or not writable as one."""

    def __init__(self, path: Path, why: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, why, str(path))


def _kind(mode: int) -> str:
    for test, word in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (following links); never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RefusedFile(
                path, f"{_kind(mode)}, not a regular file", errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (read no further than that, whatever its size says)."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RefusedFile(path, f"larger than the {limit / 1e6:,.0f} MB accepted", errno.EFBIG)
    return data


def check_writable_target(path: Path) -> None:
    """Refuse a destination that is not a new path or a regular file, or whose name no file system takes."""
    if not path.name or path.name in (".", ".."):
        raise RefusedFile(path, "a folder, not a file name", errno.EISDIR)
    if len(os.fsencode(path.name)) > MAX_NAME:
        raise RefusedFile(path, f"a file name longer than {MAX_NAME} bytes", errno.ENAMETOOLONG)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise RefusedFile(path, f"{_kind(mode)}: only a new file or a regular file is replaced", errno.EEXIST)


def write_user_file(path: Path, data: bytes) -> None:
    """Write a file the user named: checked (``check_writable_target``), then atomic."""
    check_writable_target(path)
    atomic_write_bytes(path, data)
