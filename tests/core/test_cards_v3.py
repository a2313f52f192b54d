"""Character Card V3: PNG (ccv3 and chara), JSON, CHARX archives (hostile ones too), export and round trips."""

from __future__ import annotations

import base64
import io
import json
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from app.cli.main import main
from app.core.personas.card_library import CardStore, card_document, export_card_file, import_card_file
from app.core.personas.card_v3 import read_card_bytes
from app.core.personas.cards import placeholder_png, read_png_chunks
from app.core.personas.presets import PresetError, PresetLibrary

BOOK = {
    "name": "Vale lore",
    "scan_depth": 3,
    "token_budget": 500,
    "recursive_scanning": True,
    "extensions": {},
    "entries": [
        {
            "keys": ["dragon"],
            "content": "Dragons sleep under the vale.",
            "extensions": {},
            "enabled": True,
            "insertion_order": 10,
            "id": 1,
            "comment": "Dragons",
        },
    ],
}


def v3_card(name: str = "Aria", **more: object) -> dict[str, object]:
    data = {
        "name": name,
        "description": "{{char}} is a bard who sings to {{user}}.",
        "personality": "cheerful",
        "scenario": "a tavern",
        "first_mes": "Hello, {{user}}!",
        "mes_example": "",
        "creator_notes": "Made for tests.",
        "system_prompt": "",
        "post_history_instructions": "Stay brief.",
        "alternate_greetings": ["Hi!", "Greetings."],
        "group_only_greetings": ["Hello, everyone."],
        "nickname": "Ari",
        "tags": ["bard"],
        "creator": "tester",
        "character_version": "3",
        "creator_notes_multilingual": {"fr": "Pour les tests."},
        "source": ["https://example.org/aria"],
        "creation_date": 1700000000,
        "modification_date": 1700000001,
        "extensions": {"depth_prompt": {"prompt": "x", "depth": 4}},
        "character_book": BOOK,
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        **more,
    }
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def png_with(chunks: dict[bytes, dict[str, object]]) -> bytes:
    """A real PNG with the given cards as base64 tEXt chunks (keyword -> card)."""
    raw = placeholder_png(8)
    body = raw[:-12]  # before IEND
    for keyword, card in chunks.items():
        data = keyword + b"\x00" + base64.b64encode(json.dumps(card).encode())
        body += struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return body + raw[-12:]


def charx(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.fixture
def library(tmp_path: Path) -> PresetLibrary:
    return PresetLibrary(tmp_path / "presets")


def test_ccv3_chunk_wins_over_chara(tmp_path: Path, library: PresetLibrary) -> None:
    old = {"spec": "chara_card_v2", "data": {"name": "Old Aria", "description": "old"}}
    path = tmp_path / "aria.png"
    path.write_bytes(png_with({b"chara": old, b"ccv3": v3_card()}))
    result = import_card_file(library, path)
    assert result.preset.name == "Aria"
    assert result.document is not None and result.document["data"]["nickname"] == "Ari"
    assert result.preset.avatar_png and b"ccv3" not in result.preset.avatar_png


def test_v3_only_png_imports_through_the_old_path_too(tmp_path: Path, library: PresetLibrary) -> None:
    path = tmp_path / "aria.png"
    path.write_bytes(png_with({b"ccv3": v3_card()}))
    assert library.import_file(path).name == "Aria"  # "no 'chara' text chunk" before


def test_v3_json_and_round_trip_keeps_every_field(tmp_path: Path, library: PresetLibrary) -> None:
    source = tmp_path / "aria.json"
    source.write_text(json.dumps(v3_card()), encoding="utf-8")
    first = import_card_file(library, source)
    for suffix in (".png", ".charx"):
        exported = tmp_path / f"out{suffix}"
        export_card_file(library, first.preset.id, exported)
        other = PresetLibrary(tmp_path / f"other{suffix}")
        again = import_card_file(other, exported)
        assert again.document is not None
        data = dict(again.document["data"])
        extensions = dict(data.pop("extensions"))
        assert "hermes_studio" in extensions
        extensions.pop("hermes_studio")
        original = dict(v3_card()["data"])  # type: ignore[arg-type]
        assert extensions == original.pop("extensions")
        assert data == original
        assert again.preset.system_prompt == first.preset.system_prompt


def test_exported_png_has_ccv3_and_a_v2_chara_for_older_tools(tmp_path: Path, library: PresetLibrary) -> None:
    out = tmp_path / "hermes.png"
    export_card_file(library, "Hermes 2", out)
    texts: dict[bytes, bytes] = {}
    for kind, data in read_png_chunks(out.read_bytes()):
        if kind == b"tEXt":
            keyword, _, text = data.partition(b"\x00")
            texts[keyword] = text
    assert json.loads(base64.b64decode(texts[b"chara"]))["spec"] == "chara_card_v2"
    assert json.loads(base64.b64decode(texts[b"ccv3"]))["spec"] == "chara_card_v3"
    assert card_document(library, "Hermes 2")["data"]["name"] == "Hermes 2"


def test_charx_keeps_avatar_and_assets(tmp_path: Path, library: PresetLibrary) -> None:
    avatar = placeholder_png(16, (1, 2, 3))
    card = v3_card(
        assets=[
            {"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"},
            {"type": "emotion", "uri": "embeded://assets/emotion/happy.webp", "name": "happy", "ext": "webp"},
        ]
    )
    path = tmp_path / "aria.charx"
    path.write_bytes(
        charx(
            {
                "card.json": json.dumps(card).encode(),
                "assets/icon/images/main.png": avatar,
                "assets/emotion/happy.webp": b"RIFF....WEBP",
            }
        )
    )
    result = import_card_file(library, path)
    assert result.preset.avatar_png == avatar
    assert CardStore(library.user_dir).assets(result.preset.id) == {
        "assets/icon/images/main.png": avatar,
        "assets/emotion/happy.webp": b"RIFF....WEBP",
    }
    assert not result.skipped


@pytest.mark.parametrize(
    ("members", "symlink", "message"),
    [
        ({"../card.json": b"{}"}, None, "no card.json"),
        ({"/card.json": b"{}"}, None, "unsafe path"),
        ({}, "card.json", "symbolic link"),
        ({"card.json": b"{}", "bomb.bin": b"\0" * (70 << 20)}, None, "limit"),
        ({"card.json": b"[" * 100 + b"]" * 100}, None, "nests deeper"),
        ({"card.json": b'{"spec": "chara_card_v3", "data": {"name": 5}}'}, None, "must be text"),
    ],
)
def test_hostile_charx_is_refused_and_the_library_unchanged(
    tmp_path: Path, library: PresetLibrary, members: dict[str, bytes], symlink: str | None, message: str
) -> None:
    path = tmp_path / "evil.charx"
    path.write_bytes(charx(members, symlink=symlink))
    before = [p.id for p in library.presets()]
    with pytest.raises(PresetError, match=message):
        import_card_file(library, path)
    assert [p.id for p in library.presets()] == before
    assert not (tmp_path / "presets").exists()


def test_unsafe_asset_paths_are_skipped_and_said(tmp_path: Path, library: PresetLibrary) -> None:
    card = v3_card(assets=[{"type": "x", "uri": "embeded://../../etc/evil", "name": "e", "ext": "txt"}])
    path = tmp_path / "partial.charx"
    path.write_bytes(charx({"card.json": json.dumps(card).encode(), "../../etc/evil": b"boo"}))
    result = import_card_file(library, path)
    assert any("unsafe path" in s for s in result.skipped) and any("not in the archive" in s for s in result.skipped)
    assert not list((tmp_path).rglob("evil"))


def test_cli_imports_every_format_and_exports_charx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--basedir", str(tmp_path / "base")]
    files = {
        "v1.json": json.dumps({"name": "One", "description": "d"}).encode(),
        "v2.png": png_with({b"chara": {"spec": "chara_card_v2", "data": {"name": "Two"}}}),
        "v3.png": png_with({b"ccv3": v3_card("Three")}),
        "v3.charx": charx({"card.json": json.dumps(v3_card("Four")).encode()}),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert main(["presets", "import", str(tmp_path / name), *base]) == 0
    out = capsys.readouterr().out
    assert all(f"'{n}'" in out for n in ("One", "Two", "Three", "Four"))
    assert main(["presets", "export", "Four", str(tmp_path / "four.charx"), *base]) == 0
    assert read_card_bytes(zipfile.ZipFile(tmp_path / "four.charx").read("card.json"))["data"]["name"] == "Four"
    (tmp_path / "bad.charx").write_bytes(b"PK\x03\x04 not a zip")
    assert main(["presets", "import", str(tmp_path / "bad.charx"), *base]) == 1
    assert "not a usable .charx" in capsys.readouterr().err
