"""Lorebook activation per turn for 100, 2,000 and 20,000 entries (target: under 50 ms per turn at 20,000).

Each entry has two primary keys (a word, a two-word name), a third of them a shared secondary key with
AND ANY logic, a tenth a probability; the last four messages of ~200 words are scanned. The lorebook is
compiled once (as a chat does: the scanner lives as long as the chat's lorebooks do) and then activated for
turns with different messages and seeds.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import TYPE_CHECKING

from bench.common import Figure, Section

if TYPE_CHECKING:
    from app.core.prompting.prompt_formats import ChatMessage


def run(quick: bool = False) -> Section:
    from app.core.personas.lorebook import Entry, Lorebook
    from app.core.personas.lorebook_scan import Scanner
    from app.core.personas.presets import Preset
    from app.core.personas.roleplay import Roleplay, RoleplaySettings
    from app.core.personas.user_personas import UserPersona

    rng = random.Random(1)
    words = [f"w{index}x" for index in range(5000)]
    figures: list[Figure] = []
    turns = 5 if quick else 30
    for count in (100, 2_000, 20_000):
        entries = [
            Entry(
                index,
                [f"term{index}", f"alias{index} name"],
                f"Lore about term{index}. " * 8,
                secondary_keys=["castle"] if index % 3 == 0 else [],
                selective=index % 3 == 0,
                probability=60,
                use_probability=index % 10 == 0,
                order=index % 200,
            )
            for index in range(count)
        ]
        book = Lorebook("bench", entries=entries, scan_depth=4, token_budget=2048)
        started = time.perf_counter()
        scanner = Scanner([book])
        compile_s = time.perf_counter() - started
        times, whole = [], []
        note = RoleplaySettings(author_note="[Stay in character, {{char}}.]")
        roleplay = Roleplay(Preset(id="b", name="Bench", system_prompt="You are {{char}}."), note,
                            UserPersona("Sam", "{{user}} is a bard."), None, scanner, [book])  # fmt: skip
        for turn in range(turns):
            messages = [
                " ".join(rng.choice(words) for _ in range(200)) + f" term{rng.randrange(count)} castle"
                for _ in range(4)
            ]
            started = time.perf_counter()
            scanner.activate(messages, seed=turn)
            times.append(time.perf_counter() - started)
            conversation: list[ChatMessage] = [
                {"role": "user" if index % 2 == 0 else "assistant", "content": text}
                for index, text in enumerate(messages[:3])
            ]
            started = time.perf_counter()
            roleplay.build(conversation)  # a chat's turn: activation, placement, the note, macros
            whole.append(time.perf_counter() - started)
        per_turn = statistics.median(times) * 1000
        figures.append(Figure(f"{count:,} entries: a whole roleplay turn (Roleplay.build, median)",
                              statistics.median(whole) * 1000, "ms"))  # fmt: skip
        target = count == 20_000
        figures.append(
            Figure(
                f"{count:,} entries: activation per turn (median)",
                per_turn,
                "ms",
                "< 50 ms" if target else "",
                per_turn < 50 if target else None,
            )
        )
        figures.append(Figure(f"{count:,} entries: compile once (RE2 set)", compile_s * 1000, "ms"))
    figures += _read_and_write(book)  # the last book built: 20,000 entries
    return Section(
        "Lorebooks: activation per turn",
        "python -m bench lorebooks",
        figures,
        notes="Keys of all entries in one RE2 set: one linear pass over the scanned messages per turn. Read and "
        "write: what the Lorebooks page does to open and save a book (the baseline: json.loads of the same file).",
    )


def _read_and_write(book: object) -> list[Figure]:
    """The Lorebooks page's open and Save of the biggest book, against json.loads of the same file in the same run."""
    import json
    import tempfile
    from pathlib import Path

    from app.core.personas.lorebook import Lorebook, parse_book
    from app.core.personas.lorebook_library import LorebookLibrary

    assert isinstance(book, Lorebook)
    count = len(book.entries)
    with tempfile.TemporaryDirectory() as folder:
        library = LorebookLibrary(Path(folder))
        started = time.perf_counter()
        path = library.save(book)
        write_s = time.perf_counter() - started
        raw = path.read_bytes()
        reads, baselines = [], []
        for _ in range(3):  # interleaved, medians
            started = time.perf_counter()
            json.loads(raw)
            baselines.append(time.perf_counter() - started)
            started = time.perf_counter()
            parse_book(json.loads(raw))
            reads.append(time.perf_counter() - started)
    read, baseline = statistics.median(reads), statistics.median(baselines)
    return [
        Figure(f"{count:,} entries: read the World Info file (JSON + parse_book)", read * 1000, "ms"),
        Figure(f"{count:,} entries: json.loads of the same file (baseline)", baseline * 1000, "ms"),
        Figure(f"{count:,} entries: read / baseline", read / baseline, "x"),
        Figure(f"{count:,} entries: save (to_world_info, JSON, atomic write)", write_s * 1000, "ms"),
    ]
