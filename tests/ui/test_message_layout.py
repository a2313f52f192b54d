"""Streaming Markdown: finished chunks are laid out once; only the open tail is re-parsed."""

from PySide6.QtGui import QFont, QPalette

from app.ui.chat.message_layout import CODE_GAP, MessageDocuments

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
    streamed = body.documents
    body.update(REPLY, streaming=False)
    assert [piece.code is not None for piece in body.pieces] == [False, True, False]  # prose, code, prose
    assert not set(body.documents) & set(streamed)  # laid out anew
    assert body.code_blocks[0].closed and "return a + b" in body.documents[1].toPlainText()
    assert "And a list:" in body.documents[2].toPlainText() and "The end." in body.documents[2].toPlainText()


def test_plain_text_for_user_messages(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette(), markdown=False)
    body.update("**not bold**", streaming=False)
    assert body.documents[0].toPlainText() == "**not bold**"
    assert 0 < body.ideal_width <= 500


def test_a_block_is_coloured_once_its_fence_closes_and_then_left_alone(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    text = "Intro\n```python\nx = 'a'\n"
    body.update(text, streaming=True)
    assert [block.closed for block in body.code_blocks] == [False]  # the open tail: plain
    text += "```\n"
    body.update(text, streaming=True)
    block = body.code_blocks[0]
    assert block.closed and block.code == "x = 'a'"
    for word in ["More", " words", "\n\nA new paragraph"]:
        text += word
        body.update(text, streaming=True)
        assert body.code_blocks[0] is block  # laid out and coloured once
    assert body.documents[-1].toPlainText() == "A new paragraph"


def test_space_between_a_heading_and_a_code_block(qapp) -> None:
    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    body.update("## Title\n```py\nx = 1\n```\nAfter.", streaming=False)
    heading, code, after = body.pieces
    assert code.code is not None and heading.code is None and after.code is None
    assert code.top - (heading.top + heading.height) >= CODE_GAP
    assert after.top - (code.top + code.height) >= CODE_GAP
    assert body.height == after.top + after.height


def test_a_tables_header_cells_align_with_their_column(qapp) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QTextTable

    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    body.update("| Name | Size | Fit |\n|:---|---:|:---:|\n| a | 1.5 GB | yes |\n| b | 12 GB | no |", streaming=False)
    table = body.documents[0].rootFrame().childFrames()[0]
    assert isinstance(table, QTextTable)

    def alignment(row: int, column: int) -> Qt.AlignmentFlag:
        return (
            table.cellAt(row, column).firstCursorPosition().blockFormat().alignment()
            & Qt.AlignmentFlag.AlignHorizontal_Mask
        )

    expected = [Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight, Qt.AlignmentFlag.AlignHCenter]
    for row in range(3):
        assert [alignment(row, column) for column in range(3)] == expected


def test_a_streaming_message_has_no_holes(qapp) -> None:
    """Each finished chunk sits right under the one before (the old tail's height is not left behind)."""
    from app.ui.chat.message_layout import CHUNK_GAP

    body = MessageDocuments(width=500, font=QFont(), palette=QPalette())
    feed(body, REPLY * 3)
    for above, below in zip(body.pieces, body.pieces[1:], strict=False):
        assert below.top - (above.top + above.height) in (CHUNK_GAP, CODE_GAP)
