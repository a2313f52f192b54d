"""A message made of parts: the answer's text, the model's reasoning, and room for what the next issues add.

A stored message keeps its answer in ``content`` (what search, titles, exports and the next prompt read) and its
other parts beside it (``Message.parts``): ``ReasoningPart``, ``ImagePart`` (an attached image, by its hash),
``DocumentPart`` (a file attached to a question, or a collection it was asked of), ``CitationPart`` (a numbered
source of a reply: file and location), and a reply's tool steps: ``ToolCallPart`` (a call the model made: its id,
name, arguments and server, and where in the reply's text it came) and ``ToolResultPart`` (what the call returned;
``prompting.tool_parts`` turns them back into the assistant ``tool_calls`` and ``role: "tool"`` messages).

While a reply streams, a piece of reasoning travels as a ``Thought``: a ``str`` marked as reasoning, so every
queue, callback and signal that carries text carries it unchanged, and whoever cares asks ``is_thought(piece)``.
Plain ``str`` pieces are the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal

PartType = Literal["text", "reasoning", "image", "document", "citation", "tool_call", "tool_result"]
EFFORTS = ("low", "medium", "high")


class Thought(str):
    """A piece of the model's reasoning (a ``str``; answer pieces are plain ``str``)."""

    __slots__ = ()


def is_thought(piece: str) -> bool:
    return isinstance(piece, Thought)


@dataclass(frozen=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ReasoningPart:
    """What the model thought before its answer; never sent back to the model."""

    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ImagePart:
    """An image the user attached: its bytes live in the data folder by content (``media.store``), named here."""

    sha256: str
    mime: str
    width: int
    height: int
    name: str = ""
    type: Literal["image"] = "image"

    def as_json(self) -> dict[str, Any]:
        return {"type": "image", "sha256": self.sha256, "mime": self.mime, "width": self.width,
                "height": self.height, "name": self.name}  # fmt: skip

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ImagePart | None:
        """The part of a stored row, or None for a row that is not a whole image part (kept as an OtherPart)."""
        sha, mime = row.get("sha256"), row.get("mime")
        width, height, name = row.get("width", 0), row.get("height", 0), row.get("name", "")
        if not (isinstance(sha, str) and len(sha) == 64 and isinstance(mime, str) and isinstance(name, str)):
            return None
        if not (isinstance(width, int) and isinstance(height, int)):
            return None
        return cls(sha, mime, width, height, name)


@dataclass(frozen=True)
class DocumentPart:
    """A document a question was asked with: an attached file (``mode`` "whole": all of it went into the prompt;
    "retrieved": its most relevant passages did) or a knowledge collection (``collection`` set, ``name`` its name)."""

    name: str  # the file's name, or the collection's
    path: str = ""  # where the file was (empty for a collection)
    collection: str = ""
    mode: str = "whole"  # "whole", "retrieved" or "collection"
    pages: int = 0  # a PDF's pages (0: not paged)
    sha256: str = ""
    type: Literal["document"] = "document"


@dataclass(frozen=True)
class CitationPart:
    """Source ``[index]`` of a reply: a passage of a file (``location`` as people read it: "p. 12", "lines 3–20")."""

    index: int
    file: str  # the file's name ("report.pdf")
    location: str = ""
    path: str = ""
    collection: str = ""
    chunk_id: int = 0  # the passage in the collection's index (0: an attachment's, not kept in an index)
    excerpt: str = ""  # the start of the passage, for a face to show without opening the file
    type: Literal["citation"] = "citation"

    @property
    def label(self) -> str:
        """ "[1] report.pdf, p. 12" """
        return f"[{self.index}] {self.file}" + (f", {self.location}" if self.location else "")


@dataclass(frozen=True)
class SourcesPart:
    """The question as the model read it (its numbered sources, then the question), kept on the question: a reply
    regenerated after the chat was reopened answers from the same sources (the reply's ``CitationPart``s say which)."""

    prompt: str = ""
    type: Literal["sources"] = "sources"


@dataclass(frozen=True)
class ToolCallPart:
    """A call the model made in a reply. ``round``: which of the reply's tool rounds (calls of one round were written
    together); ``at``: how much of the reply's text had been written when it came (the text of that round ends there).
    """

    id: str
    name: str  # as the model was offered it (MCP tools: ``server__tool``)
    arguments: str = "{}"  # JSON text, as OpenAI sends it
    server: str = ""  # the MCP server that ran it ('' for none)
    round: int = 0
    at: int = 0
    type: Literal["tool_call"] = "tool_call"

    def as_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolResultPart:
    """What a call returned (``call_id`` names it): its text as the model read it, cut to fit (``truncated``), an error
    (``error``: the tool failed, or the user did not allow it), and any images it returned, kept by content."""

    call_id: str
    content: str
    name: str = ""
    truncated: bool = False
    error: bool = False
    images: tuple[ImagePart, ...] = ()
    type: Literal["tool_result"] = "tool_result"

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"type": "tool_result", "call_id": self.call_id, "content": self.content,
                               "name": self.name, "truncated": self.truncated, "error": self.error}  # fmt: skip
        if self.images:
            row["images"] = [image.as_json() for image in self.images]
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ToolResultPart | None:
        """The part of a stored row, or None for a row that is not a whole result (kept as an OtherPart)."""
        call_id, content, name = row.get("call_id"), row.get("content"), row.get("name", "")
        truncated, error, images = row.get("truncated", False), row.get("error", False), row.get("images", [])
        if not (isinstance(call_id, str) and isinstance(content, str) and isinstance(name, str)):
            return None
        if not (isinstance(truncated, bool) and isinstance(error, bool) and isinstance(images, list)):
            return None
        kept = [ImagePart.from_json(image) if isinstance(image, dict) else None for image in images]
        if any(image is None for image in kept):
            return None
        return cls(call_id, content, name, truncated, error, tuple(image for image in kept if image is not None))


@dataclass(frozen=True)
class OtherPart:
    """A part of a type this release does not know (or a damaged one): kept as stored, never lost."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)


Part = (
    TextPart | ReasoningPart | ImagePart | DocumentPart | CitationPart | SourcesPart | ToolCallPart | ToolResultPart
    | OtherPart
)  # fmt: skip
ToolPart = ToolCallPart | ToolResultPart
_FIELDS: dict[str, type[DocumentPart] | type[CitationPart] | type[SourcesPart] | type[ToolCallPart]] = {
    "document": DocumentPart, "citation": CitationPart, "sources": SourcesPart, "tool_call": ToolCallPart,
}  # fmt: skip


def images_of(parts: Iterable[Part]) -> tuple[ImagePart, ...]:
    return tuple(part for part in parts if isinstance(part, ImagePart))


def every_image_of(parts: Iterable[Part]) -> tuple[ImagePart, ...]:
    """The message's own images and those its tool results brought (what the image store must keep)."""
    found: list[ImagePart] = []
    for part in parts:
        if isinstance(part, ImagePart):
            found.append(part)
        elif isinstance(part, ToolResultPart):
            found += part.images
    return tuple(found)


def reasoning_of(parts: Iterable[Part]) -> str:
    return "".join(part.text for part in parts if isinstance(part, ReasoningPart))


def citations_of(parts: Iterable[Part]) -> tuple[CitationPart, ...]:
    return tuple(part for part in parts if isinstance(part, CitationPart))


def documents_of(parts: Iterable[Part]) -> tuple[DocumentPart, ...]:
    return tuple(part for part in parts if isinstance(part, DocumentPart))


def sources_prompt_of(parts: Iterable[Part]) -> str:
    """The grounded prompt a question was sent as ('' for a question asked without sources)."""
    return next((part.prompt for part in parts if isinstance(part, SourcesPart)), "")


def tool_parts_of(parts: Iterable[Part]) -> tuple[ToolPart, ...]:
    """A reply's tool calls and results, in the order they happened."""
    return tuple(part for part in parts if isinstance(part, ToolCallPart | ToolResultPart))


def parts_to_json(parts: Sequence[Part]) -> str:
    """The non-content parts as stored (``''`` for none, so old rows and new plain rows look alike)."""
    rows: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ReasoningPart):
            if part.text:
                rows.append({"type": "reasoning", "text": part.text})
        elif isinstance(part, ImagePart):
            rows.append(part.as_json())
        elif isinstance(part, DocumentPart | CitationPart | SourcesPart | ToolCallPart):
            rows.append(asdict(part))
        elif isinstance(part, ToolResultPart):
            rows.append(part.as_json())
        elif isinstance(part, OtherPart):
            rows.append({**part.data, "type": part.type})
    return json.dumps(rows, ensure_ascii=False) if rows else ""


def parts_from_json(raw: str) -> tuple[tuple[Part, ...], str]:
    """Stored parts, and ``''`` — or, for a damaged value, no parts and the raw value to show as text."""
    if not raw:
        return (), ""
    try:
        rows = json.loads(raw)
    except ValueError:
        return (), raw
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return (), raw
    parts: list[Part] = []
    for row in rows:
        kind = str(row.get("type", ""))
        image = ImagePart.from_json(row) if kind == "image" else None
        result = ToolResultPart.from_json(row) if kind == "tool_result" else None
        if kind == "reasoning" and isinstance(row.get("text"), str):
            parts.append(ReasoningPart(row["text"]))
        elif image is not None:
            parts.append(image)
        elif result is not None:
            parts.append(result)
        elif kind in _FIELDS and (known := _known_part(kind, row)) is not None:
            parts.append(known)
        else:
            parts.append(OtherPart(kind, {k: v for k, v in row.items() if k != "type"}))
    return tuple(parts), ""


def _known_part(kind: str, row: dict[str, Any]) -> Part | None:
    """A document, citation or tool-call part from its stored fields (None for a field of the wrong type: kept as
    stored)."""
    cls = _FIELDS[kind]
    values: dict[str, Any] = {}
    for spec in fields(cls):
        if spec.name == "type" or spec.name not in row:
            continue
        value = row[spec.name]
        wanted = type(spec.default) if spec.default is not MISSING else (int if spec.name == "index" else str)
        if type(value) is not wanted:
            return None
        values[spec.name] = value
    try:
        return cls(**values)
    except TypeError:  # a required field missing
        return None


@dataclass(frozen=True)
class ReasoningOptions:
    """What the user asked of a thinking model: thinking on or off (Qwen 3 style), an effort (gpt-oss style)."""

    enable_thinking: bool | None = None  # None: the template's default
    effort: str = ""  # "", "low", "medium" or "high"

    def template_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.enable_thinking is not None:
            kwargs["enable_thinking"] = self.enable_thinking
        if self.effort in EFFORTS:
            kwargs["reasoning_effort"] = self.effort
        return kwargs


def thinking_switch(template: str) -> str:
    """How a chat template turns thinking on and off: ``enable_thinking`` (Qwen 3 style), ``reasoning_effort``
    (gpt-oss style), or "" (it cannot: the Think toggle is hidden)."""
    if "enable_thinking" in template:
        return "enable_thinking"
    return "reasoning_effort" if "reasoning_effort" in template else ""


def reasoning_for(switch: str, think: bool) -> ReasoningOptions:
    """The Think toggle as the template understands it (a gpt-oss model cannot stop thinking: off is a low effort)."""
    if switch == "enable_thinking":
        return ReasoningOptions(enable_thinking=think)
    if switch == "reasoning_effort":
        return ReasoningOptions(effort="" if think else "low")
    return ReasoningOptions()
