"""Downloads through the real huggingface_hub client from the loopback Hub: resume, verify, faults, safety."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.hub.downloads import DownloadError, DownloadManager, State, safe_destination
from app.core.library.models import scan_models
from app.core.prompting.types import Sampling

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(autouse=True)
def _env(hf_env, hub) -> None:
    hub.faults.clear()


def manager(tmp_path: Path, hub, **options) -> DownloadManager:
    return DownloadManager(tmp_path / "models", tmp_path / "downloads.json", endpoint=hub.endpoint, **options)


def served(hub) -> int:
    return hub.bytes_served.get(FILE, 0)


def test_a_real_download_with_progress_is_verified_and_chats(tmp_path: Path, hub, starter_model: Path) -> None:
    events = []
    downloads = manager(tmp_path, hub, on_change=events.append)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.DONE and job.message == "Verified"
    assert job.destination == tmp_path / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / FILE
    assert job.destination.read_bytes() == starter_model.read_bytes()
    progress = [e.done for e in events if e.state == State.DOWNLOADING]
    assert len(progress) > 10 and progress == sorted(progress) and progress[-1] == job.total
    assert {e.state for e in events} >= {State.DOWNLOADING, State.VERIFYING, State.DONE}
    assert not list(job.destination.parent.glob("*.part*"))
    assert [m.path for m in scan_models([tmp_path / "models"])] == [job.destination]
    engine = LlamaEngine()
    engine.load(job.destination, LoadOptions(context_size=512))
    try:
        assert engine.stream([{"role": "user", "content": "Hi"}], Sampling(max_tokens=8)).text()
    finally:
        engine.unload()


def test_kill_9_mid_download_then_resume_fetches_under_1_percent_twice(tmp_path: Path, hub, hf_env) -> None:
    size = Path(hub.repos[REPO].branches["main"][0].source).stat().st_size
    before = served(hub)
    hub.fault(FILE, "stall", after=40_000_000, seconds=60)
    command = [sys.executable, "-m", "app", "--basedir", str(tmp_path / "home"), "download", REPO, "--file", FILE]
    env = {**os.environ, **hf_env}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = tmp_path / "home" / "data" / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / (FILE + ".part")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 40_000_000):
        time.sleep(0.05)
    assert part.stat().st_size == 40_000_000
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    first_run = served(hub) - before

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    target = part.with_name(FILE)
    assert again.stdout.strip() == str(target)
    total_served = served(hub) - before
    refetched = total_served - size
    assert first_run >= 40_000_000
    assert refetched < size * 0.01, f"{refetched:,} bytes fetched twice"
    assert target.stat().st_size == size and not part.exists()


@pytest.mark.expect_log(r"sha256 .* on disk")
def test_corrupted_bytes_are_rejected_and_never_listed(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "corrupt", after=12_345_678)
    downloads = manager(tmp_path, hub)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.FAILED
    assert "arrived damaged" in job.message and "not offered for loading" in job.message
    assert not job.destination.exists() and not job.part.exists()
    assert scan_models([tmp_path / "models"]) == []
    downloads.retry(job.key)  # the fault is gone: a retry succeeds
    assert downloads.wait(job.key).state == State.DONE


@pytest.mark.expect_log(r"; retry \d")
def test_a_dropped_connection_is_retried_and_says_so(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "drop", after=30_000_000, times=2)
    events = []
    before = served(hub)
    downloads = manager(tmp_path, hub, backoff=0.05, on_change=events.append)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.DONE
    assert any("Connection dropped — retrying" in e.message for e in events)
    assert served(hub) - before == job.total  # resumed with Range: nothing fetched twice


@pytest.mark.expect_log(r"; retry \d")
def test_too_many_drops_fail_with_a_clear_message_and_keep_the_bytes(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "drop", after=1_000_000, times=-1)
    downloads = manager(tmp_path, hub, retries=2, backoff=0.01)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    hub.faults.clear()
    assert (
        job.state == State.FAILED
        and "kept dropping" in job.message
        and "nothing downloaded so far is lost" in job.message
    )
    assert job.part.exists() and job.part.stat().st_size >= 1_000_000
    downloads.resume(job.key)
    assert downloads.wait(job.key).state == State.DONE


def test_pause_resume_and_cancel(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "stall", after=20_000_000, seconds=30)
    downloads = manager(tmp_path, hub)
    job = downloads.enqueue(REPO, FILE)
    deadline = time.monotonic() + 30
    while downloads.job(job.key).done < 20_000_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    downloads.pause(job.key)
    paused = downloads.wait(job.key, 10)
    assert paused.state == State.PAUSED and time.monotonic() - started < 2  # a stalled read is unblocked
    assert paused.part.stat().st_size == 20_000_000
    downloads.resume(job.key)
    assert downloads.wait(job.key).state == State.DONE

    other = manager(tmp_path / "second", hub)
    hub.fault(FILE, "stall", after=5_000_000, seconds=30)
    job = other.enqueue(REPO, FILE)
    while other.job(job.key).done < 5_000_000:
        time.sleep(0.02)
    other.cancel(job.key)
    cancelled = other.wait(job.key, 10)
    assert cancelled.state == State.CANCELLED and not cancelled.part.exists()


def test_quitting_mid_download_resumes_at_the_next_start(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "stall", after=25_000_000, seconds=30)
    first = manager(tmp_path, hub)
    job = first.enqueue(REPO, FILE)
    while first.job(job.key).done < 25_000_000:
        time.sleep(0.02)
    first.shutdown()
    assert first.job(job.key).state == State.PAUSED
    before = served(hub)
    second = manager(tmp_path, hub)  # a new start of the app: the queue is restored and resumes
    finished = second.wait(job.key)
    assert finished.state == State.DONE
    assert served(hub) - before == finished.total - 25_000_000


def test_not_enough_disk_space_is_refused_before_starting(tmp_path: Path, hub) -> None:
    downloads = manager(tmp_path, hub, free_space=lambda _path: 50_000_000)
    with pytest.raises(DownloadError, match=r"Not enough disk space for .*: it needs 93\.8 MB"):
        downloads.enqueue(REPO, FILE, size=98_362_432)
    assert downloads.jobs() == [] and not (tmp_path / "models" / "HuggingFaceTB").exists()


@pytest.mark.parametrize(
    "name",
    ["../evil.gguf", "a/../../evil.gguf", "/etc/passwd", "..\\evil.gguf", "C:evil.gguf", "a//b.gguf", "./x.gguf",
     "bad\x00name.gguf", ""],
)  # fmt: skip
def test_file_names_that_could_escape_the_models_folder_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(DownloadError, match="Refusing"):
        safe_destination(tmp_path, REPO, name)


@pytest.mark.parametrize("repo", ["../x", "a/..", "owner", "a/b/c", "a b/c"])
def test_strange_repo_names_are_refused(tmp_path: Path, repo: str) -> None:
    with pytest.raises(DownloadError, match="Refusing"):
        safe_destination(tmp_path, repo, "x.gguf")


def test_gptq_branch_snapshot_goes_to_its_own_folder(tmp_path: Path, hub) -> None:
    downloads = manager(tmp_path, hub)
    repo = "TheBloke/OpenHermes-2-Mistral-7B-GPTQ"
    keys = [downloads.enqueue(repo, f, revision="gptq-4bit-32g-actorder_True").key
            for f in ("config.json", "model.safetensors", "quantize_config.json")]  # fmt: skip
    jobs = [downloads.wait(key) for key in keys]
    assert all(j.state == State.DONE for j in jobs)
    folder = tmp_path / "models" / "TheBloke" / "OpenHermes-2-Mistral-7B-GPTQ@gptq-4bit-32g-actorder_True"
    assert (folder / "quantize_config.json").read_text() == '{"bits": 4, "group_size": 32, "desc_act": true}'


def test_a_write_failure_mid_download_is_clear_and_keeps_the_bytes(tmp_path: Path, hub, hf_env) -> None:
    """RLIMIT_FSIZE makes writes past 30 MB fail (EFBIG), as a full disk would: a clear error, nothing lost."""
    import resource

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000_000, resource.RLIM_INFINITY))

    command = [sys.executable, "-m", "app", "--basedir", str(tmp_path / "home"), "download", REPO, "--file", FILE]
    env = {**os.environ, **hf_env}
    failed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False,
                            preexec_fn=limit_file_size)  # fmt: skip
    assert failed.returncode == 1
    assert "failed Could not write" in failed.stderr and "is the disk full?" in failed.stderr
    assert "downloaded so far are kept" in failed.stderr and "retrying" not in failed.stderr
    part = tmp_path / "home" / "data" / "models" / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / (FILE + ".part")
    assert part.stat().st_size == 30_000_000
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip()).stat().st_size == 98_362_432


def test_a_short_write_is_followed_by_the_rest() -> None:
    """The part file is written unbuffered, so a short write (a nearly full disk) must not lose the tail."""
    from app.core.hub.transfer import write_all as _write_all

    class Trickle:
        def __init__(self) -> None:
            self.received = bytearray()

        def write(self, data: memoryview) -> int:
            taken = bytes(data[:3])
            self.received += taken
            return len(taken)

    sink = Trickle()
    _write_all(sink, b"0123456789")
    assert bytes(sink.received) == b"0123456789"
