"""Command line: ``hermes-studio`` with no command opens the GUI; commands run headless on the same core.

hermes-studio [--basedir DIR]                       open the app
hermes-studio chat --model M [options] MESSAGE      stream a reply to stdout, reasoning and stats to stderr
hermes-studio chat --model M --group P,P MESSAGE    a group chat: each persona's reply after its name
hermes-studio models                                list the model library
hermes-studio setup [--embeddings]                  put the starter model (or the embedding one) into the library
hermes-studio devices                               the backends and devices llama.cpp can use
hermes-studio serve --model M [--port 1234]         serve a model over OpenAI's HTTP API
hermes-studio prompt --preset P MESSAGE             the exact prompt a message produces (lorebooks, personas)
hermes-studio personas list|add|edit|remove|default  your user personas (who {{user}} is)
hermes-studio knowledge add|list|search|remove      collections of documents (chat --knowledge NAME, --attach FILE)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app import APP_NAME, __version__
from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError
from app.core.hub.connection import configure_hub_environment
from app.core.logs import configure_logging
from app.core.paths import AppPaths, resolve_paths
from app.core.prompting.context import ContextPolicy
from app.core.prompting.prompt_formats import NO_TEMPLATE
from app.core.settings import Settings, SettingsStore

log = logging.getLogger(__name__)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--basedir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="keep all data, settings, cache and logs under DIR (also: $HERMES_STUDIO_BASEDIR)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    from app.cli import group as group_commands
    from app.cli import knowledge as knowledge_commands
    from app.cli import personas as persona_commands
    from app.cli import user_personas as user_persona_commands

    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="hermes-studio", description=f"{APP_NAME}: chat with local LLMs.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="prove this build works with --model: each capability a step, then the window offscreen; exit 0 or 1",
    )
    parser.add_argument("--only", action="append", metavar="STEP", help="(--self-test) run only this step; repeatable")
    parser.add_argument("--self-test-mcp-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--document-reader", action="store_true", help=argparse.SUPPRESS)  # the frozen app's worker
    parser.add_argument("--model", help="(GUI) load this model at start; a path or a library name")
    parser.add_argument(
        "--open", metavar="FILE", help="(GUI) open a .gguf, a preset or a character card (in the running window if any)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    knowledge_commands.add_parsers(commands, common)

    presets = commands.add_parser("presets", parents=[common], help="the persona library")
    actions = presets.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="every preset")
    actions.add_parser("show", parents=[common], help="one preset in full").add_argument("name")
    export = actions.add_parser("export", parents=[common], help="to JSON, or a V3 card if FILE ends in .png or .charx")
    export.add_argument("name")
    export.add_argument("file", type=Path)
    cards = "a preset JSON or a card (V1/V2/V3 JSON, PNG, CHARX)"
    actions.add_parser("import", parents=[common], help=cards).add_argument("file", type=Path)
    persona_commands.add_parsers(commands, common)
    user_persona_commands.add_parsers(commands, common)

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

    search = commands.add_parser("search", parents=[common], help="search the Hugging Face Hub")
    search.add_argument("query", nargs="*")
    search.add_argument("--format", choices=["gguf", "gptq", "awq"], default="gguf")
    search.add_argument("--sort", choices=["downloads", "likes", "updated"], default="downloads")
    search.add_argument("--limit", type=int, default=20)
    commands.add_parser("quants", parents=[common], help="a repo's quants and whether they fit").add_argument("repo")
    download = commands.add_parser("download", parents=[common], help="download a model (resumes when re-run)")
    download.add_argument("repo")
    pick = download.add_mutually_exclusive_group()
    pick.add_argument("--quant", help="e.g. Q4_K_M (default: the recommended one)")
    pick.add_argument("--file", help="one file of the repo")
    download.add_argument("--revision", default="main", help="a branch (GPTQ/AWQ variants): downloads all its files")
    download.add_argument("--projector", default="", metavar="FILE",
                          help="a vision repo's mmproj file to get with it (default: F16/BF16), or 'none'")  # fmt: skip
    commands.add_parser("rm", parents=[common], help="delete a model from the library").add_argument("name")

    models = commands.add_parser("models", parents=[common], help="list the models in the library")
    models.add_argument("--engine", metavar="URL", help="list an OpenAI-compatible server's models instead")
    models.add_argument("--api-key", default="", help="the --engine's API key, if it needs one")
    model_actions = models.add_subparsers(dest="action", metavar="ACTION")
    set_format = model_actions.add_parser(
        "set-format", parents=[common], help="the prompt format a model file uses when a preset's format is auto"
    )
    set_format.add_argument("model", help="a GGUF path or library name")
    set_format.add_argument("format", metavar="FORMAT", help="auto, chatml, llama-3 … or llama.cpp:NAME (see formats)")
    model_actions.add_parser("formats", parents=[common], help="the prompt formats set-format and --prompt-format take")

    serve = commands.add_parser("serve", parents=[common], help="serve a model over OpenAI's HTTP API")
    serve.add_argument("--model", help="a GGUF path or library name to load (optional with --jit)")
    serve.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default): this machine only")
    serve.add_argument("--port", type=int, default=1234)
    serve.add_argument("--api-key", default="", help="require 'Authorization: Bearer KEY'")
    serve.add_argument("--jit", action="store_true", help="load library models on request (just in time)")
    serve.add_argument(
        "--embedding-model", metavar="MODEL", help="a GGUF embedding model (path or library name) for /v1/embeddings"
    )
    serve.add_argument("--save", action="store_true", help="record every chat in the history")
    serve.add_argument("--cors", action="append", default=[], metavar="ORIGIN", help="allow this browser origin")
    serve.add_argument("--context-size", type=int, default=None, help="tokens (default: from settings)")
    bound = serve.add_argument_group("bounds on clients (slow, silent or non-reading ones)")
    bound.add_argument("--max-tokens", type=int, default=4096, metavar="N", help="a reply's cap (0: none)")
    bound.add_argument("--max-connections", type=int, default=0, metavar="N", help="default: half the fd limit")
    bound.add_argument("--max-backlog", type=int, default=256, metavar="N", help="tokens ahead of a non-reader")
    for name, seconds, what in (
        ("header", 10, "for a request's headers"), ("body", 60, "for a request's body"),
        ("idle", 5, "a kept-alive connection waits for its next request"),
        ("write", 10, "a client may accept nothing before its reply stops"),
    ):  # fmt: skip
        bound.add_argument(f"--{name}-timeout", type=float, default=seconds, metavar="S", help=f"seconds {what}")
    serve.add_argument("--allow-local-files", action="store_true",
                       help="image_url parts may be file:// paths here (never a network fetch)")  # fmt: skip
    serve.add_argument(
        "--restart-on-crash",
        action="store_true",
        help="run the server in a child process; start it again if it crashes",
    )
    setup = commands.add_parser(
        "setup", parents=[common], help="put the starter model (SmolLM2-135M, ChatML) in the library"
    )
    setup.add_argument(
        "--embeddings",
        action="store_true",
        help="the starter embedding model instead (all-MiniLM-L6-v2, converted to GGUF)",
    )
    commands.add_parser("devices", parents=[common], help="the backends and devices llama.cpp can use (CPU, GPUs)")
    states = commands.add_parser("states", parents=[common], help="the saved chat states: budgets, what is held")
    states.add_argument("--clear", action="store_true", help="delete every saved state")
    return parser


WINDOW_OPTIONS = ("--basedir", "--model", "--open")  # all a plain window start takes


def window_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """A plain window start's arguments (only ``WINDOW_OPTIONS``, each once or more, the last one kept), read as
    ``build_parser`` reads them, without building it: its ~30 commands and their modules cost the window's cold start
    (issue 20, part 4). None for anything else (a command, --help, a typo, a value that starts with "-"): the whole
    parser reads those, with its help and its errors."""
    given: dict[str, str] = {}
    tokens = iter(argv)
    for token in tokens:
        name, equals, value = token.partition("=")
        if name not in WINDOW_OPTIONS:
            return None
        if not equals:
            value = next(tokens, "-")
            if value.startswith("-"):
                return None
        given[name.removeprefix("--")] = value
    args = argparse.Namespace(self_test=False, only=None, self_test_mcp_server=False, document_reader=False,
                              model=given.get("model"), open=given.get("open"), command=None)  # fmt: skip
    if "basedir" in given:  # (the parser's default is SUPPRESS: absent unless given)
        args.basedir = given["basedir"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = window_args(sys.argv[1:] if argv is None else argv) or build_parser().parse_args(argv)
    if args.self_test_mcp_server:  # the self-test's MCP probe: stdio is its protocol, so nothing else may print
        from app.selftest.probe_server import serve as serve_probe

        return serve_probe()
    if args.document_reader:  # the document reader's worker process (app.core.knowledge.worker), frozen builds
        from app.core.knowledge.worker import serve as serve_reader

        return serve_reader()
    try:
        paths = resolve_paths(getattr(args, "basedir", None)).ensure()
    except OSError as exc:
        print(f"hermes-studio: cannot use {exc.filename or 'the base directory'} ({exc.strerror or exc}); "
              "choose another --basedir.", file=sys.stderr)  # fmt: skip
        return 1
    configure_hub_environment()  # before anything imports huggingface_hub
    configure_logging(paths.logs)
    settings_store = SettingsStore.load(paths.settings_file)  # settings are read once per process
    settings = settings_store.current
    models_dir = settings.models_path(paths.default_models_dir)
    try:
        if args.command is None:
            model = _resolve_model(args.model, models_dir) if args.model else None
            model_path = str(model) if model else None
            if args.self_test:
                from app.selftest.runner import run_self_test

                return run_self_test(paths, settings_store, model_path, args.only)
            from app.ui.app import run_gui  # Qt is imported only for the GUI

            return run_gui(paths, settings_store, model=model_path, open_file=args.open)
        from app.cli import group as group_commands
        from app.cli import knowledge as knowledge_commands
        from app.cli import library as library_commands
        from app.cli import personas as persona_commands
        from app.cli import user_personas as user_persona_commands

        if args.command == "chat" and args.mcp and (args.knowledge or args.attach):
            raise HermesError("--knowledge and --attach do not combine with --mcp yet.")
        roleplay = ("lorebook", "user_name", "user_persona", "author_note", "greeting")
        if args.command == "chat" and args.mcp and any(getattr(args, name) for name in roleplay):
            raise HermesError("--lorebook, --user-name, --user-persona, --author-note and --greeting do not combine "
                              "with --mcp yet.")  # fmt: skip
        if args.command == "knowledge":
            return knowledge_commands.run(args, paths, settings)
        if args.command == "chat" and group_commands.wanted(args, paths):
            return group_commands.chat_group(args, paths, settings, _resolve_model(args.model, models_dir))
        if args.command == "chat" and args.mcp:  # a local model, or a remote engine's (--engine)
            from app.cli.tools import chat_with_tools

            model = None if args.engine else _resolve_model(args.model, models_dir)
            return chat_with_tools(args, paths, settings, model)
        if args.command == "chat" and args.engine:
            from app.cli.serve import chat_remote

            return chat_remote(args, paths, settings)
        if args.command == "chat":
            return _chat(args, paths, settings, models_dir)
        if args.command == "serve" and args.restart_on_crash:
            from app.cli.supervise import supervise

            return supervise(list(sys.argv[1:] if argv is None else argv))
        if args.command == "serve":
            from app.cli.serve import serve

            return serve(args, paths, settings, models_dir)
        if args.command == "models" and args.engine:
            from app.cli.serve import models_remote

            return models_remote(args)
        if args.command == "presets" and args.action == "import":
            return persona_commands.presets_import(args.file, paths)
        if args.command == "presets" and args.action == "export":
            return persona_commands.presets_export(args.name, args.file, paths)
        if args.command == "presets":
            return _presets(args, paths)
        if args.command == "lorebooks":
            return persona_commands.lorebooks(args, paths)
        if args.command == "prompt":
            model = _resolve_model(args.model, models_dir) if args.model else None
            return persona_commands.prompt(args, paths, model)
        if args.command == "personas":
            return user_persona_commands.run(args, paths)
        if args.command == "chats":
            return _chats(args, paths)
        if args.command == "models" and args.action == "formats":
            return library_commands.formats()
        if args.command == "models" and args.action == "set-format":
            return library_commands.set_format(paths, settings, _resolve_model(args.model, models_dir), args.format)
        if args.command == "models":
            folders = settings.library_folders(paths.default_models_dir)
            return library_commands.models(folders, paths.cache / "model-headers.json")
        if args.command == "search":
            return library_commands.search(args, paths)
        if args.command == "quants":
            return library_commands.quants(args, paths, settings)
        if args.command == "download":
            return library_commands.download(args, paths, settings, models_dir)
        if args.command == "rm":
            return library_commands.rm(args, settings.library_folders(paths.default_models_dir))
        if args.command == "setup":
            return library_commands.setup(paths, models_dir, embeddings=args.embeddings)
        if args.command == "devices":
            return _devices()
        if args.command == "states":
            return _states(args, paths, settings)
    except HermesError as exc:
        print(f"hermes-studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hermes-studio chats export 1 | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the interpreter flushes it at exit)
        return 0
    return 2


def _resolve_model(name: str, models_dir: Path) -> Path:
    from app.core.library.models import find_model

    found = find_model(name, [models_dir])
    if found is None:
        raise HermesError(f"No model file or library model named {name!r} (library: {models_dir}).")
    return found


def _states(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> int:
    from app.core.engines import state_cache

    cache = state_cache.from_settings(paths.state_cache_dir, settings)
    if args.clear:
        cache.clear()
    held = cache.holdings()
    print(f"folder: {paths.state_cache_dir}")
    print(f"budgets: memory {settings.state_memory_mib:,} MiB, disk {settings.state_disk_mib:,} MiB")
    print(f"on disk: {held.disk_entries} states, {held.disk_bytes / (1 << 20):,.1f} MiB")
    return 0


def _chat(args: argparse.Namespace, paths: AppPaths, settings: Settings, models_dir: Path) -> int:
    from app.cli import knowledge as knowledge_commands
    from app.cli import library as library_commands
    from app.cli import personas as persona_commands
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
    model = _resolve_model(args.model, models_dir)
    store = ChatStore(paths.chats_db) if (args.save or args.chat) else None
    image_store = ImageStore(paths.images_dir) if store is not None else None
    session = ChatSession(store, describe_preset=library.name_of, images=image_store)
    service = EngineService(LlamaEngine(state_cache.from_settings(paths.state_cache_dir, settings)))
    try:
        options = _load_options(args, paths, settings, model)
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


def _load_options(args: argparse.Namespace, paths: AppPaths, settings: Settings, model: Path) -> LoadOptions:
    """The settings' defaults, then the options remembered for this model file, then the command line's."""
    from app.cli.library import checked_format
    from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, default_load_options
    from app.core.engines.offload import parse_gpu_layers

    options = ModelOptionsStore(paths.config / FILE_NAME).options(model, default_load_options(settings))
    given = {
        "context_size": args.context_size,
        "gpu_layers": parse_gpu_layers(args.gpu_layers) if args.gpu_layers is not None else None,
        "flash_attn": args.flash_attn,
        "kv_cache_type": args.kv_cache,
        "cpu_threads": args.threads,
        "use_mmap": False if args.no_mmap else None,
        "prompt_format": checked_format(args.prompt_format) if args.prompt_format else None,
    }
    return options.with_overrides(**{k: v for k, v in given.items() if v is not None})


def _devices() -> int:
    from app.core.engines.devices import list_devices

    for line in list_devices().lines():
        print(line)
    return 0


def _chats(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.cli.text import safe
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


def _presets(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.cli.text import safe
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
    elif args.action == "export":
        if args.file.suffix.lower() == ".png":
            library.export_card(args.name, args.file)
        else:
            library.export_json(args.name, args.file)
        print(args.file)
    elif args.action == "import":
        preset = library.import_file(args.file)
        print(f"Imported {preset.name!r}")
    return 0
