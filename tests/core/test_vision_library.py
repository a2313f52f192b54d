"""Vision pairing: the library pairs a model with the mmproj projector beside it; the Hub's quants come with theirs
(the loopback Hub of tests/hub_server.py, a vision repo with two quants and two projectors)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.hub.catalogue import Quant, RepoDetails, RepoFile, RepoSummary, group_quants
from app.core.library.models import scan_models
from app.core.library.projector import choose_projector, read_projector
from tests.hub_server import FakeHub, HubFile, HubRepo
from tests.vision_data import TINY_PROJECTOR, TINY_VISION, maker, red_sun

REPO = "ggml-org/tiny-vision-GGUF"


def test_the_projector_header_is_read() -> None:
    info = read_projector(TINY_PROJECTOR)
    assert (info.projector_type, info.has_vision, info.has_audio) == ("gemma3", True, False)
    assert (info.image_size, info.patch_size, info.output_width) == (64, 8, 64)


def test_the_library_pairs_models_with_their_projector_and_never_lists_a_projector(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "vision"
    folder.mkdir(parents=True)
    (folder / "tiny-vision-Q8_0.gguf").symlink_to(TINY_VISION)
    (folder / "mmproj-tiny-vision-f16.gguf").symlink_to(TINY_PROJECTOR)
    maker().write_projector(folder / "mmproj-audio.gguf", vision=False, audio=True)
    plain = tmp_path / "models" / "plain"
    plain.mkdir()
    os.link(TINY_VISION, plain / "text-only.gguf")  # (a symbolic link would be the same model, listed once)
    listed = {model.path.name: model for model in scan_models([tmp_path / "models"])}
    assert sorted(listed) == ["text-only.gguf", "tiny-vision-Q8_0.gguf"]
    assert listed["tiny-vision-Q8_0.gguf"].projector == folder / "mmproj-tiny-vision-f16.gguf"
    assert listed["tiny-vision-Q8_0.gguf"].vision
    assert listed["text-only.gguf"].projector is None and not listed["text-only.gguf"].vision
    (folder / "mmproj-tiny-vision-f16.gguf").unlink()  # only the audio projector is left: not vision
    again = {model.path.name: model for model in scan_models([tmp_path / "models"])}
    assert again["tiny-vision-Q8_0.gguf"].projector == folder / "mmproj-audio.gguf"
    assert not again["tiny-vision-Q8_0.gguf"].vision


def test_which_projector_goes_with_which_model() -> None:
    names = ["mmproj-model-Q8_0.gguf", "mmproj-model-f16.gguf", "mmproj-model-bf16.gguf"]
    assert choose_projector("gemma-3-4b-it-Q4_K_M.gguf", names) == "mmproj-model-f16.gguf"
    pair = ["gemma-3-4b-it-mmproj-f16.gguf", "qwen2.5-vl-3b-mmproj-f16.gguf"]
    assert choose_projector("Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf", pair) == "qwen2.5-vl-3b-mmproj-f16.gguf"
    assert choose_projector("model.gguf", ["model-Q4_K_M.gguf"]) is None


def test_hub_quants_leave_projectors_out_and_pick_one_for_a_quant() -> None:
    names = ["tiny-vision-Q4_0.gguf", "tiny-vision-Q8_0.gguf"]
    names += ["mmproj-tiny-vision-Q8_0.gguf", "mmproj-tiny-vision-f16.gguf"]
    files = [RepoFile(name, size, None) for name, size in zip(names, (10, 20, 3, 5), strict=True)]
    quants = group_quants(files)
    assert [q.label for q in quants] == ["Q4_0", "Q8_0"]
    details = RepoDetails(REPO, "sha", "gguf", tuple(files), tuple(quants), projectors=tuple(files[2:]))
    assert details.vision
    assert details.projector_for(quants[1]) == files[3]  # F16 first
    assert details.projector_for(quants[1], "mmproj-tiny-vision-Q8_0.gguf") == files[2]
    assert details.projector_for(Quant("X", (files[0],)), "missing.gguf") is None
    assert RepoSummary(REPO, "ggml-org", 1, 1, None, ("gguf", "image-text-to-text")).vision
    assert not RepoSummary("a/b", "a", 1, 1, None, ("gguf",)).vision


@pytest.fixture(scope="module")
def vision_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    hub.add(HubRepo(REPO, {"main": [
        HubFile("tiny-vision-Q8_0.gguf", TINY_VISION),
        HubFile("tiny-vision-F16.gguf", None, 11_000_000, header=TINY_VISION.read_bytes()[:4096]),
        HubFile("mmproj-tiny-vision-Q8_0.gguf", None, 200_000, header=TINY_PROJECTOR.read_bytes()[:4096]),
        HubFile("mmproj-tiny-vision-f16.gguf", TINY_PROJECTOR),
    ]}, downloads=10, tags=["gguf", "image-text-to-text"]))  # fmt: skip
    yield hub.start()
    hub.stop()


def test_download_fetches_the_projector_with_the_quant_and_the_pair_answers_about_an_image(
    vision_hub: FakeHub, tmp_path: Path
) -> None:
    env = {**os.environ, "HF_ENDPOINT": vision_hub.endpoint, "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}  # fmt: skip
    env.pop("HF_TOKEN", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "--basedir", str(tmp_path / "home"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, env=env)

    found = run("search", "tiny-vision")
    assert found.returncode == 0 and found.stdout.rstrip().endswith("vision"), found.stderr
    quants = run("quants", REPO)
    assert "Vision: downloads with its projector" in quants.stdout and "mmproj-tiny-vision-f16.gguf" in quants.stdout
    assert "mmproj" not in "".join(line for line in quants.stdout.splitlines() if line.startswith(("Q8_0", "F16")))
    got = run("download", REPO, "--quant", "Q8_0")
    assert got.returncode == 0, got.stderr
    placed = [Path(line) for line in got.stdout.split()]
    assert [p.name for p in placed] == ["tiny-vision-Q8_0.gguf", "mmproj-tiny-vision-f16.gguf"]
    assert placed[0].parent == placed[1].parent  # beside it
    assert placed[1].read_bytes() == TINY_PROJECTOR.read_bytes()  # verified (sha256) as any download
    listed = run("models")
    assert listed.returncode == 0
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [["tiny-vision-Q8_0", "5.0", "MB"]]
    assert " vision " in listed.stdout and "mmproj" not in listed.stdout
    (tmp_path / "red.png").write_bytes(red_sun())
    answer = run("chat", "--model", "tiny-vision-Q8_0", "--image", str(tmp_path / "red.png"), "--max-tokens", "4",
                 "--context-size", "1024", "What is it?")  # fmt: skip
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr
