"""What the local engine has, from the command line: `devices` (llama.cpp's backends and devices) and `states` (the
saved chat states, their budgets; ``--clear``)."""

from __future__ import annotations

import argparse

from app.core.paths import AppPaths
from app.core.settings import Settings


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    commands.add_parser("devices", parents=[common], help="the backends and devices llama.cpp can use (CPU, GPUs)")
    states = commands.add_parser("states", parents=[common], help="the saved chat states: budgets, what is held")
    states.add_argument("--clear", action="store_true", help="delete every saved state")


def devices() -> int:
    """The backends and devices llama.cpp can use (the CPU always)."""
    from app.core.engines.devices import list_devices

    for line in list_devices().lines():
        print(line)
    return 0


def states(args: argparse.Namespace, paths: AppPaths, settings: Settings) -> int:
    """The saved chat states (``engines.state_cache``): where, their budgets, what is held; ``--clear`` empties it."""
    from app.core.engines import state_cache

    cache = state_cache.from_settings(paths.state_cache_dir, settings)
    if args.clear:
        cache.clear()
    held = cache.holdings()
    print(f"folder: {paths.state_cache_dir}")
    print(f"budgets: memory {settings.state_memory_mib:,} MiB, disk {settings.state_disk_mib:,} MiB")
    print(f"on disk: {held.disk_entries} states, {held.disk_bytes / (1 << 20):,.1f} MiB")
    return 0
