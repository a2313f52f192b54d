"""Hostile paths (issue 28, items 7, 8, 10, 25): FIFOs, devices, links, folders and odd names, through the CLI.

Every case runs the real command in its own process with a deadline: before the fixes the FIFOs blocked forever,
``/dev/zero`` was read until memory ran out, exports replaced FIFOs and links, and odd names gave tracebacks.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.faults.conftest import app_command, start

DEADLINE = 120  # generous: a refusal takes well under a second; before the fix these never ended


def run(basedir: Path, *args: str) -> tuple[int, str]:
    proc = start(app_command(basedir, *args), {})
    try:
        _out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{args} still running after {DEADLINE} s") from None
    assert "Traceback" not in err, err[-3000:]
    return proc.returncode, err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def named_fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def test_a_fifo_named_gguf_is_refused_not_waited_on(tmp_path: Path) -> None:
    model = named_fifo(tmp_path, "model.gguf")
    code, err = run(tmp_path / "home", "chat", "--model", str(model), "hello")
    assert code == 1 and "named pipe (FIFO), not a regular file" in err


@pytest.mark.parametrize("command", [("presets", "import"), ("chats", "import")])
def test_imports_refuse_a_fifo(command: tuple[str, str], tmp_path: Path) -> None:
    code, err = run(tmp_path / "home", *command, str(named_fifo(tmp_path, "x.json")))
    assert code == 1 and "named pipe (FIFO), not a regular file" in err


@pytest.mark.parametrize("command", [("presets", "import"), ("chats", "import")])
def test_imports_refuse_an_endless_device(command: tuple[str, str], tmp_path: Path) -> None:
    code, err = run(tmp_path / "home", *command, "/dev/zero")
    assert code == 1 and "a device, not a regular file" in err


def test_a_chat_import_larger_than_its_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate((128 << 20) + 1)  # sparse: the limit plus one byte
    code, err = run(tmp_path / "home", "chats", "import", str(big))
    assert code == 1 and "larger than the 134 MB accepted" in err


def test_presets_export_never_replaces_a_fifo_a_link_or_a_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pipe = named_fifo(tmp_path, "pipe.json")
    target = tmp_path / "target.json"
    target.write_text("mine")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    for path, what in ((pipe, "named pipe"), (link, "symbolic link"), (folder, "a folder")):
        code, err = run(home, "presets", "export", "Hermes 2", str(path))
        assert code == 1 and what in err and "only a new file or a regular file is replaced" in err, err
    assert pipe.is_fifo() and link.is_symlink() and target.read_text() == "mine" and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder.json",
        "home",
        "link.json",
        "pipe.json",
        "target.json",
    ]


def test_presets_export_writes_a_new_file_or_over_a_regular_one(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    assert run(tmp_path / "home", "presets", "export", "Hermes 2", str(out))[0] == 0
    out.write_text("old")
    assert run(tmp_path / "home", "presets", "export", "Hermes 2", str(out))[0] == 0
    assert '"name": "Hermes 2"' in out.read_text()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("", "a folder"),
        (".", "a folder"),
        ("/proc/x.json", "Could not export"),
        ("x" * 300 + ".json", "longer than 255 bytes"),
    ],
    ids=["empty", "dot", "proc", "long name"],
)
def test_presets_export_to_odd_places_is_a_message(where: str, message: str, tmp_path: Path) -> None:
    code, err = run(tmp_path / "home", "presets", "export", "Hermes 2", where)
    assert code == 1 and message in err, err


def test_chats_export_output_never_replaces_a_fifo(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = tmp_path / "chat.json"
    data.write_text('{"format": "hermes-studio-chat", "version": 1, "title": "t", "messages": []}')
    run(home, "chats", "import", str(data))
    pipe = named_fifo(tmp_path, "out.md")
    code, err = run(home, "chats", "export", "1", "--output", str(pipe))
    assert code == 1 and "named pipe" in err and pipe.is_fifo()


def test_a_symlink_loop_in_the_models_folder_is_skipped(tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    models = home / "data" / "models"
    models.mkdir(parents=True)
    (models / "loop.gguf").symlink_to("loop.gguf")
    (models / "a").symlink_to("b")
    (models / "b").symlink_to("a")
    os.link(starter_model, models / "real.gguf")
    code, err = run(home, "models")
    assert code == 0, err  # it was a RuntimeError traceback ("Symlink loop")
    assert "Symlink loop" not in err
    assert run(home, "rm", "nothing-here")[0] == 1


TERMINAL_ATTACK = "Evil\x1b]0;pwned\x07\x1b[2J\u202eName"


def test_terminal_escapes_from_a_card_are_printed_escaped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": TERMINAL_ATTACK, "system_prompt": "hi", "description": "\x1b[31mred"}))
    assert run(home, "presets", "import", str(card))[0] == 0
    proc = start(app_command(home, "presets", "list"), {})
    out, _err = proc.communicate(timeout=DEADLINE)
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "Evil\\x1b]0;pwned\\x07\\x1b[2J\\u202eName" in out


def test_terminal_escapes_in_model_file_names_are_printed_escaped(tmp_path: Path, starter_model: Path) -> None:
    home = tmp_path / "home"
    models = home / "data" / "models"
    models.mkdir(parents=True)
    os.link(starter_model, models / "bad\x1b[2Jname.gguf")
    proc = start(app_command(home, "models"), {})
    out, _err = proc.communicate(timeout=DEADLINE)
    assert "\x1b" not in out and "bad\\x1b[2Jname" in out


def photo_png(side: int = 512) -> bytes:
    """A PNG that does not compress (random pixels, like a photo): ~787 KB at 512×512."""
    import random
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = random.Random(28).randbytes(side * (side * 3 + 1))
    raw = b"".join(b"\0" + rows[i * (side * 3 + 1) + 1 : (i + 1) * (side * 3 + 1)] for i in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def test_a_card_with_a_photo_avatar_imports(tmp_path: Path) -> None:
    from app.core.personas.cards import write_card_png

    home = tmp_path / "home"
    card = tmp_path / "photo.png"
    image = photo_png()
    assert len(image) > 780_000
    data = {"name": "Photo", "description": "d", "first_mes": "hi"}
    card.write_bytes(write_card_png({"spec": "chara_card_v2", "spec_version": "2.0", "data": data}, image))
    code, err = run(home, "presets", "import", str(card))
    assert code == 0, err  # it was "'avatar_png' is longer than 1,048,576 characters"
    proc = start(app_command(home, "presets", "list"), {})
    out, err = proc.communicate(timeout=DEADLINE)
    assert "Photo" in out and "skipping" not in err
