"""Slow, silent and non-reading clients against `hermes-studio serve` (issue 28, items 2, 14 and 15).

A real server subprocess on 127.0.0.1 with the real starter model; the hostile clients are raw sockets. The
server runs with short timeouts (1 s) so that the tests wait on behaviour (a connection closed, a status line,
a log line), never on a fixed delay; the deadlines here only guard against a hang.

Figures (this 2-core machine, shared; `python -m bench.hostile_clients`, docs/benchmarks.md): 200 stalled
unauthenticated 4 MB bodies took the server from 192 to 1,003 MiB (456 MiB after they closed), now 192 → 193;
a streamed client with a 4 KiB receive buffer that never reads is stopped after ~140 tokens by the 1 s write
timeout, ~170 by a 32-token backlog (before: it ran to ``max_tokens``, then its request hung on its write).
A client whose kernel buffers the whole reply (Linux 6.x grows an unread socket's buffer: ~600 KB here) cannot
be told from a slow reader; ``max_tokens`` (4,096 by default) bounds it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.main import build_parser
from app.server.app import DEFAULT_MAX_TOKENS, ServerOptions
from app.server.connections import Limits
from tests.server.conftest import Process

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_NOFILE and /proc")]

KEY = "s3cret"
MODEL = "SmolLM2-135M-Instruct.Q4_1"
FD_LIMIT = 256  # the server's own: its default connection limit is then 128
GUARD_S = 180.0  # a hang guard on a slow shared machine, never a performance bound
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"  # the starter model goes on counting to max_tokens


def serve(basedir: Path, model: Path, *args: str, fd_limit: int = 0) -> Process:
    """`hermes-studio serve` on a free loopback port, optionally under a lower file-descriptor limit (set by
    a small Python that then execs the server: no preexec_fn in a threaded test process)."""
    command = [sys.executable, "-m", "app", "serve", "--basedir", str(basedir), "--port", "0", "--model", str(model)]
    if fd_limit:
        lower = f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({fd_limit}, {fd_limit}))"
        command = [sys.executable, "-c", f"{lower}; os.execv(sys.executable, sys.argv[1:])", *command]
    popen = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process = Process(popen)
    threading.Thread(target=process.read_stderr, daemon=True).start()
    match, _ = process.wait_for(r"Serving on (http://\S+/v1)", timeout=120)
    process.url = match.group(1)
    return process


@pytest.fixture(scope="module")
def server(starter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    basedir = tmp_path_factory.mktemp("bounded-home")
    seconds = ["--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "1", "--write-timeout", "1"]
    process = serve(basedir, starter_model, "--api-key", KEY, "--context-size", "1024", *seconds, fd_limit=FD_LIMIT)
    yield process
    alive = process.popen.poll() is None
    code = process.stop()
    assert alive, "the server died:\n" + "\n".join(process.lines[-40:])
    assert code == 0, "\n".join(process.lines[-40:])
    assert not any("Traceback" in line for line in process.lines), "\n".join(process.lines)


def port(process: Process) -> int:
    return int(process.url.rsplit(":", 1)[1].split("/")[0])


def connect(process: Process, receive_buffer: int = 0) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:  # before connect, so the window the server sees is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(GUARD_S)
    sock.connect(("127.0.0.1", port(process)))
    return sock


def head(path: str, length: int, key: str | None = KEY, method: str = "POST") -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def request(process: Process, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One authenticated request on a connection of its own: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else b""
    with connect(process) as sock:
        sock.sendall(head(path, len(data), method="POST" if body is not None else "GET") + data)
        raw = read_response(sock)
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.partition(b"\r\n\r\n")[2] or b"{}")


def read_response(sock: socket.socket) -> bytes:
    """A whole response, read until the headers' Content-Length is in."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += recv(sock)
    headers, _, body = raw.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", headers, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += recv(sock)
    return headers + b"\r\n\r\n" + body


def recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection before a whole response"
    return chunk


def closed_by_server(sock: socket.socket) -> bytes:
    """What the server still sent, once it has closed the connection (a hang fails at the guard)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def served_normally(process: Process) -> None:
    hello = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    status, body = request(process, "/v1/chat/completions", hello)
    assert status == 200 and body["choices"][0]["message"]["content"], body
    assert process.popen.poll() is None


def rss_kib(process: Process) -> int:
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


# item 2: the server exits when file descriptors run out


def test_more_silent_sockets_than_file_descriptors_leave_the_server_serving(server: Process) -> None:
    """300 sockets that send nothing, at a limit of 256 descriptors: before, accept() failed with EMFILE, a
    normal request waited forever (and the issue's server exited). Now the oldest idle ones are evicted at the
    connection limit (128 here) and the rest closed at the header timeout; a normal request is answered."""
    limits = Path(f"/proc/{server.popen.pid}/limits").read_text()
    assert re.search(rf"Max open files\s+{FD_LIMIT}\s+{FD_LIMIT}", limits), limits
    silent = []
    try:
        for _ in range(300):
            silent.append(connect(server))
        status, body = request(server, "/v1/models")
        assert status == 200 and body["data"][0]["id"] == MODEL
        served_normally(server)
        for sock in silent:
            assert closed_by_server(sock) == b""
    finally:
        for sock in silent:
            sock.close()
    served_normally(server)


def test_half_sent_headers_and_idle_connections_are_closed(server: Process) -> None:
    """Half a request (a slowloris) is closed at the header timeout; a kept-alive connection at the idle one."""
    with connect(server) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
        assert closed_by_server(sock) == b""
    with connect(server) as sock:
        sock.sendall(head("/v1/models", 0, method="GET"))
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock) == b""  # no second request within the idle timeout


# item 14: the key before the body, and no unbounded wait for a body


def test_a_wrong_key_is_refused_on_the_headers_and_its_body_never_held(server: Process) -> None:
    """Before, the guard read the whole body first: 20 stalled unauthenticated 4 MB bodies (one byte short)
    grew the server by ~80 MB and got no answer. Now each is a 401 on its headers, the connection closed."""
    body = b"x" * ((4 << 20) - 1)
    before = rss_kib(server)
    sockets = [connect(server) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(head("/v1/chat/completions", 4 << 20, key=None))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(body)  # the server has refused it already: what it is sent goes nowhere
        grown_mib = (rss_kib(server) - before) / 1024
        for sock in sockets:
            try:
                answer = closed_by_server(sock)
            except ConnectionResetError:
                answer = b""
            assert answer == b"" or answer.startswith(b"HTTP/1.1 401"), answer[:200]
    finally:
        for sock in sockets:
            sock.close()
    assert grown_mib < 20, f"the server grew by {grown_mib:.0f} MiB for refused bodies"
    with connect(server) as sock:  # and the answer comes before any byte of the body
        sock.sendall(head("/v1/chat/completions", 4 << 20, key="wrong"))
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 401") and b"invalid_api_key" in answer, answer[:300]
    served_normally(server)


def test_a_body_that_stops_coming_is_a_408(server: Process) -> None:
    with connect(server) as sock:
        sock.sendall(head("/v1/chat/completions", 1000) + b'{"model": ')
        answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer, answer[:300]
    served_normally(server)


# item 15: clients that never read


def test_a_client_that_stops_reading_stops_its_generation(server: Process) -> None:
    """A streamed completion whose client never reads: before, it ran to max_tokens (600 here), then the
    request hung on its write forever. Now the write timeout stops it, the engine is free for the next
    request while that client's socket is still open, and the log says how many tokens it cost."""
    body = json.dumps(
        {"model": MODEL, "prompt": COUNTING, "max_tokens": 600, "temperature": 0, "stream": True}
    ).encode()
    server.drain()
    with connect(server, receive_buffer=4096) as sock:
        sock.sendall(head("/v1/completions", len(body)) + body)
        match, _ = server.wait_for(r"/v1/completions 499 .*stopped after (\d+) tokens.*client stopped reading", GUARD_S)
        print(f"\nnon-reading client (4 KiB receive buffer): {match.group(0)}")
        assert int(match.group(1)) < 600
        served_normally(server)  # the socket is still open and unread: the engine is free anyway


def test_backpressure_stops_a_generation_far_ahead_of_its_client(starter_model: Path, tmp_path: Path) -> None:
    """With a write timeout too long to matter (600 s), the generation still stops: once the client's socket is
    full, the engine may run at most --max-backlog tokens (256 by default; 32 here, for speed) ahead of it. On a
    fast engine this is what bounds a non-reader's cost (a GPU makes 10 s of write timeout into thousands of
    tokens)."""
    assert Limits().max_backlog == 256
    process = serve(
        tmp_path / "home",
        starter_model,
        "--api-key",
        KEY,
        "--context-size",
        "1024",
        "--write-timeout",
        "600",
        "--max-backlog",
        "32",
    )
    try:
        body = json.dumps(
            {"model": MODEL, "prompt": COUNTING, "max_tokens": 900, "temperature": 0, "stream": True}
        ).encode()
        with connect(process, receive_buffer=4096) as sock:
            sock.sendall(head("/v1/completions", len(body)) + body)
            pattern = r"/v1/completions 499 .*stopped after (\d+) tokens.*client stopped reading"
            match, _ = process.wait_for(pattern, GUARD_S)
            print(f"\nbackpressure, non-reading client (4 KiB receive buffer): {match.group(0)}")
            assert 32 < int(match.group(1)) < 900
            served_normally(process)
    finally:
        assert process.stop() == 0, "\n".join(process.lines)


def test_replies_are_capped_by_default(starter_model: Path, tmp_path: Path) -> None:
    """`max_tokens` has a default cap (4,096; --max-tokens sets it): a request asking for no limit, or for more,
    gets at most that many tokens and finish_reason "length"."""
    assert ServerOptions().max_tokens == DEFAULT_MAX_TOKENS == 4096
    assert build_parser().parse_args(["serve"]).max_tokens == DEFAULT_MAX_TOKENS
    process = serve(tmp_path / "home", starter_model, "--api-key", KEY, "--context-size", "1024", "--max-tokens", "8")
    try:
        for asked in (None, 100_000):
            body: dict = {"model": MODEL, "prompt": COUNTING, "temperature": 0}
            if asked:
                body["max_tokens"] = asked
            status, answer = request(process, "/v1/completions", body)
            assert status == 200, answer
            assert answer["usage"]["completion_tokens"] == 8
            assert answer["choices"][0]["finish_reason"] == "length"
    finally:
        assert process.stop() == 0, "\n".join(process.lines)
