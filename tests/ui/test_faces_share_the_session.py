"""The window and `hermes-studio chat --save` run the same ChatSession: the same exchange stores the same tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt

from app.core.history import exchange
from app.core.history.store import ChatStore


def tree(db: Path) -> list[tuple]:
    """Every message of the only chat: (role, parent's role, content, state, model, preset)."""
    store = ChatStore(db)
    try:
        (chat,) = store.list_chats()
        messages = exchange.export_tree(store, chat.id)["messages"]
    finally:
        store.close()
    by_id = {m["id"]: m for m in messages}
    return [
        (m["role"], by_id[m["parent"]]["role"] if m["parent"] else None, m["content"], m["state"],
         m.get("model", ""), m.get("preset", ""))
        for m in messages
    ]  # fmt: skip


def test_cli_and_window_store_identical_trees(qtbot, library_with_model: Path, window, tmp_path: Path) -> None:
    window.persona.max_tokens.setValue(16)
    window.persona.temperature.setValue(0.0)
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    qtbot.keyClicks(window.input, "Name three colours.")
    with qtbot.waitSignal(window.reply_finished, timeout=60_000):
        qtbot.keyClick(window.input, Qt.Key.Key_Return)
    gui_tree = tree(window.paths.chats_db)

    cli_home = tmp_path / "cli-home"
    result = subprocess.run(
        [sys.executable, "-m", "app", "--basedir", str(cli_home), "chat", "--save", "--model", str(library_with_model),
         "--preset", window.persona.preset.name, "--temperature", "0", "--max-tokens", "16", "--context-size", "2048",
         "Name three colours."],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cli_tree = tree(cli_home / "data" / "chats.sqlite3")
    assert [row[0] for row in gui_tree][-2:] == ["user", "assistant"]
    assert gui_tree[-1][2].strip()  # a real reply, not two empty ones
    assert cli_tree == gui_tree
