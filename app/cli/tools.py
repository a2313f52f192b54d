"""`hermes-studio chat --mcp FILE`: a chat whose model may call the tools of MCP servers.

Calls and results are shown on stderr as they happen (`→ call`, `← result`), the reply on stdout. A call runs only
if `--allow-tools` names its tool (or says `all`); otherwise an interactive terminal asks, and a non-interactive
chat refuses it, says which tool was asked for, and tells the model. Tool rounds are capped (`--max-tool-rounds`).
The turn goes through a ``ChatSession`` as a plain chat's does: with `--save` (or `--chat ID`, to continue one) the
calls and results are kept in the history as the reply's parts, exactly as the window keeps them, and the next
turn sends them back to the model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.terminal import turn_from_arguments
from app.cli.text import message_text
from app.core.chat.session import ChatSession
from app.core.chat.tool_turn import run_tool_turn
from app.core.engines import state_cache
from app.core.engines.llama_engine import LlamaEngine
from app.core.engines.remote import RemoteEngine
from app.core.engines.service import EngineService
from app.core.errors import HermesError
from app.core.history.store import ChatStore
from app.core.paths import AppPaths
from app.core.personas.presets import PresetLibrary
from app.core.settings import Settings
from app.core.tools.mcp_client import McpError, McpHub, ToolResult
from app.core.tools.mcp_config import SEPARATOR, load_config
from app.core.tools.rounds import RoundEvents, describe
from app.core.tools.specs import ToolCall, ToolError, parse_choice

SHOWN_RESULT_CHARS = 300


class Approvals:
    """--allow-tools, then the terminal's answer (once / always / no), or a refusal when no one can be asked."""

    def __init__(self, allowed: str, interactive: bool) -> None:
        names = {name.strip() for name in allowed.split(",") if name.strip()}
        self.all = "all" in names
        self.always = names - {"all"}
        self.interactive = interactive

    def __call__(self, call: ToolCall) -> bool:
        if self.all or call.name in self.always:
            return True
        if not self.interactive:
            print(
                f"refused: the model asked for the tool {call.name!r}; pass --allow-tools {call.name} (or all) "
                "to let it run",
                file=sys.stderr,
            )
            return False
        answer = _ask(f"Allow {describe(call)}? [y]es once, [a]lways, [N]o: ").strip().lower()
        if answer in ("a", "always"):
            self.always.add(call.name)
        return answer in ("y", "yes", "a", "always")


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline()


def chat_with_tools(args: argparse.Namespace, paths: AppPaths, settings: Settings, model: Path | None) -> int:
    """``model``: a GGUF file, or None for ``--engine``'s model ``--model`` (a remote engine gets the tools sent)."""
    from app.cli.model_args import load_options  # the same load options as a plain chat

    if args.max_tool_rounds < 1:
        raise HermesError("--max-tool-rounds must be at least 1.")
    library = PresetLibrary(paths.presets_dir)
    preset = library.get(args.preset) if args.preset else None
    configs = load_config(args.mcp)
    approvals = Approvals(args.allow_tools, interactive=sys.stdin.isatty() and sys.stderr.isatty())
    with McpHub(configs) as hub:
        tools = hub.tools()
        for name, error in hub.errors.items():
            print(f"warning: MCP server {name!r}: {error}", file=sys.stderr)
        specs = [tool.spec for tool in tools]
        if not specs:
            raise HermesError(f"No MCP server in {args.mcp.name} offers a tool.")
        try:
            choice = parse_choice(args.tool_choice, specs, "--tool-choice")
        except ToolError as exc:
            raise HermesError(str(exc)) from None
        print(f"tools: {', '.join(spec.name for spec in specs)}", file=sys.stderr)
        store = ChatStore(paths.chats_db) if (args.save or args.chat) else None
        if model is None:
            service = EngineService(RemoteEngine(args.engine, args.api_key))
        else:
            service = EngineService(LlamaEngine(state_cache.from_settings(paths.state_cache_dir, settings)))
        try:
            session = ChatSession(store, describe_preset=library.name_of)
            if store is not None and args.chat:
                session.open(args.chat)
            if model is None:
                service.load(args.model).result()
            else:
                service.load(model, load_options(args, paths, settings, model)).result()
            prompt_format = (preset.prompt_format, preset.custom_template) if preset else ("auto", "")
            name = args.model if model is None else model.stem
            turn = turn_from_arguments(args, session, preset, name, prompt_format=prompt_format)
            request = session.send(message_text(args.message), turn)
            outcome = run_tool_turn(
                session, service, request, specs, choice, approve=approvals, run_tool=lambda call: _run(hub, call),
                events=_events(), server_of=_server_of, max_rounds=args.max_tool_rounds,
            )  # fmt: skip
        finally:
            service.close()
            if store is not None:
                store.close()
    sys.stdout.write("\n")
    stats = outcome.stats
    print(f"{len(outcome.calls)} tool calls · {outcome.rounds} rounds · {stats.generated_tokens} tokens in the last "
          f"round · {stats.finish_reason}", file=sys.stderr)  # fmt: skip
    if session.save_error:
        print(f"hermes-studio: {session.save_error}", file=sys.stderr)
        return 1
    if store is not None:
        print(f"saved in chat {session.chat_id}", file=sys.stderr)
    return 0


def _server_of(name: str) -> str:
    return name.partition(SEPARATOR)[0] if SEPARATOR in name else ""


def _run(hub: McpHub, call: ToolCall) -> ToolResult:
    try:
        return hub.call(call.name, call.arguments_object())
    except McpError as exc:
        return ToolResult(str(exc), is_error=True)


def _events() -> RoundEvents:
    def text(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    def result(call: ToolCall, output: str, error: bool) -> None:
        shown = output if len(output) <= SHOWN_RESULT_CHARS else output[:SHOWN_RESULT_CHARS] + "…"
        print(f"← {'error: ' if error else ''}{shown}", file=sys.stderr)

    return RoundEvents(
        text=text,
        call=lambda call: print(f"→ {describe(call)}", file=sys.stderr),
        result=result,
        note=lambda note: print(f"note: {note}", file=sys.stderr),
    )
