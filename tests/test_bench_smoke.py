"""The benchmarks' smoke run: every benchmark still runs and prints its figures (targets are not asserted here)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SECTIONS = [
    "1. Streaming",
    "2. GUI smoothness",
    "3. Rendering scales",
    "4. Cold start",
    "5. Download throughput",
    "6. Memory",
    "History: a 1,000-message chat",
    "7. GPU offload",
    "Local server (OpenAI API over HTTP)",
    "Long chats: saved states",
    "Lorebooks: activation per turn",
    "A base model without a chat template",
    "Vision: attach an image → first token",
    "Embeddings: the app vs raw llama-cpp-python",
    "Documents: indexing, hybrid search, hit@3",
    "Tools: a call's last token to its result; the server's tool-call streaming overhead",
]


@pytest.mark.timeout(660)  # beyond the run's own deadlock guard below
def test_every_benchmark_runs_quickly(starter_model) -> None:
    env = {**os.environ, "HERMES_TEST_MODEL": str(starter_model), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,  # a deadlock guard: a quiet machine takes well under a minute, a loaded one several
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for section in SECTIONS:
        assert section in result.stdout
    assert "ratio app / raw" in result.stdout and "tok/s" in result.stdout
