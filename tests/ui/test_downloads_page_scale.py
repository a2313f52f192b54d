"""The Downloads page with a long queue (issue 27): a Download click adds one row (the others' buttons are kept,
not rebuilt), buttons are made for the rows in view, Pause on a queued row works while both slots are busy."""

from pathlib import Path

import pytest

from app.core.hub.download_jobs import load_queue
from app.core.hub.downloads import DownloadManager, State
from tests.hub_server import HubFile, HubRepo

REPO = "queue-test/page-rows"
FILES = [HubFile(f"row-{i:03d}.gguf", b"GGUF" + bytes([i % 256]) * 1024) for i in range(200)]


@pytest.fixture
def manager(hf_env, hub, tmp_path: Path):
    hub.faults.clear()
    if REPO not in hub.repos:
        hub.add(HubRepo(REPO, {"main": FILES}, tags=["gguf"]))
    hub.fault("row-*.gguf", "stall", after=0, seconds=120, times=-1)  # the two running transfers hang
    downloads = DownloadManager(tmp_path / "models", tmp_path / "downloads.db", endpoint=hub.endpoint)
    yield downloads
    hub.faults.clear()
    downloads.shutdown()
    hub.repos.pop(REPO, None)  # the session's Hub is shared: its searches list only the standard repos


def test_a_click_adds_one_row_and_pause_works_on_a_queued_row(qtbot, manager: DownloadManager, tmp_path) -> None:
    from app.ui.hub.downloads_page import DownloadsPage

    for file in FILES[:-1]:
        manager.enqueue(REPO, file.path, sha256=file.sha256, size=file.size)
    page = DownloadsPage(manager)
    qtbot.addWidget(page)
    page.resize(1000, 600)
    page.show()
    qtbot.waitUntil(lambda: len(page._rows) > 0)
    made = dict(page._rows)
    assert 0 < len(made) < 60  # a screenful (and a few more), not one set of buttons per queued download
    resets: list[int] = []
    page.model.modelReset.connect(lambda: resets.append(1))

    last = FILES[-1]
    manager.enqueue(REPO, last.path, sha256=last.sha256, size=last.size)  # what a Download click does
    page.refresh()
    assert page.model.rowCount() == 200 and page.model.jobs[-1].filename == last.path
    assert not resets and all(page._rows[key] is widget for key, widget in made.items())  # nothing rebuilt

    qtbot.waitUntil(lambda: sum(job.state == State.DOWNLOADING for job in manager.jobs()) == 2, timeout=30_000)
    queued = page.model.jobs[150]
    assert queued.state == State.QUEUED
    page.row_actions(queued.key).buttons["pause"].click()  # both slots busy: paused at once anyway
    assert page.model.jobs[150].state == State.PAUSED and manager.job(queued.key).state == State.PAUSED
    assert page.row_actions(queued.key).buttons["resume"].isEnabled()
    assert not page.row_actions(queued.key).buttons["pause"].isEnabled()
    page.view.scrollToBottom()
    qtbot.waitUntil(lambda: FILES[-1].path in {page.model.jobs[-1].filename} and page.model.jobs[-1].key in page._rows)
    page.timer.stop()
    manager.shutdown()
    saved = {job.key: job.state for job in load_queue(tmp_path / "downloads.db", tmp_path / "models", autostart=True)}
    assert saved[queued.key] == State.PAUSED and len(saved) == 200
    assert list(saved.values()).count(State.QUEUED) == 199


def test_the_window_restores_the_queue_off_the_gui_thread_and_keeps_pauses(
    qtbot, hf_env, hub, basedir, monkeypatch
) -> None:
    """A saved queue at start: read on a pool thread, its page built after; a paused download stays paused, the
    others resume and finish."""
    from app.core.hub.download_jobs import Download, safe_destination, saved
    from app.core.hub.download_store import QueueStore
    from app.core.paths import resolve_paths
    from app.core.settings import Settings
    from app.ui.main_window import MainWindow

    hub.faults.clear()
    if REPO not in hub.repos:
        hub.add(HubRepo(REPO, {"main": FILES}, tags=["gguf"]))
    paths = resolve_paths(basedir).ensure()
    models = paths.default_models_dir
    store = QueueStore(paths.data / "downloads.db")
    for i, file in enumerate(FILES[:4]):
        job = Download(REPO, file.path, "main", safe_destination(models, REPO, file.path), file.sha256, file.size)
        store.put(saved(job, paused=i == 1))
    store.close()
    restoring: list[str] = []
    original = QueueStore.load

    def load(self: QueueStore):
        import threading

        restoring.append(threading.current_thread().name)
        return original(self)

    monkeypatch.setattr(QueueStore, "load", load)
    window = MainWindow(paths, Settings(context_size=2048))
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.router.built("downloads") is not None, timeout=30_000)
        assert restoring and restoring[0].startswith("background")  # not the GUI thread
        manager = window.hub.downloads
        keys = [job.key for job in manager.jobs()]
        assert len(keys) == 4
        for i, key in enumerate(keys):
            assert manager.wait(key, timeout=60).state == (State.PAUSED if i == 1 else State.DONE)
    finally:
        window.close()
        hub.repos.pop(REPO, None)
