"""The library's header cache: each file's header is read once, by (path, size, mtime), and kept on disk (issue 27)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.library.header_cache import HeaderCache, HeaderSummary
from app.core.library.models import scan_models


def library(folder: Path, starter_model: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        target = folder / f"model-{index}.gguf"
        os.link(starter_model, target)
        paths.append(target)
    (folder / "broken.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    return paths


def test_headers_are_read_once_and_kept_across_starts(tmp_path: Path, starter_model: Path) -> None:
    folder = tmp_path / "models"
    library(folder, starter_model, 3)
    file = tmp_path / "cache" / "model-headers.json"
    cache = HeaderCache(file)
    models = scan_models([folder])
    first = cache.summaries(models)
    assert cache.reads == 4
    assert [s.architecture for s in first if not s.problem] == ["llama"] * 3
    assert sum(bool(s.problem) for s in first) == 1
    assert cache.summaries(models) == first and cache.reads == 4  # nothing read again
    cache.save()

    restarted = HeaderCache(file)  # the next start
    assert [restarted.cached(model) for model in models] == first
    assert restarted.summaries(models) == first and restarted.reads == 0


def test_only_a_changed_or_new_file_is_read_again(tmp_path: Path, starter_model: Path) -> None:
    folder = tmp_path / "models"
    paths = library(folder, starter_model, 2)
    cache = HeaderCache(tmp_path / "headers.json")
    cache.summaries(scan_models([folder]))
    reads = cache.reads

    broken = folder / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 200)  # another size: read again
    os.link(starter_model, folder / "imported.gguf")  # an import: one more file
    paths[0].unlink()  # a deletion: dropped
    models = scan_models([folder])
    cache.forget_missing(models)
    summaries = {model.path.name: summary for model, summary in zip(models, cache.summaries(models), strict=True)}
    assert cache.reads == reads + 2
    assert summaries["imported.gguf"].architecture == "llama" and summaries["broken.gguf"].problem
    cache.save()
    assert str(paths[0]) not in (tmp_path / "headers.json").read_text()


@pytest.mark.expect_log(r"ignoring the model header cache")
def test_a_damaged_cache_file_is_ignored(tmp_path: Path, starter_model: Path) -> None:
    file = tmp_path / "headers.json"
    file.write_text('{"version": 1, "files": {"x": [1, 2, {"nope": 3}]}}')
    folder = tmp_path / "models"
    library(folder, starter_model, 1)
    cache = HeaderCache(file)
    models = scan_models([folder])
    assert all(cache.cached(model) is None for model in models)
    assert cache.summaries(models)[0] != HeaderSummary() and cache.reads == 2
