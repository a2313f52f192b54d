"""Hostile clients against `serve` (issue 28, items 14 and 15): ``python -m bench.hostile_clients [--repo PATH]``.

Not part of ``python -m bench``: its baseline is another checkout (``--repo``, e.g. a worktree of the commit
before the bounds), run the same way, with the same model and flags. Figures, each from the one run:

- RSS of the server before, during and after 200 unauthenticated requests announcing 4 MB bodies and sending
  all but one byte (with ``--api-key``);
- the wait of a normal chat (4 tokens) sent behind N streamed completions whose clients never read (a counting
  prompt: the reply runs to its limit), each asking ``--ask`` tokens (0: no ``max_tokens``), and how they ended.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

KEY = "bench-key"
MODEL = "SmolLM2-135M-Instruct.Q4_1"


def start(repo: Path, model: Path, home: Path, context: int) -> tuple[subprocess.Popen[str], int, list[str]]:
    command = [sys.executable, "-m", "app", "serve", "--basedir", str(home), "--port", "0", "--model", str(model)]
    command += ["--api-key", KEY, "--context-size", str(context)]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    popen = subprocess.Popen(command, cwd=repo, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        assert popen.stderr is not None
        for line in popen.stderr:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while not any("Serving on" in line for line in lines):
        if popen.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start:\n" + "\n".join(lines))
        time.sleep(0.05)
    port = int(re.search(r":(\d+)/v1", next(line for line in lines if "Serving on" in line)).group(1))  # type: ignore[union-attr]
    return popen, port, lines


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def head(path: str, length: int, key: str | None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def stalled_bodies(popen: subprocess.Popen[str], port: int, count: int = 200) -> str:
    before = rss_mib(popen.pid)
    body = b"x" * ((4 << 20) - 1)
    sockets = []
    refused = 0
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sockets.append(sock)
        try:
            sock.sendall(head("/v1/chat/completions", 4 << 20, None) + body)
        except OSError:
            refused += 1
    time.sleep(1)
    during = rss_mib(popen.pid)
    for sock in sockets:
        sock.close()
    time.sleep(2)
    after = rss_mib(popen.pid)
    return (
        f"{count} stalled unauthenticated 4 MB bodies: RSS {before:.0f} → {during:.0f} MiB while held, "
        f"{after:.0f} MiB after they closed; {refused} refused before the body was sent"
    )


def non_readers(port: int, lines: list[str], count: int, ask: int, receive_buffer: int = 0) -> str:
    counting = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"  # the starter model counts on until it is stopped
    request: dict = {"model": MODEL, "prompt": counting, "stream": True, "temperature": 0}
    body = json.dumps(request | ({"max_tokens": ask} if ask else {})).encode()
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        if receive_buffer:  # a fixed receive buffer (no autotuning), as some systems and proxies have
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect(("127.0.0.1", port))
        sock.sendall(head("/v1/completions", len(body), KEY) + body)
        sockets.append(sock)
    time.sleep(0.5)
    hello = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    call = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions", data=json.dumps(hello).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )  # fmt: skip
    started = time.perf_counter()
    with urllib.request.urlopen(call, timeout=7200) as response:
        response.read()
    waited = time.perf_counter() - started
    stopped = [line for line in lines if " 499 " in line]
    tokens = [int(m.group(1)) for line in stopped if (m := re.search(r"stopped after (\d+) tokens", line))]
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()
    what = (f"max_tokens {ask}" if ask else "no max_tokens") + (
        f", {receive_buffer:,}-byte receive buffers" if receive_buffer else ""
    )
    spent = f"; stopped after {min(tokens)}–{max(tokens)} tokens" if tokens else ""
    return (
        f"a normal chat behind {count} non-reading streamed clients ({what}): waited {waited:.1f} s; "
        f"{len(stopped)} of them stopped for not reading{spent}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_clients")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--model", type=Path, default=Path(os.environ.get("HERMES_TEST_MODEL", "")))
    parser.add_argument("--home", type=Path, default=Path("/tmp/hermes-bench-hostile"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--ask", type=int, default=16, help="max_tokens of each non-reading client (0: none)")
    parser.add_argument("--context-size", type=int, default=1024)
    parser.add_argument("--skip-bodies", action="store_true")
    parser.add_argument("--receive-buffer", type=int, default=0, help="SO_RCVBUF of the non-reading clients")
    args = parser.parse_args()
    popen, port, lines = start(args.repo.resolve(), args.model.resolve(), args.home, args.context_size)
    try:
        if not args.skip_bodies:
            print(stalled_bodies(popen, port), flush=True)
        print(non_readers(port, lines, args.clients, args.ask, args.receive_buffer), flush=True)
    finally:
        popen.terminate()
        popen.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
