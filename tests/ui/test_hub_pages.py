"""Discover → details → download → progress → My Models → the chat's model picker, against the loopback Hub."""

from pathlib import Path

import pytest

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
    assert "Find OpenHermes 2 Mistral 7B on the Hugging Face Hub" in window.welcome.text()
    window._welcome_link("discover")  # the empty library's link
    page = window.discover_page
    assert window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=10_000)
    assert page.results.results[0].id == "TheBloke/OpenHermes-2-Mistral-7B-GGUF"
    qtbot.waitUntil(lambda: page.quants.rowCount() == 12, timeout=10_000)
    labels = [page.quants.item(r, 0).text() for r in range(12)]
    assert sum(label.startswith("★") for label in labels) == 1
    assert all(page.quants.item(r, 3).text() in ("Full GPU offload", "Partial offload", "CPU only", "Too large")
               for r in range(12))  # fmt: skip
    fit_note = page.quants.item(6, 3).toolTip()  # 1,024 tokens x 128 KiB, from the Q2_K file's header on the Hub
    assert fit_note.endswith("128.0 MB of KV cache for 1,024 tokens (from the model's header).")
    assert "OpenHermes 2 Mistral 7B - GGUF" in page.card.toPlainText()

    page.query.setText("SmolLM2")
    page.search()
    qtbot.waitUntil(lambda: [r.id for r in page.results.results] == ["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"])
    qtbot.waitUntil(lambda: page.quants.rowCount() == 1 and page.download_button.isEnabled(), timeout=10_000)
    page.download_button.click()
    assert window.stack.currentWidget() is window.downloads_page
    with qtbot.waitSignal(window.downloads_page.model_downloaded, timeout=60_000) as done:
        pass
    assert done.args[0].state == "done"
    qtbot.waitUntil(lambda: window.models_page.model.rowCount() == 1, timeout=10_000)
    row = window.models_page.model.rows[0]
    assert (row.architecture, row.quant, row.template) == ("llama", "Q4_1", "yes")
    picker = [window.model_picker.itemText(i) for i in range(window.model_picker.count())]
    assert any(text.startswith("SmolLM2-135M-Instruct.Q4_1") for text in picker)

    window.models_page.view.selectRow(0)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.models_page.load_button.click()
    assert window.stack.currentIndex() == 0


def test_gptq_is_flagged_and_offline_is_a_state(qtbot, hub_window, monkeypatch) -> None:
    page = hub_window.discover_page
    page.format.setCurrentIndex(page.format.findData("gptq"))  # searches
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: page.quants.rowCount() == 3, timeout=10_000)
    assert "not runnable by llama.cpp" in page.flag.text()
    assert page.download_button.text() == "Download branch (not runnable here)"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    page.search()
    qtbot.waitUntil(lambda: page.status.text().startswith("⚠ Offline"), timeout=10_000)


def test_my_models_import_and_delete(qtbot, hub_window, starter_model: Path, tmp_path: Path) -> None:
    page = hub_window.models_page
    source = tmp_path / "elsewhere.gguf"
    source.write_bytes(starter_model.read_bytes())
    target = page.import_file(source, "link")
    assert target is not None and target.is_symlink()
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    page.view.selectRow(0)
    page.delete_selected(confirm=False)
    assert not target.exists() and source.exists()  # the link went, the original stayed
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model, just some text" * 4)
    assert page.import_file(bad) is None
    assert "not a GGUF model file" in hub_window.banner.message
