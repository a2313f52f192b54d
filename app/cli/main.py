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

Here: the options every command shares, the GUI's and ``serve``'s, and the dispatch; each other command's options
and work are in its own module (see ``app.cli``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from app import APP_NAME, __version__
from app.core.errors import HermesError
from app.core.hub.connection import configure_hub_environment
from app.core.logs import configure_logging
from app.core.paths import resolve_paths
from app.core.settings import SettingsStore

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
    # each command's module adds its options; imported here, off a plain window start's path (issue 20, part 4)
    from app.cli import chat as chat_command
    from app.cli import chats as chats_command
    from app.cli import engine_info
    from app.cli import knowledge as knowledge_commands
    from app.cli import library as library_commands
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

    chat_command.add_parser(commands, common)
    knowledge_commands.add_parsers(commands, common)

    persona_commands.add_presets_parser(commands, common)
    persona_commands.add_parsers(commands, common)
    user_persona_commands.add_parsers(commands, common)
    chats_command.add_parser(commands, common)
    library_commands.add_parsers(commands, common)

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
    library_commands.add_setup_parser(commands, common)
    engine_info.add_parsers(commands, common)
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
            model_path = None
            if args.model:
                from app.cli.model_args import resolve_model

                model_path = str(resolve_model(args.model, models_dir))
            if args.self_test:
                from app.selftest.runner import run_self_test

                return run_self_test(paths, settings_store, model_path, args.only)
            from app.ui.app import run_gui  # Qt is imported only for the GUI

            return run_gui(paths, settings_store, model=model_path, open_file=args.open)
        from app.cli import chat as chat_command
        from app.cli import chats as chats_command
        from app.cli import engine_info
        from app.cli import knowledge as knowledge_commands
        from app.cli import library as library_commands
        from app.cli import personas as persona_commands
        from app.cli import user_personas as user_persona_commands
        from app.cli.model_args import resolve_model

        if args.command == "knowledge":
            return knowledge_commands.run(args, paths, settings)
        if args.command == "chat":
            return chat_command.run(args, paths, settings, models_dir)
        if args.command == "serve" and args.restart_on_crash:
            from app.cli.supervise import supervise

            return supervise(list(sys.argv[1:] if argv is None else argv))
        if args.command == "serve":
            from app.cli.serve import serve

            return serve(args, paths, settings, models_dir)
        if args.command == "models" and args.engine:
            from app.cli.serve import models_remote

            return models_remote(args)
        if args.command == "presets":
            return persona_commands.presets(args, paths)
        if args.command == "lorebooks":
            return persona_commands.lorebooks(args, paths)
        if args.command == "prompt":
            model = resolve_model(args.model, models_dir) if args.model else None
            return persona_commands.prompt(args, paths, model)
        if args.command == "personas":
            return user_persona_commands.run(args, paths)
        if args.command == "chats":
            return chats_command.run(args, paths)
        if args.command == "models" and args.action == "formats":
            return library_commands.formats()
        if args.command == "models" and args.action == "set-format":
            return library_commands.set_format(paths, settings, resolve_model(args.model, models_dir), args.format)
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
            return engine_info.devices()
        if args.command == "states":
            return engine_info.states(args, paths, settings)
    except HermesError as exc:
        print(f"hermes-studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hermes-studio chats export 1 | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the interpreter flushes it at exit)
        return 0
    return 2
