"""The chat state cache on hostile disks (issue 20, "Bad input and faults"): truncated, corrupt and foreign files, a
full disk while writing, kill -9 while writing, a read-only cache folder, two processes on one cache. The cache is
skipped or rebuilt with a logged note: never a wrong reply, never a crash; a state is either whole or not there.

The files are real files in real folders; the full disk is a real ``RLIMIT_FSIZE`` on a real subprocess of
``python -m app``; kill -9 is real. Root ignores a folder's permissions, so a read-only folder is also made
un-writable for root the way a disk can be: an entry that cannot be removed (a folder where a state should be)."""

from __future__ import annotations

import array
import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.load_options import LoadOptions
from app.core.engines.state_cache import MAGIC, StateCache, namespace
from app.core.prompting.prompt_formats import ChatMessage
from app.core.prompting.types import Sampling
from tests.faults.conftest import ROOT, app_command, start

SPACE = namespace("model.gguf", 1234, 4096)
GREEDY = Sampling(temperature=0.0, max_tokens=8, seed=3)


def state_of(tokens: list[int], size: int = 4096) -> bytes:
    """Data that says which tokens it belongs to: a state paired with the wrong tokens would be seen."""
    seed = hashlib.sha256(array.array("i", tokens).tobytes()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def the_file(folder: Path) -> Path:
    [path] = list(folder.glob("*/*.state"))
    return path


@pytest.mark.expect_log("ignoring the saved chat state", "could not remove")
def test_truncated_corrupt_and_foreign_files_are_skipped_said_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = list(range(1000, 1300))
    damaged = {
        "truncated in its tokens": lambda data: data[: len(MAGIC) + 60 + 400],
        "truncated in its state": lambda data: data[:-1000],
        "corrupt": lambda data: data[:-10] + bytes(10),
        "foreign": lambda data: os.urandom(len(data)),
        "empty": lambda data: b"",
        "another format": lambda data: b"HERMES-STATE 0\n" + data[len(MAGIC) :],
    }
    for how, damage in damaged.items():
        folder = tmp_path / how.replace(" ", "-")
        cache = StateCache(folder, memory_budget=0)
        cache.put(SPACE, tokens, state_of(tokens))
        cache.flush()
        saved = the_file(folder)
        saved.write_bytes(damage(saved.read_bytes()))
        caplog.clear()
        assert StateCache(folder, memory_budget=0).best(SPACE, tokens) is None, how  # skipped, never half a state
        assert "ignoring the saved chat state" in caplog.text, how  # and said
        assert not saved.exists(), how  # removed, so the next reply writes it again
        rebuilt = StateCache(folder, memory_budget=0)
        rebuilt.put(SPACE, tokens, state_of(tokens))
        rebuilt.flush()
        found = StateCache(folder, memory_budget=0).best(SPACE, tokens)
        assert found is not None and found[0].data == state_of(tokens) and found[1] == len(tokens), how

    # an entry that cannot be removed (a folder with a state's name; a read-only disk refuses the same way)
    folder = tmp_path / "stuck"
    (folder / SPACE / "0000.state").mkdir(parents=True)
    cache = StateCache(folder, memory_budget=0, disk_budget=1)
    caplog.clear()
    assert cache.best(SPACE, tokens) is None
    assert "could not remove 0000.state" in caplog.text
    cache.put(SPACE, tokens, state_of(tokens))  # evicts past the budget: the stuck entry is said, not raised
    cache.flush()
    cache.clear()  # Settings → Performance → Clear
    assert (folder / SPACE / "0000.state").is_dir()


def chat_messages() -> list[ChatMessage]:
    facts = " ".join(
        f"Fact {i}: the lake number {i} is {i * 7 % 13} metres deep." for i in range(20)
    )  # ~350 tokens: past MIN_TOKENS
    return [{"role": "system", "content": f"You know these facts about lakes. {facts}"},
            {"role": "user", "content": "Tell me about lakes."}]  # fmt: skip


@pytest.fixture
def writable_again(tmp_path: Path) -> Iterator[None]:
    yield
    for folder, _dirs, _files in os.walk(tmp_path):
        os.chmod(folder, 0o755)  # so that pytest can remove it


@pytest.mark.expect_log("ignoring the saved chat state", "could not remove", "could not save a chat state")
def test_a_read_only_cache_folder_with_damaged_states_is_read_past(
    starter_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, writable_again: None
) -> None:
    options = LoadOptions(context_size=2048)
    folder = tmp_path / "states"
    first = LlamaEngine(StateCache(folder, memory_budget=0))
    first.load(starter_model, options)
    chat = chat_messages()
    answer = first.stream(chat, GREEDY).text()
    first.unload()  # waits for its disk write
    saved = the_file(folder)
    saved.write_bytes(saved.read_bytes()[:-64] + bytes(64))  # damaged after its checksum was written
    (saved.parent / "ffff.state").mkdir()  # a foreign entry no one can remove
    for path in (saved.parent, folder):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)  # read-only (a non-root user cannot write or delete here)

    continued = [*chat, {"role": "assistant", "content": answer}, {"role": "user", "content": "Which is deepest?"}]
    engine = LlamaEngine(StateCache(folder, memory_budget=0))
    engine.load(starter_model, options)
    generation = engine.stream(continued, GREEDY)
    text = generation.text()
    engine.unload()
    assert text and generation.stats.restored_tokens == 0  # read in full: nothing damaged was restored
    assert "ignoring the saved chat state" in caplog.text and "could not remove ffff.state" in caplog.text


def test_a_full_disk_while_writing_a_state_loses_nothing_but_the_state(tmp_path: Path, starter_model: Path) -> None:
    basedir = tmp_path / "home"
    system = chat_messages()[0]["content"]
    command = app_command(basedir, "chat", "--model", str(starter_model), "--max-tokens", "8", "--temperature", "0",
                          "--system", system, "Tell me about lakes.")  # fmt: skip

    def small_files() -> None:  # the disk is full for any file past 1 MiB: the log fits, a ~10 MB state does not
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))

    full = start(command, {}, preexec_fn=small_files)
    out, err = full.communicate(timeout=600)
    assert full.returncode == 0 and out.strip(), err  # the reply, as ever
    assert "Traceback" not in err
    states = basedir / "cache" / "states"
    assert list(states.glob("*/*.state")) == [] and list(states.glob("*/.*.tmp")) == []  # nothing half written
    log = (basedir / "logs" / "hermes-studio.log").read_text()
    assert "could not save a chat state" in log

    again = start(command, {})  # room again: the same reply, and now its state is kept
    out_again, err_again = again.communicate(timeout=600)
    assert again.returncode == 0 and out_again == out, err_again
    assert len(list(states.glob("*/*.state"))) == 1


WRITER = """
import sys
from pathlib import Path
from app.core.engines.state_cache import StateCache, namespace
cache = StateCache(Path(sys.argv[1]))
cache.put(namespace("model.gguf", 1234, 4096), list(range(1000, 1300)), b"s" * (256 << 20))
cache.flush()
"""


def test_kill_9_while_writing_leaves_no_state_and_its_leftover_is_removed(tmp_path: Path) -> None:
    tokens = list(range(1000, 1300))
    killed_mid_write = 0
    for attempt in range(5):
        folder = tmp_path / f"attempt-{attempt}"
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=ROOT)
        leftovers: list[Path] = []
        while writer.poll() is None and not leftovers:
            leftovers = list(folder.glob("*/.*.tmp"))
        writer.kill()  # SIGKILL: no handler, no cleanup
        writer.wait(timeout=60)
        cache = StateCache(folder, memory_budget=0)
        found = cache.best(SPACE, tokens)
        if found is None:  # killed before the rename: the half-written file is never taken for a state
            killed_mid_write += 1
            assert list(folder.glob("*/*.state")) == [] and cache.holdings().disk_entries == 0
            assert list(folder.glob("*/.*.tmp")), "the kill came before the write began"
            cache.put(SPACE, tokens, state_of(tokens))  # the next write's eviction removes the dead writer's file
            cache.flush()
            assert list(folder.glob("*/.*.tmp")) == []
            found = StateCache(folder, memory_budget=0).best(SPACE, tokens)
            assert found is not None and found[0].data == state_of(tokens)
        else:  # the write had finished: it is whole
            assert found[0].data == b"s" * (256 << 20)
        if killed_mid_write:
            break
    assert killed_mid_write, "every write finished before the kill (a faster disk than any so far)"


SHARER = """
import array, hashlib, sys
from pathlib import Path
from app.core.engines.state_cache import StateCache, namespace

def state_of(tokens):
    seed = hashlib.sha256(array.array("i", tokens).tobytes()).digest()
    return (seed * 200)[:6000]

me, rounds = int(sys.argv[2]), int(sys.argv[3])
cache = StateCache(Path(sys.argv[1]), memory_budget=0, disk_budget=60_000)  # ~8 files: evictions race the reads
space, base = namespace("model.gguf", 1234, 4096), list(range(1000, 1300))
theirs = 0
for n in range(rounds):
    cache.put(space, base + [me, n], state_of(base + [me, n]))
    for other in (1, 2):
        found = cache.best(space, base + [other, n])
        if found is not None:
            state, shared = found
            assert state.data == state_of(list(state.tokens)), "a state paired with the wrong tokens"
            assert list(state.tokens[:shared]) == (base + [other, n])[:shared]
            theirs += other != me and shared == len(base) + 2
cache.flush()
print(theirs)
"""


def test_two_processes_on_one_cache_never_mix_states(tmp_path: Path) -> None:
    folder = tmp_path / "states"
    sharers = [
        subprocess.Popen([sys.executable, "-c", SHARER, str(folder), str(me), "60"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for me in (1, 2)
    ]  # fmt: skip
    results = [sharer.communicate(timeout=600) for sharer in sharers]
    for sharer, (_out, err) in zip(sharers, results, strict=True):
        assert sharer.returncode == 0 and "Traceback" not in err, err
    assert sum(int(out) for out, _err in results) > 0  # each read states the other wrote
    assert list(folder.glob("*/.*.tmp")) == []
    left = StateCache(folder, memory_budget=0)  # whatever is left on disk is whole and paired with its own tokens
    base = list(range(1000, 1300))
    found = [left.best(SPACE, [*base, me, n]) for me in (1, 2) for n in range(60)]
    whole = [hit for hit in found if hit is not None and hit[1] == len(base) + 2]
    assert whole and all(state.data == state_of(list(state.tokens), 6000) for state, _shared in whole)
