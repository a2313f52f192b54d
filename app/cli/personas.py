"""The persona commands: `presets import|export` of every card format, `lorebooks …`, and `prompt`, which prints
exactly the prompt a model would receive for a message (the entries that fired, and why, on stderr)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.text import message_text, safe
from app.core.errors import HermesError
from app.core.paths import AppPaths

if TYPE_CHECKING:
    from app.core.chat.session import ChatSession
    from app.core.engines.model_format import FileFormat
    from app.core.engines.service import EngineService
    from app.core.personas.presets import Preset
    from app.core.personas.roleplay import Roleplay, RoleplaySettings


def add_presets_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    presets = commands.add_parser("presets", parents=[common], help="the persona library")
    actions = presets.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="every preset")
    actions.add_parser("show", parents=[common], help="one preset in full").add_argument("name")
    export = actions.add_parser("export", parents=[common], help="to JSON, or a V3 card if FILE ends in .png or .charx")
    export.add_argument("name")
    export.add_argument("file", type=Path)
    cards = "a preset JSON or a card (V1/V2/V3 JSON, PNG, CHARX)"
    actions.add_parser("import", parents=[common], help=cards).add_argument("file", type=Path)


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
    prompt.add_argument("--author-note", default=None, help="an author's note for this turn")
    prompt.add_argument("--author-note-depth", type=int, default=None, metavar="N")
    prompt.add_argument("--author-note-every", type=int, default=None, metavar="N")
    prompt.add_argument("--chat", type=int, metavar="ID", help="after this chat's messages, with its roleplay settings")
    prompt.add_argument(
        "--model", help="a GGUF path or library name: its format (as a load picks it) when the preset's is auto"
    )
    prompt.add_argument("message", nargs="+", help="what you say")


def add_chat_options(chat: argparse.ArgumentParser) -> None:
    """Roleplay options of `chat`; with --save or --chat they are kept with the chat (--chat ID keeps its own)."""
    chat.add_argument("--lorebook", action="append", default=[], metavar="NAME", help="a lorebook for this chat")
    chat.add_argument("--user-name", help="who {{user}} is (default: your default user persona, else User)")
    chat.add_argument("--user-persona", metavar="NAME", help="one of your user personas (name and description)")
    chat.add_argument("--author-note", default=None, metavar="TEXT", help="an author's note for this chat")
    chat.add_argument("--author-note-depth", type=int, default=None, metavar="N", help="messages from the end (4)")
    chat.add_argument("--author-note-every", type=int, default=None, metavar="N",
                      help="on every Nth message of yours (1; 0: never)")  # fmt: skip
    chat.add_argument("--greeting", type=int, default=None, metavar="N",
                      help="a new chat's first message: 1 the card's, 2… its alternate greetings")  # fmt: skip


def presets(args: argparse.Namespace, paths: AppPaths) -> int:
    """`presets list|show|import|export`."""
    if args.action == "import":
        return presets_import(args.file, paths)
    if args.action == "export":
        return presets_export(args.name, args.file, paths)
    from app.core.personas.presets import PresetLibrary

    library = PresetLibrary(paths.presets_dir)
    for problem in library.problems:
        print(f"warning: skipped {problem}", file=sys.stderr)
    if args.action == "list":
        for preset in library.presets():
            kind = "built-in" if preset.builtin else "yours"
            print(f"{safe(preset.name):<24} {kind:<9} {safe(preset.description)}")
    elif args.action == "show":
        preset = library.get(args.name)
        print(json.dumps(preset.to_dict(avatar=False), indent=2, ensure_ascii=False))
    return 0


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
    from app.core.chat.roleplay_turn import next_prompt
    from app.core.chat.session import ChatSession
    from app.core.history.store import ChatStore
    from app.core.personas.presets import PresetLibrary
    from app.core.personas.prompt_build import describe_activation
    from app.core.prompting.prompt_formats import preview_prompt

    library = PresetLibrary(paths.presets_dir)
    preset = library.get(args.preset)
    store = ChatStore(paths.chats_db) if args.chat else None
    session = ChatSession(store)
    try:
        stored = ""
        if store is not None:
            session.open(args.chat)
            stored = store.chat(args.chat).settings
        roleplay = roleplay_for(args, paths, preset, stored)
        system = session.system_message.content if session.system_message else preset.system_prompt
        messages, built = next_prompt(session, system, roleplay, message_text(args.message))
    finally:
        if store is not None:
            store.close()
    own, format_notes = _model_format(model, paths)
    tokens = own.tokens if own is not None else None
    text, notes = preview_prompt(
        messages,
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
    assert built is not None
    for line in [*describe_activation(built.activation), *(f"note: {note}" for note in notes)]:
        print(line, file=sys.stderr)
    return 0


def roleplay_settings(args: argparse.Namespace, stored: str = "") -> RoleplaySettings:
    """A chat's kept roleplay (``stored``: its settings JSON) with what the command line says over it."""
    from app.core.personas.roleplay import settings_of

    settings = settings_of(stored)
    given: dict[str, Any] = {
        "user_persona": getattr(args, "user_persona", None),
        "user_name": getattr(args, "user_name", None),
        "author_note": getattr(args, "author_note", None),
        "author_note_depth": getattr(args, "author_note_depth", None),
        "author_note_every": getattr(args, "author_note_every", None),
    }
    for name in ("author_note_depth", "author_note_every"):
        if given[name] is not None and not 0 <= given[name] <= 1000:
            raise HermesError(f"--{name.replace('_', '-')} must be between 0 and 1000.")
    books = tuple(dict.fromkeys([*settings.lorebooks, *getattr(args, "lorebook", [])]))
    return dataclasses.replace(settings, lorebooks=books, **{k: v for k, v in given.items() if v is not None})


def roleplay_for(args: argparse.Namespace, paths: AppPaths, preset: Preset, stored: str = "") -> Roleplay:
    """The roleplay a command's turn uses: names typed on the command line must exist; a chat's kept ones
    that are gone are left out with a warning."""
    from app.core.personas.presets import PresetLibrary
    from app.core.personas.roleplay import RoleplaySources

    sources = RoleplaySources(paths.data, PresetLibrary(paths.presets_dir))
    for name in getattr(args, "lorebook", []):
        sources.lorebooks.get(name)  # an unknown name typed now is an error, not a note
    if getattr(args, "user_persona", None):
        sources.user_personas().get(args.user_persona)
    roleplay = sources.resolve(preset, roleplay_settings(args, stored))
    for note in roleplay.notes:
        print(f"warning: {note}", file=sys.stderr)
    roleplay.notes.clear()
    return roleplay


def start_chat(
    args: argparse.Namespace, paths: AppPaths, session: ChatSession, preset: Preset | None, service: EngineService
) -> tuple[Preset | None, Roleplay | None]:
    """`chat`'s chat: --chat ID opened (its preset and roleplay kept), else a new one with the preset's greeting
    (--greeting N). Returns the preset and the roleplay every turn goes through (None: a plain chat)."""
    from app.core.personas.presets import Preset, PresetError, PresetLibrary
    from app.core.personas.roleplay import RoleplaySettings, TokenCounter, settings_of

    stored = ""
    if args.chat:
        session.open(args.chat)
        chat = session.store.chat(args.chat)
        stored = chat.settings
        if preset is None and chat.preset:
            with contextlib.suppress(PresetError):
                preset = PresetLibrary(paths.presets_dir).get(chat.preset)
    asked = bool(args.lorebook or args.user_name or args.user_persona or args.author_note)
    if preset is None and not asked and settings_of(stored) == RoleplaySettings():
        if args.greeting is not None:
            raise HermesError("--greeting needs a --preset whose card has greetings.")
        return None, None
    speaker = preset or Preset(id="", name="Assistant", system_prompt=args.system or "")
    roleplay = roleplay_for(args, paths, speaker, stored)
    if not args.chat:
        greetings = roleplay.greetings() if preset is not None else []
        chosen = 1 if args.greeting is None else args.greeting
        if args.greeting is not None and not 1 <= chosen <= len(greetings):
            raise HermesError(f"--greeting {chosen}: {speaker.name} has {len(greetings)} greeting(s).")
        session.new(greetings, chosen=chosen - 1)
    session.tokens = TokenCounter(lambda texts: service_counts(service, texts))
    return preset, roleplay


def service_counts(service: EngineService, texts: list[str]) -> list[int] | None:
    """Tokens of each text by the loaded model's tokenizer, on its engine thread (None: no model loaded)."""
    if service.loaded is None:
        return None
    return service.submit(lambda engine: [engine.count_tokens(text) for text in texts]).result()


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
