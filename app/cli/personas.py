"""The persona commands: `presets import|export` of every card format, `lorebooks …`, and `prompt`, which prints
exactly the prompt a model would receive for a message (the entries that fired, and why, on stderr)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.text import message_text
from app.core.paths import AppPaths

if TYPE_CHECKING:
    from app.core.chat.items import TurnSettings
    from app.core.engines.model_format import FileFormat
    from app.core.personas.presets import Preset
    from app.core.personas.prompt_build import BuiltPrompt


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    books = commands.add_parser("lorebooks", parents=[common], help="lorebooks and SillyTavern World Info")
    actions = books.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="every lorebook (World Info files and cards' books)")
    actions.add_parser("show", parents=[common], help="one lorebook's entries").add_argument("name")
    actions.add_parser("import", parents=[common], help="a World Info JSON, a character_book, or a card").add_argument(
        "file", type=Path
    )
    export = actions.add_parser("export", parents=[common], help="as SillyTavern World Info JSON")
    export.add_argument("name")
    export.add_argument("file", type=Path)
    export.add_argument("--character-book", action="store_true", help="as a card's character_book instead")

    prompt = commands.add_parser("prompt", parents=[common], help="print the exact prompt a message would produce")
    prompt.add_argument("--preset", required=True, help="a persona preset (its card's lorebook is used too)")
    prompt.add_argument("--lorebook", action="append", default=[], metavar="NAME", help="another lorebook (repeatable)")
    prompt.add_argument("--user-name", help="who {{user}} is (default: your default user persona, else User)")
    prompt.add_argument("--user-persona", metavar="NAME", help="one of your user personas (name and description)")
    prompt.add_argument("--author-note", default="", help="an author's note for this turn")
    prompt.add_argument("--author-note-depth", type=int, default=4, metavar="N")
    prompt.add_argument(
        "--model", help="a GGUF path or library name: its format (as a load picks it) when the preset's is auto"
    )
    prompt.add_argument("--seed", type=int, default=0, help="the turn's seed (probabilities, {{random}}, {{roll}})")
    prompt.add_argument("message", nargs="+", help="what you say")


def add_chat_options(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("--lorebook", action="append", default=[], metavar="NAME", help="a lorebook for this turn")
    chat.add_argument("--user-name", help="who {{user}} is (default: your default user persona, else User)")
    chat.add_argument("--user-persona", metavar="NAME", help="one of your user personas (name and description)")


def presets_import(path: Path, paths: AppPaths) -> int:
    from app.core.personas.card_library import import_card_file
    from app.core.personas.presets import PresetLibrary

    result = import_card_file(PresetLibrary(paths.presets_dir), path)
    spec = f" ({result.document['spec']})" if result.document else ""
    print(f"Imported {result.preset.name!r}{spec}")
    for skipped in result.skipped:
        print(f"skipped: {skipped}", file=sys.stderr)
    return 0


def presets_export(name: str, path: Path, paths: AppPaths) -> int:
    from app.core.personas.card_library import export_card_file
    from app.core.personas.presets import PresetLibrary

    library = PresetLibrary(paths.presets_dir)
    if path.suffix.lower() in (".png", ".charx"):
        export_card_file(library, name, path)
    else:
        library.export_json(name, path)
    print(path)
    return 0


def lorebooks(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.core.personas.lorebook_library import LorebookLibrary
    from app.core.personas.presets import PresetLibrary

    library = LorebookLibrary(paths.data, PresetLibrary(paths.presets_dir))
    if args.action == "list":
        for info in library.books():
            print(f"{info.name:<32} {info.entries:>6} entries  {info.source}")
        for problem in library.problems:
            print(f"warning: skipped {problem}", file=sys.stderr)
    elif args.action == "show":
        book = library.get(args.name)
        print(f"{book.name}: scan depth {book.scan_depth}, budget {book.token_budget} tokens")
        for entry in book.entries:
            flags = ("constant " if entry.constant else "") + ("" if entry.enabled else "disabled ")
            second = f" +{entry.logic.value}{entry.secondary_keys}" if entry.selective and entry.secondary_keys else ""
            print(f"  [{entry.uid}] {flags}{entry.keys}{second} order {entry.order} {entry.position}: {entry.comment}")
    elif args.action == "import":
        book = library.import_file(args.file)
        print(f"Imported {book.name!r} ({len(book.entries)} entries)")
        for skipped in book.skipped:
            print(f"skipped: {skipped}", file=sys.stderr)
    elif args.action == "export":
        library.export(args.name, args.file, card_book=args.character_book)
        print(args.file)
    return 0


def prompt(args: argparse.Namespace, paths: AppPaths, model: Path | None) -> int:
    from app.core.personas.presets import PresetLibrary
    from app.core.personas.prompt_build import describe_activation
    from app.core.prompting.prompt_formats import preview_prompt

    preset = PresetLibrary(paths.presets_dir).get(args.preset)
    built = build_turn(args, paths, preset, message_text(args.message))
    own, format_notes = _model_format(model, paths)
    tokens = own.tokens if own is not None else None
    text, notes = preview_prompt(
        built.messages,
        preset.prompt_format,
        custom_template=preset.custom_template,
        bos_token=tokens.bos if tokens else None,
        eos_token=tokens.eos if tokens else None,
        add_bos=tokens.add_bos if tokens else False,
        model_loaded=model is not None,
        model_format=own.prompt_format if own is not None else None,
    )
    notes = [*notes, *format_notes]
    if not text:
        print(f"hermes-studio: {'; '.join(notes)}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    sys.stdout.flush()
    for line in [*describe_activation(built.activation), *(f"note: {note}" for note in notes)]:
        print(line, file=sys.stderr)
    return 0


def build_turn(args: argparse.Namespace, paths: AppPaths, preset: Preset, message: str) -> BuiltPrompt:
    """The turn's messages for ``preset``: its card's lorebook plus ``--lorebook``s, the user persona, macros."""
    from app.core.personas.card_library import CardStore
    from app.core.personas.lorebook_library import LorebookLibrary
    from app.core.personas.presets import PresetLibrary
    from app.core.personas.prompt_build import AuthorNote, build_prompt
    from app.core.personas.user_personas import UserPersona, UserPersonaStore

    presets = PresetLibrary(paths.presets_dir)
    card = None if preset.builtin else CardStore(presets.user_dir).load(preset.id)
    library = LorebookLibrary(paths.data, presets)
    books = [library.get(name) for name in args.lorebook]
    own = None if preset.builtin else library.card_book(preset.id)
    if own is not None:
        books.insert(0, own)
    personas = UserPersonaStore(paths.data)
    if personas.problem:
        print(f"warning: {personas.problem}", file=sys.stderr)
    user = personas.get(args.user_persona) if args.user_persona or not personas.problem else UserPersona("User")
    if args.user_name:
        user = UserPersona(args.user_name, user.description)
    return build_prompt(
        preset,
        message,
        card=card,
        books=books,
        user=user,
        seed=getattr(args, "seed", None) or 0,
        author_note=AuthorNote(getattr(args, "author_note", ""), getattr(args, "author_note_depth", 4)),
    )


def system_for_turn(args: argparse.Namespace, paths: AppPaths, preset: Preset, turn: TurnSettings) -> TurnSettings:
    """`chat`'s turn with the system message `prompt` would build (entries at a depth are not in `chat` yet)."""
    from app.core.personas.prompt_build import describe_activation

    built = build_turn(args, paths, preset, message_text(args.message))
    for line in describe_activation(built.activation):
        print(line, file=sys.stderr)
    return dataclasses.replace(turn, system_prompt=built.messages[0]["content"])


def _model_format(model: Path | None, paths: AppPaths) -> tuple[FileFormat | None, list[str]]:
    """The format ``auto`` stands for with ``model`` as a load would pick it (the one set for the file, its
    template, or the fallback for a model without one), with its BOS rule, and the notes on the file's setting."""
    if model is None:
        return None, []
    from app.core.engines.model_format import file_format
    from app.core.engines.model_options import FILE_NAME, ModelOptionsStore
    from app.core.library.gguf_file import read_gguf
    from app.core.prompting.prompt_formats import AUTO

    choice = ModelOptionsStore(paths.config / FILE_NAME).overrides(model).get("prompt_format", AUTO)
    found = file_format(read_gguf(model), choice)
    return found, list(found.notes)  # the format's own note (no template, the fallback) is in the preview's
