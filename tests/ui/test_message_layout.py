"""Streaming Markdown: finished chunks are laid out once; only the open tail is re-parsed."""

from PySide6.QtGui import QFont, QPalette

from app.ui.message_layout import MessageDocuments

REPLY = (
    "Here is a function:\n\n"
    "```python\n"
    "def add(a, b):\n"
    "\n"  # a blank line inside a fence must not split the chunk
    "    return a + b\n"
    "```\n\n"
    "And a list:\n\n"
    "- one\n- two\n\n"
    "The end."
)


def feed(body: MessageDocuments, text: str, step: int = 3) -> None:
    for end in range(step, len(text) + step, step):
        body.update(text[:end], streaming=True)


def plain(body: MessageDocuments) -> str:
    return "\n".join(document.toPlainText() for document in body.documents)


def test_streamed_chunks_hold_the_whole_text_and_never_split_a_fence(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    feed(body, REPLY)
    assert len(body.documents) == 5  # intro, code block, "And a list:", the list, the tail
    code = body.documents[1].toPlainText()
    assert code.startswith("def add(a, b):") and code.rstrip().endswith("return a + b")
    assert "```" not in plain(body)  # fences were parsed as Markdown, not shown
    assert "The end." in body.documents[-1].toPlainText()
    assert body.height == body.offsets[-1] + int(body.documents[-1].size().height())


def test_appending_touches_only_the_tail(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    text = "First paragraph.\n\nSecond"
    body.update(text, streaming=True)
    frozen = body.documents[0]
    for word in [" grows", " and", " grows"]:
        text += word
        body.update(text, streaming=True)
        assert body.documents[0] is frozen  # never re-parsed
    assert body.documents[-1].toPlainText() == "Second grows and grows"


def test_finishing_lays_out_the_whole_message_once(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    feed(body, REPLY)
    body.update(REPLY, streaming=False)
    assert len(body.documents) == 1
    assert "return a + b" in body.documents[0].toPlainText()


def test_plain_text_for_user_messages(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette(), markdown=False)
    body.update("**not bold**", streaming=False)
    assert body.documents[0].toPlainText() == "**not bold**"
    assert 0 < body.ideal_width <= 500
