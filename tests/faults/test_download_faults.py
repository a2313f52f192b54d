"""Downloads under fire: kill -9 anywhere, two processes at once, a hostile Hub, a bad disk, stale partial files."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from app.core.hub import transfer as transfer_module
from app.core.hub.downloads import DownloadManager, State
from app.core.library.models import scan_models
from tests.faults.conftest import (
    FILE,
    REPO,
    download_command,
    models_folder,
    start,
    wait_for,
)

SEED = int(os.environ.get("HERMES_FAULT_SEED", "13"))
KILL_POINTS = 30


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manager(tmp_path: Path, hub, **options) -> DownloadManager:
    return DownloadManager(tmp_path / "models", tmp_path / "downloads.json", endpoint=hub.endpoint, **options)


def served(hub) -> int:
    return hub.bytes_served.get(FILE, 0)


@pytest.fixture
def original(starter_model: Path) -> tuple[int, str]:
    return starter_model.stat().st_size, sha256(starter_model)


@pytest.mark.slow
def test_two_processes_downloading_one_file_never_share_its_part(tmp_path: Path, hub, hf_env, original) -> None:
    """Issue 13's first failure: two `download` runs appended to one .part (161 MB, 'Verified', a traceback)."""
    size, digest = original
    hub.fault(FILE, "slow", seconds=0.02, times=-1)  # ~8 s for the file: the second run starts well before its end
    basedir = tmp_path / "home"
    part = models_folder(basedir) / (FILE + ".part")
    before = served(hub)
    first = start(download_command(basedir), hf_env)
    wait_for(lambda: part.exists() and part.stat().st_size > 5_000_000, what="the first download to start")
    second = start(download_command(basedir), hf_env)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    target = models_folder(basedir) / FILE
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert out1.strip() == out2.strip() == str(target)
    assert "Traceback" not in err1 + err2
    assert "already being downloaded by another hermes studio" in err2.lower()
    assert target.stat().st_size == size and sha256(target) == digest
    assert size <= served(hub) - before < size * 1.02, "the second process fetched the file again"  # + header probes
    assert not part.exists() and [m.path for m in scan_models([basedir / "data" / "models"])] == [target]


@pytest.mark.slow
def test_kill_9_at_30_seeded_points_then_restart_resumes_and_verifies(tmp_path: Path, hub, hf_env, original) -> None:
    """kill -9 while starting, mid-stream at 30 seeded byte offsets, and while verifying; the file always ends right.

    After every kill the library never offers a partial or unverified file."""
    size, digest = original
    rng = random.Random(SEED)
    points = sorted(rng.sample(range(1, size), KILL_POINTS))
    hub.fault(FILE, "slow", seconds=0.004, times=-1)
    basedir = tmp_path / "home"
    folder = models_folder(basedir)
    part, target = folder / (FILE + ".part"), folder / FILE
    kills: list[str] = []

    def kill(process: subprocess.Popen, where: str) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills.append(where)
        assert not target.exists() or sha256(target) == digest, f"a wrong file in the library after a kill {where}"
        assert all(m.path == target for m in scan_models([basedir / "data" / "models"]))
        assert not part.exists() or part.stat().st_size <= size

    # while starting (before or during the Hub's metadata)
    for delay in (rng.uniform(0.0, 0.4), rng.uniform(0.4, 1.2)):
        process = start(download_command(basedir), hf_env)
        time.sleep(delay)
        kill(process, f"{delay:.2f} s after start")
    for point in points:
        process = start(download_command(basedir), hf_env)
        wait_for(lambda p=process, at=point: (part.exists() and part.stat().st_size >= at) or p.poll() is not None,
                 what=f"{point:,} bytes")  # fmt: skip
        assert process.poll() is None, process.communicate()[1]
        kill(process, f"at {part.stat().st_size:,} bytes (aimed at {point:,})")
    # once the last byte is written: verifying, or renaming
    hub.faults.clear()
    process = start(download_command(basedir), hf_env)
    wait_for(lambda: (part.exists() and part.stat().st_size == size) or target.exists(), what="the last byte")
    kill(process, "after the last byte")

    before = served(hub)
    final = subprocess.run(download_command(basedir), env={**os.environ, **hf_env}, capture_output=True, text=True,
                           timeout=120, check=False)  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert final.stdout.strip() == str(target)
    assert target.stat().st_size == size and sha256(target) == digest
    assert served(hub) - before < size - points[-1] + 16_000_000, "the restart did not resume"
    assert not part.exists() and not (folder / (FILE + ".part.json")).exists()
    assert len(kills) == KILL_POINTS + 3


@pytest.mark.expect_log("sha256 .* on disk")
def test_wrong_bytes_are_kept_aside_never_listed_and_a_retry_succeeds(tmp_path: Path, hub, original) -> None:
    size, digest = original
    hub.fault(FILE, "wrong")
    downloads = manager(tmp_path, hub)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.FAILED
    assert "arrived damaged" in job.message and "not offered for loading" in job.message
    assert f"kept aside as {FILE}.corrupt" in job.message
    corrupt = job.destination.with_name(FILE + ".corrupt")
    assert corrupt.stat().st_size == size and sha256(corrupt) != digest
    assert not job.destination.exists() and not job.part.exists() and scan_models([tmp_path / "models"]) == []
    downloads.retry(job.key)
    done = downloads.wait(job.key)
    assert done.state == State.DONE and sha256(done.destination) == digest and not corrupt.exists()


@pytest.mark.expect_log("connection closed before the end of the file")
def test_a_truncated_body_is_resumed_not_accepted(tmp_path: Path, hub, original) -> None:
    size, digest = original
    hub.fault(FILE, "truncate", after=30_000_000)
    before = served(hub)
    downloads = manager(tmp_path, hub, backoff=0.05)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.DONE and sha256(job.destination) == digest
    assert served(hub) - before == size  # the rest came with a Range request


@pytest.mark.expect_log("timed out; retry")
def test_a_stalled_transfer_is_noticed_and_retried(tmp_path: Path, hub, original) -> None:
    _size, digest = original
    hub.fault(FILE, "stall", after=10_000_000, seconds=30)
    events: list = []
    downloads = manager(tmp_path, hub, backoff=0.05, stall_timeout=0.5, on_change=events.append)
    started = time.monotonic()
    job = downloads.wait(downloads.enqueue(REPO, FILE).key, timeout=60)
    assert job.state == State.DONE and sha256(job.destination) == digest
    assert any("Connection dropped — retrying" in e.message for e in events)
    assert time.monotonic() - started < 25, "the stall was waited out instead of noticed"


@pytest.mark.expect_log(r"HTTP 50[03]")
def test_server_errors_are_retried(tmp_path: Path, hub, original) -> None:
    _size, digest = original
    hub.fault(FILE, "status", status=503, times=2)
    hub.fault(FILE, "status", status=500, times=1)
    events: list = []
    downloads = manager(tmp_path, hub, backoff=0.05, on_change=events.append)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.DONE and sha256(job.destination) == digest
    assert any("The Hub is busy (HTTP 503) — retrying" in e.message for e in events)


@pytest.mark.expect_log("HTTP 429")
def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, hub, original) -> None:
    _size, digest = original
    hub.fault(FILE, "status", status=429, retry_after="1", times=1)
    events: list = []
    downloads = manager(tmp_path, hub, backoff=60, on_change=events.append)  # not the backoff: Retry-After
    started = time.monotonic()
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.DONE and sha256(job.destination) == digest
    assert any("The Hub is busy (HTTP 429) — retrying in 1 s" in e.message for e in events)
    assert 0.9 < time.monotonic() - started < 30


@pytest.mark.expect_log("HTTP 502")
def test_too_many_server_errors_fail_clearly_and_keep_nothing_wrong(tmp_path: Path, hub) -> None:
    hub.fault(FILE, "status", status=502, times=-1)
    downloads = manager(tmp_path, hub, retries=2, backoff=0.01)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.FAILED and "gave up after 2 retries" in job.message and "HTTP 502" in job.message
    assert not job.destination.exists() and scan_models([tmp_path / "models"]) == []


def _partial(tmp_path: Path, hub, at: int) -> DownloadManager:
    """A download paused after ``at`` bytes, with its .part and .part.json as a real run leaves them."""
    hub.fault(FILE, "stall", after=at, seconds=30)
    downloads = manager(tmp_path, hub)
    job = downloads.enqueue(REPO, FILE)
    wait_for(lambda: downloads.job(job.key).done >= at, what=f"{at:,} bytes")
    downloads.shutdown()
    hub.faults.clear()
    return downloads


@pytest.mark.parametrize("damage", ["oversize", "unparsable record", "other revision", "other size"])
def test_a_partial_file_that_is_not_this_file_restarts_cleanly(tmp_path: Path, hub, original, damage: str) -> None:
    size, digest = original
    first = _partial(tmp_path, hub, 20_000_000)
    job = first.jobs()[0]
    if damage == "oversize":
        with job.part.open("ab") as handle:
            handle.write(b"\0" * (size - job.part.stat().st_size + 1000))
    elif damage == "unparsable record":
        job.record.write_text("{not json", encoding="utf-8")
    else:
        record = json.loads(job.record.read_text(encoding="utf-8"))
        record["commit" if damage == "other revision" else "size"] = "0" * 40 if damage == "other revision" else 1
        job.record.write_text(json.dumps(record), encoding="utf-8")
    before = served(hub)
    again = manager(tmp_path, hub)
    done = again.wait(job.key)
    assert done.state == State.DONE, done.message
    assert sha256(done.destination) == digest
    assert served(hub) - before == size  # started over from byte 0


def test_a_partial_file_of_this_file_resumes(tmp_path: Path, hub, original) -> None:
    size, digest = original
    job = _partial(tmp_path, hub, 20_000_000).jobs()[0]
    before = served(hub)
    done = manager(tmp_path, hub).wait(job.key)
    assert done.state == State.DONE and sha256(done.destination) == digest
    assert served(hub) - before == size - 20_000_000


def test_enospc_mid_download_is_clear_and_keeps_the_bytes(
    tmp_path: Path, hub, original, monkeypatch: pytest.MonkeyPatch
) -> None:
    size, digest = original
    real_write_all = transfer_module.write_all
    written = [0]

    def disk_fills_at_25_mb(handle, block: bytes) -> None:
        if written[0] + len(block) > 25_000_000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write_all(handle, block)
        written[0] += len(block)

    monkeypatch.setattr(transfer_module, "write_all", disk_fills_at_25_mb)
    downloads = manager(tmp_path, hub)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.FAILED
    assert "No space left on device; is the disk full?" in job.message and "are kept" in job.message
    assert job.part.stat().st_size == written[0] and not job.destination.exists()
    monkeypatch.setattr(transfer_module, "write_all", real_write_all)
    before = served(hub)
    downloads.resume(job.key)
    done = downloads.wait(job.key)
    assert done.state == State.DONE and sha256(done.destination) == digest
    assert served(hub) - before == size - written[0]


def test_a_read_only_models_folder_is_a_clear_message(tmp_path: Path, hub) -> None:
    """A models folder the process cannot write: as a user, a 0555 folder; as root (who ignores permissions),
    a folder on a read-only file system (/sys, as containers mount it)."""
    if os.geteuid() == 0:
        models = Path("/sys/hermes-studio-fault-test/models")
        try:
            models.mkdir(parents=True)
        except OSError:
            pass
        else:
            pytest.skip("no read-only file system to test with")
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        models = tmp_path / "ro" / "models"
    downloads = DownloadManager(models, tmp_path / "downloads.json", endpoint=hub.endpoint)
    job = downloads.wait(downloads.enqueue(REPO, FILE).key)
    assert job.state == State.FAILED
    assert job.message.startswith(f"Cannot write to the models folder {models}/HuggingFaceTB")
    assert "Choose a folder you can write to in Settings" in job.message
    assert not models.exists() or scan_models([models]) == []


@pytest.mark.slow
def test_a_window_resuming_its_queue_waits_for_the_cli_downloading_the_same_file(
    tmp_path: Path, hub, hf_env, original
) -> None:
    """The window's resume-at-start (a restored queue) takes the same lock as `hermes-studio download`."""
    size, digest = original
    hub.fault(FILE, "slow", seconds=0.02, times=-1)
    basedir = tmp_path / "home"
    part = models_folder(basedir) / (FILE + ".part")
    cli = start(download_command(basedir), hf_env)
    wait_for(lambda: part.exists() and part.stat().st_size > 5_000_000, what="the CLI download to start")
    state = tmp_path / "window-downloads.json"
    entry = {"repo_id": REPO, "filename": FILE, "revision": "main", "sha256": digest, "total": size, "paused": False}
    state.write_text(json.dumps({"version": 1, "downloads": [entry]}), encoding="utf-8")
    events: list = []
    window = DownloadManager(basedir / "data" / "models", state, endpoint=hub.endpoint, on_change=events.append)
    job = window.wait(window.jobs()[0].key, timeout=120)
    _out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert any(e.message.startswith("Already being downloaded by another Hermes Studio") for e in events)
    assert job.state == State.DONE and job.message == "Already downloaded (by another Hermes Studio)"
    assert sha256(job.destination) == digest and not part.exists()
