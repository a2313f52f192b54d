"""``serve --restart-on-crash``: the server in a child process, started again when it dies.

llama.cpp runs in the server's process, so a native crash that no check caught (an abort in a new model
architecture, a driver fault) ends that process. The supervisor says what happened in one line, starts the
server again, and gives up after ``MAX_CRASHES`` crashes within ``WINDOW_S`` (a server that cannot stay up).
A server that exits by itself (Ctrl+C, a bad flag, a model that does not load) is not restarted: its exit code is
the supervisor's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from types import FrameType

MAX_CRASHES = 5
WINDOW_S = 60.0
FLAG = "--restart-on-crash"


def server_command(argv: Sequence[str]) -> list[str]:
    """The same command line without the flag, for this Python (or the frozen app itself)."""
    rest = [arg for arg in argv if arg != FLAG]
    if getattr(sys, "frozen", False):
        return [sys.executable, *rest]
    return [sys.executable, "-m", "app", *rest]


def crash_name(code: int) -> str:
    """'SIGSEGV' for a child killed by signal 11 (a negative return code), else ''."""
    if code >= 0:
        return ""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def supervise(argv: Sequence[str]) -> int:
    command = server_command(argv)
    crashes: deque[float] = deque()
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            child = subprocess.Popen(command)
            code = child.wait()
            name = crash_name(code)
            if stopping or not name:
                return code if code >= 0 else 1
            now = time.monotonic()
            crashes.append(now)
            while crashes and now - crashes[0] > WINDOW_S:
                crashes.popleft()
            if len(crashes) >= MAX_CRASHES:
                print(f"hermes-studio: the server crashed {len(crashes)} times in {WINDOW_S:.0f} s ({name}); "
                      "not restarting it. See the log.", file=sys.stderr, flush=True)  # fmt: skip
                return 1
            print(f"hermes-studio: the server crashed ({name}); starting it again.", file=sys.stderr, flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
