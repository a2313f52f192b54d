"""The Hub pages of the main window (Discover, My Models, Downloads), built on first use."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from app.core.errors import HermesError

if TYPE_CHECKING:
    from app.core.downloads import DownloadManager


class HubPagesMixin:
    """Part of MainWindow: page switching, the download queue and the library pages."""

    # pages, built on first use
    def show_page(self, name: str) -> None:
        self.stack.setCurrentWidget(self._page(name))
        for action in self.page_actions.actions():
            action.setChecked(action.data() == name)

    def _page(self, name: str) -> QWidget:
        if name not in self._pages:
            self._pages[name] = page = self._build_page(name)
            self.stack.addWidget(page)
        return self._pages[name]

    def _build_page(self, name: str) -> QWidget:
        if name == "discover":
            from app.ui.discover_page import DiscoverPage

            discover = DiscoverPage(self.background, self.paths.cache / "hub", self.settings.context_size)
            discover.download_requested.connect(self.start_download)
            return discover
        if name == "models":
            from app.ui.models_page import ModelsPage

            models = ModelsPage(self.settings.library_folders(self.paths.default_models_dir), self.background)
            models.load_requested.connect(self._load_from_library)
            models.library_changed.connect(self._library_changed)
            models.error.connect(self.banner.show_message)
            return models
        from app.ui.downloads_page import DownloadsPage

        downloads = DownloadsPage(self.downloads)
        downloads.model_downloaded.connect(self._on_downloaded)
        return downloads

    @property
    def discover_page(self):  # -> DiscoverPage
        return self._page("discover")

    @property
    def models_page(self):  # -> ModelsPage
        return self._page("models")

    @property
    def downloads_page(self):  # -> DownloadsPage
        return self._page("downloads")

    @property
    def downloads(self) -> DownloadManager:
        if self._downloads is None:
            from app.core.downloads import DownloadManager

            models_dir = self.settings.models_path(self.paths.default_models_dir)
            self._downloads = DownloadManager(models_dir, self.paths.data / "downloads.json")
        return self._downloads

    def _restore_downloads(self) -> None:
        """Downloads left unfinished last time resume now (their page shows them)."""
        saved = self.paths.data / "downloads.json"
        if self._downloads is None and saved.exists() and any(not job.finished for job in self.downloads.jobs()):
            self._page("downloads")

    def _welcome_link(self, link: str) -> None:
        if link == "discover":
            self.show_page("discover")
            self.discover_page.query.setText("OpenHermes 2 Mistral")
            self.discover_page.search()

    def start_download(self, repo_id: str, revision: str, files: list) -> None:
        try:
            for file in files:
                self.downloads.enqueue(repo_id, file.path, revision=revision, sha256=file.sha256, size=file.size)
        except HermesError as exc:
            self.banner.show_message(str(exc))
            return
        self.downloads_page.refresh()
        self.show_page("downloads")

    def _on_downloaded(self, _job) -> None:
        if "models" in self._pages:
            self.models_page.refresh()
        self.refresh_models()
        self.statusBar().showMessage(f"Downloaded and verified: {_job.filename}", 8000)

    def _load_from_library(self, path: str) -> None:
        self.show_page("chat")
        self._select_path(path)
        self.load_model(path)

    def _library_changed(self) -> None:
        folders = self.models_page.folders
        self.settings = replace(self.settings, extra_model_dirs=[str(f) for f in folders[1:]])
        self._save_settings()
        self.refresh_models()
