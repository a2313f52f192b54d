"""Issue 25, defect 3: a remote engine's model in the window. Picking one whose server is down keeps the local model
loaded (and usable); a remote pick has no load options (and never shows an internal key)."""

from __future__ import annotations

from pathlib import Path

from app.core.engines.remote_store import RemoteEngineStore
from app.ui.engines.model_choices import remote_key
from tests.server.conftest import free_port


def test_a_remote_model_whose_server_is_down_leaves_the_local_model_loaded(
    qtbot, window, library_with_model: Path
) -> None:
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.model_bar.load_model(str(library_with_model))
    placement = window.model_bar.placement.text()
    RemoteEngineStore(window.paths.config).add("Remote box", f"http://127.0.0.1:{free_port()}")
    key = remote_key("Remote box", "remote-smol")
    window.model_bar.select_path(key)  # as the picker lists a remote model
    assert window.model_picker.currentText() == "remote-smol  (remote · Remote box)"  # no internal key shown
    assert not window.model_bar.options_action.isEnabled()  # its server loads it: no load options here
    notices: list[str] = []
    window.model_bar.notice.connect(notices.append)
    window.model_bar.edit_load_options()  # the menu's shortcut reaches it even so: it says why, nothing breaks
    assert not notices and "remote" in window.statusBar().currentMessage()

    with qtbot.waitSignal(window.model_failed, timeout=60_000) as failed:
        window.model_bar.load_model(key)
    assert "127.0.0.1" in failed.args[0]
    loaded = window.client.loaded
    assert loaded is not None and loaded.info.path == library_with_model  # the local model stays
    assert not window.client.service.engine.capabilities.remote
    assert window.model_picker.currentData() == str(library_with_model)
    assert window.model_bar.placement.text() == placement and window.model_bar.eject_action.isEnabled()
    assert window.model_bar.options_action.isEnabled() and window.send_button.isEnabled()

    window.input.setPlainText("Say hello.")  # and it still answers
    with qtbot.waitSignal(window.reply_finished, timeout=120_000) as done:
        window.chat.send()
    assert done.args[0].text.strip() and done.args[0].stats.generated_tokens > 0


def test_the_engines_dialog_is_wide_enough_to_read(qtbot, window) -> None:
    from app.ui.engines.engines_dialog import EnginesDialog

    dialog = EnginesDialog(window.model_bar.engines, window)  # it was 278 px wide: a URL did not fit
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() >= 560
    dialog.close()
