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


VISION = Path(__file__).resolve().parents[1] / "data" / "vision"


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_a_vision_model_comes_with_its_projector(mode: str, tmp_path: Path) -> None:
    """Import brings the projector beside a vision model, the two in a folder of their own (paired by folder)."""
    progress: list[tuple[int, int]] = []
    target = import_model(VISION / "tiny-vision.gguf", tmp_path / "models", mode, lambda *p: progress.append(p))  # type: ignore[arg-type]
    assert target == tmp_path / "models" / "imported" / "tiny-vision" / "tiny-vision.gguf"
    [entry] = scan_models([tmp_path / "models"])
    assert entry.path == target and entry.projector == target.with_name("mmproj-tiny-vision.gguf")
    assert entry.vision
    if mode == "copy":
        total = sum(p.stat().st_size for p in VISION.iterdir())
        assert progress[-1] == (total, total) and all(done <= total for done, _ in progress)
        assert entry.projector.read_bytes() == (VISION / "mmproj-tiny-vision.gguf").read_bytes()
    else:
        assert entry.projector.is_symlink() and target.is_symlink()


def test_a_vision_import_that_fails_on_the_projector_leaves_neither(tmp_path: Path) -> None:
    model_size = (VISION / "tiny-vision.gguf").stat().st_size

    def disk_full(done: int, _total: int) -> None:
        if done > model_size:  # the model landed; the projector's first chunk fails
            raise OSError(28, "No space left on device")

    with pytest.raises(HermesError, match=r"Could not copy tiny-vision.gguf .* No space left on device"):
        import_model(VISION / "tiny-vision.gguf", tmp_path / "models", "copy", disk_full)
    assert [p for p in (tmp_path / "models").rglob("*") if p.is_file()] == []
