"""Settings and presets when the disk fills up mid-write, and a settings file that cannot be read."""

from __future__ import annotations

import errno
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from app.core import atomic
from app.core.personas.presets import PresetError, PresetLibrary
from app.core.settings import Settings, load_settings, save_settings
from tests.faults.conftest import ROOT, app_command


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write fails with ENOSPC after half of its bytes reached the temporary file."""
    real_fdopen = os.fdopen

    class FillsUp:
        def __init__(self, handle) -> None:
            self._handle = handle

        def write(self, data: bytes) -> int:
            self._handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name: str):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self._handle.close()

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode="r", *a, **k: FillsUp(real_fdopen(fd, mode, *a, **k)))


def test_a_full_disk_during_a_settings_write_keeps_the_previous_settings(tmp_path: Path, request) -> None:
    path = tmp_path / "settings.json"
    save_settings(Settings(context_size=8192, theme="dark"), path)
    before = path.read_bytes()
    request.getfixturevalue("disk_full")
    with pytest.raises(OSError, match="No space left on device") as caught:
        save_settings(Settings(context_size=2048), path)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and load_settings(path).context_size == 8192
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"], "a temporary file was left behind"


def test_a_full_disk_during_a_preset_write_is_a_clear_message_and_keeps_the_previous_preset(
    tmp_path: Path, request
) -> None:
    library = PresetLibrary(tmp_path / "presets")
    mine = library.duplicate(library.presets()[0].id)
    saved = library.save(replace(mine, system_prompt="the version on disk"))
    before = (tmp_path / "presets" / f"{saved.id}.json").read_bytes()
    request.getfixturevalue("disk_full")
    with pytest.raises(PresetError, match=r"Could not save the preset .*: No space left on device"):
        library.save(replace(saved, system_prompt="a version the disk has no room for"))
    assert (tmp_path / "presets" / f"{saved.id}.json").read_bytes() == before
    assert PresetLibrary(tmp_path / "presets").get(saved.id).system_prompt == "the version on disk"
    assert [p.name for p in (tmp_path / "presets").iterdir()] == [f"{saved.id}.json"]


def test_an_unreadable_settings_file_gives_defaults_a_clear_warning_and_keeps_its_bytes(basedir: Path) -> None:
    """Root reads any file, so root gets a settings "file" that is a folder; others a file with mode 000."""
    config = basedir / "config"
    config.mkdir(parents=True)
    settings = config / "settings.json"
    if os.geteuid() == 0:
        settings.mkdir()
        (settings / "keep.txt").write_text("precious")
    else:
        settings.write_text('{"context_size": 8192}')
        settings.chmod(0)
    result = subprocess.run(app_command(basedir, "models"), cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "settings file" in result.stderr and "unreadable" in result.stderr and "using defaults" in result.stderr
    assert "Traceback" not in result.stderr
    kept = [p for p in config.iterdir() if p.name.startswith("settings.json")]
    assert kept, "the unreadable settings are gone"
    if os.geteuid() == 0:
        assert any((p / "keep.txt").exists() for p in kept if p.is_dir())
    else:
        for p in kept:
            p.chmod(0o600)
        assert any(p.read_text() == '{"context_size": 8192}' for p in kept)


def test_a_models_folder_of_an_unknown_users_home_is_a_missing_folder_not_a_traceback(tmp_path: Path) -> None:
    import sys

    config = tmp_path / "config"
    config.mkdir(parents=True)
    (config / "settings.json").write_text('{"models_dir": "~nosuchuser-hermes/models"}', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(tmp_path), "models"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "No models in ~nosuchuser-hermes/models" in result.stderr
