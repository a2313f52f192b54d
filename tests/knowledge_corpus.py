"""A small corpus of facts no model can know (an invented island), written as a Markdown file, a PDF, a DOCX and a
text file, with two questions per fact: one that shares the fact's rare words ("keyword") and one that says it
in other words ("paraphrase"). Used by the knowledge tests (core, server, the Knowledge page) and
bench/documents.py (hit@3)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fact:
    text: str
    answer: str  # a string found only in the passage that holds the fact
    keyword: str
    paraphrase: str


FACTS = [
    Fact("The lighthouse keeper of Varnholm is Edda Quillon, who has kept the lamp lit for thirty years.",
         "Edda Quillon", "Who is the lighthouse keeper of Varnholm?",
         "Which person tends the coastal beacon that warns ships at night?"),
    Fact("The Brasswick ferry leaves Port Tallow at 6:40 every morning and returns at dusk.",
         "6:40", "When does the Brasswick ferry leave Port Tallow?",
         "What time does the boat depart from the harbour each day?"),
    Fact("Glimmerfin trout spawn only in Lake Oskary, during the week of the first frost.",
         "Lake Oskary", "Where do glimmerfin trout spawn?",
         "In which body of water do those fish lay their eggs when it first freezes?"),
    Fact("The Varnholm council meets in the Copper Hall on the third Tuesday of each month.",
         "Copper Hall", "Where does the Varnholm council meet?",
         "In what building do the local government's elected members hold their monthly sessions?"),
    Fact("Snowmelt cider from Hobb's orchard is aged in juniper barrels for nine months before it is sold.",
         "juniper barrels", "How long is Hobb's snowmelt cider aged?",
         "For how long is the apple drink matured, and in what kind of casks?"),
    Fact("Marrow Academy, the island's only school, teaches 212 pupils in eleven classrooms.",
         "212 pupils", "How many pupils does Marrow Academy have?",
         "How many children attend the sole place of education?"),
    Fact("A toll of four silver pennies is charged to cross the Ketterly bridge.",
         "four silver pennies", "What is the toll on the Ketterly bridge?",
         "What does it cost to get over the river span?"),
    Fact("The kite festival called Windreach is held on the northern cliffs at midsummer.",
         "Windreach", "When is the Windreach kite festival held?",
         "What is the name of the yearly celebration where people fly things in the wind?"),
    Fact("Doctor Pell Ambrose runs the clinic on Salt Street and treats fevers with lindenflower tea.",
         "lindenflower tea", "What does Doctor Pell Ambrose give for fevers?",
         "Which herbal remedy does the physician prescribe for a high temperature?"),
    Fact("The old mine at Crayle Ridge produced blue tin until it flooded in 1911.",
         "1911", "When did the Crayle Ridge mine flood?",
         "In what year did the excavation fill with water and stop working?"),
    Fact("The postal boat carries letters to the mainland twice a week, on Mondays and Thursdays.",
         "Mondays and Thursdays", "When does the postal boat carry letters to the mainland?",
         "On which days is mail shipped off to the continent?"),
    Fact("The Weatherglass Tower is the tallest building on Varnholm, at 41 metres.",
         "41 metres", "How tall is the Weatherglass Tower?",
         "How high is the highest structure on the island?"),
]  # fmt: skip

FILLER = [
    "Visitors often remark on how quickly the weather turns; a bright morning can end in a grey drizzle by noon.",
    "Most houses are built of pale stone with slate roofs, and many have small gardens walled against the wind.",
    "Sheep graze the slopes above the villages, and their wool is spun in winter when the fields lie bare.",
    "The coastal path is marked with white cairns and takes a full day to walk from one end to the other.",
    "Gulls nest along the southern rocks, and in spring the noise of the colony carries far inland.",
    "Bread is baked in communal ovens, a custom that began when firewood was scarce and had to be shared.",
    "Local songs tell of storms and shipwrecks, and are sung at weddings as often as at funerals.",
    "In autumn the heather turns the hills purple, and beekeepers move their hives to follow the bloom.",
    "Fishing boats are painted in family colours so that they can be recognised from the shore.",
    "The island's roads are narrow and unpaved, and carts still outnumber motor vehicles by a wide margin.",
    "Children learn to row before they learn to ride a bicycle, since the sea is never more than a mile away.",
    "Moss grows thickly on the northern sides of walls, and old people use it to tell direction in fog.",
    "Market day brings traders from every village, selling eggs, rope, candles and carved wooden spoons.",
    "The chapel bell is rung by hand, and its rope has been replaced only twice in living memory.",
    "Peat is cut in late spring, stacked to dry through the summer, and burned in hearths all winter.",
    "Seals haul out on the sandbanks at low tide and watch the walkers with open curiosity.",
    "Wild thyme and sea pinks grow between the rocks, and their scent is strongest after rain.",
    "Ponies roam the common land freely and are rounded up once a year to be counted and checked.",
    "Stone walls divide the fields into a patchwork, some of them older than any written record.",
    "Old maps of the coast show reefs under fanciful names that nobody uses any more.",
    "Winter evenings are spent mending nets, telling stories, and playing a card game with very old rules.",
    "A narrow tidal causeway links two of the villages, passable for only a few hours each day.",
    "The wind turbines on the hill were argued about for a decade before the first one was raised.",
    "Blackberries ripen along the lanes in late summer, and every family has its own jam recipe.",
]

FILES = {  # file name: the facts it holds, in order (filler paragraphs between them)
    "notes.md": [0, 1, 2],
    "council.pdf": [3, 4, 5],
    "guide.docx": [6, 7, 8],
    "history.txt": [9, 10, 11],
}


def paragraphs(file_index: int, facts: list[int]) -> list[str]:
    out: list[str] = []
    for n, fact in enumerate(facts):
        base = (file_index * 3 + n) * 5
        out += [FILLER[(base + k) % len(FILLER)] for k in range(5)] + [FACTS[fact].text]
    return out


def write_corpus(folder: Path) -> list[Path]:
    """The four documents in ``folder``; returns their paths."""
    from app.selftest.sample_documents import docx_bytes, pdf_bytes

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (name, facts) in enumerate(FILES.items()):
        texts = paragraphs(index, facts)
        path = folder / name
        if name.endswith(".pdf"):
            path.write_bytes(pdf_bytes([textwrap.wrap(text, 80) for text in texts]))  # a page per paragraph
        elif name.endswith(".docx"):
            path.write_bytes(docx_bytes([("", text) for text in texts]))
        elif name.endswith(".md"):
            path.write_text("# Island notes\n\n" + "\n\n".join(texts) + "\n", encoding="utf-8")
        else:
            path.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
        written.append(path)
    return written


def hit_at_3(search: object, kind: str) -> float:
    """The share of facts whose passage is among the top 3 hits of its ``kind`` question ("keyword"/"paraphrase").

    ``search``: a callable from a question to hits with a ``text``."""
    found = 0
    for fact in FACTS:
        hits = search(getattr(fact, kind))  # type: ignore[operator]
        found += any(fact.answer in hit.text for hit in hits[:3])
    return found / len(FACTS)
