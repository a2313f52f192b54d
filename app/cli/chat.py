"""`hermes-studio chat`: its options, which kind of chat runs (``run``: a group, tools, a remote engine, else the
plain one), and the plain chat itself: one reply streamed to stdout, ``--save``/``--chat`` keeping it in the history.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli import group as group_commands
from app.cli import knowledge as knowledge_commands
from app.cli import library as library_commands
from app.cli import personas as persona_commands
from app.cli.model_args import load_options, resolve_model
from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.core.prompting.context import ContextPolicy
from app.core.prompting.prompt_formats import NO_TEMPLATE
from app.core.settings import Settings


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    chat = commands.add_parser("chat", parents=[common], help="stream one reply to stdout")
    chat.add_argument("--model", required=True, help="a GGUF path or the name of a model in the library")
    chat.add_argument("--preset", help="a persona preset: its system prompt, greeting, format and sampling")
    chat.add_argument("--system", default=None, help="system prompt (default: the preset's, else Hermes 2)")
    chat.add_argument("--max-tokens", type=int, default=None, help="default: the preset's, else 512")
    chat.add_argument("--temperature", type=float, default=None, help="default: the preset's, else 0.7")
    chat.add_argument("--seed", type=int, default=None)
    chat.add_argument("--context-size", type=int, default=None, help="tokens (default: from settings)")
    chat.add_argument("--gpu-layers", metavar="auto|all|N", help="layers on the GPU (default: auto, as many as fit)")
    chat.add_argument("--flash-attn", choices=["auto", "on", "off"], help="flash attention (default: auto)")
    chat.add_argument("--kv-cache", choices=["f16", "q8_0", "q4_0"], help="KV cache type (default: f16)")
    chat.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: llama.cpp's)")
    chat.add_argument("--no-mmap", action="store_true", help="read the whole model into memory instead of mapping it")
    chat.add_argument(
        "--prompt-format", metavar="FORMAT", help="the model's format for this run (`models formats`; default: its own)"
    )
    chat.add_argument("--save", action="store_true", help="record the exchange as a new chat in the history")
    chat.add_argument("--chat", type=int, metavar="ID", help="continue chat ID from the history (implies --save)")
    chat.add_argument(
        "--context-policy",
        choices=[policy.value for policy in ContextPolicy],
        default=None,
        help="when the chat is too long",
    )
    chat.add_argument("--hide-thinking", action="store_true", help="drop a thinking model's reasoning (else: stderr)")
    chat.add_argument("--think", choices=["on", "off"], help="thinking on/off, for templates that take enable_thinking")
    chat.add_argument("--reasoning-effort", choices=["low", "medium", "high"], help="for templates that take one")
    chat.add_argument("--engine", metavar="URL", help="chat through an OpenAI-compatible server (llama-server, vLLM…)")
    chat.add_argument("--api-key", default="", help="the --engine's API key, if it needs one")
    persona_commands.add_chat_options(chat)
    group_commands.add_chat_options(chat)
    chat.add_argument("message", nargs="+", help="what you say")
    chat.add_argument("--image", action="append", default=[], type=Path, metavar="PATH",
                      help="an image for a vision model (PNG, JPEG, GIF, WebP, BMP; 20 MB at most)")  # fmt: skip
    chat.add_argument("--mcp", type=Path, metavar="FILE", help="an mcp.json: its servers' tools for the model")
    chat.add_argument("--tool-choice", default="auto", metavar="auto|required|none|NAME", help="default: auto")
    chat.add_argument("--allow-tools", default="", metavar="all|NAME[,NAME]", help="tools that run without asking")
    chat.add_argument("--max-tool-rounds", type=int, default=4, metavar="N", help="rounds of calls (default: 4)")
    knowledge_commands.add_chat_options(chat)


def run(args: argparse.Namespace, paths: AppPaths, settings: Settings, models_dir: Path) -> int:
    """The chat the options ask for: a group, tools (``--mcp``), a remote engine (``--engine``), else the plain one."""
    if args.mcp and (args.knowledge or args.attach):
        raise HermesError("--knowledge and --attach do not combine with --mcp yet.")
    roleplay = ("lorebook", "user_name", "user_persona", "author_note", "greeting")
    if args.mcp and any(getattr(args, name) for name in roleplay):
        raise HermesError("--lorebook, --user-name, --user-persona, --author-note and --greeting do not combine "
                          "with --mcp yet.")  # fmt: skip
    if group_commands.wanted(args, paths):
        return group_commands.chat_group(args, paths, settings, resolve_model(args.model, models_dir))
    if args.mcp:  # a local model, or a remote engine's (--engine)
        from app.cli.tools import chat_with_tools

        model = None if args.engine else resolve_model(args.model, models_dir)
        return chat_with_tools(args, paths, settings, model)
    if args.engine:
        from app.cli.serve import chat_remote

        return chat_remote(args, paths, settings)
    return plain_chat(args, paths, settings, models_dir)


def plain_chat(args: argparse.Namespace, paths: AppPaths, settings: Settings, models_dir: Path) -> int:
    """One reply to stdout (reasoning and stats to stderr); ``--save``/``--chat`` keep it in the history."""
    from app.cli.terminal import chat_turn, turn_from_arguments
    from app.core.chat.session import ChatSession
    from app.core.engines import state_cache
    from app.core.engines.interface import VisionUnavailable
    from app.core.engines.llama_engine import LlamaEngine
    from app.core.engines.service import EngineService
    from app.core.history.store import ChatStore
    from app.core.media.images import read_image_file
    from app.core.media.store import ImageStore
    from app.core.personas.presets import PresetLibrary

    images = [read_image_file(path) for path in args.image]  # each checked before anything is loaded or saved
    for image in images:
        if image.note:
            print(f"note: {image.note}", file=sys.stderr)
    library = PresetLibrary(paths.presets_dir)
    preset = library.get(args.preset) if args.preset else None
    model = resolve_model(args.model, models_dir)
    store = ChatStore(paths.chats_db) if (args.save or args.chat) else None
    image_store = ImageStore(paths.images_dir) if store is not None else None
    session = ChatSession(store, describe_preset=library.name_of, images=image_store)
    service = EngineService(LlamaEngine(state_cache.from_settings(paths.state_cache_dir, settings)))
    try:
        options = load_options(args, paths, settings, model)
        # the documents first: one that cannot be read is said before the model loads
        grounding = knowledge_commands.grounding_for(args, paths, settings, options.context_size or 4096)
        loaded = service.load(model, options).result()
        for note in (*loaded.notes, *library_commands.format_notes(loaded)):
            print(f"note: {note}", file=sys.stderr)
        if images and not loaded.vision:
            raise VisionUnavailable(
                f"{loaded.name} is a text-only model: it cannot read images (--image). Use a vision model: one "
                'with its mmproj projector file beside it (hermes-studio models marks them "vision").'
            )
        preset, roleplay = persona_commands.start_chat(args, paths, session, preset, service)  # --chat ID, greeting
        policy = args.context_policy or (store.chat(args.chat).overflow if store and args.chat else ContextPolicy.STOP)
        turn = turn_from_arguments(
            args,
            session,
            preset,
            model.stem,
            prompt_format=(preset.prompt_format, preset.custom_template) if preset else ("auto", ""),
            context_policy=policy,
            roleplay=roleplay,  # lorebooks, the user persona, the author's note, macros: on every turn
        )
        where = str(loaded.placement) + ("" if loaded.has_template else f" · {NO_TEMPLATE}, {loaded.prompt_format}")
        return chat_turn(
            session, service, args, turn, saving=store is not None, where=where, images=images, grounding=grounding
        )
    finally:
        service.close()
        if store is not None:
            store.close()
