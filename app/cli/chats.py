"""`hermes-studio chats list|export|import|delete|restore`: the chat history from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.cli.text import safe
from app.core.paths import AppPaths


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    chats = commands.add_parser("chats", parents=[common], help="the chat history")
    chat_actions = chats.add_subparsers(dest="action", metavar="ACTION", required=True)
    chat_actions.add_parser("list", parents=[common], help="every chat, newest first").add_argument(
        "--search", default="", help="only chats whose title or messages contain this"
    )
    chat_export = chat_actions.add_parser("export", parents=[common], help="one chat as Markdown, JSON or OpenAI JSON")
    chat_export.add_argument("id", type=int)
    chat_export.add_argument("--format", choices=["md", "json", "openai"], default="md")
    chat_export.add_argument("--output", type=Path, help="a file (default: standard output)")
    chat_actions.add_parser("import", parents=[common], help="a chat exported as JSON").add_argument("file", type=Path)
    chat_delete = chat_actions.add_parser(
        "delete", parents=[common], help="delete a chat (`chats restore` brings it back until the app next starts)"
    )
    chat_delete.add_argument("id", type=int)
    chat_delete.add_argument("--now", action="store_true", help="remove it for good at once (no undo)")
    chat_actions.add_parser("restore", parents=[common], help="bring back a deleted chat").add_argument("id", type=int)


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    """`chats list|export|import|delete|restore`."""
    from app.core.history import exchange
    from app.core.history.store import ChatStore

    store = ChatStore(paths.chats_db)
    if store.recovered_from:
        print(f"warning: the chat database was damaged; it was kept as {store.recovered_from}", file=sys.stderr)
    try:
        if args.action == "list":
            for chat in store.list_chats(args.search):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.updated_at))
                print(
                    f"{chat.id:>5}  {when}  {store.message_count(chat.id):>4} msgs  {safe(chat.title or '(untitled)')}"
                )
        elif args.action == "export":
            if args.format == "md":
                text = exchange.export_markdown(store, args.id)
            elif args.format == "json":
                text = json.dumps(exchange.export_tree(store, args.id), indent=2, ensure_ascii=False)
            else:
                from app.core.media.store import ImageStore

                openai = exchange.export_openai(store, args.id, ImageStore(paths.images_dir))
                text = json.dumps(openai, indent=2, ensure_ascii=False)
            if args.output:
                exchange.write_export(args.output, text + "\n")
            else:
                print(text)
        elif args.action == "import":
            data = exchange.read_export(args.file)
            print(f"Imported as chat {exchange.import_tree(store, data)}")
        elif args.action == "delete":
            title = store.chat(args.id).title or "(untitled)"
            store.delete_chat(args.id)
            if args.now:
                from app.core.media.store import ImageStore

                store.purge_deleted()
                ImageStore(paths.images_dir).prune(store.image_hashes(), older_than_s=0)  # its images, unless shared
                print(f"Deleted chat {args.id} ({title}) for good.")
            else:
                print(
                    f"Deleted chat {args.id} ({title}). `hermes-studio chats restore {args.id}` brings it back "
                    "until the app next starts."
                )
        elif args.action == "restore":
            store.undelete_chat(args.id)
            print(f"Restored chat {args.id} ({store.chat(args.id).title or '(untitled)'}).")
    finally:
        store.close()
    return 0
