"""Prove the frozen build works before anything is published (run after `make package`).

Checks: `--version` matches the source; `--self-test` chats with the starter model; on Linux as
root, the .deb installs, works from PATH and uninstalls cleanly leaving user data alone.
Prints the bundle's size by component and the frozen vs source start/self-test times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from app import __version__  # noqa: E402

SIZE_TARGET_MB = 250


def bundle_dir() -> Path:
    return REPO / "dist" / "hermes-studio"


def executable(bundle: Path) -> Path:
    return bundle / ("hermes-studio.exe" if sys.platform == "win32" else "hermes-studio")


def run(command: list[str], **kwargs) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False, **kwargs)
    return result, time.perf_counter() - started


def check(condition: bool, message: str) -> None:
    print(("ok    " if condition else "FAIL  ") + message)
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


def main() -> int:
    bundle = bundle_dir()
    frozen = executable(bundle)
    check(frozen.exists(), f"frozen executable at {frozen}")
    from app.core.starter import ensure_starter_model

    model = ensure_starter_model(REPO / ".cache" / "models", REPO / ".cache" / "wheels")
    size_report(bundle)

    result, _ = run([str(frozen), "--version"])
    check(
        result.stdout.strip() == f"Hermes Studio {__version__}",
        f"--version prints {__version__} ({result.stdout.strip()!r})",
    )

    with tempfile.TemporaryDirectory() as base:
        result, frozen_seconds = run([str(frozen), "--basedir", base, "--self-test", "--model", str(model)])
        check(
            result.returncode == 0 and "self-test OK" in result.stdout,
            "frozen --self-test chats: " + (result.stdout + result.stderr).strip()[-300:],
        )
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


def deb_check(deb: Path, model: Path) -> None:
    result, _ = run(["dpkg", "-i", str(deb)])
    check(result.returncode == 0, f"dpkg -i {deb.name}: {result.stderr.strip()[-300:]}")
    try:
        on_path = shutil.which("hermes-studio")
        check(on_path == "/usr/bin/hermes-studio", f"hermes-studio on PATH ({on_path})")
        with tempfile.TemporaryDirectory() as base:
            result, _ = run(["hermes-studio", "--basedir", base, "--self-test", "--model", str(model)])
            check(result.returncode == 0 and "self-test OK" in result.stdout, "installed app passes --self-test")
            data = Path(base) / "data" / "keep-me.txt"
            data.write_text("user data")
            result, _ = run(["dpkg", "-r", "hermes-studio"])
            check(result.returncode == 0, "dpkg -r hermes-studio")
            check(
                not Path("/opt/hermes-studio").exists() and not Path("/usr/bin/hermes-studio").exists(),
                "removed cleanly",
            )
            check(data.read_text() == "user data", "user data left alone")
    finally:
        subprocess.run(["dpkg", "-r", "hermes-studio"], capture_output=True, check=False)


if __name__ == "__main__":
    sys.exit(main())
