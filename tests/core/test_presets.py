"""The persona library: built-ins, user presets, import/export, character cards, hostile input."""

import base64
import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.personas.builtin import EDWARD_ELRIC_SYSTEM_PROMPT, HERMES_2_SYSTEM_PROMPT
from app.core.personas.cards import (
    PNG_SIGNATURE,
    _chunk,
    parse_card_png,
    placeholder_png,
    read_png_chunks,
    write_card_png,
)
from app.core.personas.presets import (
    Preset,
    PresetError,
    PresetLibrary,
    parse_import,
    preset_from_dict,
)
from app.core.prompting.prompt_formats import resolve_format
from app.core.prompting.types import Sampling
from tests.core.test_prompt_formats import MODEL_CARD_PROMPT

V1_CARD = {
    "name": "Aria",
    "description": "{{char}} is a ship's navigator who talks to {{user}} about stars.",
    "personality": "curious, warm",
    "scenario": "On the deck of <BOT>'s ship at night.",
    "first_mes": "*looks up* Oh, hello {{user}}! I'm {{char}}.",
    "mes_example": "<START>\n{{user}}: Where are we?\n{{char}}: Near Polaris.",
}
V2_CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        **V1_CARD,
        "name": "Bram",
        "system_prompt": "Write {{char}}'s next reply. {{original}}",
        "creator_notes": "A gruff blacksmith.",
        "tags": ["fantasy"],
        "extensions": {},
        "alternate_greetings": [],
    },
}


def png_with_text(text_chunk: bytes) -> bytes:
    """A valid PNG (checksums right) with one extra tEXt chunk before its end."""
    image = placeholder_png(8)
    return image[:-12] + _chunk(b"tEXt", text_chunk) + image[-12:]


def card_png(card: dict) -> bytes:
    return write_card_png(card, placeholder_png(8))


@pytest.fixture
def library(tmp_path: Path) -> PresetLibrary:
    return PresetLibrary(tmp_path / "presets")


def snapshot(library: PresetLibrary) -> dict[str, bytes]:
    folder = library.user_dir
    return {p.name: p.read_bytes() for p in folder.glob("*")} if folder.exists() else {}


def test_builtins_carry_the_model_cards_prompts_verbatim(library: PresetLibrary) -> None:
    names = [p.name for p in library.presets()]
    assert names[:2] == ["Hermes 2", "Edward Elric"]
    assert len(names) >= 5
    assert library.get("Hermes 2").system_prompt == HERMES_2_SYSTEM_PROMPT
    assert library.get("edward-elric").system_prompt == EDWARD_ELRIC_SYSTEM_PROMPT
    assert all(p.builtin for p in library.presets())


def test_hermes_2_preset_renders_the_model_card_prompt_byte_for_byte(library: PresetLibrary) -> None:
    hermes = library.get("Hermes 2")
    messages = [{"role": "system", "content": hermes.system_prompt}, {"role": "user", "content": "Hello, who are you?"}]
    assert resolve_format("chatml").render(messages).text == MODEL_CARD_PROMPT


def test_edward_elric_preset_chats_through_the_real_engine(library: PresetLibrary, starter_model: Path) -> None:
    edward = library.get("Edward Elric")
    engine = LlamaEngine()
    engine.load(starter_model, LoadOptions(context_size=1024))
    try:
        messages = [
            {"role": "system", "content": edward.system_prompt},
            {"role": "assistant", "content": edward.greeting},
            {"role": "user", "content": "What is the law of equivalent exchange?"},
        ]
        generation = engine.stream(
            messages, edward.sampling.with_overrides(max_tokens=48, seed=11), prompt_format=engine.prompt_format("auto")
        )
        assert len(generation.text().split()) >= 5
        assert EDWARD_ELRIC_SYSTEM_PROMPT in generation.prompt.text
        assert edward.greeting in generation.prompt.text
    finally:
        engine.unload()


def test_builtins_are_read_only_but_can_be_duplicated(library: PresetLibrary) -> None:
    with pytest.raises(PresetError, match="built-in"):
        library.save(replace(library.get("hermes-2"), name="Mine"))
    with pytest.raises(PresetError, match="built-in"):
        library.delete("hermes-2")
    copy = library.duplicate("hermes-2")
    assert copy.name == "Hermes 2 (copy)" and not copy.builtin
    assert copy.system_prompt == HERMES_2_SYSTEM_PROMPT
    assert (library.user_dir / f"{copy.id}.json").exists()


def test_create_edit_rename_delete_and_reload(library: PresetLibrary) -> None:
    created = library.create(Preset(id="", name="Pirate", system_prompt="Talk like a pirate."))
    edited = library.save(replace(created, sampling=Sampling(temperature=1.2, stop=("Arr",), seed=5)))
    renamed = library.rename(edited.id, "Captain")
    reopened = PresetLibrary(library.user_dir)
    again = reopened.get(renamed.id)
    assert (again.name, again.system_prompt, again.sampling.temperature) == ("Captain", "Talk like a pirate.", 1.2)
    assert again.sampling.stop == ("Arr",) and again.sampling.seed == 5
    reopened.delete("captain")
    assert not (library.user_dir / f"{renamed.id}.json").exists()
    with pytest.raises(PresetError, match="No preset named"):
        reopened.get("Captain")


@pytest.mark.expect_log(r"skipping preset")
def test_a_damaged_user_file_is_skipped_and_reported(library: PresetLibrary) -> None:
    library.create(Preset(id="", name="Good"))
    (library.user_dir / "bad.json").write_text("{broken")
    reopened = PresetLibrary(library.user_dir)
    assert reopened.get("Good")
    assert reopened.problems and reopened.problems[0].startswith("bad.json")
    assert (library.user_dir / "bad.json").exists()  # kept, never deleted


@pytest.mark.parametrize("as_png", [False, True])
def test_v1_card_import(library: PresetLibrary, tmp_path: Path, as_png: bool) -> None:
    path = tmp_path / ("aria.png" if as_png else "aria.json")
    path.write_bytes(card_png(V1_CARD) if as_png else json.dumps(V1_CARD).encode())
    preset = library.import_file(path)
    assert preset.name == "Aria"
    assert preset.greeting == "*looks up* Oh, hello User! I'm Aria."
    assert "Aria is a ship's navigator who talks to User about stars." in preset.system_prompt
    assert "Aria's personality: curious, warm" in preset.system_prompt
    assert "Scenario: On the deck of Aria's ship at night." in preset.system_prompt
    assert "User: Where are we?\nAria: Near Polaris." in preset.system_prompt
    assert preset.example_dialogue.endswith("Aria: Near Polaris.")
    assert "{{" not in preset.system_prompt and "<BOT>" not in preset.system_prompt
    if as_png:
        assert preset.avatar_png.startswith(PNG_SIGNATURE)
        assert all(kind != b"tEXt" for kind, _ in read_png_chunks(preset.avatar_png))  # the card data is stripped
    assert library.get("Aria") == preset


@pytest.mark.parametrize("as_png", [False, True])
def test_v2_card_import(library: PresetLibrary, tmp_path: Path, as_png: bool) -> None:
    path = tmp_path / ("bram.png" if as_png else "bram.json")
    path.write_bytes(card_png(V2_CARD) if as_png else json.dumps(V2_CARD).encode())
    preset = library.import_file(path)
    assert preset.name == "Bram"
    assert preset.system_prompt.startswith("Write Bram's next reply.")
    assert preset.description == "A gruff blacksmith."
    assert preset.greeting == "*looks up* Oh, hello User! I'm Bram."


@pytest.mark.parametrize("kind", ["json", "card"])
def test_export_import_round_trip_keeps_every_field(library: PresetLibrary, tmp_path: Path, kind: str) -> None:
    original = library.create(
        Preset(
            id="",
            name="Everything",
            description="All fields set",
            system_prompt="System ✓ with unicode",
            greeting="Hi!",
            example_dialogue="User: a\nEverything: b",
            prompt_format="custom",
            custom_template="{% for m in messages %}{{ m['content'] }}{% endfor %}",
            sampling=Sampling(0.3, 0.8, 12, 0.1, 1.3, 99, ("STOP", "END"), 42),
            avatar_png=placeholder_png(4, (1, 2, 3)),
            color="#123456",
        )
    )
    target = tmp_path / ("export.json" if kind == "json" else "export.png")
    (library.export_json if kind == "json" else library.export_card)(original.id, target)
    if kind == "card":
        assert parse_card_png(target.read_bytes()).name == "Everything"  # a real V2 card, readable elsewhere
    other = PresetLibrary(tmp_path / "elsewhere")
    imported = other.import_file(target)
    assert replace(imported, id=original.id) == original


MALFORMED = {
    "truncated.png": card_png(V1_CARD)[:-20],
    "no-chara.png": placeholder_png(8),
    "bad-base64.png": png_with_text(b"chara\x00!!!!not base64"),
    "wrong-shape.json": json.dumps(["a", "list"]).encode(),
    "wrong-types.json": json.dumps({**V1_CARD, "first_mes": 42}).encode(),
    "no-name.json": json.dumps({**V1_CARD, "name": ""}).encode(),
    "bad-preset.json": json.dumps(
        {"schema": "hermes-studio-preset", "schema_version": 1, "name": "x", "sampling": {"temperature": "hot"}}
    ).encode(),
    "future-preset.json": json.dumps({"schema": "hermes-studio-preset", "schema_version": 99, "name": "x"}).encode(),
    "not-json.json": b"\x00\x01garbage",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_is_a_clear_error_and_changes_nothing(
    library: PresetLibrary, tmp_path: Path, name: str
) -> None:
    library.create(Preset(id="", name="Existing"))
    before = snapshot(library)
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    with pytest.raises(PresetError) as caught:
        library.import_file(path)
    assert str(caught.value).startswith(name)
    assert snapshot(library) == before


def test_a_50_mb_file_is_refused_before_it_is_read(library: PresetLibrary, tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with huge.open("wb") as handle:
        handle.write(PNG_SIGNATURE)
        handle.truncate(50 << 20)
    before = snapshot(library)
    with pytest.raises(PresetError, match="52 MB; presets and cards larger than 16 MB are refused"):
        library.import_file(huge)
    assert snapshot(library) == before


def test_the_bad_base64_fixture_really_is_a_card_with_bad_base64() -> None:
    chunks = read_png_chunks(MALFORMED["bad-base64.png"])
    assert any(kind == b"tEXt" and data.startswith(b"chara\x00!!!!") for kind, data in chunks)
    with pytest.raises(PresetError, match="not valid base64"):
        parse_import(MALFORMED["bad-base64.png"], "x.png")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=6),
    max_leaves=30,
)
card_keys = st.sampled_from(
    ["name", "description", "personality", "scenario", "first_mes", "mes_example", "spec", "data", "tags",
     "extensions", "system_prompt", "schema", "schema_version", "sampling", "avatar_png", "prompt_format", "color"]
)  # fmt: skip
card_like = st.dictionaries(card_keys, json_values | st.text(max_size=40), max_size=10)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=st.one_of(
        card_like, json_values, st.fixed_dictionaries({"spec": st.just("chara_card_v2"), "data": card_like})
    )
)
def test_random_json_never_crashes_the_importer(document) -> None:
    raw = json.dumps(document).encode()
    for filename, payload in (
        ("fuzz.json", raw),
        ("fuzz.png", write_card_png(document, None) if isinstance(document, dict) else raw),
    ):
        try:
            preset = parse_import(payload, filename)
        except PresetError:
            continue
        assert isinstance(preset, Preset) and preset.name.strip()


@settings(max_examples=1000, deadline=None)
@given(blob=st.binary(max_size=512), cut=st.integers(min_value=0, max_value=400))
def test_random_bytes_and_cut_pngs_never_crash_the_importer(blob: bytes, cut: int) -> None:
    for payload in (blob, PNG_SIGNATURE + blob, card_png(V1_CARD)[:cut] + blob):
        with contextlib.suppress(PresetError):
            parse_import(payload, "fuzz.png")


@settings(max_examples=500, deadline=None)
@given(document=card_like)
def test_random_presets_never_crash_validation(document) -> None:
    document = {"schema": "hermes-studio-preset", "schema_version": 1, **document}
    with contextlib.suppress(PresetError):
        preset_from_dict(document)


def test_avatar_base64_must_be_a_png() -> None:
    document = Preset(id="x", name="X").to_dict()
    document["avatar_png"] = base64.b64encode(b"not a png").decode()
    with pytest.raises(PresetError, match="avatar"):
        preset_from_dict(document)
