"""A hostile Hub (issue 28, items 4, 5, 6, 12, 13, 28): every call ends in time, every transfer at its size."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.core.hub import bounds, catalogue
from app.core.hub.connection import HubError
from tests.faults.conftest import FILE, REPO, app_command, download_command, models_folder, start
from tests.hub_server import HubFile, HubRepo

MISTRAL = "TheBloke/OpenHermes-2-Mistral-7B-GGUF"


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result or exception; a failure (not a hang) if it takes longer than ``seconds``."""
    answers: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def run() -> None:
        try:
            answers.put((True, call()))
        except BaseException as exc:
            answers.put((False, exc))

    threading.Thread(target=run, daemon=True).start()
    try:
        ok, value = answers.get(timeout=seconds)
    except queue.Empty:
        raise AssertionError(f"still waiting for the Hub after {seconds} s") from None
    if not ok:
        raise value
    return value


@pytest.fixture
def short_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same bounds, shorter (the defaults are 60 s and 30 s): the test checks they hold, not their size.
    monkeypatch.setattr(bounds, "HUB_CALL_SECONDS", 4.0)
    monkeypatch.setattr(bounds, "MAX_RETRY_AFTER", 1.0)


def test_a_huge_retry_after_is_capped_and_the_search_ends(hub, hf_env, short_bounds) -> None:
    hub.fault("api:/api/models", "status", status=429, retry_after="999999999", times=-1)
    with pytest.raises(HubError, match=r"Search failed|in time"):
        within(60, lambda: catalogue.search("SmolLM2", endpoint=hub.endpoint))


def test_an_empty_page_linking_to_itself_ends_the_search(hub, hf_env) -> None:
    before = len(hub.requests)
    hub.fault("api:/api/models", "selflink", times=-1)
    with pytest.raises(HubError, match="more pages or errors"):
        within(60, lambda: catalogue.search("SmolLM2", endpoint=hub.endpoint))
    assert len(hub.requests) - before <= bounds.MAX_REQUESTS + 1  # it made 1,354 requests in 60 s before


def test_a_trickling_repo_answer_ends_at_the_deadline(hub, hf_env, short_bounds) -> None:
    hub.fault(f"api:/api/models/{MISTRAL}*", "slow", seconds=0.2, times=-1)
    with pytest.raises(HubError, match="did not answer in time"):
        within(60, lambda: catalogue.repo_details(MISTRAL, endpoint=hub.endpoint))


def test_a_trickling_gguf_header_ends_at_its_deadline(hub, hf_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "HEADER_SECONDS", 2.0)
    hub.fault(f"api:/{MISTRAL}/resolve/*", "slow", seconds=0.2, times=-1)
    found = within(60, lambda: catalogue.remote_kv_bytes_per_token(MISTRAL, "openhermes-2-mistral-7b.Q4_K_M.gguf",
                                                                   endpoint=hub.endpoint))  # fmt: skip
    assert found is None  # the estimate stands in, as for any header that cannot be read


def test_an_endless_model_card_is_read_only_as_far_as_shown(hub, hf_env, tmp_path: Path) -> None:
    hub.add(HubRepo("Hostile/Endless-Card-GGUF", {"main": [
        HubFile("README.md", None, 64 << 20, header=b"# An endless card\n", lfs=False),
        HubFile("x.Q4_K_M.gguf", None, 1 << 30),
    ]}, tags=["gguf"]))  # fmt: skip
    served = hub.bytes_served.get("README.md", 0)
    details = within(120, lambda: catalogue.repo_details("Hostile/Endless-Card-GGUF", endpoint=hub.endpoint,
                                                         cache_dir=tmp_path / "cache"))  # fmt: skip
    assert details.card.startswith("# An endless card")
    assert hub.bytes_served.get("README.md", 0) - served < 8 << 20  # 64 MB were fetched into the cache before
    assert not any(p.is_file() and p.stat().st_size > 1 << 20 for p in (tmp_path / "cache").rglob("*"))


def test_a_download_stops_at_the_announced_size(hub, hf_env, tmp_path: Path) -> None:
    basedir = tmp_path / "home"
    hub.fault(FILE, "endless", after=64 << 20)  # the real bytes, then 64 MB more, with no length
    proc = start(download_command(basedir), hf_env)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    kept = list(models_folder(basedir).iterdir())
    assert [p.name for p in kept] == [FILE]  # verified: no .corrupt file of 158 MB
    assert kept[0].stat().st_size == hub.repos[REPO].branches["main"][0].size


def test_a_sha256_that_is_a_number_is_not_trusted_nor_a_dropped_connection(
    hub, hf_env, starter_model: Path, tmp_path: Path
) -> None:
    repo = "Hostile/Number-Sha-GGUF"
    hub.add(HubRepo(repo, {"main": [HubFile(FILE, starter_model, sha256=12345)]}, tags=["gguf"]))  # type: ignore[arg-type]
    details = within(60, lambda: catalogue.repo_details(repo, endpoint=hub.endpoint))
    assert details.files[0].sha256 is None
    proc = start(app_command(tmp_path / "home", "download", repo, "--file", FILE), hf_env)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]  # it was retried for 31 s as "the connection kept dropping"
    assert "kept dropping" not in err
