"""`hermes-studio personas list|add|edit|remove|default`: your user personas (who ``{{user}}`` is in a chat)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.text import safe
from app.core.files import read_regular
from app.core.paths import AppPaths
from app.core.personas.user_personas import MAX_AVATAR_BYTES, UserPersona, UserPersonaError, UserPersonaStore


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    personas = commands.add_parser("personas", parents=[common], help="your user personas (who {{user}} is)")
    actions = personas.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="every user persona (* the default)")
    for name, what in (("add", "a new user persona"), ("edit", "change one (its name with --name)")):
        action = actions.add_parser(name, parents=[common], help=what)
        action.add_argument("name")
        action.add_argument("--description", default=None, help="what the model is told about you")
        action.add_argument("--avatar", type=Path, default=None, metavar="PNG", help="a PNG picture (1 MB at most)")
        action.add_argument("--default", action="store_true", help="use it in new chats")
        if name == "edit":
            action.add_argument("--name", dest="new_name", default=None, help="a new name")
            action.add_argument("--no-avatar", action="store_true", help="remove its picture")
    actions.add_parser("remove", parents=[common], help="delete one").add_argument("name")
    actions.add_parser("default", parents=[common], help="the one new chats use").add_argument("name")


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    store = UserPersonaStore(paths.data)
    if store.problem:
        if args.action != "list":  # writing now would lose what the damaged file holds
            raise UserPersonaError(f"{store.problem} Fix or move it before changing your personas.")
        print(f"warning: {store.problem}", file=sys.stderr)
    if args.action == "list":
        for persona in store.personas():
            mark = "*" if persona.name == store.default else " "
            picture = "  [avatar]" if persona.avatar_png else ""
            about = persona.description.strip().splitlines()[0][:60] if persona.description.strip() else ""
            print(f"{mark} {safe(persona.name):<24} {safe(about)}{picture}")
        if not store.personas():
            print("No user personas yet: {{user}} is 'User'. Add one with `hermes-studio personas add NAME`.")
    elif args.action == "add":
        if any(p.name.lower() == args.name.strip().lower() for p in store.personas()):
            raise UserPersonaError(f"You already have a user persona named {args.name!r}; change it with `edit`.")
        avatar = _avatar(args.avatar) if args.avatar else b""
        store.save(UserPersona(args.name, args.description or "", avatar), default=args.default)
        print(f"Added {args.name.strip()!r}" + (" (default)" if store.default == args.name.strip() else ""))
    elif args.action == "edit":
        old = store.get(args.name)
        avatar = b"" if args.no_avatar else _avatar(args.avatar) if args.avatar else old.avatar_png
        description = old.description if args.description is None else args.description
        changed = UserPersona(args.new_name or old.name, description, avatar)
        store.save(changed, default=args.default, replacing=old.name)
        print(f"Saved {changed.name.strip()!r}")
    elif args.action == "remove":
        store.remove(args.name)
        print(f"Removed {args.name!r}" + (f"; the default is now {store.default!r}" if store.default else ""))
    elif args.action == "default":
        store.set_default(args.name)
        print(f"New chats use {store.default!r}")
    return 0


def _avatar(path: Path) -> bytes:
    try:
        return read_regular(path, MAX_AVATAR_BYTES)
    except OSError as exc:
        raise UserPersonaError(f"Could not read {path.name}: {exc.strerror or exc}") from None
