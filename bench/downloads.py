"""5. Download throughput: the app's download manager vs plain ``hf_hub_download``, same file, same loopback Hub.

Also: after a transfer is cut off mid-file and resumed, how many bytes were fetched twice.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import Figure, Section, median, starter_model

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


def run(quick: bool = False) -> Section:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    from huggingface_hub import hf_hub_download

    from app.core.hub.downloads import DownloadManager, State
    from tests.hub_server import standard_hub

    model = starter_model()
    hub = standard_hub(model).start()
    size = model.stat().st_size
    rounds = 1 if quick else 4
    plain, managed = [], []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            for index in range(rounds + 1):  # the first round warms both up and is not counted
                cache = root / f"hf-{index}"
                started = time.perf_counter()
                hf_hub_download(REPO, model.name, cache_dir=cache, endpoint=hub.endpoint)
                plain_s = time.perf_counter() - started
                shutil.rmtree(cache)
                manager = DownloadManager(root / f"m-{index}", root / f"s-{index}.json", endpoint=hub.endpoint)
                started = time.perf_counter()
                job = manager.wait(manager.enqueue(REPO, model.name).key)
                managed_s = time.perf_counter() - started
                assert job.state == State.DONE, job.message
                shutil.rmtree(root / f"m-{index}")
                if index:
                    plain.append(size / plain_s)
                    managed.append(size / managed_s)

            # resume: cut the transfer at 60 %, quit, start again
            hub.fault(model.name, "stall", after=int(size * 0.6), seconds=30)
            first = DownloadManager(root / "r", root / "r.json", endpoint=hub.endpoint)
            job = first.enqueue(REPO, model.name)
            while first.job(job.key).done < int(size * 0.6):
                time.sleep(0.01)
            first.shutdown()
            before = hub.bytes_served.get(model.name, 0)
            second = DownloadManager(root / "r", root / "r.json", endpoint=hub.endpoint)
            resumed = second.wait(job.key)
            after = hub.bytes_served.get(model.name, 0)
            refetched = (after - before) - (size - int(size * 0.6))
            assert resumed.state == State.DONE
    finally:
        hub.stop()
    plain_rate, managed_rate = median(plain), median(managed)
    ratio = managed_rate / plain_rate if plain_rate else 0.0
    refetch_pct = 100 * max(0, refetched) / size
    return Section(
        title="5. Download throughput (download manager vs hf_hub_download, loopback Hub)",
        command="python -m bench downloads",
        figures=[
            Figure("file size", size / 1e6, "MB"),
            Figure("hf_hub_download", plain_rate / 1e6, "MB/s"),
            Figure("download manager (Range transfer + sha256 verify)", managed_rate / 1e6, "MB/s"),
            Figure("ratio manager / hf_hub_download", ratio, "×", "≥ 0.95", ratio >= 0.95),
            Figure("bytes fetched twice after a cut and resume", refetch_pct, "%", "< 1 %", refetch_pct < 1),
        ],
        notes=f"Median of {rounds} interleaved rounds after a warm-up; both write to the same disk; the manager "
        "also hashes every byte against the Hub's sha256.",
    )
