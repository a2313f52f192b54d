"""Every use of llama-cpp-python's internals, in one place.

The engine needs a few things llama-cpp-python does not offer as API: the tokens in the KV cache
(``Llama._input_ids``, ``Llama.n_tokens``), the raw context for llama.cpp's abort callback
(``Llama._ctx.ctx``), a token's text (``Llama._model``) and turning off its process-wide stdout/stderr
redirection (``llama_cpp.llama.suppress_stdout_stderr``). They are private, so a release may change them:
``check_internals()`` says so in one clear message (a test calls it), and pyproject pins an upper bound.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from app.core.errors import HermesError

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("app.core.engine")

TESTED_VERSIONS = "0.3.8 to 0.3.x"
_LLAMA_ATTRIBUTES = ("_input_ids", "n_tokens", "_ctx", "_model", "eval", "n_batch", "tokenize", "create_completion")
_MODULE_ATTRIBUTES = ("llama_set_abort_callback", "ggml_abort_callback", "llama_log_set", "llama_log_callback")


class IncompatibleLlamaCpp(HermesError):
    """The installed llama-cpp-python changed an internal the engine relies on."""


def check_internals(llama: Llama | None = None) -> None:
    """Raise IncompatibleLlamaCpp naming every missing internal (of the module, and of ``llama`` if given)."""
    llama_cpp = import_llama_cpp()
    import llama_cpp.llama as llama_module

    missing = [f"llama_cpp.{name}" for name in _MODULE_ATTRIBUTES if not hasattr(llama_cpp, name)]
    if not hasattr(llama_module, "suppress_stdout_stderr"):
        missing.append("llama_cpp.llama.suppress_stdout_stderr")
    if llama is not None:
        missing += [f"Llama.{name}" for name in _LLAMA_ATTRIBUTES if not hasattr(llama, name)]
        context = getattr(llama, "_ctx", None)
        if context is not None and not hasattr(context, "ctx"):
            missing.append("Llama._ctx.ctx")
        model = getattr(llama, "_model", None)
        if model is not None and not hasattr(model, "token_get_text"):
            missing.append("Llama._model.token_get_text")
    if missing:
        version = getattr(llama_cpp, "__version__", "?")
        raise IncompatibleLlamaCpp(
            f"llama-cpp-python {version} lacks internals Hermes Studio relies on ({', '.join(missing)}); "
            f"it was tested with {TESTED_VERSIONS}. Install a tested version: pip install 'llama-cpp-python<0.4'."
        )


def evaluated_tokens(llama: Llama) -> int:
    """How many tokens the context holds (prompt + generated, but the last sampled one)."""
    return int(llama.n_tokens)


def cached_prefix(llama: Llama, tokens: list[int]) -> int:
    """How many of the prompt's tokens (all but the last, which is always evaluated) the KV cache holds."""
    cached = 0
    for held, wanted in zip(llama._input_ids, tokens[:-1], strict=False):
        if held != wanted:
            break
        cached += 1
    return cached


def read_prompt(
    llama: Llama,
    tokens: list[int],
    cached: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[int, int], None] | None,
) -> bool:
    """Process a long prompt batch by batch, reporting progress; False if Stop came first.

    llama-cpp-python would process it in one call, silently. Here every token but the last is
    evaluated first, one batch at a time; ``create_completion`` then finds them in the KV cache
    (its prefix match) and evaluates only the last. Prompts of one batch or less go straight through.
    """
    batch = llama.n_batch
    end = len(tokens) - 1
    if on_progress is None or end - cached <= batch:
        return True
    llama.n_tokens = cached  # eval() drops whatever the cache holds past this point
    position = cached
    on_progress(position, len(tokens))
    try:
        while position < end:
            following = min(end, position + batch)
            llama.eval(tokens[position:following])
            position = following
            on_progress(position, len(tokens))
            if should_stop():
                return False
    except RuntimeError:  # llama_decode aborted by Stop (see PromptAbort)
        if should_stop():
            return False
        raise
    return True


STOPPING_A_PROMPT = threading.Event()  # set from llama.cpp's abort callback until the request ends


class PromptAbort:
    """Lets Stop interrupt llama.cpp while it processes the prompt, which takes minutes for a long chat on a CPU.

    llama.cpp asks its abort callback between the nodes of each compute graph. The callback is Python (it
    takes the GIL), so it is installed only until the first token arrives: prompt batches are long and few,
    tokens are short and many. An aborted batch is taken out of the KV cache by llama.cpp, and
    llama-cpp-python's own token count never included it, so the next request reuses what was processed.
    """

    def __init__(self, llama: Llama, should_stop: Callable[[], bool], needed: bool = True) -> None:
        self._llama_cpp = import_llama_cpp()
        self._context = llama._ctx.ctx
        self._should_stop = should_stop
        self._callback: Any = None
        if needed:
            self._callback = self._llama_cpp.ggml_abort_callback(self._check)
            self._llama_cpp.llama_set_abort_callback(self._context, self._callback, None)

    def _check(self, _data: Any) -> bool:
        if self._should_stop():
            STOPPING_A_PROMPT.set()
            return True
        return False

    def guard(self, chunks: Iterator[Any]) -> Iterator[Any]:
        """``chunks``, ending quietly where llama.cpp gave up because Stop was pressed."""
        try:
            yield from chunks
        except RuntimeError as exc:  # llama-cpp-python: "llama_decode returned 2" (aborted)
            if not self._should_stop():
                raise
            log.info("stopped while processing the prompt (%s)", exc)

    def remove(self) -> None:
        if self._callback is not None:
            self._llama_cpp.llama_set_abort_callback(self._context, self._llama_cpp.ggml_abort_callback(), None)
            self._callback = None
            STOPPING_A_PROMPT.clear()


def token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama._model.token_get_text(token)  # the same call llama-cpp-python makes for its own formatter


@functools.cache
def import_llama_cpp() -> Any:
    """Import llama_cpp once, routing llama.cpp's log to Python logging.

    ``Llama(verbose=False)`` redirects the *process's* stdout and stderr (fds 1 and 2) while it
    loads (llama-cpp-python #796, #1874), which silences every other thread. The engine turns
    that redirection off and sends llama.cpp's own log to the ``llama.cpp`` logger instead.
    """
    import contextlib

    import llama_cpp
    import llama_cpp.llama as llama_module

    llama_module.suppress_stdout_stderr = lambda disable=True: contextlib.nullcontext()  # type: ignore[misc,return-value,assignment]
    native_log = logging.getLogger("llama.cpp")
    # ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous line)
    levels = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
    last_level = [logging.DEBUG]

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, _user_data: Any) -> None:
        python_level = last_level[0] if level == 5 else levels.get(level, logging.DEBUG)
        if STOPPING_A_PROMPT.is_set():  # llama.cpp reports an aborted batch as a failure: it was Stop
            python_level = min(python_level, logging.INFO)
        last_level[0] = python_level
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            native_log.log(python_level, "%s", message)

    llama_cpp.llama_log_set(forward, None)
    import_llama_cpp.log_callback = forward  # type: ignore[attr-defined]  # keeps the ctypes callback alive
    return llama_cpp


def json_schema_grammar(schema: dict[str, Any] | None) -> str:
    """A GBNF grammar for replies that are JSON (``schema`` None: any JSON object) matching ``schema``.

    llama-cpp-python's own converter (``llama_grammar.json_schema_to_gbnf``, a port of llama.cpp's);
    a schema it cannot convert raises ``ValueError`` with its reason.
    """
    import json

    import_llama_cpp()
    from llama_cpp import llama_grammar

    if schema is None:
        return str(llama_grammar.JSON_GBNF)
    try:
        return str(llama_grammar.json_schema_to_gbnf(json.dumps(schema)))
    except (KeyError, TypeError, ValueError, RecursionError, NotImplementedError, AssertionError) as exc:
        raise ValueError(f"this JSON schema cannot be turned into a grammar ({exc!r})") from None
