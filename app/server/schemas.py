"""OpenAI request bodies, checked by hand into typed parameters (every refusal is a 400 naming the field).

Supported fields are listed in ``CHAT_FIELDS`` / ``COMPLETION_FIELDS``; ``REFUSED`` are fields OpenAI
defines that this server cannot honour: asking for them is a 400 rather than a silently different answer.
Unknown fields are ignored, as OpenAI's own SDKs expect of compatible servers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from app.core.bounded_json import JsonLimitError, loads
from app.core.media.images import CheckedImage, ImageRefused, parse_data_url, read_image_file
from app.core.prompting.prompt_formats import ChatMessage
from app.server import tool_calls
from app.server.errors import ApiError, bad_request

# field -> why it is refused
REFUSED = {
    "tools": "tool calling is only supported in chat completions",
    "tool_choice": "tool calling is only supported in chat completions",
    "functions": "function calling is not supported",
    "function_call": "function calling is not supported",
    "logit_bias": "logit_bias is not supported",
    "audio": "audio output is not supported",
    "modalities": "only text output is supported",
    "prediction": "predicted outputs are not supported",
    "echo": "echo is not supported",
    "suffix": "suffix (fill-in-the-middle) is not supported",
}
TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty")
CHAT_FIELDS = (
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "stop", "seed",
    "response_format", "n", "logprobs", "top_logprobs", "user", *TOOL_FIELDS, *SAMPLING_FIELDS,
)  # fmt: skip
COMPLETION_FIELDS = (
    "model", "prompt", "stream", "stream_options", "max_tokens", "stop", "seed", "n", "best_of", "logprobs", "user",
    *SAMPLING_FIELDS,
)  # fmt: skip
_RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.0, 10.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}

# Bounds of a request body, each far above what a real client sends (the body itself is capped at 32 MiB).
MAX_DEPTH = 64  # nesting of the body; a chat with a JSON schema nests about 20 levels
MAX_MESSAGES = 10_000  # messages of one chat (a 128k-token context holds a few thousand short turns)
MAX_PARTS = 1_000  # content parts of one message
MAX_STOPS = 4  # OpenAI's own limit
MAX_STOP_CHARS = 1_000  # one stop string
MAX_NAME_CHARS = 1_000  # a model id
MAX_IMAGES = 16  # images of one request (each up to 20 MB: media.images)


@dataclass
class GenerationParams:
    """What one chat or completion request asks for."""

    model: str
    stream: bool = False
    include_usage: bool = False
    messages: list[ChatMessage] = field(default_factory=list)  # chat
    prompt: str = ""  # completions
    sampling: dict[str, Any] = field(default_factory=dict)  # only the fields the client set
    json_schema: dict[str, Any] | None = None
    json_mode: bool = False  # response_format json_object or json_schema
    tools: tool_calls.ToolRequest | None = None  # chat: tools the model may call (tool_calls.py)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body, parsed with a depth limit that holds before anything is built (no RecursionError)."""
    try:
        body = loads(raw, max_bytes=len(raw), max_depth=MAX_DEPTH, what="The request body")
    except JsonLimitError as exc:
        raise ApiError(400, str(exc), code="request_too_deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def parse_chat(body: dict[str, Any], allow_local_files: bool = False) -> GenerationParams:
    """``allow_local_files``: ``image_url`` parts may name ``file://`` paths here (``--allow-local-files``)."""
    tool_fields = {name: body.pop(name) for name in TOOL_FIELDS if name in body}
    params = _common(body)
    params.tools = tool_calls.parse_fields(tool_fields)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of messages.", "messages")
    if len(messages) > MAX_MESSAGES:
        raise bad_request(
            f"'messages' has {len(messages):,} messages, above the limit of {MAX_MESSAGES:,}.", "messages"
        )
    params.messages = [_message(m, i, allow_local_files) for i, m in enumerate(messages)]
    if sum(len(m.get("images", ())) for m in params.messages) > MAX_IMAGES:
        raise bad_request(f"A request may carry at most {MAX_IMAGES} images.", "messages", code="too_many_images")
    for name in ("max_tokens", "max_completion_tokens"):  # the newer name wins where both are given
        if body.get(name) is not None:
            params.sampling["max_tokens"] = _int(body[name], name, 1)
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad_request("logprobs are not supported.", "logprobs", code="unsupported_parameter")
    _response_format(body.get("response_format"), params)
    return params


def parse_completion(body: dict[str, Any]) -> GenerationParams:
    params = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string (one prompt per request).", "prompt")
    params.prompt = prompt
    if body.get("max_tokens") is not None:
        params.sampling["max_tokens"] = _int(body["max_tokens"], "max_tokens", 1)
    if body.get("best_of") not in (None, 1):
        raise bad_request("best_of must be 1.", "best_of", code="unsupported_parameter")
    if body.get("logprobs") not in (None, 0):
        raise bad_request("logprobs are not supported.", "logprobs", code="unsupported_parameter")
    return params


def _common(body: dict[str, Any]) -> GenerationParams:
    for name, why in REFUSED.items():
        if body.get(name) not in (None, [], {}):
            raise bad_request(f"'{name}': {why} by this server.", name, code="unsupported_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > MAX_NAME_CHARS:
        raise bad_request("'model' must be a model id (see GET /v1/models).", "model")
    params = GenerationParams(model=model.strip())
    params.stream = _bool(body.get("stream", False), "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", "stream_options")
        params.include_usage = _bool(options.get("include_usage", False), "stream_options.include_usage")
    if body.get("n") not in (None, 1):
        raise bad_request("n must be 1: this server writes one choice per request.", "n", code="unsupported_parameter")
    for name in SAMPLING_FIELDS:
        if body.get(name) is None:
            continue
        if name == "top_k":
            params.sampling[name] = _int(body[name], name, 0)
            continue
        low, high = _RANGES[name]
        params.sampling[name] = _number(body[name], name, low, high)
    if body.get("seed") is not None:
        params.sampling["seed"] = _int(body["seed"], "seed", -(2**63)) % 2**32  # llama.cpp takes 32 bits
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(_stop(s) for s in stops):
            raise bad_request(
                f"'stop' must be a string or an array of up to {MAX_STOPS} non-empty strings "
                f"of at most {MAX_STOP_CHARS:,} characters.",
                "stop",
            )
        params.sampling["stop"] = tuple(stops)
    return params


def _message(message: Any, index: int, allow_local_files: bool = False) -> ChatMessage:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise bad_request(f"{where} must be an object with 'role' and 'content'.", where)
    role = message.get("role")
    role = _ROLES.get(role) if isinstance(role, str) else None
    if role is None:
        raise bad_request(
            f"{where}.role must be system, developer, user, assistant or tool.",
            f"{where}.role",
        )
    content = message.get("content")
    has_calls = role == "assistant" and message.get("tool_calls") not in (None, [])
    if content is None and has_calls:
        content = ""
    images: list[CheckedImage] = []
    if isinstance(content, list):  # content parts: text, and images in a user's message
        if len(content) > MAX_PARTS:
            raise bad_request(f"{where}.content has more than {MAX_PARTS:,} parts.", f"{where}.content")
        texts = []
        for number, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image_url" and role == "user":
                images.append(_image(part.get("image_url"), f"{where}.content[{number}]", allow_local_files))
                continue
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                said = "text and (in a user's message) image_url" if role == "user" else "text"
                raise bad_request(f"{where}.content: only {said} parts are supported.", f"{where}.content")
            texts.append(part["text"])
        content = "".join(texts)
    if not isinstance(content, str):
        raise bad_request(f"{where}.content must be a string or an array of text parts.", f"{where}.content")
    if role == "tool" or has_calls:
        return tool_calls.chat_message(message, role, content, where)
    if images:
        return {"role": role, "content": content, "images": images}  # type: ignore[typeddict-item]
    return {"role": role, "content": content}  # type: ignore[typeddict-item]


def _image(value: Any, where: str, allow_local_files: bool) -> CheckedImage:
    """An ``image_url`` part's image: a ``data:`` URL, or a ``file://`` path where the server allows them; never
    fetched from the network. Checked by ``media.images`` (a 400 naming the part when refused)."""
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise bad_request(f"{where}.image_url must be an object with a 'url'.", where)
    try:
        if url.startswith("data:"):
            return parse_data_url(url)
        if url.startswith("file://"):
            if not allow_local_files:
                raise bad_request(f"{where}: file:// images are refused unless the server runs with "
                                  "--allow-local-files.", where, code="local_files_refused")  # fmt: skip
            return read_image_file(url.removeprefix("file://"))
    except ImageRefused as exc:
        raise bad_request(f"{where}: {exc}", where, code="invalid_image") from None
    raise bad_request(f"{where}: this server does not fetch images from the network; send the image as a base64 "
                      "data: URL (data:image/png;base64,...).", where, code="invalid_image")  # fmt: skip


def _response_format(value: Any, params: GenerationParams) -> None:
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        params.json_mode = True
        return
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise bad_request("response_format.json_schema.schema must be a JSON schema object.", "response_format")
        params.json_mode, params.json_schema = True, schema
        return
    raise bad_request("response_format.type must be text, json_object or json_schema.", "response_format")


def _stop(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_STOP_CHARS


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be true or false.", name)
    return value


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.", name)
    if value < low:
        raise bad_request(f"'{name}' must be at least {low}.", name)
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number.", name)
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}.", name)
    return float(value)
