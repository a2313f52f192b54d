"""The llama-cpp-python internals the engine relies on are there; a release that changes them fails here, clearly."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from app.core.engines.llama_adapter import IncompatibleLlamaCpp, check_internals
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions


def test_the_installed_llama_cpp_python_has_every_internal_we_use(starter_model: Path) -> None:
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=256))
    try:
        check_internals(engine._llama)  # raises IncompatibleLlamaCpp, naming what is missing
    finally:
        engine.unload()


def test_a_changed_internal_is_named_in_one_clear_message() -> None:
    changed = SimpleNamespace(n_tokens=0, _ctx=SimpleNamespace(), eval=None, n_batch=512)  # no _input_ids, no ctx
    with pytest.raises(IncompatibleLlamaCpp) as raised:
        check_internals(changed)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "Llama._input_ids" in message and "Llama._ctx.ctx" in message and "Llama._model" in message
    assert "pip install 'llama-cpp-python<0.4'" in message and "\n" not in message
