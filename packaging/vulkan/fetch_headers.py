"""Newer Vulkan headers and SPIRV-Headers for building llama.cpp's Vulkan backend, in a private prefix.

Debian 12 (bookworm) ships Vulkan headers 1.3.239; llama.cpp's ggml-vulkan.cpp needs newer ones
(`vk::LayerSettingEXT`, VK_EXT_layer_settings). The next Debian release's `libvulkan-dev` and `spirv-headers`
are headers and CMake files only, so they can be unpacked anywhere and used with bookworm's loader (`libvulkan1`)
and `glslc`. This script:

1. derives an apt source for the next release from this machine's own apt sources (same mirrors, the suite name
   substituted: no host name is written anywhere), in a private apt directory;
2. `apt-get update` and `apt-get download` with that directory only (the system's apt state is not touched);
3. `dpkg -x` both packages into PREFIX (default: .cache/vulkan-headers in the repository).

Then: CMAKE_ARGS="-DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR=PREFIX/usr/include -DCMAKE_PREFIX_PATH=PREFIX/usr".
Prints PREFIX on the last line. Needs apt-get and dpkg (Debian/Ubuntu); root is not needed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The release whose headers are new enough, for each release whose are not.
NEXT_SUITE = {"bookworm": "trixie", "jammy": "noble", "focal": "noble"}
PACKAGES = ("libvulkan-dev", "spirv-headers")
APT_SOURCES = Path("/etc/apt")
REPO = Path(__file__).resolve().parents[2]


def codename() -> str:
    text = Path("/etc/os-release").read_text(encoding="utf-8")
    found = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.MULTILINE)
    if not found:
        sys.exit("fetch_headers: no VERSION_CODENAME in /etc/os-release (not Debian or Ubuntu?)")
    return found.group(1)


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a .sources file (comments dropped, continuation lines joined)."""
    stanzas: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += "\n" + line
                continue
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def derive_sources(current: str, target: str) -> str:
    """deb822 text for `target`, from every enabled `deb` source of `current` (its exact suite, not -updates)."""
    out: list[str] = []
    for path in sorted(APT_SOURCES.glob("sources.list.d/*.sources")):
        for st in deb822_stanzas(path.read_text(encoding="utf-8")):
            if st.get("Enabled", "yes").lower() == "no" or "deb" not in st.get("Types", "").split():
                continue
            if current not in st.get("Suites", "").split():
                continue
            lines = ["Types: deb", f"URIs: {st['URIs']}", f"Suites: {target}", f"Components: {st['Components']}"]
            if "Signed-By" in st:
                lines.append(f"Signed-By: {st['Signed-By']}")
            out.append("\n".join(lines))
    one_line = [APT_SOURCES / "sources.list", *sorted(APT_SOURCES.glob("sources.list.d/*.list"))]
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            # deb [options] URI SUITE COMPONENT...
            m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$", line.strip())
            if not m or m.group(3) != current:
                continue
            opts = (m.group(1) or "").strip()[1:-1].split()
            signed = [o.split("=", 1)[1] for o in opts if o.startswith("signed-by=")]
            lines = ["Types: deb", f"URIs: {m.group(2)}", f"Suites: {target}", f"Components: {m.group(4)}"]
            if signed:
                lines.append(f"Signed-By: {signed[0]}")
            out.append("\n".join(lines))
    if not out:
        sys.exit(f"fetch_headers: no apt source for {current} to derive a {target} source from")
    return "\n\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", nargs="?", default=str(REPO / ".cache" / "vulkan-headers"))
    parser.add_argument("--suite", help="the release to take the headers from (default: the next one)")
    args = parser.parse_args()
    prefix = Path(args.prefix).resolve()
    if (prefix / "usr/include/vulkan/vulkan.hpp").is_file() and (prefix / ".complete").is_file():
        print(f"fetch_headers: already there: {prefix}", file=sys.stderr)
        print(prefix)
        return
    for tool in ("apt-get", "dpkg"):
        if not shutil.which(tool):
            sys.exit(f"fetch_headers: {tool} not found: this script is for Debian and Ubuntu")
    current = codename()
    target = args.suite or NEXT_SUITE.get(current)
    if not target:
        sys.exit(f"fetch_headers: no newer suite known for {current}: pass --suite")

    with tempfile.TemporaryDirectory(prefix="hermes-apt-") as tmp:
        root = Path(tmp)
        for sub in ("parts", "lists/partial", "cache/archives/partial", "debs"):
            (root / sub).mkdir(parents=True)
        (root / "parts" / f"{target}.sources").write_text(derive_sources(current, target), encoding="utf-8")
        (root / "empty.list").write_text("", encoding="utf-8")
        apt = [
            "apt-get",
            "-q",
            "-o", f"Dir::Etc::sourcelist={root / 'empty.list'}",
            "-o", f"Dir::Etc::sourceparts={root / 'parts'}",
            "-o", f"Dir::State::Lists={root / 'lists'}",
            "-o", f"Dir::Cache={root / 'cache'}",
            "-o", "Dir::State::status=/dev/null",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Sandbox::User=root" if os.geteuid() == 0 else "APT::Sandbox::User=",
        ]  # fmt: skip
        print(f"fetch_headers: {', '.join(PACKAGES)} from {target} (sources derived from this machine's {current})")
        subprocess.run([*apt, "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*apt, "download", *PACKAGES], check=True, cwd=root / "debs")
        if prefix.exists():
            shutil.rmtree(prefix)
        prefix.mkdir(parents=True)
        for deb in sorted((root / "debs").glob("*.deb")):
            print(f"fetch_headers: unpacking {deb.name}")
            subprocess.run(["dpkg", "-x", str(deb), str(prefix)], check=True)
    (prefix / ".complete").write_text("", encoding="utf-8")
    print(prefix)


if __name__ == "__main__":
    main()
