"""My Models with a large library (issue 27): the columns are sized once per read of the library, never at each
batch of headers read (ResizeToContents measured every row of every column per batch: a stall growing with the
library); the user may resize them; once read, they fit what they show. Real GGUF files (the starter model, hard
linked) and broken ones, offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QHeaderView

from app.core.library.header_cache import HeaderCache
from app.ui.background import Background
from app.ui.hub.models_page import BATCH, ModelsPage


@pytest.fixture
def library(tmp_path: Path, starter_model: Path) -> Path:
    folder = tmp_path / "models"
    for index in range(4 * BATCH):  # several batches of headers
        target = folder / f"vendor{index % 5}" / f"model-{index:03d}.Q4_K_M.gguf"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(starter_model, target)
    for index in range(5):
        (folder / f"broken-{index}.gguf").write_bytes(os.urandom(4096))
    return folder


def test_columns_are_sized_once_when_every_header_is_read(qtbot, library: Path) -> None:
    background = Background()
    resized_while_reading: list[int] = []
    page = ModelsPage([library], background, header_cache=HeaderCache())
    qtbot.addWidget(page)
    page.resize(1100, 600)
    page.show()
    header = page.view.horizontalHeader()
    header.sectionResized.connect(  # the name stretches with the view (a scroll bar appearing): the others count
        lambda column, *_: page.reading and column > 0 and resized_while_reading.append(column)
    )
    try:
        qtbot.waitUntil(lambda: page.model.rowCount() == 4 * BATCH + 5, timeout=60_000)
        qtbot.waitUntil(lambda: not page.reading, timeout=120_000)
        assert page.header_cache.reads == 4 * BATCH + 5  # several batches came in
        assert resized_while_reading == []  # none of them moved a column
        assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch
        for column in range(1, page.model.columnCount()):
            assert header.sectionResizeMode(column) == QHeaderView.ResizeMode.Interactive  # the user may resize
            assert header.sectionSize(column) >= page.view.sizeHintForColumn(column)  # and what it shows fits
        reasons = [page.model.index(row, 1).data() for row in range(page.model.rowCount())]
        assert sum("GGUF" in reason for reason in reasons) == 5  # the broken files say why

        header.resizeSection(2, 300)  # the user widens a column; a read of the library keeps what fits
        page.refresh()
        qtbot.waitUntil(lambda: not page.reading, timeout=60_000)
        assert header.sectionSize(2) >= page.view.sizeHintForColumn(2)
    finally:
        background.shutdown()


def test_a_hidden_page_fits_its_columns_when_it_shows(qtbot, library: Path) -> None:
    """Hidden, Qt would measure every row (no screen to go by): the fit waits for the page to show."""
    background = Background()
    page = ModelsPage([library], background, header_cache=HeaderCache())
    qtbot.addWidget(page)
    header = page.view.horizontalHeader()
    try:
        qtbot.waitUntil(lambda: page.model.rowCount() == 4 * BATCH + 5 and not page.reading, timeout=120_000)
        assert page._fit_pending
        page.resize(1100, 600)
        page.show()
        qtbot.waitExposed(page)
        assert not page._fit_pending
        for column in range(1, page.model.columnCount()):
            assert header.sectionSize(column) >= page.view.sizeHintForColumn(column)
    finally:
        background.shutdown()
