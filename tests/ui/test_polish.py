"""Issue 14's honest state, visual language and accessibility, on the real window, engine, model and Hub stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QMessageBox, QPushButton, QWidget

from app.ui import theme
from tests.ui.test_main_window import load_first_model

ICONS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "resources" / "icons").glob("*.svg"))


def answer_next_question(qtbot, button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the next modal message box as soon as it shows (and note its text)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        next(b for b in box.findChildren(QPushButton) if b.text().replace("&", "") == button_text).click()

    QTimer.singleShot(0, click)


# contrast (WCAG AA) and icons
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_role_meets_wcag_aa_in_both_themes(qapp, scheme: str) -> None:
    report = theme.contrast_report(scheme)
    assert len(report) >= 20
    failing = {pair: round(ratio, 2) for pair, ratio in report.items() if ratio < 4.5}
    assert not failing, failing
    try:  # the palette the app really gets is the one that was measured
        theme.apply_theme(qapp, scheme)
        live = qapp.palette()
        for fg, bg in theme.TEXT_PAIRS:
            ratio = theme.contrast_ratio(
                live.color(getattr(QPalette.ColorRole, fg)), live.color(getattr(QPalette.ColorRole, bg))
            )
            assert ratio >= 4.5, (scheme, fg, bg, ratio)
    finally:
        theme.apply_theme(qapp, "system")


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert theme.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near-miss
    assert theme.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


@pytest.mark.parametrize("name", [n for n in ICONS if n != "hermes-studio"])
def test_bundled_icons_load_and_follow_the_palette(qapp, name: str) -> None:
    def ink(scheme: str) -> int:
        theme.apply_theme(qapp, scheme)
        image = theme.icon(name).pixmap(24, 24).toImage()
        inked = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())]
        inked = [c for c in inked if c.alpha() > 200]
        assert inked, f"{name} drew nothing"
        return max(c.lightness() for c in inked)

    try:
        assert not theme.icon(name).isNull()
        light_ink, dark_ink = ink("light"), ink("dark")
        assert light_ink < 80 < dark_ink  # dark strokes on light, light strokes on dark
    finally:
        theme.apply_theme(qapp, "system")
    assert theme.icon("no-such-icon").isNull()
    assert (
        (Path(__file__).resolve().parents[2] / "resources" / "icons" / "LICENSE-lucide.txt")
        .read_text()
        .startswith("ISC License")
    )


# Downloads: buttons enabled only where they apply
def test_download_actions_are_enabled_only_where_they_apply(qtbot, hf_env, hub, starter_model: Path, tmp_path) -> None:
    from app.core.hub.downloads import DownloadManager, State
    from app.ui.hub.downloads_page import DownloadsPage

    hub.faults.clear()
    size = starter_model.stat().st_size
    stall = hub.fault(f"*{starter_model.name}", "stall", after=size // 3, seconds=30, times=1)
    manager = DownloadManager(tmp_path / "models", tmp_path / "downloads.json")
    page = DownloadsPage(manager)
    qtbot.addWidget(page)
    counts: list[int] = []
    page.active_count_changed.connect(counts.append)
    assert page.view.placeholder().startswith("No downloads yet")
    assert not any(
        b.isEnabled() for b in (page.pause_button, page.resume_button, page.cancel_button, page.clear_button)
    )
    try:
        job = manager.enqueue("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", starter_model.name, size=size)
        page.refresh()
        qtbot.waitUntil(lambda: page.model.jobs and page.model.jobs[0].state == State.DOWNLOADING, timeout=10_000)
        row = page.row_actions(job.key)
        enabled = {name: button.isEnabled() for name, button in row.buttons.items()}
        assert enabled == {"pause": True, "resume": False, "cancel": True, "folder": False, "load": False}
        assert counts[-1] == 1
        page.view.selectRow(0)
        assert page.pause_button.isEnabled() and not page.resume_button.isEnabled()

        row.buttons["pause"].click()
        qtbot.waitUntil(lambda: page.model.jobs[0].state == State.PAUSED, timeout=10_000)
        page.refresh()
        enabled = {name: button.isEnabled() for name, button in row.buttons.items()}
        assert enabled == {"pause": False, "resume": True, "cancel": True, "folder": False, "load": False}
        assert page.resume_button.isEnabled() and not page.pause_button.isEnabled()
        assert "\u00a0/\u00a0" in page.model.index(0, 2).data()  # the size stays on one line

        stall.times = 0
        loads: list[str] = []
        page.load_requested.connect(loads.append)
        row.buttons["resume"].click()
        qtbot.waitUntil(lambda: page.model.jobs[0].state == State.DONE, timeout=180_000)  # 98 MB on a busy machine
        page.refresh()
        enabled = {name: button.isEnabled() for name, button in row.buttons.items()}
        assert enabled == {"pause": False, "resume": False, "cancel": False, "folder": True, "load": True}
        assert not page.pause_button.isEnabled() and not page.cancel_button.isEnabled()
        assert page.clear_button.isEnabled() and counts[-1] == 0
        row.buttons["load"].click()
        assert loads == [str(job.destination)] and Path(loads[0]).is_file()
        page.act("pause", job.key)  # a stale click on a finished row does nothing
        assert page.model.jobs[0].state == State.DONE

        # issue 25: a row's own button selects its row; a cancelled download shows no progress or size
        page.clear_finished()
        job.destination.unlink()
        hub.fault(f"*{starter_model.name}", "stall", after=size // 3, seconds=30, times=1)
        again = manager.enqueue("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", starter_model.name, size=size)
        page.refresh()
        qtbot.waitUntil(lambda: page.model.jobs and page.model.jobs[0].state == State.DOWNLOADING, timeout=10_000)
        page.view.clearSelection()
        page.row_actions(again.key).buttons["pause"].click()
        assert page.selected() is not None and page.selected().key == again.key
        qtbot.waitUntil(lambda: page.model.jobs[0].state == State.PAUSED, timeout=10_000)
        page.refresh()
        assert page.resume_button.isEnabled() and page.cancel_button.isEnabled()
        page.cancel_button.click()
        qtbot.waitUntil(lambda: page.model.jobs[0].state == State.CANCELLED, timeout=10_000)
        page.refresh()
        assert page.model.index(0, 1).data() is None and page.model.index(0, 2).data() is None
    finally:
        page.timer.stop()
        manager.shutdown()


# My Models: the loaded model marked, a broken file flagged
def test_my_models_flags_a_broken_file_and_marks_the_loaded_model(qtbot, library_with_model: Path) -> None:
    from app.ui.background import Background
    from app.ui.hub.models_page import ModelsPage

    broken = library_with_model.parent / "half-downloaded.gguf"
    broken.write_text("<html>504 Gateway Time-out</html>")
    background = Background()
    page = ModelsPage([library_with_model.parent], background)
    qtbot.addWidget(page)
    try:
        qtbot.waitUntil(lambda: page.model.rowCount() == 2 and not page.reading, timeout=10_000)
        assert "1 cannot be loaded" in page.summary.text()
        rows = {row.model.path.name: index for index, row in enumerate(page.model.rows)}
        bad = rows[broken.name]
        assert "not a GGUF model" in page.model.rows[bad].problem
        assert not page.model.index(bad, 0).data(Qt.ItemDataRole.DecorationRole).isNull()  # the warning icon
        assert page.model.index(bad, 1).data() == "Not a GGUF model file."
        assert page.model.index(bad, 0).data(Qt.ItemDataRole.ToolTipRole).startswith("Cannot be loaded: ")
        page.view.selectRow(bad)
        assert not page.load_button.isEnabled() and page.delete_button.text() == "Remove…"
        assert page.show_button.isEnabled()

        good = rows[library_with_model.name]
        assert page.model.index(good, 0).data(Qt.ItemDataRole.DecorationRole) is None
        page.set_loaded(library_with_model)
        assert page.model.index(good, 0).data().endswith("· loaded")
        assert isinstance(page.model.index(good, 0).data(Qt.ItemDataRole.DecorationRole), QIcon)
        page.view.selectRow(good)
        assert page.load_button.isEnabled() and page.delete_button.text() == "Delete…"
        page.view.selectRow(bad)
        page.delete_selected(confirm=False)  # Remove
        qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
        assert not broken.exists() and library_with_model.exists()
    finally:
        background.shutdown()


# honest state: a persona switch mid-chat asks; Eject clears the figures; names, not ids
def test_a_persona_switch_mid_chat_asks_and_eject_clears_the_figures(qtbot, library_with_model: Path, window) -> None:
    persona = window.persona
    translator = persona.picker.findData("translator")
    persona.picker.activated.emit(translator)  # an empty chat: no question
    assert persona.preset.id == "translator"
    persona.picker.activated.emit(persona.picker.findData("hermes-2"))

    load_first_model(qtbot, window)
    window.persona.max_tokens.setValue(8)
    window.input.setPlainText("Name a colour.")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.chat.send()
    chat_id = window.session.chat_id
    assert window.speed_label.text() != "— tok/s"
    assert window.sidebar.model.index(0).data().split("\n")[1].split(" · ")[1] == "Hermes 2"

    seen: list[str] = []
    answer_next_question(qtbot, "Cancel", seen)
    persona.picker.activated.emit(translator)
    assert seen == ["Switch to “Translator”?"]
    assert persona.preset.id == "hermes-2" and persona.picker.currentData() == "hermes-2"
    assert window.session.chat_id == chat_id

    answer_next_question(qtbot, "Apply to this chat", seen)
    persona.picker.activated.emit(translator)
    assert persona.preset.id == "translator" and window.session.chat_id == chat_id
    assert persona.system_prompt.toPlainText() == persona.library.get("translator").system_prompt

    answer_next_question(qtbot, "Start a new chat", seen)
    persona.picker.activated.emit(persona.picker.findData("assistant"))
    assert len(seen) == 3 and persona.preset.id == "assistant"
    assert window.session.chat_id is None
    assert not any(item.role == "user" for item in window.chat_model.items)
    assert window.store.chat(chat_id) is not None  # the old chat is kept

    window.input.setPlainText("Hi")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        window.chat.send()
    assert window.speed_label.text() != "— tok/s"
    with qtbot.waitSignal(window.model_bar.unloaded, timeout=30_000):
        window.model_bar.eject_action.trigger()
    assert (window.speed_label.text(), window.ttft_label.text(), window.context_label.text()) == (
        "— tok/s", "TTFT —", "context —",
    )  # fmt: skip
    assert window.context_meter.value() == 0


# accessibility: names and tab order; visual language: icons, collapsible panels
def test_every_focusable_widget_has_an_accessible_name(qtbot, window) -> None:
    from app.ui.settings_dialog import SettingsDialog

    for name in ("discover", "models", "downloads"):
        window.router.page(name)
    dialog = SettingsDialog(window.settings, window.paths.default_models_dir, window)
    qtbot.addWidget(dialog)
    unnamed = []
    for root in (window, dialog):
        for widget in root.findChildren(QWidget):
            if widget.window() is not root:  # a combo box's popup list: the combo box is named
                continue
            if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and not widget.accessibleName():
                owner = widget.parentWidget()
                if (
                    owner is not None
                    and owner.accessibleName()
                    and (owner.focusProxy() is widget or isinstance(owner, QAbstractSpinBox | QComboBox))
                ):
                    continue  # the editor inside a named spin box or combo box
                unnamed.append(f"{type(widget).__name__} in {type(owner).__name__}")
    assert not unnamed, "\n".join(sorted(set(unnamed)))
    about = dialog.about.findChildren(QWidget)
    texts = " ".join(w.text() for w in about if hasattr(w, "text"))
    assert "llama.cpp" in texts and "0." in texts and "CPU" in texts


def test_tab_order_icons_and_collapsible_side_panels(qtbot, window) -> None:
    order, widget = [], window.sidebar.view
    for _ in range(4):
        widget = widget.nextInFocusChain()
        while widget.focusPolicy() == Qt.FocusPolicy.NoFocus or widget.focusProxy() is not None:
            widget = widget.nextInFocusChain()
        order.append(widget)
    assert order[:3] == [window.chat_view, window.input, window.send_button]
    for action in (*window.router.actions.actions(), window.model_bar.open_action, window.model_bar.eject_action,
                   window.new_chat_action, window.settings_action):  # fmt: skip
        assert not action.icon().isNull(), action.text()
    splitter = window.stack.widget(0)
    assert splitter.isCollapsible(0) and splitter.isCollapsible(2) and not splitter.isCollapsible(1)
    window.resize(1000, 700)
    qtbot.waitUntil(lambda: window.width() <= 1000)
    splitter.setSizes([0, 600, 0])  # both side panels dragged shut: the chat keeps the room
    assert splitter.sizes()[0] == 0 and splitter.sizes()[2] == 0
    assert splitter.sizes()[1] >= 420
    assert window.sidebar.view.placeholder().startswith("No chats yet")


def test_the_error_banner_follows_the_theme(qtbot, qapp) -> None:
    from app.ui.widgets import ErrorBanner

    banner = ErrorBanner()
    qtbot.addWidget(banner)
    try:
        for scheme in ("light", "dark", "light"):
            theme.apply_theme(qapp, scheme)
            fg, bg = theme.SEMANTIC[scheme]["error"]
            qtbot.waitUntil(lambda bg=bg: f"background: {bg}" in banner.styleSheet())
            assert f"color: {fg}" in banner.styleSheet() and theme.contrast_ratio(fg, bg) >= 4.5
    finally:
        theme.apply_theme(qapp, "system")
