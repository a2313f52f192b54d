"""Run the benchmarks: ``python -m bench [--quick] [NAME ...]``; figures go to stdout and docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys

from bench.common import REPO, write_report

ALL = [
    "streaming",
    "smoothness",
    "render_scaling",
    "cold_start",
    "downloads",
    "memory",
    "history",
    "gpu",
    "server",
    "long_chats",
    "prompt_lookup",
    "lorebooks",
    "base_model",
    "vision",
    "embeddings",
    "documents",
    "tools",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a few seconds each: proves they run, figures are rough")
    parser.add_argument("names", nargs="*", choices=[*ALL, []], metavar="NAME", help=f"any of {', '.join(ALL)}")
    args = parser.parse_args(argv)
    names = args.names or ALL
    sections = []
    for name in names:
        section = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        section.print()
        sys.stdout.flush()
        sections.append(section)
    if not args.quick and names == ALL:
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_report(sections, REPO / "docs" / "benchmarks.md", when)
        print(f"\nwrote {REPO / 'docs' / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
