"""The Server page's fixtures, shared by its test modules: the window's engine (an ``EngineClient`` with the starter
model loaded) and the page on it, on a free port of 127.0.0.1. A module uses them by importing both names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.ui.engines.engine_client import EngineClient
from app.ui.engines.server_page import ServerPage
from tests.server.conftest import free_port


@pytest.fixture
def engine(qtbot, starter_model: Path) -> Iterator[EngineClient]:
    client = EngineClient()
    client.service.load(starter_model).result(60)
    yield client
    client.shutdown()


@pytest.fixture
def page(qtbot, engine: EngineClient, basedir: Path) -> Iterator[ServerPage]:
    server_page = ServerPage(engine.service, resolve_paths(basedir).ensure())
    qtbot.addWidget(server_page)
    server_page.port.setValue(free_port())
    yield server_page
    server_page.shutdown()
