"""Fixtures the core's test modules share (a module's own fixture of the same name wins)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService


@pytest.fixture(scope="module")
def service(starter_model: Path) -> Iterator[EngineService]:
    """The starter model on an engine service (a 2,048-token context), shared by a module's tests."""
    engine = EngineService()
    engine.load(starter_model, LoadOptions(context_size=2048)).result()
    yield engine
    engine.close()
    assert not engine.running
