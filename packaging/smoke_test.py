"""Prove the frozen build works before anything is published (run after `make package`).

Checks: `--version` matches the source; `--self-test` chats with the starter model; with
HERMES_EXPECT_BACKEND set, the bundle carries that llama.cpp build. On Linux as root, the .deb installs
with `apt-get install ./hermes-studio_*.deb` (dependencies resolved, as a user installs it), works from
PATH, and `apt-get purge` leaves the system as it was: no file of the package left, the packages apt pulled
in for it removed again, user data untouched, `apt-get check` and `dpkg --audit` clean.
Prints the bundle's size by component and the frozen vs source start/self-test times.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from app import __version__  # noqa: E402

SIZE_TARGET_MB = 280  # issue 29: the Linux bundle with every capability (vision, documents, MCP) under 280 MB
# HERMES_EXPECT_BACKEND (set per system by .github/workflows/release.yml) -> llama.cpp libraries the bundle must
# carry: a build that quietly fell back to the CPU (a CMAKE_ARGS lost on the way, a cached wheel) fails here.
BACKEND_LIBS = {
    "vulkan": ("ggml-vulkan", "ggml-cpu-x64", "ggml-cpu-haswell"),  # GGML_BACKEND_DL modules, CPU variants
    "metal": ("ggml-metal",),
    "cpu": ("ggml-cpu",),
}


def bundle_dir() -> Path:
    return REPO / "dist" / "hermes-studio"


def executable(bundle: Path) -> Path:
    return bundle / ("hermes-studio.exe" if sys.platform == "win32" else "hermes-studio")


def run(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False, **kwargs)
    return result, time.perf_counter() - started


def check(condition: bool, message: str, detail: str = "") -> None:
    """Print the result; `detail` (a command's output, what was found) only when it failed."""
    print(("ok    " if condition else "FAIL  ") + message + (f": {detail}" if detail and not condition else ""))
    if not condition:
        raise SystemExit(1)


def size_report(bundle: Path) -> None:
    def size(path: Path) -> int:
        """Bytes on disk, not following symlinks (PyInstaller links Qt's libraries into _internal)."""
        if path.is_symlink():
            return 0
        if path.is_dir():
            return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
        return path.lstat().st_size

    total = size(bundle)
    internal = bundle / "_internal"
    parts = sorted(((size(p), p.name) for p in internal.iterdir()), reverse=True) if internal.is_dir() else []
    verdict = "" if total / 1e6 < SIZE_TARGET_MB else "  MISS"
    print(f"bundle size: {total / 1e6:.0f} MB (target < {SIZE_TARGET_MB} MB){verdict}")
    qt = internal / "PySide6" / "Qt"
    if qt.is_dir():
        for sub in sorted(((size(p), p.name) for p in qt.iterdir()), reverse=True)[:4]:
            print(f"    PySide6/Qt/{sub[1]:<22} {sub[0] / 1e6:7.1f} MB")
    for part_size, name in parts[:10]:
        print(f"    {name:<32} {part_size / 1e6:7.1f} MB")


def backend_check(bundle: Path) -> None:
    expected = os.environ.get("HERMES_EXPECT_BACKEND", "")
    if not expected:
        return
    check(expected in BACKEND_LIBS, f"HERMES_EXPECT_BACKEND={expected!r} is one of {sorted(BACKEND_LIBS)}")
    libs = sorted(path.name for path in bundle.rglob("*ggml*") if path.is_file())
    missing = [
        lib for lib in BACKEND_LIBS[expected] if not any(re.match(rf"(lib)?{re.escape(lib)}\.", name) for name in libs)
    ]
    check(not missing, f"the bundle carries llama.cpp built for {expected}", f"missing {missing}, has {libs}")


def main() -> int:
    bundle = bundle_dir()
    frozen = executable(bundle)
    check(frozen.exists(), f"frozen executable at {frozen}")
    from app.core.library.starter import ensure_starter_model

    model = ensure_starter_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")
    size_report(bundle)
    backend_check(bundle)

    result, _ = run([str(frozen), "--version"])
    check(
        result.stdout.strip() == f"Hermes Studio {__version__}",
        f"--version prints {__version__} ({result.stdout.strip()!r})",
    )

    with tempfile.TemporaryDirectory() as base:
        result, frozen_seconds = run([str(frozen), "--basedir", base, "--self-test", "--model", str(model)])
        check(
            result.returncode == 0 and "self-test OK" in result.stdout,
            "frozen --self-test, every step: " + result.stdout.strip()[-300:],
            result.stderr.strip()[-600:],
        )
        for line in result.stderr.splitlines():  # each step's line and time in the frozen app
            if line.startswith("self-test step "):
                print(f"      frozen {line[len('self-test step ') :]}"[:160])
        check("Traceback" not in result.stderr and "Llama.__del__" not in result.stderr, "no traceback at exit")
        source, source_seconds = run(
            [sys.executable, "-m", "app", "--basedir", base, "--self-test", "--model", str(model)], cwd=REPO
        )
        check(source.returncode == 0, "the same self-test from source")
        print(f"self-test wall time: frozen {frozen_seconds:.2f} s, from source {source_seconds:.2f} s")
        version_frozen = min(run([str(frozen), "--version"])[1] for _ in range(3))
        version_source = min(run([sys.executable, "-m", "app", "--version"], cwd=REPO)[1] for _ in range(3))
        print(
            f"start to exit (--version): frozen {version_frozen * 1000:.0f} ms, source {version_source * 1000:.0f} ms"
        )

    debs = sorted((REPO / "dist").glob(f"hermes-studio_{__version__}_*.deb"))
    if sys.platform.startswith("linux") and debs and os.geteuid() == 0 and shutil.which("dpkg"):
        deb_check(debs[-1], model)
    elif sys.platform.startswith("linux"):
        print("note: .deb install check skipped (needs root, dpkg and a built .deb)")
    return 0


PACKAGE = "hermes-studio"


def apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def apt(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, timeout=900, env=apt_env(), cwd=cwd, check=False
    )


def native_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def package_name(name: str, native: str) -> str:
    """One spelling for a package of this machine's architecture ('libfoo', not 'libfoo:amd64')."""
    return name.removesuffix(f":{native}")


def installed_packages() -> dict[str, str]:
    """Package name -> version of every package dpkg knows as installed (fully or half-way)."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${binary:Package} ${Version} ${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    native = native_arch()
    packages = {}
    for line in result.stdout.splitlines():
        name, version, status = line.split(" ", 2)
        if status != "not-installed":
            packages[package_name(name, native)] = version
    return packages


def auto_installed() -> set[str]:
    """Packages apt marked as installed only to satisfy dependencies."""
    result = subprocess.run(["apt-mark", "showauto"], capture_output=True, text=True, check=True)
    native = native_arch()
    return {package_name(name, native) for name in result.stdout.split()}


def package_paths(deb: Path) -> list[Path]:
    """Every path the .deb puts on the system (its data archive), parents before children."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            names = [member.name for member in archive]
    paths = {Path("/", name.removeprefix("./")) for name in names}
    paths.discard(Path("/"))
    return sorted(paths)


def deb_check(deb: Path, model: Path) -> None:
    """Install the .deb as a user would (apt resolves its dependencies), use it, purge it, and check that the
    system is as it was: none of the package's files left, the packages apt pulled in for it gone again, apt
    healthy. (`dpkg -i` with a dependency missing leaves the package half-configured and apt refusing every
    later install; apt-get resolves the dependency, or refuses before unpacking anything.)"""
    if PACKAGE in installed_packages():
        result = apt("purge", "-y", PACKAGE)
        check(result.returncode == 0, f"an earlier {PACKAGE} purged first", result.stderr.strip()[-300:])
    paths = package_paths(deb)
    existed = {path for path in paths if os.path.lexists(path)}
    before = installed_packages()

    result = apt("install", "-y", f"./{deb.name}", cwd=deb.parent)
    if result.returncode != 0:  # stale package lists: what `apt-get update` is for
        apt("update", "-q")
        result = apt("install", "-y", f"./{deb.name}", cwd=deb.parent)
    extra: list[str] = []
    try:
        output = (result.stdout + result.stderr).strip()
        check(result.returncode == 0, f"apt-get install -y ./{deb.name}", output[-400:])
        pulled_in = sorted(set(installed_packages()) - set(before) - {PACKAGE})
        print(f"      packages apt installed for it: {', '.join(pulled_in) or 'none (all present)'}")
        missing = [path for path in paths if not os.path.lexists(path)]
        check(not missing, f"all {len(paths)} paths of the package are on the system", f"missing {missing[:3]}")
        on_path = shutil.which("hermes-studio")
        check(on_path == "/usr/bin/hermes-studio", f"hermes-studio on PATH ({on_path})")
        with tempfile.TemporaryDirectory() as base:
            result, _ = run(["hermes-studio", "--basedir", base, "--self-test", "--model", str(model)])
            check(
                result.returncode == 0 and "self-test OK" in result.stdout,
                "the installed app passes --self-test",
                (result.stdout + result.stderr).strip()[-300:],
            )
            data = Path(base) / "data" / "keep-me.txt"
            data.write_text("user data")
            result = apt("purge", "-y", PACKAGE)
            check(result.returncode == 0, f"apt-get purge -y {PACKAGE}", result.stderr.strip()[-300:])
            check(data.read_text() == "user data", "user data left alone")
    finally:
        if PACKAGE in installed_packages():
            apt("purge", "-y", PACKAGE)
        # What this install pulled in, and apt marked as installed only for it, goes again.
        auto = auto_installed()
        extra = sorted(name for name in set(installed_packages()) - set(before) if name in auto)
        if extra:
            result = apt("purge", "-y", *extra)
    if extra:
        check(result.returncode == 0, f"the packages it pulled in purged ({', '.join(extra)})", result.stderr[-300:])

    left = [path for path in paths if path not in existed and os.path.lexists(path)]
    check(not left, "no file of the package left", f"{len(left)} left: {[str(path) for path in left[:5]]}")
    after = installed_packages()
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    check(not changed, "the installed packages are the same as before the test", f"changed: {changed[:10]}")
    result = apt("check")
    check(result.returncode == 0, "apt-get check", (result.stdout + result.stderr).strip()[-300:])
    audit = subprocess.run(["dpkg", "--audit"], capture_output=True, text=True, check=False)
    check(audit.returncode == 0 and not audit.stdout.strip(), "dpkg --audit finds nothing", audit.stdout.strip()[:300])


if __name__ == "__main__":
    sys.exit(main())
