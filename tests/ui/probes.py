"""A window started in a fresh Python process (what is imported at start is only true of a fresh process): the probe
script prints one JSON line last, read back here."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def run_probe(script: str, *args: str) -> Any:
    """Run ``script`` offscreen in a fresh interpreter with ``args``; its last line of output, parsed as JSON."""
    import json

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], check=False, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
