"""A thinking model's reply in the window's path: the engine thread's batches keep reasoning apart from the answer,
and the open conversation's session (and its history) holds it apart."""

import dataclasses
from pathlib import Path

from app.core.chat.items import TurnSettings
from app.core.engines.load_options import LoadOptions
from app.core.engines.service import GenerationRequest
from app.core.history.store import ChatStore
from app.core.prompting.types import Sampling
from app.ui.chat.chat_view import ChatView
from app.ui.chat.conversation import Conversation
from app.ui.chat.message_delegate import stats_line
from app.ui.engines.engine_client import EngineClient

FORCED = 'root ::= "Sky means blue." "</think>" "\\n\\nBlue."'


def test_the_window_keeps_the_thought_apart_from_the_answer(qtbot, thinking_model: Path, tmp_path: Path) -> None:
    client = EngineClient()
    store = ChatStore(tmp_path / "chats.sqlite3")
    try:
        with qtbot.waitSignal(client.model_loaded, timeout=30_000):
            client.load(str(thinking_model), LoadOptions(context_size=1024))
        conversation = Conversation(store, client)
        view = ChatView()  # the transcript, as the window shows it
        qtbot.addWidget(view)
        view.resize(700, 500)
        view.setModel(conversation.model)
        view.show()
        thoughts: list[str] = []
        labels: list[str] = []  # the reasoning's line in the view as each thought arrives

        def thought(_rid: int, text: str) -> None:
            thoughts.append(text)
            row = view.model().rowCount() - 1
            layout = view.message_delegate.layout(view.item(row), view.viewport().width(), view.palette(), view.font())
            labels.append(layout.thought.label if layout.thought is not None else "")

        client.thoughts.connect(thought)
        session = conversation.session
        request = session.send("Colour of the sky?", TurnSettings(sampling=Sampling(temperature=0.0, max_tokens=32)))
        forced: GenerationRequest = dataclasses.replace(request, grammar=FORCED)
        with qtbot.waitSignal(client.generation_finished, timeout=60_000):
            conversation._request_id = client.submit(forced)
        qtbot.waitUntil(lambda: not session.busy, timeout=5_000)
        reply = session.items[-1]
        assert "".join(thoughts) == "Sky means blue."
        assert (reply.reasoning, reply.text) == ("Sky means blue.", "Blue.")
        assert "thought" not in stats_line(reply)  # said once, on the block's line
        assert labels and set(labels) == {"▸ Thinking…"}  # collapsed while it thought, then "Thought"
        last = view.model().rowCount() - 1
        layout = view.message_delegate.layout(reply, view.viewport().width(), view.palette(), view.font())
        assert layout.thought is not None and layout.thought.label.startswith("▸ Thought")
        assert view.message_geometry(last).thought is not None
        assert store.active_path(session.chat_id or 0)[-1].reasoning == "Sky means blue."
    finally:
        client.shutdown()
        store.close()


def test_the_think_toggle_shows_for_templates_that_can_switch_thinking_and_reaches_the_prompt(
    qtbot, window, thinking_model: Path, library_with_model: Path
) -> None:
    """The thinking copy's template takes enable_thinking: Think shows, and off renders the empty thought block."""
    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(library_with_model))
    assert not window.think.isVisible()  # the starter's ChatML template cannot switch thinking
    assert window.chat.turn().reasoning.template_kwargs() == {}

    with qtbot.waitSignal(window.model_ready, timeout=30_000):
        window.model_bar.load_model(str(thinking_model))
    assert window.think.isVisible() and window.think.isChecked()
    assert window.chat.turn().reasoning.template_kwargs() == {"enable_thinking": True}
    window.think.click()
    turn = window.chat.turn()
    assert turn.reasoning.template_kwargs() == {"enable_thinking": False}
    prompt = window.client.service.submit(
        lambda engine: engine.prompt_format().with_options(turn.reasoning).render([{"role": "user", "content": "Hi"}])
    ).result(30)
    assert prompt.text.endswith("<think>\n\n</think>\n\n")  # thinking off: the template closes the block itself
