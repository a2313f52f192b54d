"""Blocks into passages of a bounded number of tokens (by the embedding model's tokenizer), overlapping a little.

Blocks are packed whole while they fit; a block longer than a passage is cut at sentence ends, then words. Each
passage carries the span of its blocks' locations, so a citation says "pp. 3–4" or "lines 10–24". The overlap
repeats the last blocks (or words) of one passage at the start of the next, so a fact cut by a boundary is whole
in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.knowledge.blocks import Block, span

_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    text: str
    location: dict[str, Any]
    tokens: int


@dataclass(frozen=True)
class ChunkSize:
    max_tokens: int = 200
    overlap: int = 40


def chunk_blocks(
    blocks: Sequence[Block], kind: str, count: Callable[[str], int], size: ChunkSize = ChunkSize()
) -> list[Chunk]:
    pieces: list[tuple[Block, int]] = []
    for block in blocks:
        for text in _split(block.text, count, size.max_tokens):
            pieces.append((Block(text, block.page, block.line, block.end, block.para, block.section), count(text)))
    chunks: list[Chunk] = []
    current: list[tuple[Block, int]] = []
    total = 0
    for piece in pieces:
        if current and total + piece[1] + 1 > size.max_tokens:
            chunks.append(_chunk(current, kind, total))
            current = _overlap(current, size.overlap)
            total = sum(tokens for _block, tokens in current)
            if total + piece[1] + 1 > size.max_tokens:
                current, total = [], 0
        current.append(piece)
        total += piece[1] + (1 if len(current) > 1 else 0)
    if current:
        chunks.append(_chunk(current, kind, total))
    return chunks


def _chunk(pieces: list[tuple[Block, int]], kind: str, total: int) -> Chunk:
    blocks = [block for block, _tokens in pieces]
    return Chunk("\n".join(block.text for block in blocks), span(blocks, kind), total)


def _overlap(pieces: list[tuple[Block, int]], budget: int) -> list[tuple[Block, int]]:
    kept: list[tuple[Block, int]] = []
    used = 0
    for piece in reversed(pieces):
        if used + piece[1] > budget:
            break
        kept.insert(0, piece)
        used += piece[1]
    return kept


def _split(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` tokens: sentences packed, a sentence too long cut between words."""
    if count(text) <= limit:
        return [text]
    out: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE.split(text) if s.strip()):
        if count(sentence) > limit:
            if current:
                out.append(current)
                current = ""
            out.extend(_words(sentence, count, limit))
            continue
        joined = f"{current} {sentence}" if current else sentence
        if current and count(joined) > limit:
            out.append(current)
            current = sentence
        else:
            current = joined
    if current:
        out.append(current)
    return out


def _words(text: str, count: Callable[[str], int], limit: int) -> list[str]:
    words = text.split()
    out: list[str] = []
    start = 0
    while start < len(words):
        # a guess from the average, then back off until it fits (a run of digits can be a token each)
        step = max(1, min(len(words) - start, limit * 2 // 3))
        while step > 1 and count(" ".join(words[start : start + step])) > limit:
            step = max(1, step * 2 // 3)
        piece = " ".join(words[start : start + step])
        out.append(piece if count(piece) <= limit else piece[: limit * 2])
        start += step
    return out
