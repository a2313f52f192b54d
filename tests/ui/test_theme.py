from PySide6.QtGui import QPalette

from app.ui.theme import apply_theme, confirm_scheme, dark_palette, light_palette


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


def test_the_system_theme_paints_first_in_the_scheme_last_seen_then_follows_the_desktop(qapp, tmp_path) -> None:
    """The desktop's scheme is asked after the first paint (asking builds PySide6's Qt namespace: issue 20, part 4);
    the first paint uses the one remembered, and a scheme changed since is followed and remembered then."""
    from PySide6.QtCore import Qt

    desktop = "dark" if qapp.styleHints().colorScheme() == Qt.ColorScheme.Dark else "light"
    other = "light" if desktop == "dark" else "dark"
    remembered = tmp_path / "cache" / "color-scheme"
    palettes = {"dark": dark_palette(), "light": light_palette()}
    try:
        qapp.setPalette(qapp.style().standardPalette())  # as a new application's (Fusion's own, not ours)
        apply_theme(qapp, "system", remembered)  # nothing remembered: asked now, and remembered
        assert remembered.read_text(encoding="utf-8") == desktop
        assert qapp.palette() == palettes[desktop]
        remembered.write_text(other, encoding="utf-8")  # the desktop's scheme changed since the last start
        apply_theme(qapp, "system", remembered)
        assert qapp.palette() == palettes[other]  # the first paint: the scheme last seen
        confirm_scheme(qapp, remembered)  # the first turn after it
        assert qapp.palette() == palettes[desktop]
        assert remembered.read_text(encoding="utf-8") == desktop
        remembered.write_text("purple\n", encoding="utf-8")  # a damaged file: asked now, and rewritten
        qapp.setPalette(qapp.style().standardPalette())
        apply_theme(qapp, "system", remembered)
        assert qapp.palette() == palettes[desktop]
        assert remembered.read_text(encoding="utf-8") == desktop
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
