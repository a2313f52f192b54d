from PySide6.QtGui import QPalette

from app.ui.theme import apply_theme


def window_lightness(qapp) -> int:
    return qapp.palette().color(QPalette.ColorRole.Window).lightness()


def test_dark_and_light_themes_change_the_palette(qapp) -> None:
    try:
        apply_theme(qapp, "dark")
        assert window_lightness(qapp) < 80
        apply_theme(qapp, "light")
        assert window_lightness(qapp) > 180
    finally:
        apply_theme(qapp, "system")


def test_settings_dialog_returns_what_was_chosen(qtbot, tmp_path) -> None:
    from app.core.settings import Settings
    from app.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), tmp_path / "models")
    qtbot.addWidget(dialog)
    dialog.load_fields.context_size.setValue(8192)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.models_dir.setText(str(tmp_path / "elsewhere"))
    chosen = dialog.result_settings()
    assert (chosen.context_size, chosen.theme, chosen.models_dir) == (8192, "dark", str(tmp_path / "elsewhere"))
    dialog.models_dir.setText(str(tmp_path / "models"))
    assert dialog.result_settings().models_dir == ""  # the default folder is stored as "default"
