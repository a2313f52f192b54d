"""The download queue at scale (issue 27): a fixed pool of workers, pause on queued rows, pauses kept across
restarts, a queue saved row by row (kill -9 while saving loses nothing queued). The real huggingface_hub
client against the loopback Hub."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.core.hub.download_jobs import load_queue
from app.core.hub.downloads import DownloadManager, State
from tests.hub_server import HubFile, HubRepo

REPO = "queue-test/many-small"
FILES = [HubFile(f"part-{i:03d}.gguf", b"GGUF" + bytes([i % 256]) * 2048) for i in range(200)]


@pytest.fixture(autouse=True)
def _hub(hf_env, hub):
    hub.faults.clear()
    if REPO not in hub.repos:
        hub.add(HubRepo(REPO, {"main": FILES}, tags=["gguf"]))
    yield hub
    hub.faults.clear()
    hub.repos.pop(REPO, None)  # the session's Hub is shared: its searches list only the standard repos


def manager(tmp_path: Path, hub, **options) -> DownloadManager:
    return DownloadManager(tmp_path / "models", tmp_path / "downloads.db", endpoint=hub.endpoint, **options)


def enqueue_all(downloads: DownloadManager, files: list[HubFile]) -> list[str]:
    return [downloads.enqueue(REPO, f.path, sha256=f.sha256, size=f.size).key for f in files]


def worker_threads(since: set[threading.Thread]) -> list[str]:
    """The download threads started after ``since`` was taken (other tests' queues left out)."""
    return [t.name for t in threading.enumerate() if t not in since and t.name.startswith("download")]


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout  # a deadlock guard, not a speed assumption
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.expect_log(r"part-\d+\.gguf: .*; retry \d")  # a hung read given up on, on a very busy machine
def test_200_queued_downloads_use_the_pool_and_pause_and_cancel_queued_rows(tmp_path: Path, hub) -> None:
    hub.fault("part-*.gguf", "stall", after=0, seconds=120, times=-1)  # the two running transfers hang
    before = set(threading.enumerate())
    downloads = manager(tmp_path, hub, concurrency=2, stall_timeout=600)
    try:
        keys = enqueue_all(downloads, FILES)
        wait_for(lambda: sum(j.state == State.DOWNLOADING for j in downloads.jobs()) == 2, "two transfers")
        assert downloads.threads() == 2 and len(worker_threads(before)) == 2  # not one per queued download
        states = [downloads.job(key).state for key in keys]
        assert states.count(State.QUEUED) == 198

        downloads.pause(keys[150])  # both workers busy: the queued row is paused at once, not "some day"
        downloads.cancel(keys[151])
        assert downloads.job(keys[150]).state == State.PAUSED
        assert downloads.job(keys[151]).state == State.CANCELLED
        assert downloads.wait(keys[150], timeout=5).state == State.PAUSED  # no worker holds it

        running = [key for key in keys if downloads.job(key).state == State.DOWNLOADING]
        for key in running:  # unblock the hung reads: pause them (a pause may lose the race with the last byte)
            downloads.pause(key)
            assert downloads.wait(key, timeout=60).state in (State.PAUSED, State.DONE)
        hub.faults.clear()
        for key in running:  # resumed: queued again, at the end
            if downloads.job(key).state == State.PAUSED:
                downloads.resume(key)
        finished = [downloads.wait(key, timeout=120) for key in keys]
        wait_for(lambda: worker_threads(before) == [], "the workers to end with the queue empty")
    finally:
        downloads.shutdown()
    assert [job.state for job in finished].count(State.DONE) == 198
    assert finished[150].state == State.PAUSED and finished[151].state == State.CANCELLED
    assert finished[0].destination.read_bytes() == FILES[0].source
    assert worker_threads(before) == []
    (left,) = load_queue(tmp_path / "downloads.db", tmp_path / "models", autostart=True)
    assert left.key == keys[150] and left.state == State.PAUSED  # done and cancelled rows are gone


def test_a_paused_download_stays_paused_across_restarts(tmp_path: Path, hub) -> None:
    hub.fault("part-00*.gguf", "stall", after=1024, seconds=120, times=-1)
    first = manager(tmp_path, hub, concurrency=1)
    keys = enqueue_all(first, FILES[:4])
    wait_for(lambda: first.job(keys[0]).done >= 1024, "the first transfer")
    first.pause(keys[0])  # running: paused by the user
    first.pause(keys[2])  # queued: paused by the user
    assert first.wait(keys[0], timeout=30).state == State.PAUSED
    first.shutdown()  # the transfer that was running when the app closed resumes at the next start
    hub.faults.clear()

    second = manager(tmp_path, hub, concurrency=1)  # a new start on the same data
    try:
        assert [job.key for job in second.jobs()] == keys  # the order kept
        assert second.job(keys[0]).state == State.PAUSED and second.job(keys[2]).state == State.PAUSED
        assert second.wait(keys[1]).state == State.DONE and second.wait(keys[3]).state == State.DONE
        assert second.job(keys[0]).state == State.PAUSED  # still paused: nothing resumed it by itself
        assert second.job(keys[0]).done >= 1024  # its bytes on disk are counted
        second.resume(keys[0])
        assert second.wait(keys[0]).state == State.DONE
    finally:
        second.shutdown()
    third = manager(tmp_path, hub)
    try:
        assert [(job.key, job.state) for job in third.jobs()] == [(keys[2], State.PAUSED)]
    finally:
        third.shutdown()


ENQUEUE_FOREVER = """
import sys
from pathlib import Path
from app.core.hub.downloads import DownloadManager
root, endpoint = Path(sys.argv[1]), sys.argv[2]
downloads = DownloadManager(root / "models", root / "downloads.db", endpoint=endpoint, concurrency=1)
i = 0
while True:
    key = downloads.enqueue("queue-test/never", f"file-{i:05d}.gguf", size=1000).key
    print(key, flush=True)
    i += 1
"""


def test_kill_9_while_saving_loses_nothing_already_queued(tmp_path: Path, hub, hf_env) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", ENQUEUE_FOREVER, str(tmp_path), hub.endpoint],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **hf_env},
    )
    assert process.stdout is not None
    queued = []
    try:
        while len(queued) < 400:
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else "the queueing process ended"
            queued.append(line.strip())
    finally:
        process.send_signal(signal.SIGKILL)  # mid-save, as likely as not
        process.wait(10)
    queued += process.stdout.read().split()  # announced before the kill, still in the pipe
    db = sqlite3.connect(tmp_path / "downloads.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    restored = [job.key for job in load_queue(tmp_path / "downloads.db", tmp_path / "models", autostart=True)]
    assert restored[: len(queued)] == queued  # every download announced as queued is there, in order
    assert len(restored) - len(queued) <= 1  # at most the one being queued when killed


@pytest.mark.expect_log(r"dropping a saved download entry")
def test_the_older_json_queue_is_imported_once(tmp_path: Path, hub) -> None:
    legacy = tmp_path / "downloads.json"
    entries = [
        {"repo_id": REPO, "filename": f.path, "revision": "main", "sha256": f.sha256, "total": f.size, "paused": i == 1}
        for i, f in enumerate(FILES[:3])
    ]
    legacy.write_text(json.dumps({"version": 1, "downloads": [*entries, {"repo_id": "../x"}]}), encoding="utf-8")
    restored = load_queue(tmp_path / "downloads.db", tmp_path / "models", autostart=False)
    assert [job.filename for job in restored] == [f.path for f in FILES[:3]]
    assert not legacy.exists() and (tmp_path / "downloads.db").exists()
    downloads = manager(tmp_path, hub)
    try:
        assert downloads.job(restored[1].key).state == State.PAUSED
        assert downloads.wait(restored[0].key).state == State.DONE
    finally:
        downloads.shutdown()


@pytest.mark.expect_log(r"the saved download queue .* is unreadable")
def test_a_damaged_queue_file_is_kept_aside_and_the_app_goes_on(tmp_path: Path, hub) -> None:
    (tmp_path / "downloads.db").write_bytes(b"this is not a database" * 100)
    downloads = manager(tmp_path, hub)
    try:
        assert downloads.jobs() == []
        (aside,) = tmp_path.glob("downloads.db.damaged-*")
        assert aside.read_bytes().startswith(b"this is not a database")
        key = downloads.enqueue(REPO, FILES[5].path, sha256=FILES[5].sha256, size=FILES[5].size).key
        assert downloads.wait(key).state == State.DONE
    finally:
        downloads.shutdown()
