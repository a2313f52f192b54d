"""`chat --group PRESET,PRESET[,…] [--speaker NAME] [--turns N] MESSAGE`: a group chat from the command line.

Your message is sent, then ``--turns`` replies follow (default 1), each printed on stdout after its speaker's name
("Edward Elric: …"). The first speaker is ``--speaker``, else whoever your message names, else the next in turn;
the others follow by mention, then in turns. ``--chat ID`` continues a stored group chat with its members (no
``--group`` needed); ``--save`` keeps a new one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.core.settings import Settings

MAX_TURNS = 32


def add_chat_options(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("--group", metavar="PRESET,PRESET", help="a group chat of these personas (two or more)")
    chat.add_argument("--speaker", metavar="NAME", help="(group) who replies first (default: by mention, in turns)")
    chat.add_argument("--turns", type=int, default=1, metavar="N", help="(group) how many replies follow yours")


def wanted(args: argparse.Namespace, paths: AppPaths) -> bool:
    """A group turn: ``--group``, or ``--chat ID`` of a stored group chat."""
    if args.group:
        return True
    if not args.chat:
        return False
    from app.core.chat.group import members_from_json
    from app.core.history.store import ChatStore, StoreError

    store = ChatStore(paths.chats_db)
    try:
        return bool(members_from_json(store.chat(args.chat).members))
    except StoreError:
        return False  # the one-persona path says what is wrong with the chat
    finally:
        store.close()


def chat_group(args: argparse.Namespace, paths: AppPaths, settings: Settings, model: Path) -> int:
    from app.cli.model_args import load_options
    from app.cli.personas import roleplay_settings, service_counts
    from app.cli.terminal import stream_to_terminal, turn_from_arguments
    from app.cli.text import message_text
    from app.core.chat.group import Policy, members_from_json, next_speaker
    from app.core.chat.group_cast import GroupCast
    from app.core.chat.items import ChatItem
    from app.core.chat.session import ChatSession
    from app.core.engines import state_cache
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.service import EngineService
    from app.core.history.store import ChatStore
    from app.core.personas.presets import PresetLibrary
    from app.core.personas.roleplay import RoleplaySources, TokenCounter
    from app.core.prompting.context import ContextPolicy

    _refuse_what_does_not_combine(args)
    library = PresetLibrary(paths.presets_dir)
    sources = RoleplaySources(paths.data, library)
    for name in args.lorebook:
        sources.lorebooks.get(name)  # an unknown name typed now is an error, not a note
    if args.user_persona:
        sources.user_personas().get(args.user_persona)
    store = ChatStore(paths.chats_db) if (args.save or args.chat) else None
    try:
        stored = store.chat(args.chat) if store is not None and args.chat else None
        roleplay = roleplay_settings(args, stored.settings if stored else "")  # the chat's, the options over them
        if stored is not None:
            cast = GroupCast(sources, members_from_json(stored.members), roleplay)
        else:
            cast = GroupCast.of_presets(sources, args.group.split(","), roleplay)
        session = ChatSession(store, describe_preset=library.name_of)
        if stored is not None:
            session.open(stored.id)
        else:
            session.new(group_greetings=cast.greetings(seed=args.seed or 0))
        chosen = next_speaker(cast.members, [], Policy.CHOSEN, args.speaker) if args.speaker else None
        service = EngineService(LlamaEngine(state_cache.from_settings(paths.state_cache_dir, settings)))
        try:
            loaded = service.load(model, load_options(args, paths, settings, model)).result()
            for note in loaded.notes:
                print(f"note: {note}", file=sys.stderr)
            session.tokens = TokenCounter(lambda texts: service_counts(service, texts))
            policy = args.context_policy or (store.chat(args.chat).overflow if store and args.chat else None)
            base = turn_from_arguments(args, session, None, model.stem, context_policy=policy or ContextPolicy.STOP)
            overrides = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
            overrides = {key: value for key, value in overrides.items() if value is not None}
            where = str(loaded.placement)
            message = message_text(args.message)
            pending = [*session.items, ChatItem(role="user", text=message)]  # the chat once your message is in
            for number in range(args.turns):
                items = pending if number == 0 else session.items
                speaker = chosen if number == 0 and chosen else next_speaker(cast.members, items)
                turn = cast.turn(speaker, base, overrides)
                request = session.send(message, turn) if number == 0 else session.reply(turn)
                sys.stdout.write(f"{speaker.name}: ")
                sys.stdout.flush()
                saving, thinking = store is not None, not args.hide_thinking
                stream_to_terminal(session, service, request, saving=saving, where=where, show_thinking=thinking)
                if session.save_error:
                    return 1
            return 0
        finally:
            service.close()
    finally:
        if store is not None:
            store.close()


def _refuse_what_does_not_combine(args: argparse.Namespace) -> None:
    if not 1 <= args.turns <= MAX_TURNS:
        raise HermesError(f"--turns takes 1 to {MAX_TURNS} replies.")
    for option, given in (
        ("--preset", args.preset), ("--system", args.system is not None), ("--engine", args.engine),
        ("--mcp", args.mcp), ("--image", args.image), ("--knowledge", args.knowledge), ("--attach", args.attach),
        ("--greeting", getattr(args, "greeting", None) is not None),
    ):  # fmt: skip
        if given:
            raise HermesError(f"{option} does not combine with a group chat (each persona speaks with its own card).")
