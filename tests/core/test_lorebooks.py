"""Lorebooks: World Info and character_book in and out, activation entry by entry, macros, the `prompt` command."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.personas.lorebook import Entry, Logic, Lorebook, Position, parse_book, to_character_book, to_world_info
from app.core.personas.lorebook_scan import Scanner
from app.core.personas.macros import MacroContext, resolve
from app.core.personas.presets import Preset
from app.core.personas.prompt_build import build_prompt
from app.core.personas.user_personas import UserPersona


def book(*entries: Entry, **settings: object) -> Lorebook:
    return Lorebook("Test", entries=list(entries), **settings)  # type: ignore[arg-type]


def fired(lorebook: Lorebook, *messages: str, seed: int = 0) -> list[int]:
    return [f.entry.uid for f in Scanner([lorebook]).activate(list(messages), seed=seed).fired]


def test_keys_case_whole_words_and_scan_depth() -> None:
    lore = book(
        Entry(1, ["Dragon"], "d"),
        Entry(2, ["Elf"], "e", case_sensitive=True),
        Entry(3, ["orc"], "o", whole_words=True),
        Entry(4, ["old key"], "k"),
        scan_depth=2,
    )
    assert fired(lore, "a DRAGON appears") == [1]
    assert fired(lore, "an elf") == []
    assert fired(lore, "an Elf") == [2]
    assert fired(lore, "sorcery") == [] and fired(lore, "an orc!") == [3]
    assert fired(lore, "the old key", "one", "two") == []  # three messages back: out of scan depth 2
    assert fired(lore, "the old key", "one") == [4]


@pytest.mark.parametrize(
    ("logic", "text", "fires"),
    [
        (Logic.AND_ANY, "sword of fire", True),
        (Logic.AND_ANY, "sword", False),
        (Logic.AND_ALL, "sword of fire", False),
        (Logic.AND_ALL, "sword of fire and ice", True),
        (Logic.NOT_ANY, "sword of fire", False),
        (Logic.NOT_ANY, "sword", True),
        (Logic.NOT_ALL, "sword of fire and ice", False),
        (Logic.NOT_ALL, "sword of fire", True),
    ],
)
def test_selective_logic(logic: Logic, text: str, fires: bool) -> None:
    entry = Entry(1, ["sword"], "s", secondary_keys=["fire", "ice"], selective=True, logic=logic)
    assert fired(book(entry), text) == ([1] if fires else [])


def test_regex_keys_are_linear_and_bad_ones_reported() -> None:
    lore = book(Entry(1, ["/(a+)+$/"], "r"), Entry(2, ["/hel{2}o/i"], "h"), Entry(3, [r"/(\w)\1/"], "b"))
    scanner = Scanner([lore])
    start = time.perf_counter()
    result = scanner.activate(["a" * 200_000 + "b", "HELLO"], seed=0)
    assert time.perf_counter() - start < 0.5
    assert [f.entry.uid for f in result.fired] == [2]
    assert any("“/(\\w)\\1/” of" in note and "is ignored" in note for note in result.notes)


def test_constant_order_positions_budget_and_decorators() -> None:
    lore = book(
        Entry(1, [], "always", constant=True, order=1),
        Entry(2, ["moon"], "x" * 40, order=5),  # 10 tokens: over the budget, the lowest order is dropped
        Entry(3, ["moon"], "late", order=50, position=Position.AFTER_CHAR),
        Entry(4, ["sun"], "@@activate\n@@depth 2\n@@unknown kept\nforced"),
        Entry(5, ["moon"], "@@dont_activate\nnever"),
        Entry(6, ["star"], "@@scan_depth 3\n@@position after_desc\nfar"),
        token_budget=8,
    )
    result = Scanner([lore]).activate(["star", "a", "moon"], seed=0)
    by_uid = {f.entry.uid: f for f in result.fired}
    assert set(by_uid) == {1, 3, 4, 6}
    assert by_uid[4].position == Position.AT_DEPTH and by_uid[4].depth == 2 and by_uid[4].text == "forced"
    assert by_uid[4].reason == "@@activate" and by_uid[1].reason == "constant"
    assert by_uid[6].position == Position.AFTER_CHAR
    assert [name for name, why in result.dropped if "budget" in why] == ["moon"]
    assert ("unknown", "kept") in lore.entries[3].decorators


def test_probability_is_seeded_per_turn() -> None:
    lore = book(Entry(1, ["coin"], "heads", probability=50, use_probability=True))
    outcomes = [fired(lore, "coin", seed=seed) for seed in range(40)]
    assert outcomes == [fired(lore, "coin", seed=seed) for seed in range(40)]
    assert [1] in outcomes and [] in outcomes


def test_recursion_is_bounded() -> None:
    chain = [Entry(i, [f"k{i}"], f"k{i + 1}") for i in range(20)]
    chain.append(Entry(99, ["k0"], "no further", exclude_recursion=True))
    lore = book(*chain, max_recursion=3, token_budget=10_000)
    result = Scanner([lore]).activate(["k0"], seed=0)
    assert sorted(f.entry.uid for f in result.fired) == [0, 1, 2, 3, 99]
    assert any("Recursion stopped" in n for n in result.notes)
    loop = book(Entry(1, ["a"], "b"), Entry(2, ["b"], "a"))
    assert sorted(fired(loop, "a")) == [1, 2]  # a loop ends: fired entries do not fire again


def test_world_info_round_trip_and_wrong_types_skipped() -> None:
    world = {
        "name": "WI",
        "entries": {
            "0": {
                "uid": 0,
                "key": ["castle"],
                "keysecondary": ["gate"],
                "selective": True,
                "selectiveLogic": 3,
                "content": "c",
                "order": 7,
                "position": 4,
                "depth": 2,
                "probability": 30,
                "useProbability": True,
                "caseSensitive": True,
                "matchWholeWords": True,
                "scanDepth": 5,
                "group": "kept",
                "vectorized": False,
            },
            "1": {"uid": 1, "key": "not, a list", "content": 5},
            "2": {"uid": 2, "key": ["ok"], "content": "fine", "disable": True},
        },
    }
    lore = parse_book(world)
    assert [e.uid for e in lore.entries] == [0, 2] and "content" in lore.skipped[0]
    entry = lore.entries[0]
    assert (entry.logic, entry.position, entry.depth, entry.scan_depth) == (Logic.AND_ALL, Position.AT_DEPTH, 2, 5)
    assert to_world_info(lore)["entries"]["0"] == world["entries"]["0"] | {  # type: ignore[index]
        "comment": "",
        "constant": False,
        "disable": False,
        "excludeRecursion": False,
        "preventRecursion": False,
        "keysecondary": ["gate"],
    }
    back = parse_book(to_character_book(lore))
    assert [(e.keys, e.logic, e.position, e.depth, e.probability) for e in back.entries] == [
        (e.keys, e.logic, e.position, e.depth, e.probability) for e in lore.entries
    ]


def test_macros_resolve_at_send_time() -> None:
    context = MacroContext(user="Sam", char="Aria", seed=3, now=datetime.datetime(2026, 1, 2, 9, 5))
    text = "{{user}} & {{char}} <USER> {{time}} {{date}} {{// hidden}}{{random:a,b}} {{roll:d20}} {{unknown}}"
    out = resolve(text, context)
    assert out.startswith("Sam & Aria Sam 09:05 January 2, 2026 ") and "hidden" not in out and "{{unknown}}" in out
    assert out == resolve(text, context)  # seeded
    assert 1 <= int(out.split()[-2]) <= 20


def test_prompt_places_entries_and_the_user_persona() -> None:
    preset = Preset(id="aria", name="Aria", system_prompt="You are {{char}}, talking to {{user}}.")
    lore = book(
        Entry(1, ["dragon"], "Dragons are real.", position=Position.BEFORE_CHAR),
        Entry(2, ["dragon"], "{{user}} fears dragons.", position=Position.AFTER_CHAR),
        Entry(3, ["dragon"], "Deep lore.", position=Position.AT_DEPTH, depth=1),
    )
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    built = build_prompt(
        preset,
        "a dragon!",
        history=history,
        books=[lore],  # type: ignore[arg-type]
        user=UserPersona("Sam", "Sam is a farmer."),
    )
    assert built.messages[0]["content"] == (
        "Dragons are real.\n\nYou are Aria, talking to Sam.\n\nSam is a farmer.\n\nSam fears dragons."
    )
    assert [m["content"] for m in built.messages[1:]] == ["hi", "hello", "Deep lore.", "a dragon!"]


def test_cli_lorebooks_and_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--basedir", str(tmp_path / "base")]
    card = {
        "spec": "chara_card_v3",
        "data": {
            "name": "Aria",
            "description": "{{char}} sings for {{user}}.",
            "character_book": {
                "entries": [
                    {
                        "keys": ["dragon"],
                        "content": "Dragons sleep.",
                        "insertion_order": 1,
                        "enabled": True,
                        "id": 1,
                        "comment": "Dragons",
                        "extensions": {},
                    }
                ]
            },
        },
    }
    (tmp_path / "aria.json").write_text(json.dumps(card), encoding="utf-8")
    world = {"entries": {"0": {"uid": 0, "key": ["moon"], "content": "The moon is red.", "position": 1}}}
    (tmp_path / "world.json").write_text(json.dumps(world), encoding="utf-8")
    assert main(["presets", "import", str(tmp_path / "aria.json"), *base]) == 0
    assert main(["lorebooks", "import", str(tmp_path / "world.json"), *base]) == 0
    assert main(["lorebooks", "list", *base]) == 0
    listing = capsys.readouterr().out
    assert "world" in listing and "card: Aria" in listing
    assert main(["lorebooks", "export", "world", str(tmp_path / "out.json"), *base]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["entries"]["0"]["content"] == "The moon is red."
    capsys.readouterr()
    argv = ["prompt", "--preset", "Aria", "--lorebook", "world", "--user-name", "Sam", "a dragon", "and", "the moon"]
    assert main([*argv, *base]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(
        "<|im_start|>system\nDragons sleep.\n\nYou are Aria. Stay in character.\n\nAria sings for Sam."
    )
    assert "The moon is red." in out and out.endswith("<|im_start|>assistant\n")
    assert "fired: Aria's lorebook / Dragons — key 'dragon'" in err and "key 'moon'" in err
    (tmp_path / "bad.json").write_text('{"entries": 3}', encoding="utf-8")
    assert main(["lorebooks", "import", str(tmp_path / "bad.json"), *base]) == 1
    assert "not a lorebook" in capsys.readouterr().err
