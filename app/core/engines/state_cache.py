"""Saved llama.cpp states, so a long chat is not read again: in memory (LRU) and on disk (LRU), per model.

A state is the context after a list of tokens. Its key is a *namespace* — the model file's identity (resolved
path, size, modification time), the load options that shape a state (context size, KV cache type, flash
attention, batch size) and the state format (the llama.cpp build) — and the tokens themselves. A state is only
ever restored into a context of the same namespace, for a prompt that starts with (a prefix of) its tokens, so
it holds the very bytes the context held after reading them: greedy replies are the same with or without the cache.
A model whose state cannot be cut back (recurrent, hybrid) asks only for exact checkpoints (``best(exact=True)``).

On disk: ``<folder>/<namespace>/<sha256 of the tokens>.state``, one file per state: a header line (JSON: the
format, the token count, the sha256 of the data), the tokens (int32), then the data. Written to a temporary file
and renamed (another process never sees half a file); a file that does not check out is deleted and skipped, and a
temporary file whose writer died (kill -9) is removed by the next eviction. A file the cache cannot read, write or
delete (a full or read-only disk) is logged and skipped: the turn goes on, reading the prompt itself.
"""

from __future__ import annotations

import array
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAGIC = b"HERMES-STATE 1\n"
MEMORY_BUDGET = 512 << 20  # 512 MiB: ~22,000 tokens of the starter model, ~4,000 of a 7B model (f16 KV)
DISK_BUDGET = 4 << 30
MIN_TOKENS = 256  # shorter prompts are read faster than a state is found and loaded


@dataclass(frozen=True)
class CachedState:
    tokens: tuple[int, ...]
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data) + 4 * len(self.tokens)


def namespace(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(part) for part in parts]).encode()).hexdigest()[:24]


def token_hash(tokens: Sequence[int]) -> str:
    return hashlib.sha256(array.array("i", tokens).tobytes()).hexdigest()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def usable_prefix(tokens: Sequence[int], prompt: Sequence[int], exact: bool) -> int:
    """How many of ``prompt``'s tokens a state after ``tokens`` gives. ``exact``: the state cannot be cut back (a
    recurrent or hybrid model), so it gives all its tokens, if they are a prefix of the prompt, or nothing."""
    shared = common_prefix(tokens, prompt)
    return 0 if exact and shared < len(tokens) else shared


@dataclass(frozen=True)
class Holdings:
    memory_entries: int
    memory_bytes: int
    disk_entries: int
    disk_bytes: int


def from_settings(folder: Path, settings: Any) -> StateCache:
    """The faces' cache: in ``folder`` (the cache folder's states), within the budgets of ``app.core.settings``."""
    return StateCache(folder, settings.state_memory_mib << 20, settings.state_disk_mib << 20)


class StateCache:
    """States by namespace; ``best`` finds the one sharing the longest prefix with a prompt. Thread-safe."""

    def __init__(
        self, folder: Path | None = None, memory_budget: int = MEMORY_BUDGET, disk_budget: int = DISK_BUDGET
    ) -> None:
        self.folder = folder
        self.memory_budget, self.disk_budget = memory_budget, disk_budget
        self._memory: OrderedDict[tuple[str, str], CachedState] = OrderedDict()
        self._lock = threading.Lock()
        self._writers: list[threading.Thread] = []

    # finding
    def best(self, space: str, prompt: Sequence[int], *, exact: bool = False) -> tuple[CachedState, int] | None:
        """The state sharing the most tokens with ``prompt`` (and how many), memory first, then disk.

        ``exact``: only a state whose every token starts ``prompt`` (an exact checkpoint), for a model whose state
        cannot be cut back to a shorter prefix (``usable_prefix``)."""
        found: tuple[CachedState, int] | None = None
        with self._lock:
            for (entry_space, key), state in self._memory.items():
                shared = usable_prefix(state.tokens, prompt, exact) if entry_space == space else 0
                if shared and (found is None or shared > found[1]):
                    found, hit = (state, shared), (entry_space, key)
            if found is not None:
                self._memory.move_to_end(hit)
        if found is not None and found[1] >= len(prompt):
            return found  # all of it from memory: nothing on disk can beat that
        on_disk = self._best_on_disk(space, prompt, found[1] if found else 0, exact)
        return on_disk or found

    def _best_on_disk(
        self, space: str, prompt: Sequence[int], better_than: int, exact: bool
    ) -> tuple[CachedState, int] | None:
        folder = self._space_folder(space)
        if folder is None or not folder.is_dir():
            return None
        best: tuple[Path, int] | None = None
        for path in folder.glob("*.state"):
            tokens = _read_tokens(path)
            shared = usable_prefix(tokens, prompt, exact) if tokens is not None else 0
            if shared > better_than and (best is None or shared > best[1]):
                best = (path, shared)
        if best is None:
            return None
        state = _read_state(best[0])
        if state is None:
            return None
        self._remember(space, state)
        return state, best[1]

    # keeping
    def put(self, space: str, tokens: Sequence[int], data: bytes) -> None:
        """Keep the state after ``tokens``: in memory now, on disk from a background thread."""
        state = CachedState(tuple(tokens), data)
        self._remember(space, state)
        folder = self._space_folder(space)
        if folder is not None:
            writer = threading.Thread(target=self._write, args=(folder, state), name="state-cache", daemon=True)
            self._writers = [w for w in self._writers if w.is_alive()] + [writer]
            writer.start()

    def flush(self, timeout: float | None = None) -> None:
        """Wait for the disk writes under way (tests; the engine's close)."""
        for writer in list(self._writers):
            writer.join(timeout)

    def clear(self) -> None:
        """Forget every state, in memory and on disk (the states of every model; a state being written may follow)."""
        with self._lock:
            self._memory.clear()
        if self.folder is not None and self.folder.is_dir():
            for path in self.folder.glob("*/*.state"):
                _remove(path, "cleared")

    def set_budgets(self, memory_budget: int, disk_budget: int) -> None:
        """New budgets (Settings → Performance), applied at once: the least recently used states go first."""
        self.memory_budget, self.disk_budget = max(0, memory_budget), max(0, disk_budget)
        with self._lock:
            total = sum(entry.size for entry in self._memory.values())
            while total > self.memory_budget and self._memory:
                _key, evicted = self._memory.popitem(last=False)
                total -= evicted.size
        self._evict_disk()

    def holdings(self) -> Holdings:
        """What the cache holds now, per tier."""
        with self._lock:
            memory = (len(self._memory), sum(state.size for state in self._memory.values()))
        files = list(self.folder.glob("*/*.state")) if self.folder is not None and self.folder.is_dir() else []
        return Holdings(memory[0], memory[1], len(files), sum(_size(path) for path in files))

    @property
    def memory_bytes(self) -> int:
        with self._lock:
            return sum(state.size for state in self._memory.values())

    def disk_bytes(self) -> int:
        if self.folder is None or not self.folder.is_dir():
            return 0
        return sum(_size(path) for path in self.folder.glob("*/*.state"))

    def _remember(self, space: str, state: CachedState) -> None:
        if state.size > self.memory_budget:
            return
        key = (space, token_hash(state.tokens))
        with self._lock:
            self._memory[key] = state
            self._memory.move_to_end(key)
            total = sum(entry.size for entry in self._memory.values())
            while total > self.memory_budget and self._memory:
                _key, evicted = self._memory.popitem(last=False)
                total -= evicted.size

    def _space_folder(self, space: str) -> Path | None:
        return None if self.folder is None else self.folder / space

    def _write(self, folder: Path, state: CachedState) -> None:
        target = folder / f"{token_hash(state.tokens)}.state"
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        header = json.dumps({"tokens": len(state.tokens), "sha256": hashlib.sha256(state.data).hexdigest()})
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as out:
                out.write(MAGIC + header.encode() + b"\n")
                out.write(array.array("i", state.tokens).tobytes())
                out.write(state.data)
            os.replace(temporary, target)
        except OSError as exc:  # a full or read-only disk: the memory tier still holds it
            log.warning("could not save a chat state in %s: %s", folder, exc)
            temporary.unlink(missing_ok=True)
            return
        self._evict_disk()

    def _evict_disk(self) -> None:
        if self.folder is None:
            return
        for leftover in self.folder.glob("*/.*.tmp"):
            if _abandoned(leftover):
                _remove(leftover, "a write that never finished (its process ended)")
        files = sorted(self.folder.glob("*/*.state"), key=_mtime)
        total = sum(_size(path) for path in files)
        while files and total > self.disk_budget:
            oldest = files.pop(0)
            total -= _size(oldest)
            _remove(oldest, "the disk budget")


def _header(path: Path) -> tuple[int, str, int] | None:
    """(token count, data sha256, offset of the tokens), or None for a file that is not a state of this format."""
    try:
        with path.open("rb") as source:
            if source.read(len(MAGIC)) != MAGIC:
                return None
            line = source.readline(4096)
        header = json.loads(line)
        return int(header["tokens"]), str(header["sha256"]), len(MAGIC) + len(line)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_tokens(path: Path) -> list[int] | None:
    header = _header(path)
    if header is None:
        _discard(path, "not a saved state")
        return None
    count, _digest, offset = header
    try:
        with path.open("rb") as source:
            source.seek(offset)
            raw = source.read(4 * count)
    except OSError:
        return None
    if count < 0 or len(raw) != 4 * count:
        _discard(path, "it is truncated")
        return None
    tokens = array.array("i")
    tokens.frombytes(raw)
    return tokens.tolist()


def _read_state(path: Path) -> CachedState | None:
    header = _header(path)
    tokens = _read_tokens(path)
    if header is None or tokens is None:
        return None
    count, digest, offset = header
    try:
        with path.open("rb") as source:
            source.seek(offset + 4 * count)
            data = source.read()
        os.utime(path)  # most recently used: evicted last
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        _discard(path, "its data does not match its checksum")
        return None
    return CachedState(tuple(tokens), data)


def _discard(path: Path, why: str) -> None:
    log.warning("ignoring the saved chat state %s (%s); it is removed", path.name, why)
    _remove(path, why)


def _remove(path: Path, why: str) -> None:
    """Delete a file of the cache; one that cannot be (a read-only disk, a folder in its place) is left, said once
    in the log per call, and never stops the turn that found it."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s from the chat state cache (%s): %s", path.name, why, exc)


STALE_WRITE_S = 3600.0  # a temporary file this old was left by a writer that died (a state is written in seconds)


def _abandoned(temporary: Path) -> bool:
    """A temporary file (``.<name>.<pid>.<thread>.tmp``) whose writer is gone: killed (kill -9, a crash, power)."""
    try:
        pid = int(temporary.name.split(".")[-3])
    except (IndexError, ValueError):
        pid = 0
    if os.name == "posix" and pid > 0 and pid != os.getpid():
        try:
            os.kill(pid, 0)  # signal 0: is it alive? (not on Windows, where it would end the process)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # alive, another user's
    return time.time() - _mtime(temporary) > STALE_WRITE_S


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
