"""The stream split (reasoning vs answer) on every cut of a reply into pieces, and its detection from prompts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from app.core.prompting.parts import ReasoningOptions, ReasoningPart, Thought, parts_from_json, parts_to_json
from app.core.prompting.prompt_formats import PromptFormat
from app.core.prompting.reasoning import HARMONY, THINK_OPEN, THINK_TAGS, ReasoningSplitter, reasoning_format

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "chat_templates"

CASES = [
    # (format, reply as the model wrote it, reasoning, answer)
    (THINK_TAGS, "<think>Sky is blue.</think>\n\nBlue.", "Sky is blue.", "Blue."),
    (THINK_TAGS, "  <think>\nhm</think>Blue.", "\nhm", "Blue."),
    (THINK_TAGS, "Just an answer with <think> in it </think>.", "", "Just an answer with <think> in it </think>."),
    (THINK_TAGS, "</think>Blue.", "", "Blue."),  # a closing tag with no opening: the tag goes, the text stays
    (THINK_TAGS, "<think>a</think>\n<think>b</think>Blue.", "ab", "Blue."),  # repeated blocks
    (THINK_TAGS, "<think>outer <think>inner</think> rest", "outer <think>inner", "rest"),  # nested: as written
    (THINK_TAGS, "<think>cut off while thinking", "cut off while thinking", ""),
    (THINK_TAGS, "<thi", "", "<thi"),  # a partial tag at the very end is text
    (THINK_TAGS, "a < b and <t", "", "a < b and <t"),
    (THINK_OPEN, "Let me see.\n</think>\n\nBlue.", "Let me see.\n", "Blue."),
    (THINK_OPEN, "never closed </thin", "never closed </thin", ""),
    (THINK_OPEN, "</think>Blue.", "", "Blue."),
    (
        HARMONY,
        "<|channel|>analysis<|message|>User asks colour.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>Blue.<|return|>",
        "User asks colour.",
        "Blue.",
    ),
    (HARMONY, "<|channel|>analysis<|message|>cut off", "cut off", ""),
    (
        HARMONY,
        "A plain reply from a model that ignores channels.",
        "",
        "A plain reply from a model that ignores channels.",
    ),
    (HARMONY, "<think>tags</think>answer", "tags", "answer"),
]


def split(fmt: str, pieces: list[str]) -> tuple[str, str, list[str]]:
    splitter = ReasoningSplitter(fmt)
    out: list[str] = []
    for piece in pieces:
        out += splitter.feed(piece)
    out += splitter.close()
    reasoning = "".join(p for p in out if isinstance(p, Thought))
    answer = "".join(p for p in out if not isinstance(p, Thought))
    return reasoning, answer, out


def cuts(text: str) -> list[list[str]]:
    """The text in one piece, one character at a time, and cut at every pair of places."""
    ways = [[text], list(text)]
    for i, j in itertools.combinations(range(1, len(text)), 2):
        ways.append([text[:i], text[i:j], text[j:]])
    return ways


@pytest.mark.parametrize(("fmt", "reply", "reasoning", "answer"), CASES)
def test_every_cut_of_a_reply_splits_the_same(fmt: str, reply: str, reasoning: str, answer: str) -> None:
    for pieces in cuts(reply):
        got_reasoning, got_answer, out = split(fmt, pieces)
        assert (got_reasoning, got_answer) == (reasoning, answer), pieces
        assert all(out), "no empty pieces are passed on"


def test_thoughts_from_a_remote_pass_through_beside_think_tags_in_its_content() -> None:
    pieces = [Thought("from reasoning_content. "), "<think>and from", " content</think>", "Answer", Thought("late")]
    reasoning, answer, _ = split(THINK_TAGS, pieces)
    assert reasoning == "from reasoning_content. and from contentlate"
    assert answer == "Answer"


def test_the_answer_streams_without_delay_once_it_started() -> None:
    splitter = ReasoningSplitter(THINK_TAGS)
    assert splitter.feed("Hello") == ["Hello"]
    assert splitter.feed(" <") == [" <"]  # no tag is looked for inside an answer
    thinking = ReasoningSplitter(THINK_OPEN)
    assert thinking.feed("abc</") == [Thought("abc")]  # only a possible tag is kept back
    assert thinking.thinking


def test_the_format_is_read_from_the_rendered_prompt() -> None:
    assert reasoning_format("<|im_start|>assistant\n<think>\n") == THINK_OPEN
    assert reasoning_format("<|im_start|>assistant\n<think>\n\n</think>\n\n") == THINK_TAGS
    assert reasoning_format("<|im_start|>assistant\n") == THINK_TAGS
    assert (
        reasoning_format("<|start|>system<|message|># Valid channels: analysis, final.<|end|><|start|>assistant")
        == HARMONY
    )


def test_deepseek_r1_template_opens_the_thought_when_thinking_is_enabled() -> None:
    fmt = PromptFormat("r1", (TEMPLATES / "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja").read_text())
    messages = [
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "Blue."},  # the session sends the answer only
        {"role": "user", "content": "And grass?"},
    ]
    assert fmt.takes_thinking
    on = fmt.with_options(ReasoningOptions(enable_thinking=True)).render(messages)  # type: ignore[arg-type]
    off = fmt.with_options(ReasoningOptions(enable_thinking=False)).render(messages)  # type: ignore[arg-type]
    assert on.reasoning == THINK_OPEN and on.text.endswith("<think>\n")
    assert off.reasoning == THINK_TAGS and off.text.endswith("</think>")


def test_qwen3_template_takes_enable_thinking() -> None:
    fmt = PromptFormat("qwen3", (TEMPLATES / "Qwen-Qwen3-0.6B.jinja").read_text())
    messages = [{"role": "user", "content": "Hi"}]
    assert fmt.takes_thinking
    off = fmt.with_options(ReasoningOptions(enable_thinking=False)).render(messages)  # type: ignore[arg-type]
    assert off.text.endswith("<think>\n\n</think>\n\n") and off.reasoning == THINK_TAGS
    default = fmt.render(messages)  # type: ignore[arg-type]
    assert default.text.endswith("<|im_start|>assistant\n") and default.reasoning == THINK_TAGS
    assert not PromptFormat("plain", "{{ messages[0]['content'] }}").takes_thinking


def test_a_harmony_style_template_gets_the_effort_and_is_split_by_channels() -> None:
    template = (
        "<|start|>system<|message|>Reasoning: {{ reasoning_effort | default('medium') }}\n"
        "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
        "{% for m in messages %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}<|end|>{% endfor %}"
        "<|start|>assistant"
    )
    fmt = PromptFormat("harmony", template).with_options(ReasoningOptions(effort="high"))
    rendered = fmt.render([{"role": "user", "content": "Hi"}])
    assert "Reasoning: high" in rendered.text and rendered.reasoning == HARMONY


def test_parts_survive_json_and_a_damaged_value_is_kept_as_text() -> None:
    raw = parts_to_json((ReasoningPart("thought"),))
    assert parts_from_json(raw) == ((ReasoningPart("thought"),), "")
    assert parts_from_json("") == ((), "")
    assert parts_from_json("{not json") == ((), "{not json")
    parts, damaged = parts_from_json('[{"type": "image", "path": "a.png"}, {"type": "reasoning", "text": "t"}]')
    assert damaged == "" and parts[0].type == "image" and parts[1] == ReasoningPart("t")
    assert '"image"' in parts_to_json(parts)  # a part this release does not show is written back as it was
