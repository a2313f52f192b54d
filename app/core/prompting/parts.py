"""A message made of parts: the answer's text, the model's reasoning, and room for what the next issues add.

A stored message keeps its answer in ``content`` (what search, titles, exports and the next prompt read) and its
other parts beside it (``Message.parts``): ``ReasoningPart``, ``ImagePart`` (an attached image, by its hash),
``DocumentPart`` (a file attached to a question, or a collection it was asked of) and ``CitationPart`` (a numbered
source of a reply: file and location); tool calls take the same road (a ``type`` and their fields, stored as JSON).

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
class OtherPart:
    """A part of a type this release does not show (image, document, tool call …): kept as stored, never lost."""

    type: str
    data: Mapping[str, Any] = field(default_factory=dict)


Part = TextPart | ReasoningPart | ImagePart | DocumentPart | CitationPart | SourcesPart | OtherPart
_FIELDS: dict[str, type[DocumentPart] | type[CitationPart] | type[SourcesPart]] = {
    "document": DocumentPart,
    "citation": CitationPart,
    "sources": SourcesPart,
}


def images_of(parts: Iterable[Part]) -> tuple[ImagePart, ...]:
    return tuple(part for part in parts if isinstance(part, ImagePart))


def reasoning_of(parts: Iterable[Part]) -> str:
    return "".join(part.text for part in parts if isinstance(part, ReasoningPart))


def citations_of(parts: Iterable[Part]) -> tuple[CitationPart, ...]:
    return tuple(part for part in parts if isinstance(part, CitationPart))


def documents_of(parts: Iterable[Part]) -> tuple[DocumentPart, ...]:
    return tuple(part for part in parts if isinstance(part, DocumentPart))


def sources_prompt_of(parts: Iterable[Part]) -> str:
    """The grounded prompt a question was sent as ('' for a question asked without sources)."""
    return next((part.prompt for part in parts if isinstance(part, SourcesPart)), "")


def parts_to_json(parts: Sequence[Part]) -> str:
    """The non-content parts as stored (``''`` for none, so old rows and new plain rows look alike)."""
    rows: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ReasoningPart):
            if part.text:
                rows.append({"type": "reasoning", "text": part.text})
        elif isinstance(part, ImagePart):
            rows.append(part.as_json())
        elif isinstance(part, DocumentPart | CitationPart | SourcesPart):
            rows.append(asdict(part))
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
        if kind == "reasoning" and isinstance(row.get("text"), str):
            parts.append(ReasoningPart(row["text"]))
        elif image is not None:
            parts.append(image)
        elif kind in _FIELDS and (known := _known_part(kind, row)) is not None:
            parts.append(known)
        else:
            parts.append(OtherPart(kind, {k: v for k, v in row.items() if k != "type"}))
    return tuple(parts), ""


def _known_part(kind: str, row: dict[str, Any]) -> Part | None:
    """A document or citation part from its stored fields (None if they are not the right types: kept as stored)."""
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
