"""The CLI's server and remote-engine commands: ``serve``, ``models --engine``, ``chat --engine``.

Beside the other commands, so ``app/cli/main.py`` only parses and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from app.core import server_beacon
from app.core.engines import state_cache
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.remote import RemoteEngine, list_models
from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.core.library.models import find_model
from app.core.paths import AppPaths
from app.core.settings import Settings
from app.server.app import ServerOptions
from app.server.connections import Limits
from app.server.routes import RequestRecord
from app.server.runner import ServerRunner, describe


def serve(args: argparse.Namespace, paths: AppPaths, settings: Settings, models_dir: Path) -> int:
    if not args.model and not args.jit and not args.embedding_model:
        raise HermesError("Name the model to serve (--model NAME_OR_PATH), or load on request with --jit.")
    folders = settings.library_folders(paths.default_models_dir)
    load_options = LoadOptions(
        context_size=args.context_size or settings.context_size,
        cpu_threads=settings.cpu_threads,
        gpu_layers=settings.gpu_layers,
    )
    options = ServerOptions(
        host=args.host, port=args.port, api_key=args.api_key, cors_origins=tuple(args.cors), jit=args.jit,
        chats_db=paths.chats_db if args.save else None, library_folders=lambda: folders,
        presets_dir=paths.presets_dir, load_options=load_options, allow_local_files=args.allow_local_files,
        max_tokens=max(0, args.max_tokens), knowledge_db=paths.knowledge_db,
        limits=limits(args),
    )  # fmt: skip
    faulthandler.enable()  # a native crash still prints where it happened (Python's side) before the process ends
    service = EngineService(LlamaEngine(state_cache.from_settings(paths.state_cache_dir, settings)))
    runner: ServerRunner | None = None
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    try:
        if args.model:
            path = find_model(args.model, folders)
            if path is None:
                raise HermesError(f"No model file or library model named {args.model!r} (library: {models_dir}).")
            loaded = service.load(path, load_options).result()
            print(f"Loaded {loaded.name} ({loaded.context_size:,}-token context).", file=sys.stderr)
        if args.embedding_model:
            path = find_model(args.embedding_model, folders)
            if path is None:
                raise HermesError(f"No model file or library model named {args.embedding_model!r} (library: "
                                  f"{models_dir}); `hermes-studio setup --embeddings` puts one there.")  # fmt: skip
            embedding_options = LoadOptions(context_size=0, cpu_threads=settings.cpu_threads,
                                            gpu_layers=settings.gpu_layers)  # fmt: skip
            loaded = service.load_embedding(path, embedding_options).result()
            print(f"Loaded {loaded.name} for embeddings (inputs of up to {loaded.context_size:,} tokens).",
                  file=sys.stderr)  # fmt: skip
        runner = ServerRunner(service, options, record=log_request)
        runner.start()
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        print(f"Serving on http://{args.host}:{runner.port}/v1", file=sys.stderr, flush=True)
        beacon = server_beacon.announce(paths.data / "servers", runner.url)  # the window's status bar shows it
        try:
            while not stop.wait(0.5):
                if not runner.running:
                    raise HermesError("The server stopped unexpectedly; see the log.")
        finally:
            server_beacon.withdraw(beacon)
            for number, handler in previous.items():
                signal.signal(number, handler)
        print("Stopping…", file=sys.stderr, flush=True)
    finally:
        service.cancel_all()
        if runner is not None:
            runner.stop()
        service.close()
    print("Stopped.", file=sys.stderr)
    return 0


def limits(args: argparse.Namespace) -> Limits:
    for name in ("header", "body", "idle", "write"):
        if getattr(args, f"{name}_timeout") <= 0:
            raise HermesError(f"--{name}-timeout must be a number of seconds above 0.")
    return Limits(
        header_timeout=args.header_timeout, body_timeout=args.body_timeout, idle_timeout=args.idle_timeout,
        write_timeout=args.write_timeout, max_connections=max(0, args.max_connections),
        max_backlog=max(1, args.max_backlog),
    )  # fmt: skip


def log_request(record: RequestRecord) -> None:
    """One line on stderr per request; a stderr that cannot be written (a closed pipe, a full disk) is skipped."""
    with contextlib.suppress(OSError, ValueError):
        print(describe(record), file=sys.stderr, flush=True)


def models_remote(args: argparse.Namespace) -> int:
    for model_id in list_models(args.engine, args.api_key):
        print(model_id)
    return 0


def chat_remote(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> int:
    from app.cli.knowledge import grounding_for
    from app.cli.personas import start_chat
    from app.cli.terminal import chat_turn, turn_from_arguments
    from app.core.chat.session import ChatSession
    from app.core.history.store import ChatStore
    from app.core.personas.presets import PresetLibrary

    library = PresetLibrary(paths.presets_dir)
    preset = library.get(args.preset) if args.preset else None
    store = ChatStore(paths.chats_db) if (args.save or args.chat) else None
    session = ChatSession(store, describe_preset=library.name_of)
    service = EngineService(RemoteEngine(args.engine, args.api_key))
    try:
        service.load(args.model).result()
        preset, roleplay = start_chat(args, paths, session, preset, service)  # --chat ID, greeting, roleplay
        turn = turn_from_arguments(args, session, preset, args.model, roleplay=roleplay)
        grounding = grounding_for(args, paths, settings, settings.context_size)
        return chat_turn(
            session, service, args, turn, saving=store is not None, where=f"via {args.engine}", grounding=grounding
        )
    finally:
        service.close()
        if store is not None:
            store.close()
