"""Servers for the server tests, one per module: `hermes-studio serve` as a user starts it, and
llama-cpp-python's own OpenAI-compatible server (a remote engine no one here wrote)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

API_KEY = "test-key"


@dataclass
class Process:
    """A server subprocess whose stderr lines are collected as they come."""

    popen: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _new: queue.Queue[str] = field(default_factory=queue.Queue)

    def read_stderr(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def wait_for(self, pattern: str, timeout: float) -> tuple[re.Match[str], float]:
        """The first line from now on matching ``pattern``, and when it came (perf_counter)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} in {timeout} s; got:\n" + "\n".join(self.lines)
                ) from None
            match = re.search(pattern, line)
            if match:
                return match, time.perf_counter()

    def drain(self) -> None:
        while not self._new.empty():
            self._new.get_nowait()

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def start_process(args: list[str], env: dict[str, str] | None = None) -> Process:
    popen = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    process = Process(popen)
    threading.Thread(target=process.read_stderr, daemon=True).start()
    return process


def hermes_serve(basedir: Path, *args: str) -> Process:
    """`hermes-studio serve … --port 0`; waits for its 'Serving on' line."""
    process = start_process([sys.executable, "-m", "app", "serve", "--basedir", str(basedir), "--port", "0", *args])
    match, _ = process.wait_for(r"Serving on (http://\S+/v1)", timeout=120)
    process.url = match.group(1)
    return process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llama_cpp_server(model: Path, alias: str = "smol") -> Process:
    """llama-cpp-python's `python -m llama_cpp.server` on loopback, answering /v1/models."""
    port = free_port()
    process = start_process(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
    )  # fmt: skip
    process.url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError("llama_cpp.server exited:\n" + "\n".join(process.lines))
        try:
            with urllib.request.urlopen(process.url + "/models", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.stop()
    raise AssertionError("llama_cpp.server did not answer in 120 s")


@pytest.fixture(scope="module")
def served(starter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    """`hermes-studio serve` with the starter model and an API key, shared by a module's tests."""
    basedir = tmp_path_factory.mktemp("serve-home")
    process = hermes_serve(basedir, "--model", str(starter_model), "--api-key", API_KEY, "--context-size", "2048")
    yield process
    assert process.stop() == 0, "\n".join(process.lines)


@pytest.fixture(scope="module")
def llama_server(starter_model: Path) -> Iterator[Process]:
    process = llama_cpp_server(starter_model)
    yield process
    process.stop()
