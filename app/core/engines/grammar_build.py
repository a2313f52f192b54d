"""A JSON schema made into a GBNF grammar with a time and memory budget, in a child process.

``build_grammar`` checks the schema in Python (``schema_bounds``), then converts it, checks the grammar
(``gbnf_bounds``) and has llama.cpp's parser compile it in a short-lived child
(``python -m app.core.engines.grammar_build``) with a memory limit and a deadline: a parser crash, a
runaway conversion or a grammar llama.cpp refuses is a ``GrammarRefused`` for the one request, never a dead
process. The caller runs it off the engine thread (the server: in a worker thread), so a slow build blocks
no one; results, refusals included, are remembered by the schema's hash. A frozen build cannot start
``-m`` children: there the same steps run in this process (the Python checks keep the parser safe).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from app.core.engines.llama_adapter import grammar_compiles, import_llama_cpp, json_schema_grammar
from app.core.errors import HermesError
from app.core.prompting import gbnf_bounds, schema_bounds
from app.core.prompting.gbnf_bounds import GrammarRefused

BUILD_SECONDS = 20.0  # the child's deadline; a 5,000-property schema builds in about 2 s on a slow machine
BUILD_MEMORY = 1 << 30  # the child's heap (RLIMIT_DATA): ten times what the largest allowed grammar needs
CONCURRENT_BUILDS = 2
CACHE_SIZE = 128
_REFUSED = 2
_ROOT = str(Path(__file__).resolve().parents[3])  # the folder holding this ``app``, for the child's imports

_builds = threading.BoundedSemaphore(CONCURRENT_BUILDS)
_cache: OrderedDict[str, str | GrammarRefused] = OrderedDict()
_cache_lock = threading.Lock()


def build_grammar(schema: dict[str, Any] | None, where: str = "json_schema") -> str:
    """The GBNF grammar for JSON replies matching ``schema`` (None: any JSON object); ``GrammarRefused`` if not."""
    if schema is None:
        return json_schema_grammar(None)
    schema_bounds.check(schema, where)
    document = json.dumps(schema, sort_keys=True, ensure_ascii=False)
    key = hashlib.sha256(document.encode("utf-8", "surrogatepass")).hexdigest()
    with _cache_lock:
        known = _cache.get(key)
        if known is not None:
            _cache.move_to_end(key)
    if known is None:
        with _builds:
            known = _build(document) if not getattr(sys, "frozen", False) else _build_here(document)
        with _cache_lock:
            _cache[key] = known
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(known, GrammarRefused):
        raise GrammarRefused(f"{where}: {known}")
    return known


def _build(document: str) -> str | GrammarRefused:
    command = [sys.executable, "-m", "app.core.engines.grammar_build"]
    try:
        done = subprocess.run(
            command, input=document.encode("utf-8", "surrogatepass"), capture_output=True, timeout=BUILD_SECONDS,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")])}, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return GrammarRefused(f"building the grammar took longer than the limit of {BUILD_SECONDS:g} s")
    output = done.stdout.decode("utf-8", "replace")
    if done.returncode == 0:
        return output
    if done.returncode == _REFUSED:
        return GrammarRefused(output.strip() or "the grammar was refused")
    if done.returncode < 0 or done.returncode >= 128:
        signal = -done.returncode if done.returncode < 0 else done.returncode - 128
        return GrammarRefused(f"llama.cpp could not build this grammar (its builder crashed with signal {signal})")
    if b"MemoryError" in done.stderr:
        return GrammarRefused(f"building the grammar needs more than the limit of {BUILD_MEMORY >> 20:,} MiB")
    return GrammarRefused(f"building the grammar failed (exit status {done.returncode})")


def _build_here(document: str) -> str | GrammarRefused:
    try:
        return _convert_and_compile(json.loads(document))
    except GrammarRefused as exc:
        return exc


def _convert_and_compile(schema: dict[str, Any]) -> str:
    try:
        text = json_schema_grammar(schema)
    except ValueError as exc:
        raise GrammarRefused(str(exc)) from None
    gbnf_bounds.check(text)
    if not grammar_compiles(text):
        raise GrammarRefused("llama.cpp's grammar parser refused the grammar made from this schema")
    return text


def _child() -> int:
    """The child: schema on stdin, grammar on stdout (0) or the reason on stdout (2)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (BUILD_MEMORY, BUILD_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # Windows, or a lower hard limit already
    schema = json.loads(sys.stdin.buffer.read().decode("utf-8", "surrogatepass"))
    try:
        text = _convert_and_compile(schema)
    except GrammarRefused as exc:
        sys.stdout.buffer.write(str(exc).encode())
        return _REFUSED
    sys.stdout.buffer.write(text.encode())
    return 0


if __name__ == "__main__":
    sys.exit(_child())


def compile_grammar(text: str) -> Any:
    """``text`` as llama-cpp-python's ``LlamaGrammar``, checked first: llama-cpp-python adds the NULL sampler of a
    grammar llama.cpp refused to the chain, which crashes, so it is checked in Python (so the parser cannot crash),
    then parsed once here, before it is used."""
    try:
        gbnf_bounds.check(text)
        if not grammar_compiles(text):
            raise GrammarRefused("llama.cpp's grammar parser refused it")
        return import_llama_cpp().LlamaGrammar.from_string(text, verbose=False)
    except (GrammarRefused, ValueError, RuntimeError) as exc:
        raise HermesError(f"The reply's grammar is not valid: {exc}") from None
