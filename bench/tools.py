"""Tools: how long a call waits for its result, and what the server's tool-call path costs a stream.

- from a tool call's last token to the tool's result: the real engine writes a named call (grammar-held, as the
  window does for a forced call), ``run_rounds`` parses it, checks its arguments and runs it on a local stdio MCP
  server (``mcp-server-time``, started once) through ``McpHub``; timed from the reply's end (its last token, the
  end-of-text one, decoded) to the result event, and from its last text piece (one decode more). The user's
  approval is not in it (the tool is allowed).
- the server's tool-call streaming overhead: the same server streams a reply with ``tools`` (``tool_choice``
  auto: the reply passes the call gate and the tool stream) and without (the same prompt text: the tool
  instructions sent as the system message), interleaved A/B; tokens/s after the first token, from the server's
  own ``usage``. The ratio with / without is the overhead (1.0: none).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, cast

from bench.common import LONG_PROMPT, SAMPLING, Figure, Section, median, starter_model

if TYPE_CHECKING:
    from app.core.engines.service import EngineService

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                               "required": ["city"]}}}  # fmt: skip


class _Timed:
    """The service as ``run_rounds`` sees it, noting when each piece arrives."""

    def __init__(self, service: Any) -> None:
        self._service = service
        self.last_piece = self.ended = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def generate(self, request: Any, on_piece: Any) -> Any:
        def piece(text: str) -> None:
            self.last_piece = time.perf_counter()
            on_piece(text)

        return _Ended(self, self._service.generate(request, piece))


class _Ended:
    """A ticket whose ``result()`` notes when the reply ended (its last token, the end of text, decoded)."""

    def __init__(self, timed: _Timed, ticket: Any) -> None:
        self._timed, self._ticket = timed, ticket

    def result(self, timeout: float | None = None) -> Any:
        stats = self._ticket.result(timeout)
        self._timed.ended = time.perf_counter()
        return stats


def _call_to_result(service: Any, calls: int) -> tuple[list[float], list[float], float]:
    from app.core.engines.service import GenerationRequest
    from app.core.prompting.types import Sampling
    from app.core.tools.mcp_client import McpHub
    from app.core.tools.mcp_config import parse_config
    from app.core.tools.rounds import RoundEvents, run_rounds
    from app.core.tools.specs import ChoiceMode, ToolChoice

    config = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
    timed = _Timed(service)
    waits: list[float] = []
    from_text: list[float] = []
    with McpHub(parse_config({"mcpServers": {"time": config}})) as hub:
        started = time.perf_counter()
        specs = [tool.spec for tool in hub.tools() if tool.name == "get_current_time"]
        first_use = time.perf_counter() - started

        def execute(call: Any) -> tuple[str, bool]:
            result = hub.call(call.name, call.arguments_object())
            return result.text, result.is_error

        def result(_call: Any, _text: str, _error: bool) -> None:
            now = time.perf_counter()
            waits.append(now - timed.ended)
            from_text.append(now - timed.last_piece)

        request = GenerationRequest([{"role": "user", "content": "What time is it in Tokyo?"}],
                                    Sampling(max_tokens=48, temperature=0.0, seed=1))  # fmt: skip
        for _ in range(calls + 1):  # the first is a warm-up (the grammar is built and cached)
            run_rounds(
                cast("EngineService", timed), request, specs, ToolChoice(ChoiceMode.NAMED, specs[0].name),
                approve=lambda _call: True, execute=execute, events=RoundEvents(result=result), max_rounds=1,
            )  # fmt: skip
    return waits[1:], from_text[1:], first_use


def _stream_rate(client: Any, model: str, tools: bool, max_tokens: int) -> float:
    from app.core.prompting.tool_prompt import hermes_instructions

    extra: dict[str, Any] = {k: SAMPLING[k] for k in ("top_k", "min_p", "repeat_penalty")}
    messages: list[Any] = [{"role": "user", "content": LONG_PROMPT}]
    if tools:
        extra.update(tools=[WEATHER_TOOL], tool_choice="auto")
    else:  # the very prompt the server renders for the tools (the starter's ChatML cannot show them itself)
        messages.insert(0, {"role": "system", "content": hermes_instructions([WEATHER_TOOL])})
    first = last = 0.0
    tokens = 0
    stream = client.chat.completions.create(
        model=model, messages=messages, max_tokens=max_tokens, stream=True,
        temperature=0.0, top_p=0.95, seed=1, stream_options={"include_usage": True}, extra_body=extra,
    )  # fmt: skip
    for chunk in stream:
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
        if chunk.choices and (chunk.choices[0].delta.content or chunk.choices[0].delta.tool_calls):
            now = time.perf_counter()
            first = first or now
            last = now
    return (tokens - 1) / (last - first) if last > first and tokens > 1 else 0.0


def run(quick: bool = False) -> Section:
    import openai

    from app.core.engines.load_options import LoadOptions
    from app.core.engines.service import EngineService
    from app.server.app import ServerOptions
    from app.server.runner import ServerRunner

    calls, rounds, max_tokens = (2, 1, 24) if quick else (12, 12, 200)
    service = EngineService()
    loaded = service.load(starter_model(), LoadOptions(context_size=2048)).result()
    try:
        waits, from_text, first_use = _call_to_result(service, calls)
        runner = ServerRunner(service, ServerOptions(port=0)).start()
        try:
            client = openai.OpenAI(base_url=runner.url, api_key="bench", max_retries=0, timeout=600)
            model = loaded.info.path.stem
            _stream_rate(client, model, True, 8), _stream_rate(client, model, False, 8)  # warm both prompts
            plain: list[float] = []
            with_tools: list[float] = []
            for _ in range(rounds):
                plain.append(_stream_rate(client, model, False, max_tokens))
                with_tools.append(_stream_rate(client, model, True, max_tokens))
        finally:
            runner.stop()
    finally:
        service.close()
    ratio = median(with_tools) / median(plain) if median(plain) else 0.0
    waits_ms = sorted(wait * 1000 for wait in waits)
    return Section(
        "Tools: a call's last token to its result; the server's tool-call streaming overhead",
        "python -m bench tools",
        [
            Figure("MCP stdio server (mcp-server-time): first use, start and list", first_use * 1000, "ms"),
            Figure(
                "call's last token (end of text) → tool result, median",
                median(waits_ms),
                "ms",
                "< 100",
                median(waits_ms) < 100,
            ),
            Figure("call's last token (end of text) → tool result, worst", waits_ms[-1] if waits_ms else 0.0, "ms"),
            Figure(
                "call's last text piece → tool result (one more decode: the end token), median",
                median(from_text) * 1000,
                "ms",
            ),
            Figure("server streaming, plain", median(plain), "tok/s"),
            Figure("server streaming with tools (auto: call gate and tool stream on)", median(with_tools), "tok/s"),
            Figure("tool-call streaming / plain streaming", ratio, "x", "≥ 0.97", ratio >= 0.97),
        ],
        notes=f"{len(waits)} named calls after a warm-up (each: parse, schema check, McpHub.call over stdio); "
        f"{rounds} interleaved A/B rounds of up to {max_tokens} tokens through the openai client, tokens/s after "
        "the first token from the server's usage; medians. Both prompts are the same text (the plain request carries "
        "the tool instructions the server would render), so the difference is the tool path alone.",
    )
