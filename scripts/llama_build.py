"""Which llama.cpp backend this machine can build, and llama-cpp-python built for it (used by `make install`).

    python scripts/llama_build.py pick [--why]        the backend `make install` would build here
    python scripts/llama_build.py cmake-args BACKEND  the CMake options for it (fetches Vulkan headers if needed)
    VENV/python scripts/llama_build.py install ...    llama-cpp-python in that venv, rebuilt when the backend or
                                                      CMAKE_ARGS changed (pip's wheel cache ignores CMAKE_ARGS)

Automatic choice, first match: Metal on macOS arm64; CUDA where `nvcc` is found and `nvidia-smi -L` lists a GPU;
Vulkan where `glslc` and Vulkan headers new enough for llama.cpp are found and the machine has a GPU (a DRM render
node or an NVIDIA device; Windows: assumed); else CPU. A toolchain without a GPU (nvcc on a build server, Mesa's
software Vulkan) does not count: ask for it with BACKEND=cuda or BACKEND=vulkan.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("cpu", "cuda", "vulkan", "metal")
# Oldest Vulkan-Headers known to build llama.cpp's ggml-vulkan.cpp (Ubuntu 24.04's); Debian 12's 1.3.239 lacks
# vk::LayerSettingEXT.
MIN_VULKAN_HEADERS = (1, 3, 275)
PRIVATE_HEADERS = REPO / ".cache" / "vulkan-headers"  # written by packaging/vulkan/fetch_headers.py
STAMP = ".llama-build.json"  # in the venv: what its llama-cpp-python was built with


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- what this machine has ---------------------------------------------------------------------------------------


def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if not found and root and Path(root, "bin", "nvcc").is_file():
            found = str(Path(root, "bin", "nvcc"))
    return found


def nvidia_gpus() -> list[str]:
    """`nvidia-smi -L`'s GPU lines (none without a driver or a GPU)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.splitlines() if line.startswith("GPU ")]


def find_glslc() -> str | None:
    found = shutil.which("glslc")
    sdk = os.environ.get("VULKAN_SDK")
    if not found and sdk:
        for name in ("glslc", "glslc.exe"):
            for sub in ("bin", "Bin"):
                if Path(sdk, sub, name).is_file():
                    found = str(Path(sdk, sub, name))
    return found


def header_version(include: Path) -> tuple[int, int, int] | None:
    core = include / "vulkan" / "vulkan_core.h"
    try:
        text = core.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    patch = re.search(r"#define VK_HEADER_VERSION (\d+)", text)
    complete = re.search(r"#define VK_HEADER_VERSION_COMPLETE VK_MAKE_API_VERSION\(\d+, (\d+), (\d+),", text)
    if not patch or not complete:
        return None
    return int(complete.group(1)), int(complete.group(2)), int(patch.group(1))


def has_spirv_headers(prefix: Path) -> bool:
    """SPIRV-Headers' CMake package (llama.cpp: find_package(SPIRV-Headers CONFIG REQUIRED))."""
    patterns = ("share/cmake/SPIRV-Headers*", "lib/cmake/SPIRV-Headers*", "lib/*/cmake/SPIRV-Headers*")
    return any(glob.glob(str(prefix / p)) for p in patterns)


def vulkan_prefixes() -> list[tuple[Path, bool]]:
    """Where Vulkan headers may be: (prefix, is it one CMake searches by itself)."""
    found: list[tuple[Path, bool]] = []
    sdk = os.environ.get("VULKAN_SDK")
    if sdk:
        found.append((Path(sdk), True))
    found.append((PRIVATE_HEADERS / "usr", False))
    found += [(Path("/usr"), True), (Path("/usr/local"), True), (Path("/opt/homebrew"), True)]
    return found


def vulkan_headers() -> tuple[Path | None, str]:
    """The first prefix with new-enough headers and SPIRV-Headers, and a line saying what was found."""
    seen: list[str] = []
    for prefix, _ in vulkan_prefixes():
        include = prefix / ("Include" if (prefix / "Include").is_dir() else "include")
        version = header_version(include)
        if version is None:
            continue
        text = ".".join(map(str, version))
        if version < MIN_VULKAN_HEADERS:
            seen.append(f"headers {text} in {include} (too old)")
        elif not has_spirv_headers(prefix) and not (prefix / "Include").is_dir():
            seen.append(f"headers {text} in {include} without SPIRV-Headers")
        else:
            return prefix, f"headers {text} in {include}"
    return None, "; ".join(seen) or "no Vulkan headers"


def has_gpu_device() -> bool:
    if sys.platform == "win32":
        return True
    if sys.platform == "darwin":
        return False  # Metal, not Vulkan (MoltenVK is not auto-picked)
    return bool(glob.glob("/dev/dri/renderD*") or glob.glob("/dev/nvidia[0-9]*"))


def pick() -> tuple[str, str]:
    """(backend, why)."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "metal", "macOS on Apple Silicon"
    notes: list[str] = []
    nvcc = find_nvcc()
    if nvcc:
        gpus = nvidia_gpus()
        if gpus:
            return "cuda", f"{nvcc} and {gpus[0]}"
        notes.append(f"{nvcc} found but nvidia-smi lists no GPU")
    glslc = find_glslc()
    prefix, headers = vulkan_headers()
    if glslc and prefix:
        if has_gpu_device():
            return "vulkan", f"{glslc}, {headers}, a GPU device"
        notes.append(f"Vulkan toolchain found ({headers}) but no GPU device (/dev/dri/renderD*, /dev/nvidia*)")
    elif glslc or prefix:
        notes.append(f"Vulkan: {'glslc' if glslc else 'no glslc'}, {headers}")
    return "cpu", "; ".join(notes) or "no GPU toolchain (nvcc, glslc + Vulkan headers) found"


# ---- CMake options -----------------------------------------------------------------------------------------------


def system_libvulkan() -> str | None:
    """The loader's shared library (a header-only prefix has a dangling libvulkan.so link)."""
    for pattern in ("/usr/lib/*/libvulkan.so.1", "/usr/lib64/libvulkan.so.1", "/usr/lib/libvulkan.so.1"):
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def backend_cmake_args(backend: str, fetch: bool) -> list[str]:
    if backend == "cpu":
        return []
    if backend == "metal":
        if sys.platform != "darwin":
            sys.exit("llama_build: BACKEND=metal is for macOS")
        return ["-DGGML_METAL=ON"]
    if backend == "cuda":
        args = ["-DGGML_CUDA=ON"]
        if nvidia_gpus():
            args.append("-DCMAKE_CUDA_ARCHITECTURES=native")  # this machine's GPU only: a much shorter build
        if not find_nvcc():
            sys.exit("llama_build: BACKEND=cuda needs the CUDA toolkit (nvcc not found on PATH or in CUDA_PATH)")
        return args
    if backend != "vulkan":
        sys.exit(f"llama_build: unknown BACKEND={backend!r}: one of {', '.join(BACKENDS)}")
    if not find_glslc():
        sys.exit(
            "llama_build: BACKEND=vulkan needs glslc (Debian/Ubuntu: apt install glslc libvulkan1; "
            "elsewhere the Vulkan SDK)"
        )
    prefix, headers = vulkan_headers()
    if prefix is None and fetch and shutil.which("apt-get") and shutil.which("dpkg"):
        log(f"llama_build: {headers}; fetching newer ones into {PRIVATE_HEADERS} (packaging/vulkan/fetch_headers.py)")
        script = REPO / "packaging" / "vulkan" / "fetch_headers.py"
        subprocess.run([sys.executable, str(script), str(PRIVATE_HEADERS)], check=True, stdout=sys.stderr)
        prefix, headers = vulkan_headers()
    if prefix is None:
        sys.exit(
            f"llama_build: BACKEND=vulkan needs Vulkan headers >= {'.'.join(map(str, MIN_VULKAN_HEADERS))} "
            f"and SPIRV-Headers ({headers}); on Debian/Ubuntu: python3 packaging/vulkan/fetch_headers.py"
        )
    args = ["-DGGML_VULKAN=ON"]
    if not dict(vulkan_prefixes()).get(prefix, True):
        args += [f"-DVulkan_INCLUDE_DIR={prefix / 'include'}", f"-DCMAKE_PREFIX_PATH={prefix}"]
        loader = system_libvulkan()
        if loader:
            args.append(f"-DVulkan_LIBRARY={loader}")
    return args


def implied_backend(cmake_args: str) -> str:
    on = {m.group(1).upper() for m in re.finditer(r"-DGGML_(\w+)=(?:ON|1|TRUE|YES)\b", cmake_args, re.IGNORECASE)}
    for backend in ("cuda", "vulkan", "metal"):
        if backend.upper() in on:
            return backend
    return "cpu"


# ---- the venv's llama-cpp-python ---------------------------------------------------------------------------------


def built_backends() -> set[str]:
    """GPU backends whose libraries the installed llama_cpp carries (an empty set: CPU only)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")  # finds the package without importing (loading) llama.cpp
    if spec is None or not spec.submodule_search_locations:
        return set()
    pkg = Path(next(iter(spec.submodule_search_locations)))
    names = [p.name for p in (pkg / "lib").glob("*ggml-*")] + [p.name for p in pkg.parent.glob("bin/*ggml-*")]
    return {b for b in ("cuda", "vulkan", "metal") if any(f"ggml-{b}" in n for n in names)}


def same_build(have: str, want: str) -> bool:
    # llama-cpp-python builds Metal on every Apple machine whatever CMAKE_ARGS say: cpu and metal are one build.
    return have == want or (sys.platform == "darwin" and {have, want} <= {"cpu", "metal"})


def requirement() -> str:
    """llama-cpp-python's requirement in pyproject.toml."""
    import tomllib

    deps: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    return next(d for d in deps if re.match(r"llama-cpp-python\b", d)).split(";")[0].strip()


def satisfies(version: str, requirement: str) -> bool:
    try:
        from pip._vendor.packaging.requirements import Requirement  # every venv has pip
    except ImportError:
        return True
    return Requirement(requirement).specifier.contains(version, prereleases=True)


def install(backend: str, cmake_args: str, default: bool, version: str | None, dry_run: bool = False) -> None:
    """Make this venv's llama-cpp-python the build asked for: nothing when it already is."""
    from importlib import metadata

    stamp = Path(sys.prefix) / STAMP
    try:
        installed: str | None = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        installed = None
    want = {"backend": backend, "cmake_args": " ".join(cmake_args.split())}
    if version is not None:
        keep = installed == version
    elif installed and not satisfies(installed, requirement()):
        log(f"llama.cpp: llama-cpp-python {installed} does not meet pyproject.toml's {requirement()}")
        keep = False
    else:
        keep = installed is not None
    if keep:
        try:
            have = json.loads(stamp.read_text(encoding="utf-8"))
            same = have.get("cmake_args") == want["cmake_args"]
            was = f"{have.get('backend')} ({have.get('cmake_args')})"
        except (OSError, ValueError):  # built before this script existed: judge by its libraries
            have_backends = built_backends() or {"cpu"}
            same = any(same_build(b, backend) for b in have_backends)
            was = "/".join(sorted(have_backends))
            if same and not dry_run:
                stamp.write_text(json.dumps({**want, "version": installed}) + "\n", encoding="utf-8")
        if same:
            log(f"llama.cpp: llama-cpp-python {installed} in {sys.prefix} is already the {backend} build")
            return
        log(f"llama.cpp: llama-cpp-python {installed} was built as {was}: rebuilding it (a few minutes)")
        target = f"llama-cpp-python=={installed}"
        extra = ["--force-reinstall", "--no-deps"]
    else:
        target = f"llama-cpp-python=={version}" if version else requirement()
        extra = ["--force-reinstall"] if installed else []
    # The wheel cache is keyed by the source, not CMAKE_ARGS: only the default CPU build may come from or go into it.
    cache = [] if default else ["--no-cache-dir"]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *cache, *extra, target]
    log(f"llama.cpp: {'would run' if dry_run else 'running'}: {shlex.join(cmd)}")
    if dry_run:
        return
    subprocess.run(cmd, check=True, env={**os.environ, "CMAKE_ARGS": cmake_args})
    stamp.write_text(json.dumps({**want, "version": metadata.version("llama-cpp-python")}) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_pick = sub.add_parser("pick", help="print the backend this machine can build")
    p_pick.add_argument("--why", action="store_true", help="and why, on stderr")
    p_args = sub.add_parser("cmake-args", help="print the CMake options for BACKEND")
    p_args.add_argument("backend", choices=BACKENDS)
    p_inst = sub.add_parser("install", help="build llama-cpp-python into the running interpreter's venv")
    p_inst.add_argument("--backend", default="", help="cpu, cuda, vulkan, metal; empty: pick")
    p_inst.add_argument("--base-args", default="", help="CMake options every build gets")
    p_inst.add_argument("--given", action="store_true", help="$CMAKE_ARGS came from the caller: use it as it is")
    p_inst.add_argument("--same-version-as", metavar="PYTHON", help="the llama-cpp-python version of that venv")
    p_inst.add_argument("--dry-run", action="store_true", help="say what would be built, build nothing")
    args = parser.parse_args()

    if args.command == "pick":
        backend, why = pick()
        print(backend)
        if args.why:
            log(why)
    elif args.command == "cmake-args":
        print(" ".join(backend_cmake_args(args.backend, fetch=True)))
    else:
        if args.backend and args.backend not in BACKENDS:
            sys.exit(f"llama_build: unknown BACKEND={args.backend!r}: one of {', '.join(BACKENDS)}")
        backend, why = (args.backend, "BACKEND given") if args.backend else pick()
        if args.given:
            cmake_args = os.environ.get("CMAKE_ARGS", "")
            backend = implied_backend(cmake_args) if not args.backend else backend
            why += "; CMAKE_ARGS given by the caller, used as they are"
        else:
            cmake_args = " ".join([args.base_args, *backend_cmake_args(backend, fetch=True)]).strip()
        log(f"llama.cpp backend: {backend} ({why}); BACKEND=cpu|cuda|vulkan|metal overrides")
        log(f"llama.cpp CMAKE_ARGS: {cmake_args}")
        version = None
        if args.same_version_as:
            code = "import importlib.metadata as m; print(m.version('llama-cpp-python'))"
            done = subprocess.run([args.same_version_as, "-c", code], capture_output=True, text=True, check=True)
            version = done.stdout.strip()
        default = backend == "cpu" and not args.given
        install(backend, cmake_args, default=default, version=version, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
