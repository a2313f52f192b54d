"""Every use of llama-cpp-python's internals, in one place.

The engine needs a few things llama-cpp-python does not offer as API: the tokens in the KV cache
(``Llama._input_ids``, ``Llama.n_tokens``), the raw context for llama.cpp's abort callback
(``Llama._ctx.ctx``), a token's text (``Llama._model``) and turning off its process-wide stdout/stderr
redirection (``llama_cpp.llama.suppress_stdout_stderr``). They are private, so a release may change them:
``check_internals()`` says so in one clear message (a test calls it), and pyproject pins an upper bound.

ggml's device API, which llama-cpp-python does not bind, is declared in ``ggml_devices``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from app.core.engines.ggml_devices import load_backend_modules
from app.core.errors import HermesError

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger("app.core.engines.llama_engine")

TESTED_VERSIONS = "0.3.8 to 0.3.x"
_LLAMA_ATTRIBUTES = (
    "_input_ids",
    "n_tokens",
    "_ctx",
    "_model",
    "eval",
    "n_batch",
    "tokenize",
    "create_completion",
    "draft_model",
    "_logits_all",
    "scores",
    "sample",
)  # fmt: skip  (the last four: prompt_lookup)
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


def embedding_sequences(llama: Llama) -> int:
    """How many texts one embedding decode may hold (llama-cpp-python sets n_seq_max for embedding mode)."""
    return max(1, int(getattr(getattr(llama, "context_params", None), "n_seq_max", 1) or 1))


def evaluated_tokens(llama: Llama) -> int:
    """How many tokens the context holds (prompt + generated, but the last sampled one)."""
    return int(llama.n_tokens)


def cached_prefix(llama: Llama, tokens: list[int], *, exact: bool = False) -> int:
    """How many of the prompt's tokens (all but the last, which is always evaluated) the KV cache holds.

    ``exact``: the context's state cannot be cut back (a recurrent or hybrid model), so it serves only if all it
    holds is a prefix of the prompt (else 0: the prompt is read from its start)."""
    cached = 0
    for held, wanted in zip(llama._input_ids, tokens[:-1], strict=False):
        if held != wanted:
            break
        cached += 1
    return 0 if exact and cached < llama.n_tokens else cached


def read_prompt(
    llama: Llama,
    tokens: list[int],
    cached: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[int, int], None] | None,
) -> bool:
    """Evaluate every token of the prompt but the last, batch by batch (reporting a long prompt's progress); False
    if Stop came first.

    ``create_completion`` then finds them in the KV cache (its prefix match) and evaluates only the last token,
    alone. So the last token is always read alone, after the same batches of ``n_batch`` from wherever the read
    started: a state saved after ``tokens[:-1]`` and restored later gives the very logits a cold read gives
    (llama.cpp's CPU kernels give a token slightly other logits inside a batch than alone, and a near-tie would
    flip a greedy reply). ``cached``: how many tokens the context holds already (``cached_prefix``).
    """
    batch = llama.n_batch
    end = len(tokens) - 1
    llama.n_tokens = cached  # eval() drops whatever the cache holds past this point
    report = on_progress if on_progress is not None and end - cached > batch else None
    position = cached
    if report is not None:
        report(position, len(tokens))
    try:
        while position < end:
            following = min(end, position + batch)
            llama.eval(tokens[position:following])
            position = following
            if report is not None:
                report(position, len(tokens))
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
        self.fired = False  # llama.cpp gave up a decode (a recurrent state may then be half-updated)
        if needed:
            self._callback = self._llama_cpp.ggml_abort_callback(self._check)
            self._llama_cpp.llama_set_abort_callback(self._context, self._callback, None)

    def _check(self, _data: Any) -> bool:
        if self._should_stop():
            STOPPING_A_PROMPT.set()
            self.fired = True
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


def vocabulary_flags(llama: Llama) -> tuple[bool, bool, int]:
    """The GGUF's ``tokenizer.ggml.add_bos_token`` and ``add_eos_token`` as llama.cpp read them (with its defaults
    for the vocabulary type where a file says nothing), and the end-of-turn token (-1: none)."""
    llama_cpp = import_llama_cpp()
    vocab = llama._model.vocab
    add_bos, add_eos = llama_cpp.llama_vocab_get_add_bos(vocab), llama_cpp.llama_vocab_get_add_eos(vocab)
    return bool(add_bos), bool(add_eos), int(llama_cpp.llama_vocab_eot(vocab))


@functools.cache
def builtin_templates() -> tuple[str, ...]:
    """The names of llama.cpp's built-in chat templates ("chatml", "gemma", "llama3", "vicuna", …)."""
    import ctypes

    llama_cpp = import_llama_cpp()
    count = int(llama_cpp.llama_chat_builtin_templates(None, 0))
    names = (ctypes.c_char_p * max(count, 0))()
    llama_cpp.llama_chat_builtin_templates(names, count)
    return tuple(name.decode("utf-8", "replace") for name in names if name)


def apply_builtin_template(name: str, messages: Sequence[Mapping[str, Any]], add_assistant: bool) -> str:
    """``messages`` rendered by llama.cpp's built-in template ``name`` (never with BOS: that is the tokenizer's)."""
    import ctypes

    if name not in builtin_templates():  # llama.cpp would read any other text as a template to detect
        raise ValueError(f"llama.cpp has no built-in chat template named {name!r}")
    llama_cpp = import_llama_cpp()
    encoded = [
        (str(m["role"]).encode("utf-8"), str(m.get("content") or "").replace("\x00", "").encode("utf-8"))
        for m in messages
    ]
    chat = (llama_cpp.llama_chat_message * len(encoded))(*(llama_cpp.llama_chat_message(r, c) for r, c in encoded))
    size = llama_cpp.llama_chat_apply_template(name.encode(), chat, len(encoded), add_assistant, None, 0)
    if size < 0:
        raise ValueError(f"llama.cpp's {name} chat template refused this conversation")
    buffer = ctypes.create_string_buffer(size + 1)
    written = llama_cpp.llama_chat_apply_template(name.encode(), chat, len(encoded), add_assistant, buffer, size + 1)
    return buffer.raw[: max(0, min(written, size))].decode("utf-8", "replace")


def _defer_template_compiles(chat_format: Any) -> None:
    """``Llama()`` compiles every chat template in a file's metadata with plain Jinja, unbounded in time, and raises
    a raw ``TemplateSyntaxError`` for a broken one (issue 28, items 9 and 21). The app renders templates itself, in
    its bounded sandbox; llama-cpp-python's formatters are compiled only if one is ever used.
    """
    eager = chat_format.Jinja2ChatFormatter
    if getattr(eager, "_hermes_lazy", False):
        return

    class LazyFormatter(eager):  # type: ignore[misc,valid-type]
        """Stands for a ``Jinja2ChatFormatter`` (a subclass: it reads class attributes by name); the real one is
        made, its template compiled, on first use."""

        _hermes_lazy = True

        def __init__(self, **kwargs: Any) -> None:  # no super().__init__: that is the compile
            self._kwargs, self._real = kwargs, None

        def _formatter(self) -> Any:
            if self._real is None:
                self._real = eager(**self._kwargs)
            return self._real

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return self._formatter()(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._formatter(), name)

        def to_chat_handler(self) -> Any:
            def handler(*args: Any, **kwargs: Any) -> Any:
                return self._formatter().to_chat_handler()(*args, **kwargs)

            return handler

    chat_format.Jinja2ChatFormatter = LazyFormatter


def control_token_texts(llama: Llama) -> tuple[str, ...]:
    """The texts of the vocabulary's control (and unknown) tokens: what tokenizing with ``special=True`` parses."""
    llama_cpp = import_llama_cpp()
    model = llama._model
    wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    found = []
    for token in range(model.n_vocab()):
        if llama_cpp.llama_vocab_get_attr(model.vocab, token) & wanted:
            text = model.token_get_text(token)
            if len(text) > 1:
                found.append(text)
    return tuple(sorted(set(found), key=len, reverse=True))


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
    _defer_template_compiles(llama_module.llama_chat_format)
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
    load_backend_modules()
    return llama_cpp


def supports_gpu_offload() -> bool:
    """Whether this llama.cpp can put layers on a GPU at all (a GPU backend is built in and has a device)."""
    return bool(import_llama_cpp().llama_supports_gpu_offload())


def model_layer_count(llama: Llama) -> int:
    return int(import_llama_cpp().llama_model_n_layer(llama._model.model))


def json_schema_grammar(schema: dict[str, Any] | None) -> str:
    """A GBNF grammar for replies that are JSON (``schema`` None: any JSON object) matching ``schema``.

    llama-cpp-python's own converter (``llama_grammar.json_schema_to_gbnf``, a port of llama.cpp's) with its
    ``$ref`` handling replaced: it skipped the ``$defs`` beside a root ``$ref`` (pydantic's recursive models)
    and named each ref's rule after its last segment, so a recursive ref could point at another rule of the
    same name. Call it on a schema ``schema_bounds.check`` passed, in a child process (``grammar_build``).
    A schema it cannot convert raises ``ValueError`` with its reason.
    """
    import json

    import_llama_cpp()
    from llama_cpp import llama_grammar

    if schema is None:
        return str(llama_grammar.JSON_GBNF)
    # As upstream llama.cpp: "\." in a pattern is a literal dot (the port wrote "\." into GBNF, which it refuses).
    llama_grammar.ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS.update("^$.")

    class Converter(llama_grammar.SchemaConverter):
        def resolve_refs(self, root: dict[str, Any], url: str) -> dict[str, Any]:
            todo: list[Any] = [root]
            while todo:
                node = todo.pop()
                if isinstance(node, dict):
                    ref = node.get("$ref")
                    if isinstance(ref, str) and ref.startswith("#/"):
                        target: Any = root
                        for part in ref[2:].split("/"):
                            key = part.replace("~1", "/").replace("~0", "~")
                            target = target[int(key)] if isinstance(target, list) else target[key]
                        self._refs[ref] = target
                    elif ref is not None:
                        raise ValueError(f"unsupported $ref {ref!r}")
                    todo.extend(node.values())
                elif isinstance(node, list):
                    todo.extend(node)
            return root

        def _resolve_ref(self, ref: str) -> str:
            names: dict[str, str] = self.__dict__.setdefault("_ref_names", {})
            if ref not in names:
                base = "ref-" + llama_grammar.INVALID_RULE_CHARS_RE.sub("-", ref.rsplit("/", 1)[-1])
                name, i = base, 0
                while name in self._rules or name in names.values():
                    i, name = i + 1, f"{base}{i}"
                names[ref] = name
                self.visit(self._refs[ref], name)
            return names[ref]

    try:
        converter = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
        converter.visit(converter.resolve_refs(json.loads(json.dumps(schema)), ""), "")
        return str(converter.format_grammar())
    except (KeyError, TypeError, ValueError, IndexError, RecursionError, NotImplementedError, AssertionError) as exc:
        raise ValueError(f"this JSON schema cannot be turned into a grammar ({exc!r})") from None


def grammar_compiles(text: str) -> bool:
    """Whether llama.cpp's grammar parser accepts ``text`` (it prints why not). Only for a grammar that
    ``gbnf_bounds.check`` passed: a parser crash takes the process with it (``grammar_build`` runs this in a
    child first)."""
    bindings = import_llama_cpp().llama_cpp
    sampler = bindings.llama_sampler_init_grammar(None, text.encode("utf-8"), b"root")
    if not sampler:
        return False
    bindings.llama_sampler_free(sampler)
    return True


@contextlib.contextmanager
def load_progress(report: Callable[[float], bool] | None) -> Iterator[None]:
    """While a ``Llama`` is created here, llama.cpp reports its loading (0.0 to 1.0) to ``report``; False cancels.

    llama-cpp-python's constructor takes no progress callback, so the model parameters it asks llama.cpp for
    get one: ``llama_model_default_params`` is wrapped for the duration (one loader at a time: the engine thread).
    """
    if report is None:
        yield
        return
    bindings = import_llama_cpp().llama_cpp
    original = bindings.llama_model_default_params

    def checked(progress: float, _data: Any) -> bool:
        try:
            return bool(report(float(progress)))
        except Exception:  # a callback that fails must not take llama.cpp down: it cancels the load
            log.exception("load progress callback failed")
            return False

    callback = bindings.llama_progress_callback(checked)

    def with_progress() -> Any:
        params = original()
        params.progress_callback = callback
        return params

    bindings.llama_model_default_params = with_progress
    try:
        yield
    finally:
        bindings.llama_model_default_params = original
