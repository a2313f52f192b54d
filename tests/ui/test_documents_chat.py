"""Documents in the window with the real engine: attach a file, send, and the reply cites it (kept on reopening)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QFrame, QStyleOptionViewItem

from app.core.history.store import MessageState
from app.selftest.sample_documents import pdf_bytes
from tests.ui.test_main_window import load_first_model

FACT = "The access code of the Zorblax vault is 7431."


def _chips(window) -> list[QFrame]:
    return [chip for chip in window.chat_column.documents.findChildren(QFrame, "documentChip") if not chip.isHidden()]


def _send(qtbot, window, text: str):
    window.input.setPlainText(text)
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as done:
        window.chat.send()
        assert window.chat.grounding is not None  # read off the GUI thread: the send returned at once
        assert window.send_button.text() == "Stop"
    return done.args[0]


def test_an_attached_pdf_grounds_the_reply_and_its_source_is_shown_and_kept(
    qtbot, library_with_model: Path, window, tmp_path: Path
) -> None:
    load_first_model(qtbot, window)
    report = tmp_path / "report.pdf"
    report.write_bytes(pdf_bytes([["Quarterly notes."], [FACT]]))
    assert window.attachments.button.isEnabled()  # a text-only model still takes documents
    assert window.attachments.add_files([report]) == 1
    assert window.attachments.add_files([report]) == 1  # the same file again: one chip
    assert [chip.label.text() for chip in _chips(window)] == ["📄 report.pdf"]
    reply = _send(qtbot, window, "What is the access code of the Zorblax vault?")
    assert reply.state == MessageState.DONE and reply.text.strip()
    assert not _chips(window) and window.chat_column.documents.isHidden()  # they went with the message
    user, shown = window.chat_model.items
    assert [document.name for document in user.documents] == ["report.pdf"]
    assert [c.file for c in shown.citations] == ["report.pdf"] and "7431" in shown.citations[0].excerpt
    # the source line is drawn under the bubble, the excerpt its tooltip
    view = window.chat_view
    where = view.message_geometry(1)
    assert len(where.sources) == 1 and where.sources[0].top() > where.bubble.bottom()
    delegate = view.message_delegate
    rect = view.visualRect(window.chat_model.index(1, 0))
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = rect
    tip = delegate.source_tip(shown, option, where.sources[0].center())
    assert tip.startswith("[1] report.pdf") and "7431" in tip
    assert delegate.source_tip(shown, option, QPoint(rect.left() + 1, rect.top() + 1)) == ""
    # reopened from the history, the sources are still there
    chat_id = window.session.chat_id
    window.new_chat()
    window.conversation.open(chat_id)
    reopened = window.chat_model.items
    assert [c.file for c in reopened[-1].citations] == ["report.pdf"]
    assert [d.name for d in reopened[0].documents] == ["report.pdf"]


def test_random_bytes_named_pdf_are_refused_and_nothing_is_sent(
    qtbot, library_with_model: Path, window, tmp_path: Path
) -> None:
    load_first_model(qtbot, window)
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(os.urandom(4096))
    window.attachments.add_files([fake])
    window.input.setPlainText("What does it say?")
    window.chat.send()
    qtbot.waitUntil(lambda: window.chat.grounding is None, timeout=60_000)
    assert window.banner.isVisible() and "fake.pdf" in window.banner.message
    assert "Nothing was sent" in window.banner.message
    assert not window.chat_model.items
    assert window.input.toPlainText() == "What does it say?"  # nothing typed or attached is lost
    assert [chip.label.text() for chip in _chips(window)] == ["📄 fake.pdf"]
    # not a document at all: refused at once, with the reason
    odd = tmp_path / "tool.exe"
    odd.write_bytes(b"MZ")
    assert window.attachments.add_files([odd]) == 0
    assert "tool.exe" in window.banner.message


def test_a_long_file_is_searched_with_the_library_embedding_model(
    qtbot, library_with_model: Path, starter_embedding_model: Path, window, tmp_path: Path
) -> None:
    load_first_model(qtbot, window)
    shutil.copy2(starter_embedding_model, library_with_model.parent / starter_embedding_model.name)
    notes = tmp_path / "notes.txt"
    filler = [f"Line {n}: the weather log says it was cloudy with light wind over the harbour." for n in range(400)]
    filler[250] = FACT
    notes.write_text("\n".join(filler), encoding="utf-8")
    window.attachments.add_files([notes])
    reply = _send(qtbot, window, "What is the access code of the Zorblax vault?")
    assert reply.state == MessageState.DONE
    assert window.client.service.embedding_loaded is not None  # the library's embedding model was loaded for it
    user, shown = window.chat_model.items
    assert user.documents[0].mode == "retrieved"
    assert shown.citations and all(c.file == "notes.txt" and c.location for c in shown.citations)
    first, last = (int(n) for n in shown.citations[0].location.removeprefix("lines ").split("–"))
    assert first <= 251 <= last  # the passage with the fact (line 251) is source [1]
