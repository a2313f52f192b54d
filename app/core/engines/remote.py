"""A model that runs elsewhere: any server speaking OpenAI's chat API (llama-server, vLLM, Ollama, LM Studio,
another Hermes Studio) behind the same methods the ``EngineService`` calls on a local ``Engine``.

The service owns it exactly as it owns a llama.cpp engine (one thread, first come first served), so the
window, the CLI and the local server chat through it unchanged. The differences are spelled here:

- ``load(model_id)`` checks that the server lists the model; it loads nothing here;
- the prompt format is the server's (the preview shows the messages sent, and says so);
- Stop closes the HTTP stream (a watcher closes the socket within 0.1 s, even mid-read);
- stats come from the server's ``usage`` where it sends one, else they are measured here (tokens = pieces);
- a server that is down, refuses, or goes silent for ``read_timeout`` seconds raises ``RemoteEngineError``
  with the cause: never a hang.

Only the standard library is used (``http.client``): one request at a time needs nothing more.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.core.engines.interface import Embeddings, EngineCapabilities, Generation, LoadedModel
from app.core.engines.load_options import LoadOptions
from app.core.errors import HermesError, NoModelLoaded
from app.core.library.gguf_file import GGUFInfo
from app.core.prompting.context import ContextPolicy
from app.core.prompting.media import openai_message, with_media_markers
from app.core.prompting.parts import Thought
from app.core.prompting.prompt_formats import CHATML_TEMPLATE, ChatMessage, PromptFormat, RenderedPrompt
from app.core.prompting.tool_prompt import hermes_call_text
from app.core.prompting.types import FinishReason, GenerationStats, Sampling

if TYPE_CHECKING:
    from app.core.engines.state_cache import StateCache

REMOTE_FORMAT_NAME = "the server's own format"
REMOTE_NOTE = "This model runs on a remote server, which applies its own prompt format; shown: the messages sent."
MAX_CALLS = 64  # tool calls one streamed reply may carry
MAX_CALL_CHARS = 1 << 20  # the arguments of all of them together


class RemoteEngineError(HermesError):
    """The remote engine could not be reached, refused the request, or stopped answering."""


def api_base(url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` (or any path ending in /v1) → the ``/v1`` base, no slash."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RemoteEngineError(f"{url!r} is not an http:// or https:// address.")
    return url if parts.path.endswith("/v1") else f"{url}/v1"


class _Connection:
    """One HTTP request to the remote API (JSON in, JSON or server-sent events out)."""

    def __init__(self, base: str, api_key: str, connect_timeout: float, read_timeout: float) -> None:
        self.base = base
        parts = urlsplit(base)
        self._prefix = parts.path
        factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = factory(parts.netloc, timeout=connect_timeout)
        self._read_timeout = read_timeout
        self._headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> http.client.HTTPResponse:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        try:
            self._conn.request(method, self._prefix + path, body=data, headers=self._headers)
            if self._conn.sock is not None:
                self._conn.sock.settimeout(self._read_timeout)
            response = self._conn.getresponse()
        except TimeoutError:
            self.close()
            raise RemoteEngineError(f"The engine at {self.base} did not answer in time.") from None
        except OSError as exc:
            self.close()
            raise RemoteEngineError(f"Could not reach the engine at {self.base}: {exc}.") from None
        if response.status >= 400:
            detail = _error_detail(response.read(64 << 10))
            self.close()
            raise RemoteEngineError(f"The engine at {self.base} refused the request (HTTP {response.status}): {detail}")
        return response

    def shutdown(self) -> None:
        """From another thread: make any blocked read return at once."""
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._conn.close()


def _error_detail(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") or error.get("detail") if isinstance(error, dict) else error
        return str(message or body)[:500]
    except ValueError:
        return raw.decode("utf-8", "replace").strip()[:500] or "no details"


def list_models(url: str, api_key: str = "", timeout: float = 10.0) -> list[str]:
    """The ids the server's ``GET /v1/models`` lists."""
    connection = _Connection(api_base(url), api_key, timeout, timeout)
    try:
        response = connection.request("GET", "/models")
        try:
            body = json.loads(response.read(16 << 20))
            return [str(entry["id"]) for entry in body["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteEngineError(
                f"The engine at {connection.base} sent an unreadable model list ({exc!r})."
            ) from None
    except TimeoutError:
        raise RemoteEngineError(f"The engine at {connection.base} did not answer in time.") from None
    except (OSError, http.client.HTTPException) as exc:  # the connection dropped while the list was read
        raise RemoteEngineError(f"The engine at {connection.base} dropped the connection ({exc!r}).") from None
    finally:
        connection.close()


def _remote_info(model_id: str, base: str) -> GGUFInfo:
    return GGUFInfo(
        path=Path(model_id), version=0, file_size=0, tensor_count=0,
        metadata={"general.name": model_id, "general.architecture": "remote", "hermes.remote_base": base},
    )  # fmt: skip


class RemoteEngine:
    """One OpenAI-compatible endpoint; ``load(model_id)`` picks which of its models answers (implements ``Engine``)."""

    # vision: images are forwarded as image_url parts; a server whose model cannot see answers with its own error
    # tools: sent as ``tools``/``tool_choice``; the server's streamed calls come back as Hermes call text
    capabilities = EngineCapabilities(
        remote=True, grammar=False, vision=True, tools=True, reasoning_format="reasoning_content"
    )

    def __init__(
        self, url: str, api_key: str = "", *, name: str = "", connect_timeout: float = 10.0, read_timeout: float = 120.0
    ) -> None:
        self.loaded: LoadedModel | None = None
        self.base = api_base(url)
        self.api_key = api_key
        self.name = name or urlsplit(self.base).netloc
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.state_cache: StateCache | None = None  # the server keeps its own prompt cache
        self.reserved_bytes = 0  # nothing of this machine's memory is fitted: the model runs on the server
        self._model_id = ""
        self._remote_format: PromptFormat | None = None

    def models(self) -> list[str]:
        return list_models(self.base, self.api_key, self.connect_timeout)

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        on_progress: Callable[[float], bool] | None = None,
    ) -> LoadedModel:
        """Choose ``path`` (a model id the server lists); nothing is loaded here (no progress to report)."""
        model_id = str(path)
        started = time.perf_counter()
        available = self.models()
        if model_id not in available:
            raise RemoteEngineError(
                f"The engine at {self.base} has no model {model_id!r} (it has: {', '.join(available) or 'none'})."
            )
        self._model_id = model_id
        self.loaded = LoadedModel(
            info=_remote_info(model_id, self.base),
            context_size=0,  # not told by the OpenAI API
            load_seconds=time.perf_counter() - started,
            prompt_format=REMOTE_FORMAT_NAME,
            remote=True,
        )
        return self.loaded

    def unload(self) -> None:
        self._model_id, self.loaded = "", None

    def prompt_format(self, choice: str = "auto", custom_template: str = "") -> PromptFormat:
        """The server formats prompts itself; what is returned here only names that and previews the messages."""
        if self.loaded is None:
            raise NoModelLoaded("Choose a model of the remote engine first.")
        if self._remote_format is None:
            self._remote_format = PromptFormat(REMOTE_FORMAT_NAME, CHATML_TEMPLATE, note=REMOTE_NOTE)
        return self._remote_format

    def render_prompt(
        self, messages: Sequence[ChatMessage], prompt_format: PromptFormat | None = None
    ) -> RenderedPrompt:
        return (prompt_format or self.prompt_format()).render(messages)

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # the server's tokenizer is not reachable: an estimate

    def embed(self, texts: Sequence[str], should_stop: Callable[[], bool] = lambda: False) -> Embeddings:
        raise RemoteEngineError(f"{self.name} is a chat engine here: embeddings come from a local embedding model.")

    def stream(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling = Sampling(),
        should_stop: Callable[[], bool] = lambda: False,
        prompt_format: PromptFormat | None = None,
        *,
        context_policy: str = ContextPolicy.STOP,
        continue_text: str = "",
        on_prompt_progress: Callable[[int, int], None] | None = None,
        grammar: str = "",
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Generation:
        if self.loaded is None:
            raise NoModelLoaded("Choose a model of the remote engine first.")
        sent = list(messages)
        if continue_text:
            sent.append({"role": "assistant", "content": continue_text})
        preview = self.prompt_format().render(with_media_markers(sent), tools)
        prompt = RenderedPrompt(
            text=preview.text, stop=(), added_special=False, format_name=REMOTE_FORMAT_NAME, notes=(REMOTE_NOTE,)
        )
        body: dict[str, Any] = {
            "model": self._model_id,
            "messages": [openai_message(message) for message in sent],  # images as image_url parts
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "presence_penalty": sampling.presence_penalty,
            "frequency_penalty": sampling.frequency_penalty,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if tools:  # the server renders and forces them; its calls come back as delta.tool_calls
            body["tools"] = list(tools)
            body["tool_choice"] = tool_choice or "auto"
        elif grammar:
            body["grammar"] = grammar  # llama-server's extension; others ignore it
        options = (prompt_format or self.prompt_format()).options
        if options.effort:
            body["reasoning_effort"] = options.effort
        if options.enable_thinking is not None:  # vLLM's and llama-server's way to the template's switch
            body["chat_template_kwargs"] = {"enable_thinking": options.enable_thinking}
        generation = Generation(pieces=iter(()), prompt=prompt)
        connection = _Connection(self.base, self.api_key, self.connect_timeout, self.read_timeout)
        started = time.perf_counter()
        try:
            response = connection.request("POST", "/chat/completions", body)
        except RemoteEngineError:
            if should_stop():
                generation.stats.finish_reason = FinishReason.CANCELLED
                return generation
            raise
        generation.pieces = self._read_stream(connection, response, should_stop, generation.stats, started)
        return generation

    def _read_stream(
        self,
        connection: _Connection,
        response: http.client.HTTPResponse,
        should_stop: Callable[[], bool],
        stats: GenerationStats,
        started: float,
    ) -> Iterator[str]:
        finished = threading.Event()

        def watch() -> None:  # Stop closes the stream even while a read blocks
            while not finished.wait(0.05):
                if should_stop():
                    connection.shutdown()
                    return

        watcher = threading.Thread(target=watch, name="remote-stop", daemon=True)
        watcher.start()
        finish = ""
        first = 0.0
        pieces = 0
        usage: dict[str, Any] = {}
        calls = _StreamedCalls()
        try:
            ended = False
            for event in _events(response):
                if event is None:
                    ended = True
                    break
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    # DeepSeek, vLLM and llama-server send reasoning_content; OpenRouter and newer vLLM reasoning
                    thought = delta.get("reasoning_content") or delta.get("reasoning") or ""
                    if isinstance(thought, str) and thought:
                        first = first or time.perf_counter()
                        pieces += 1
                        yield Thought(thought)
                    text = delta.get("content") or choice.get("text") or ""
                    if text:
                        first = first or time.perf_counter()
                        pieces += 1
                        yield text
                    if delta.get("tool_calls"):
                        first = first or time.perf_counter()
                        pieces += calls.add(delta["tool_calls"])
                    finish = choice.get("finish_reason") or finish
                if should_stop():
                    break
            if calls.calls and not should_stop():
                yield calls.text()  # what a local engine's reply holds: the tool layer parses it the same way
            if not (ended or finish or should_stop()):
                raise ConnectionResetError("the stream ended before the reply did")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if not should_stop():
                message = "stopped answering" if isinstance(exc, TimeoutError) else f"broke off ({exc!r})"
                raise RemoteEngineError(f"The engine at {self.base} {message}.") from None
        finally:
            finished.set()
            connection.close()
            end = time.perf_counter()
            stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            stats.generated_tokens = int(usage.get("completion_tokens") or pieces)
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict):
                stats.reasoning_tokens = int(details.get("reasoning_tokens") or 0)
            stats.ttft_s = (first or end) - started
            stats.total_s = end - started
            stats.finish_reason = FinishReason.CANCELLED if should_stop() else _finish(finish)


class _StreamedCalls:
    """``delta.tool_calls`` put together: per ``index``, the id and name of its first fragment, then the arguments'
    pieces in order (how the ``openai`` client assembles them)."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}
        self._chars = 0

    def add(self, fragments: Any) -> int:
        """Take one delta's fragments; how many there were."""
        if not isinstance(fragments, list):
            raise ValueError("delta.tool_calls is not an array")
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, dict):
                raise ValueError("a delta.tool_calls entry is not an object")
            index = fragment.get("index", position)
            if not isinstance(index, int):
                raise ValueError("a delta.tool_calls entry has no integer index")
            if index not in self.calls and len(self.calls) >= MAX_CALLS:
                raise ValueError(f"the reply holds more than {MAX_CALLS} tool calls")
            call = self.calls.setdefault(index, {"name": "", "arguments": ""})
            function = fragment.get("function")
            if not isinstance(function, dict):
                function = {}
            name, arguments = function.get("name"), function.get("arguments")
            if isinstance(name, str) and name and not call["name"]:
                call["name"] = name
            if isinstance(arguments, str):
                self._chars += len(arguments)
                if self._chars > MAX_CALL_CHARS:
                    raise ValueError(f"the tool calls' arguments are longer than {MAX_CALL_CHARS:,} characters")
                call["arguments"] += arguments
        return len(fragments)

    def text(self) -> str:
        """The calls in Hermes 2 Pro's text form, in index order (unreadable arguments stay text: the parser says)."""
        return "\n".join(hermes_call_text(c["name"], c["arguments"] or "{}") for _, c in sorted(self.calls.items()))


def _finish(value: str) -> str:
    return FinishReason.LENGTH if value == "length" else FinishReason.STOP


def _events(response: http.client.HTTPResponse) -> Iterator[dict[str, Any] | None]:
    """The JSON payloads of a server-sent event stream; None at ``[DONE]``."""
    data: list[str] = []
    while True:
        raw = response.readline(1 << 20)
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            payload = "\n".join(data)
            data = []
            if payload == "[DONE]":
                yield None
                return
            event = json.loads(payload)
            if isinstance(event, dict) and "error" in event:
                raise ValueError(_error_detail(payload.encode()))
            if isinstance(event, dict):
                yield event
