"""The test base model's fetch (library/base_model.py): chunks joined in order and checked; a bad download leaves
nothing behind and says what went wrong. Fake wheels in the cache stand in for PyPI (no network here)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from app.core.errors import SetupError
from app.core.library.base_model import BASE_FILE, BASE_PACKAGE, BASE_SHA256, BASE_VERSION, ensure_test_base_model


def fake_wheels(cache: Path, sums: str, chunks: list[bytes]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    main = BASE_PACKAGE.replace("-", "_")
    with zipfile.ZipFile(cache / f"{main}-{BASE_VERSION}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{main}/data/SHA256SUMS", sums)
    for number, chunk in enumerate(chunks, 1):
        part = f"{main}_part{number}"
        with zipfile.ZipFile(cache / f"{part}-{BASE_VERSION}-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"{part}/data/{BASE_FILE}.part{number - 1:02d}", chunk)


def test_chunks_that_do_not_match_the_published_sha256_leave_nothing(tmp_path: Path) -> None:
    fake_wheels(tmp_path / "wheels", f"{BASE_SHA256}  {BASE_FILE}\n", [b"GGUF", b"a", b"b", b"c"])
    with pytest.raises(SetupError, match="does not match its published sha256"):
        ensure_test_base_model(tmp_path / "models", tmp_path / "wheels")
    assert list((tmp_path / "models").iterdir()) == []  # no .part, no file


def test_a_package_publishing_another_sha256_is_refused(tmp_path: Path) -> None:
    fake_wheels(tmp_path / "wheels", f"{'0' * 64}  {BASE_FILE}\n", [b"x"] * 4)
    with pytest.raises(SetupError, match="another sha256"):
        ensure_test_base_model(tmp_path / "models", tmp_path / "wheels")


def test_a_wheel_without_its_chunk_is_named_and_dropped(tmp_path: Path) -> None:
    fake_wheels(tmp_path / "wheels", f"{BASE_SHA256}  {BASE_FILE}\n", [b"x"] * 4)
    part3 = next((tmp_path / "wheels").glob("*_part3-*.whl"))
    with zipfile.ZipFile(part3, "w") as wheel:
        wheel.writestr("something/else.txt", "")
    with pytest.raises(SetupError, match="part3 package did not contain"):
        ensure_test_base_model(tmp_path / "models", tmp_path / "wheels")
    assert not part3.exists()  # fetched again next time
