"""Importing a model file into the library: copy (with progress), link, and refusals that leave nothing behind."""

from pathlib import Path

import pytest

from app.core.errors import HermesError
from app.core.library.models import COPY_CHUNK, import_model, scan_models


def test_a_copy_reports_its_progress_and_lands_whole(starter_model: Path, tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    models = tmp_path / "models"
    target = import_model(starter_model, models, "copy", lambda done, total: progress.append((done, total)))
    size = starter_model.stat().st_size
    assert [done for done, _ in progress] == [min(size, COPY_CHUNK * n) for n in range(1, len(progress) + 1)]
    assert progress[-1] == (size, size)
    assert target.read_bytes() == starter_model.read_bytes() and not target.is_symlink()
    assert [m.path for m in scan_models([tmp_path / "models"])] == [target]
    assert not list((tmp_path / "models").rglob("*.part"))
    with pytest.raises(HermesError, match="already in the library"):
        import_model(starter_model, tmp_path / "models", "copy", lambda *_: None)


def test_a_file_that_is_not_a_model_is_refused_before_a_byte_is_copied(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"this is not a model, just some text" * 4)
    calls: list[tuple[int, int]] = []
    with pytest.raises(HermesError, match="not a GGUF model file"):
        import_model(bad, tmp_path / "models", "copy", lambda done, total: calls.append((done, total)))
    assert calls == [] and not (tmp_path / "models").exists()


def test_a_copy_that_fails_midway_leaves_no_half_file(starter_model: Path, tmp_path: Path) -> None:
    def disk_full(done: int, _total: int) -> None:
        if done >= COPY_CHUNK:
            raise OSError(28, "No space left on device")

    with pytest.raises(HermesError, match=r"Could not copy .* No space left on device"):
        import_model(starter_model, tmp_path / "models", "copy", disk_full)
    assert list((tmp_path / "models").rglob("*")) == [tmp_path / "models" / "imported"]
