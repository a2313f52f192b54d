"""Big or hostile text: the core's cheap checks and the plan of what a face lays out at once (issue 25, defect 8)."""

from __future__ import annotations

import random
import string

import pytest

from app.core.rendering import big_text
from app.core.rendering.big_text import LINE_CAP, PIECE_CHARS, SHOWN_CAP, cut, needs_plan, plan

BLOB = "".join(random.Random(1).choices(string.ascii_letters + string.digits, k=500_000))
ORDINARY = (
    "## Answer\n\nSome **bold** and *emphasis* with `code`.\n\n1. one\n2. two\n\n"
    "```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
)


def test_ordinary_markdown_is_laid_out_as_ever() -> None:
    assert not needs_plan(ORDINARY, markdown=True)
    assert not needs_plan(ORDINARY * 20, markdown=True)  # a long reply (5,000 characters) too
    assert not needs_plan("a plain message of yours", markdown=False)


@pytest.mark.parametrize(
    ("text", "markdown"),
    [(BLOB, True), (BLOB, False), (BLOB * 10, True), ("*a" * 100_000, True), ("`a" * 1_000, True), ("x" * 400, True)],
    ids=["line", "line-plain", "5MB", "emphasis", "backticks", "run"],
)
def test_hostile_text_is_planned(text: str, markdown: bool) -> None:
    assert needs_plan(text, markdown=markdown)


def test_a_long_line_is_cut_and_says_how_much_is_left_out() -> None:
    shown, hidden = cut("short\n" + BLOB + "\nend")
    assert hidden == len(BLOB) - LINE_CAP
    lines = shown.split("\n")
    assert lines[0] == "short" and lines[2] == "end"
    assert lines[1].startswith(BLOB[:LINE_CAP]) and f"{len(BLOB) - LINE_CAP:,} more characters" in lines[1]


def test_a_huge_message_is_cut_at_the_cap_reading_only_what_is_shown() -> None:
    text = "\n".join(f"line {i}" for i in range(200_000))
    shown, hidden = cut(text)
    assert len(shown) < SHOWN_CAP + 100
    assert hidden == len(text) - text.index(shown.split("\n")[-2]) - len(shown.split("\n")[-2]) - 1
    assert text.startswith(shown.rsplit("\n", 1)[0])


def test_blocks_are_small_and_hold_exactly_the_shown_text() -> None:
    planned = plan(BLOB * 10, markdown=False, show_all=True)
    blocks = list(planned.blocks)
    assert planned.hidden == 0 and planned.shown == len(BLOB) * 10
    assert all(len(block.text) <= PIECE_CHARS and block.kind == "plain" and block.anywhere for block in blocks)
    assert "".join(block.text for block in blocks) == BLOB * 10


def test_costly_markdown_falls_back_to_plain_text_and_cheap_markdown_stays() -> None:
    text = ORDINARY + "\n\n" + "*a" * 100_000 + "\n\n" + ORDINARY
    blocks = list(plan(text, markdown=True, show_all=True).blocks)
    kinds = {block.kind for block in blocks}
    assert kinds == {"markdown", "plain", "code"}
    assert all(not big_text.heavy_markup(block.text) for block in blocks if block.kind == "markdown")
    plain = "".join(block.text for block in blocks if block.kind == "plain")  # (a piece ends anywhere in a run)
    assert ("*a" * 100_000).startswith(plain) and len(plain) > 199_000
    code = [block for block in blocks if block.kind == "code"]
    assert [block.text for block in code] == ["print('hi')", "print('hi')"] and code[0].language == "python"


def test_a_cut_code_block_is_not_offered_as_code() -> None:
    """Its Copy would give the cut code: shown as plain text instead (the message's Copy has it all)."""
    text = "```\n" + BLOB + "\n```\n"
    blocks = list(plan(text, markdown=True).blocks)
    assert blocks and all(block.kind == "plain" for block in blocks)


def test_a_long_reply_keeps_its_code_blocks() -> None:
    code = "\n".join(f"print({i})" for i in range(1_000))  # 10,000 characters of code
    text = ("Some prose.\n\n" * 2_000) + f"```python\n{code}\n```\n"
    assert needs_plan(text, markdown=True)
    blocks = list(plan(text, markdown=True).blocks)
    assert [block.text for block in blocks if block.kind == "code"] == [code]


def test_cut_keeps_a_text_that_needs_no_cut_exactly() -> None:
    assert cut("a\nb\n") == ("a\nb\n", 0)
    shown, hidden = cut("x" * 2_000 + "\nend\n")
    assert shown.endswith("more characters]\nend\n") and hidden == 1_000
