"""Serve with vLLM from the window: the exact command for a downloaded GPTQ branch, and (with a stand-in `vllm` on
PATH, since vLLM needs a GPU) a managed process that becomes a remote engine in the model picker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.engines.remote_store import RemoteEngineStore
from tests.server.conftest import free_port
from tests.server.test_vllm import put_stand_in_vllm_on_path


def gptq_download(window, repo: str = "TheBloke/OpenHermes-2-Mistral-7B-GPTQ", branch: str = "main") -> Path:
    from app.core.hub.download_jobs import safe_destination

    folder = safe_destination(window.model_bar.models_dir, repo, "config.json", branch).parent
    folder.mkdir(parents=True)
    (folder / "quantize_config.json").write_text(json.dumps({"bits": 4, "group_size": 128, "desc_act": True}))
    (folder / "config.json").write_text(json.dumps({"model_type": "mistral", "max_position_embeddings": 32768}))
    return folder


def test_the_command_is_shown_and_vllm_absent_is_said(qtbot, window, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    folder = gptq_download(window)
    window.hub.serve_with_vllm("TheBloke/OpenHermes-2-Mistral-7B-GPTQ", "main")
    dialog = window.hub.vllm_dialog
    qtbot.addWidget(dialog)
    command = dialog.command.toPlainText()
    assert command.startswith(f"vllm serve {folder}") and "--quantization gptq" in command and "--port 8000" in command
    assert "not installed" in dialog.message.text() and not dialog.start_button.isEnabled()
    dialog.port.setValue(8123)
    assert "--port 8123" in dialog.command.toPlainText()
    dialog.close()


@pytest.mark.slow
def test_a_stand_in_vllm_is_started_and_its_model_reaches_the_picker(
    qtbot, window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_stand_in_vllm_on_path(tmp_path, monkeypatch)
    folder = gptq_download(window)
    window.hub.serve_with_vllm("TheBloke/OpenHermes-2-Mistral-7B-GPTQ", "main")
    dialog = window.hub.vllm_dialog
    qtbot.addWidget(dialog)
    dialog.port.setValue(free_port())
    assert dialog.start_button.isEnabled()
    added: list[str] = []
    dialog.engine_added.connect(added.append)
    dialog.start_button.click()
    assert not dialog.start_button.isEnabled()  # (enabled again if the start fails: then the dialog says why)
    qtbot.waitUntil(lambda: bool(added) or dialog.start_button.isEnabled(), timeout=60_000)
    assert added == [f"vLLM · {folder.name}"], dialog.message.text()
    entry = RemoteEngineStore(window.paths.config).get(added[0])
    assert entry is not None and entry.base_url.endswith(f":{dialog.port.value()}/v1")
    qtbot.waitUntil(lambda: any("remote · vLLM" in window.model_picker.itemText(i)
                                for i in range(window.model_picker.count())), timeout=30_000)  # fmt: skip
    dialog.process.stop()
