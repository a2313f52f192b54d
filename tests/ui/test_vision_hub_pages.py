"""The Vision mark in Discover, My Models and the model picker, on a loopback Hub holding a vision repo (two quants,
two projectors): downloading a quant brings its projector beside it, and the pair loads as one vision model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.core.settings import Settings
from app.ui.widgets import VISION_MARK
from tests.hub_server import FakeHub, HubFile, HubRepo
from tests.vision_data import TINY_PROJECTOR, TINY_VISION

REPO = "ggml-org/tiny-vision-GGUF"


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


@pytest.fixture
def vision_window(qtbot, vision_hub: FakeHub, basedir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from app.ui.main_window import MainWindow

    for name, value in {"HF_ENDPOINT": vision_hub.endpoint, "HF_HOME": str(tmp_path / "hf-home"),
                        "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=1024))
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def test_vision_marked_in_discover_my_models_and_the_picker(qtbot, vision_window) -> None:
    window = vision_window
    window.router.show("discover")
    page = window.hub.discover_page
    page.query.setText("tiny-vision")
    page.search()
    qtbot.waitUntil(lambda: [r.id for r in page.results.results] == [REPO], timeout=10_000)
    assert page.results.index(0, 0).data() == f"{REPO}  {VISION_MARK}"
    assert "Vision: reads images" in page.results.index(0, 0).data(0x03)  # the tooltip
    qtbot.waitUntil(lambda: page.quants.rowCount() == 2, timeout=10_000)
    labels = [page.quants.item(row, 0).text() for row in range(2)]
    assert all(label.endswith(VISION_MARK) for label in labels)
    q8 = next(row for row, label in enumerate(labels) if "Q8_0" in label)
    assert "mmproj-tiny-vision-f16.gguf" in page.quants.item(q8, 0).toolTip()  # the F16 projector comes along
    assert "each quant downloads with its projector" in page.flag.text()
    page.quants.selectRow(q8)
    downloaded: list[str] = []  # listened to before the click: a 0.3 MB projector can be done before the next line
    window.hub.downloads_page.model_downloaded.connect(lambda job: downloaded.append(job.filename))
    page.download_button.click()
    qtbot.waitUntil(lambda: len(downloaded) == 2, timeout=120_000)
    placed = sorted(Path(name).name for name in downloaded)
    assert placed == ["mmproj-tiny-vision-f16.gguf", "tiny-vision-Q8_0.gguf"]

    models = window.hub.models_page
    qtbot.waitUntil(lambda: models.model.rowCount() == 1 and not models.reading, timeout=10_000)
    row = models.model.rows[0]  # the pair is one model, marked
    assert row.model.name == "tiny-vision-Q8_0" and "mmproj-tiny-vision-f16.gguf: gemma3 vision" in row.vision
    assert models.model.index(0, 0).data() == f"tiny-vision-Q8_0  {VISION_MARK}"
    assert "Vision: reads images" in models.model.index(0, 0).data(0x03)

    def picker() -> list[str]:
        return [window.model_picker.itemText(i) for i in range(window.model_picker.count())]

    qtbot.waitUntil(lambda: any(VISION_MARK in text for text in picker()), timeout=10_000)
    assert [text for text in picker() if "tiny-vision" in text] == [f"tiny-vision-Q8_0  (5.0 MB)  {VISION_MARK}"]
    models.view.selectRow(0)
    with qtbot.waitSignal(window.model_ready, timeout=30_000) as ready:
        models.load_button.click()
    assert ready.args[0].vision and window.attachments.button.isEnabled()
