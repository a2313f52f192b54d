"""Helpers for the fault-injection suite: real subprocesses of ``python -m app``, the loopback Hub, kill -9."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_hub(hub) -> Iterator[None]:
    hub.faults.clear()
    yield
    hub.faults.clear()


def app_command(basedir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app", "--basedir", str(basedir), *args]


def download_command(basedir: Path) -> list[str]:
    return app_command(basedir, "download", REPO, "--file", FILE)


def models_folder(basedir: Path) -> Path:
    return basedir / "data" / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF"


def start(command: list[str], env: dict[str, str], **options) -> subprocess.Popen:
    return subprocess.Popen(
        command, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **options,
    )  # fmt: skip


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.005)
