"""The window's controllers: settings with one owner, the last model restored, background errors shown."""

from pathlib import Path

import pytest

from app.core.paths import resolve_paths
from app.core.settings import SettingsStore, load_settings


def _window(qtbot, basedir: Path, store: SettingsStore):
    from app.ui.main_window import MainWindow

    window = MainWindow(resolve_paths(basedir).ensure(), store)
    qtbot.addWidget(window)
    window.show()
    return window


def test_the_last_model_is_loaded_again_at_the_next_start(qtbot, library_with_model: Path, basedir: Path) -> None:
    paths = resolve_paths(basedir).ensure()
    first = _window(qtbot, basedir, SettingsStore.load(paths.settings_file))
    assert not first.model_bar.restore_last()  # a first start: nothing to restore
    with qtbot.waitSignal(first.model_ready, timeout=30_000):
        first.model_bar.load_model(str(library_with_model))
    first.close()

    store = SettingsStore.load(paths.settings_file)  # the next start reads what the last one wrote
    assert store.current.last_model == str(library_with_model)
    second = _window(qtbot, basedir, store)
    try:
        with qtbot.waitSignal(second.model_ready, timeout=30_000) as ready:
            assert second.model_bar.restore_last()
            assert second.model_bar.loading_path == str(library_with_model)
            assert load_settings(paths.settings_file).last_model == ""  # a crash while loading is not repeated
        assert ready.args[0].info.path == library_with_model
        assert second.model_picker.currentData() == str(library_with_model)
        assert second.send_button.isEnabled()
        assert load_settings(paths.settings_file).last_model == str(library_with_model)
    finally:
        second.close()


def test_a_last_model_that_is_gone_is_said_and_nothing_loads(qtbot, basedir: Path, tmp_path: Path) -> None:
    paths = resolve_paths(basedir).ensure()
    store = SettingsStore(paths.settings_file)
    store.update(last_model=str(tmp_path / "deleted.gguf"))
    window = _window(qtbot, basedir, store)
    try:
        assert not window.model_bar.restore_last()
        assert "deleted.gguf, is no longer there" in window.statusBar().currentMessage()
        assert window.model_bar.loading_path == "" and window.client.loaded is None
    finally:
        window.close()


@pytest.mark.expect_log("background task failed")
def test_a_background_task_that_raises_shows_its_error(qtbot, window) -> None:
    def broken() -> None:
        raise OSError(28, "No space left on device")

    succeeded: list[object] = []
    window.background.run(broken, succeeded.append)  # no error handler of its own
    qtbot.waitUntil(window.banner.isVisible, timeout=5_000)
    assert "No space left on device" in window.banner.message
    assert succeeded == []


def test_the_library_follows_the_models_folder_setting(qtbot, window, starter_model: Path, tmp_path: Path) -> None:
    qtbot.waitUntil(lambda: "No models yet" in window.welcome.text())
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / starter_model.name).symlink_to(starter_model)
    models_page = window.hub.models_page
    window.settings_store.update(models_dir=str(folder))  # as the settings dialog does
    qtbot.waitUntil(lambda: window.model_picker.count() == 2, timeout=10_000)
    assert window.model_picker.itemData(1) == str(folder / starter_model.name)
    assert models_page.folders[0] == folder
    qtbot.waitUntil(lambda: models_page.model.rowCount() == 1, timeout=10_000)
    assert "Pick a model" in window.welcome.text()


def test_what_the_settings_dialog_changes_takes_effect_at_once(qtbot, window, qapp, tmp_path: Path) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from app.ui.settings_dialog import SettingsDialog
    from app.ui.theme import apply_theme

    folder = tmp_path / "elsewhere"

    def choose() -> None:
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
        dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
        dialog.models_dir.setText(str(folder))
        dialog.load_fields.kv_cache_type.setCurrentIndex(dialog.load_fields.kv_cache_type.findData("q8_0"))
        dialog.load_fields.flash_attn.setCurrentIndex(dialog.load_fields.flash_attn.findData("on"))
        dialog.accept()

    qtbot.waitUntil(lambda: "No models yet" in window.welcome.text())
    QTimer.singleShot(0, choose)
    try:
        window.open_settings()
        assert (window.settings.theme, window.settings.models_dir) == ("dark", str(folder))
        assert (window.settings.kv_cache_type, window.settings.flash_attn) == ("q8_0", "on")  # the load defaults
        assert load_settings(window.paths.settings_file) == window.settings  # saved
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80  # the theme applied
        qtbot.waitUntil(lambda: str(folder) in window.welcome.text())  # "put a .gguf file in your models folder (…)"
    finally:
        apply_theme(qapp, "system")


@pytest.mark.expect_log("could not save settings")
def test_settings_that_cannot_be_saved_are_said_and_still_apply(qtbot, window, tmp_path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    window.settings_store.path = blocked / "settings.json"  # every save fails, as on a full or read-only disk
    window.settings_store.update(context_size=1024)
    assert window.settings.context_size == 1024  # it applies for this session
    assert window.banner.isVisible() and "could not be saved" in window.banner.message
