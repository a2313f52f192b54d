"""Discover → details → download → progress → My Models → the chat's model picker, against the loopback Hub."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.paths import resolve_paths
from app.core.settings import Settings


@pytest.fixture
def hub_window(qtbot, hf_env, hub, basedir: Path):
    from app.ui.main_window import MainWindow

    hub.faults.clear()
    window = MainWindow(resolve_paths(basedir).ensure(), Settings(context_size=1024))
    qtbot.addWidget(window)
    window.show()
    yield window
    window.close()


def test_discover_search_details_download_and_chat(qtbot, hub_window) -> None:
    window = hub_window
    qtbot.waitUntil(lambda: "find openhermes 2 mistral 7b on the hugging face hub" in window.welcome.text().lower())
    window.welcome.browse_requested.emit()  # the empty library's "Browse models"
    page = window.hub.discover_page
    assert window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=10_000)
    assert page.results.results[0].id == "TheBloke/OpenHermes-2-Mistral-7B-GGUF"
    qtbot.waitUntil(lambda: page.quants.rowCount() == 12, timeout=10_000)
    labels = [page.quants.item(r, 0).text() for r in range(12)]
    assert sum(label.startswith("★") for label in labels) == 1
    best = next(r for r, label in enumerate(labels) if label.startswith("★"))
    assert page.quants.item(best, 1).font().bold() and not page.quants.item(0, 1).font().bold()
    assert page.quants.item(best, 1).background().style() == Qt.BrushStyle.SolidPattern  # tinted
    assert page.quants.item(0, 1).background().style() == Qt.BrushStyle.NoBrush
    assert page.quants.verticalScrollBar().value() == 0  # the table shows its top, not the starred row cut in half
    assert all(page.quants.item(r, 3).text() in ("Full GPU offload", "Partial offload", "CPU only", "Too large")
               for r in range(12))  # fmt: skip
    fit_note = page.quants.item(6, 3).toolTip()  # 1,024 tokens x 128 KiB, from the Q2_K file's header on the Hub
    assert fit_note.endswith("128.0 MB of KV cache for 1,024 tokens (from the model's header).")
    hub_window.settings_store.update(context_size=2048)  # the Settings dialog: the fit is judged afresh
    assert page.quants.item(6, 3).toolTip().endswith("256.0 MB of KV cache for 2,048 tokens (from the model's header).")
    assert "2,048-token context" in page.memory_label.text()
    assert "OpenHermes 2 Mistral 7B - GGUF" in page.card.toPlainText()

    page.query.setText("SmolLM2")
    page.search()
    qtbot.waitUntil(lambda: [r.id for r in page.results.results] == ["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"])
    qtbot.waitUntil(lambda: page.quants.rowCount() == 1 and page.download_button.isEnabled(), timeout=10_000)
    page.download_button.click()
    assert window.stack.currentWidget() is window.hub.downloads_page
    with qtbot.waitSignal(window.hub.downloads_page.model_downloaded, timeout=60_000) as done:
        pass
    assert done.args[0].state == "done"
    qtbot.waitUntil(lambda: page.quants.item(0, 4).text().endswith("· in your library"))  # on Discover too
    qtbot.waitUntil(lambda: window.hub.models_page.model.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: not window.hub.models_page.reading, timeout=10_000)
    row = window.hub.models_page.model.rows[0]
    assert (row.architecture, row.quant, row.template) == ("llama", "Q4_1", "yes")

    def picker() -> list[str]:
        return [window.model_picker.itemText(i) for i in range(window.model_picker.count())]

    qtbot.waitUntil(lambda: any(text.startswith("SmolLM2-135M-Instruct.Q4_1") for text in picker()), timeout=10_000)

    window.hub.models_page.view.selectRow(0)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.hub.models_page.load_button.click()
    assert window.stack.currentIndex() == 0


def test_gptq_is_flagged_and_offline_is_a_state(qtbot, hub_window, monkeypatch) -> None:
    page = hub_window.hub.discover_page
    page.format.setCurrentIndex(page.format.findData("gptq"))  # searches
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: page.quants.rowCount() == 3, timeout=10_000)
    assert "not runnable by llama.cpp" in page.flag.text()
    assert page.download_button.text() == "Download branch (not runnable here)"
    assert page.quants.isColumnHidden(2) and page.quants.isColumnHidden(3)  # no empty, unlabeled columns
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    page.search()
    qtbot.waitUntil(lambda: page.status.text().startswith("⚠ Offline"), timeout=10_000)


def test_my_models_import_and_delete(qtbot, hub_window, starter_model: Path, tmp_path: Path) -> None:
    hub_window.router.show("models")
    page = hub_window.hub.models_page
    source = tmp_path / "elsewhere.gguf"
    source.write_bytes(starter_model.read_bytes())
    with qtbot.waitSignal(page.imported, timeout=10_000) as linked:
        page.import_file(source, "link")
    target = linked.args[0]
    assert target.is_symlink()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    page.view.selectRow(0)
    page.delete_selected(confirm=False)
    assert not target.exists() and source.exists()  # the link went, the original stayed

    # A copy runs in the background with progress: the GUI thread keeps turning while the bytes move.
    progress: list[tuple[int, int]] = []
    page._import_progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(page.imported, timeout=60_000) as copied:
        page.import_file(source, "copy")
        assert page.import_bar.isVisible() and not page.import_button.isEnabled()
    size = source.stat().st_size
    assert len(progress) >= size // (16 << 20) and progress[-1] == (size, size)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert copied.args[0].read_bytes() == source.read_bytes() and not copied.args[0].is_symlink()
    assert not page.import_bar.isVisible() and page.import_button.isEnabled()

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model, just some text" * 4)
    with qtbot.waitSignal(page.error, timeout=10_000):
        page.import_file(bad)
    assert "not a GGUF model file" in hub_window.banner.message


def _download_smollm(qtbot, window):
    page = window.hub.discover_page
    page.query.setText("SmolLM2")
    page.search()
    qtbot.waitUntil(lambda: page.quants.rowCount() == 1 and page.download_button.isEnabled(), timeout=10_000)
    with qtbot.waitSignal(window.hub.downloads_page.model_downloaded, timeout=60_000) as done:
        page.download_button.click()
    return done.args[0]


def test_changing_the_models_folder_moves_the_next_download_without_a_restart(
    qtbot, hub_window, tmp_path: Path
) -> None:
    window = hub_window
    manager = window.hub.downloads  # the real queue, already running with the old folder
    old_folder = manager.models_dir
    new_folder = tmp_path / "bigger-disk"
    window.settings_store.update(models_dir=str(new_folder))  # what the settings dialog's OK does
    job = _download_smollm(qtbot, window)
    assert window.hub.downloads is manager  # the same queue, not a new one
    assert job.destination.is_relative_to(new_folder) and job.destination.is_file()
    assert not any(old_folder.rglob("*.gguf"))
    # the library and the model picker look there too
    qtbot.waitUntil(lambda: window.model_picker.count() == 2, timeout=10_000)
    assert window.model_picker.itemData(1) == str(job.destination)


def test_an_older_search_answering_late_does_not_replace_a_newer_one(qtbot, hub_window, monkeypatch) -> None:
    import threading

    from app.core.hub import catalogue as hub

    page = hub_window.hub.discover_page
    real_search = hub.search
    release = threading.Event()

    def slow_for_the_first(query: str, **options):
        if query == "OpenHermes":
            release.wait(10)  # this answer comes after the newer search's
        return real_search(query, **options)

    monkeypatch.setattr(hub, "search", slow_for_the_first)
    answered: list[int] = []
    found = page._found
    monkeypatch.setattr(page, "_found", lambda search, results: (answered.append(search), found(search, results)))
    page.query.setText("OpenHermes")
    page.search()
    page.query.setText("SmolLM2")
    page.search()
    qtbot.waitUntil(lambda: len(answered) == 1, timeout=10_000)
    assert [r.id for r in page.results.results] == ["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"]
    release.set()
    qtbot.waitUntil(lambda: len(answered) == 2, timeout=10_000)  # the older answer arrived ...
    assert [r.id for r in page.results.results] == ["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"]  # ... and was dropped
    assert page.status.text() == "1 model"


def test_my_models_lists_files_at_once_and_reads_only_new_headers(
    qtbot, tmp_path: Path, starter_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows show before their headers are read; a second page (the next start) and an import read nothing twice."""
    from app.core.library.header_cache import HeaderCache
    from app.ui.background import Background
    from app.ui.hub.models_page import BATCH, ModelsPage

    folder = tmp_path / "models"
    folder.mkdir()
    count = 2 * BATCH + 1
    for index in range(count):
        os.link(starter_model, folder / f"model-{index:02d}.gguf")
    file = tmp_path / "cache" / "model-headers.json"
    listed: list[int] = []  # unread rows when the rows were first shown
    show = ModelsPage._listed

    def spy(self: ModelsPage, refresh: int, rows: list) -> None:
        listed.append(sum(not row.read for row in rows))
        show(self, refresh, rows)

    monkeypatch.setattr(ModelsPage, "_listed", spy)  # before the page exists: its first listing may answer at once
    background = Background()
    page = ModelsPage([folder], background, header_cache=HeaderCache(file))
    qtbot.addWidget(page)
    try:
        qtbot.waitUntil(lambda: not page.reading, timeout=60_000)
        assert listed == [count] and page.header_cache.reads == count
        assert all(row.read and row.architecture == "llama" for row in page.model.rows)
        qtbot.waitUntil(file.exists, timeout=10_000)  # saved (in the background) once all were read

        again = ModelsPage([folder], background, header_cache=HeaderCache(file))  # the next start
        qtbot.addWidget(again)
        qtbot.waitUntil(lambda: again.model.rowCount() == count and not again.reading, timeout=30_000)
        assert again.header_cache.reads == 0 and all(row.read for row in again.model.rows)

        with qtbot.waitSignal(again.imported, timeout=30_000):
            again.import_file(starter_model, "link")
        qtbot.waitUntil(lambda: again.model.rowCount() == count + 1 and not again.reading, timeout=30_000)
        assert again.header_cache.reads == 1  # the imported file only
    finally:
        background.shutdown()
