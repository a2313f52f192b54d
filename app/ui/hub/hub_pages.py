"""The Hub pages of the main window (Discover, My Models, Downloads): their factories (the window's ``PageRouter``
builds them on first show), the download queue, and the pages following the settings."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.core.errors import HermesError
from app.core.paths import AppPaths
from app.core.settings import Settings, SettingsStore
from app.ui.background import Background
from app.ui.engines.model_bar import ModelBar
from app.ui.shell.pages import Page, PageRouter

if TYPE_CHECKING:
    from app.core.hub.downloads import Download, DownloadManager
    from app.ui.hub.discover_page import DiscoverPage
    from app.ui.hub.downloads_page import DownloadsPage
    from app.ui.hub.models_page import ModelsPage

STARTER_QUERY = "OpenHermes 2 Mistral"


class HubPages(QObject):
    """The library pages' factories and the download queue (owned here); the router owns the pages once built."""

    error = Signal(str)  # a message for the banner
    status = Signal(str, int)  # a status-bar message and how long to show it

    def __init__(
        self,
        router: PageRouter,
        *,
        paths: AppPaths,
        settings: SettingsStore,
        background: Background,
        model_bar: ModelBar,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.router = router
        self.paths = paths
        self.settings = settings
        self.background = background
        self.model_bar = model_bar
        self._downloads: DownloadManager | None = None
        self._downloads_lock = threading.Lock()  # the queue is made once, by whichever thread asks first
        self._closed = False  # the window is closing: no page is built, no download restored

    # the pages' factories (the router calls them on first show)
    def build_discover(self) -> DiscoverPage:
        from app.ui.hub.discover_page import DiscoverPage

        discover = DiscoverPage(
            self.background, self.paths.cache / "hub", self.settings.current.context_size,
            library_folders=lambda: self._library_folders(self.settings.current),
        )  # fmt: skip
        discover.download_requested.connect(self.start_download)
        discover.serve_requested.connect(self.serve_with_vllm)
        return discover

    def build_models(self) -> ModelsPage:
        from app.core.library.header_cache import HeaderCache
        from app.ui.hub.models_page import ModelsPage

        headers = HeaderCache(self.paths.cache / "model-headers.json")
        models = ModelsPage(self._library_folders(self.settings.current), self.background, header_cache=headers)
        models.load_requested.connect(self._load_from_library)
        models.library_changed.connect(self.model_bar.refresh_models)
        models.folders_changed.connect(self._folders_changed)
        models.error.connect(self.error)
        bar = self.model_bar
        models.set_loaded(bar.loaded.info.path if bar.loaded else None)
        bar.model_ready.connect(lambda loaded: models.set_loaded(loaded.info.path))
        bar.unloaded.connect(lambda: models.set_loaded(None))
        return models

    def build_downloads(self) -> DownloadsPage:
        from app.ui.hub.downloads_page import DownloadsPage

        downloads = DownloadsPage(self.downloads)
        downloads.model_downloaded.connect(self._on_downloaded)
        downloads.load_requested.connect(self._load_from_library)
        downloads.active_count_changed.connect(self._show_download_count)
        self._show_download_count(downloads.active_count)  # counted once already, before this connection
        return downloads

    def serve_with_vllm(self, repo_id: str, branch: str) -> None:
        """The exact vLLM command for a downloaded GPTQ/AWQ branch; where vLLM is installed, run it as an engine."""
        from app.core.engines.remote_store import RemoteEngineStore
        from app.core.hub.download_jobs import safe_destination
        from app.ui.hub.vllm_dialog import ServeWithVllmDialog

        models_dir = self.settings.current.models_path(self.paths.default_models_dir)
        folder = safe_destination(models_dir, repo_id, "config.json", branch).parent
        dialog = ServeWithVllmDialog(folder, RemoteEngineStore(self.paths.config), self.background, self.paths.logs)
        dialog.engine_added.connect(lambda _name: self.model_bar.refresh_models())
        self.vllm_dialog = dialog  # kept while open; tests reach it here
        dialog.open()

    @property
    def discover_page(self) -> DiscoverPage:
        return self.router.page(Page.DISCOVER)  # type: ignore[return-value]

    @property
    def models_page(self) -> ModelsPage:
        return self.router.page(Page.MODELS)  # type: ignore[return-value]

    @property
    def downloads_page(self) -> DownloadsPage:
        return self.router.page(Page.DOWNLOADS)  # type: ignore[return-value]

    @property
    def downloads(self) -> DownloadManager:
        """The queue, made on first use (by the start's restore on a pool thread, or a click: one of them)."""
        with self._downloads_lock:
            if self._downloads is None:
                from app.core.hub.downloads import DownloadManager

                models_dir = self.settings.current.models_path(self.paths.default_models_dir)
                self._downloads = DownloadManager(models_dir, self.paths.data / "downloads.db")
            return self._downloads

    def restore_downloads(self) -> None:
        """Downloads left unfinished last time resume now (their page shows them). The saved queue is read
        off the GUI thread (its imports, the rows, the bytes on disk); the page is then built here."""
        from app.core.hub.download_store import saved_queue_exists

        if self._closed:
            return
        if self._downloads is not None or not saved_queue_exists(self.paths.data / "downloads.db"):
            return

        def restored(unfinished: bool) -> None:
            if unfinished and not self._closed:
                self.router.page(Page.DOWNLOADS)

        self.background.run(lambda: any(not job.finished for job in self.downloads.jobs()), restored)

    def find_starter(self) -> None:
        """The empty library's link: search the Hub for the model this app is named after."""
        self.router.show(Page.DISCOVER)
        self.discover_page.query.setText(STARTER_QUERY)
        self.discover_page.search()

    # following the settings
    def settings_changed(self, new: Settings, old: Settings) -> None:
        default = self.paths.default_models_dir
        if self._downloads is not None and new.models_path(default) != old.models_path(default):
            self._downloads.models_dir = new.models_path(default)  # the next download lands there
        if self.router.built(Page.MODELS) and self._library_folders(new) != self.models_page.folders:
            self.models_page.set_folders(self._library_folders(new))
        if self.router.built(Page.DISCOVER) and new.context_size != old.context_size:
            self.discover_page.set_context_size(new.context_size)

    def _library_folders(self, settings: Settings) -> list:
        return settings.library_folders(self.paths.default_models_dir)

    def _folders_changed(self, folders: list) -> None:
        self.settings.update(extra_model_dirs=[str(folder) for folder in folders[1:]])

    # actions
    def start_download(self, repo_id: str, revision: str, files: list) -> None:
        try:
            for file in files:
                self.downloads.enqueue(repo_id, file.path, revision=revision, sha256=file.sha256, size=file.size)
        except HermesError as exc:
            self.error.emit(str(exc))
            return
        self.downloads_page.refresh()
        self.router.show(Page.DOWNLOADS)

    def _on_downloaded(self, job: Download) -> None:
        if self.router.built(Page.MODELS):
            self.models_page.refresh()
        if self.router.built(Page.DISCOVER):
            self.discover_page.mark_downloaded(job.filename)
        self.model_bar.refresh_models()
        self.status.emit(f"Downloaded and verified: {job.filename}", 8000)

    def _show_download_count(self, count: int) -> None:
        """The page list's badge: how many downloads are not finished."""
        from app.ui.shell.badge_icon import badge_icon

        action = self.router.action(Page.DOWNLOADS)
        action.setIcon(badge_icon("download", count))
        action.setToolTip(f"Downloads — {count} in progress" if count else "Downloads")
        action.setStatusTip(action.toolTip())

    def _load_from_library(self, path: str) -> None:
        self.router.show(Page.CHAT)
        self.model_bar.open_model(path)

    def shutdown(self) -> None:
        """The window is closing, in order: the Downloads page stops polling, transfers pause (they resume at the
        next start) and their threads end."""
        self._closed = True
        if self.router.built(Page.DOWNLOADS):
            self.downloads_page.timer.stop()
        if self._downloads is not None:
            self._downloads.shutdown()
