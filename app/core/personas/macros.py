"""SillyTavern's common macros, resolved at send time: ``{{user}}``, ``{{char}}``, ``{{persona}}``, ``{{time}}``,
``{{date}}``, ``{{weekday}}``, ``{{isodate}}``, ``{{isotime}}``, ``{{idle_duration}}``, ``{{random:a,b}}`` (or
``{{random::a::b}}``), ``{{roll:d20}}`` / ``{{roll:2d6+1}}``, ``{{newline}}``, ``{{// comment}}`` (removed), and
the V1 ``<USER>``/``<BOT>``. Unknown macros are left as written. Random choices come from the turn's seed, so the
preview and the reply agree.
"""

from __future__ import annotations

import datetime
import random
import re
from dataclasses import dataclass, field

_MACRO = re.compile(r"\{\{(//[\s\S]*?|[^{}]{1,500})\}\}|<(USER|BOT)>", re.IGNORECASE)
_ROLL = re.compile(r"^(\d{0,3})d(\d{1,6})([+-]\d{1,6})?$", re.IGNORECASE)


@dataclass
class MacroContext:
    user: str = "User"
    char: str = ""
    persona: str = ""  # the user persona's description
    seed: int = 0
    now: datetime.datetime = field(default_factory=datetime.datetime.now)
    idle_seconds: float | None = None  # since the user's last message; None: just now


def resolve(text: str, context: MacroContext) -> str:
    """``text`` with every known macro replaced."""
    if "{{" not in text and "<" not in text:
        return text
    rng = random.Random(f"macros:{context.seed}")

    def replace(match: re.Match[str]) -> str:
        if match.group(2):
            return context.user if match.group(2).upper() == "USER" else context.char
        body = match.group(1).strip()
        if body.startswith("//"):
            return ""
        name, _, argument = body.partition(":")
        name = name.strip().lower()
        value = _simple(name, context)
        if value is not None:
            return value
        if name == "random" and argument:
            choices = argument[1:].split("::") if argument.startswith(":") else argument.split(",")
            return rng.choice([choice.strip() for choice in choices])
        if name == "roll" and argument:
            return _roll(argument.strip(), rng) or match.group(0)
        return match.group(0)

    return _MACRO.sub(replace, text)


def _simple(name: str, context: MacroContext) -> str | None:
    now = context.now
    values = {
        "user": context.user,
        "char": context.char,
        "persona": context.persona,
        "time": now.strftime("%H:%M"),
        "date": now.strftime("%B %d, %Y").replace(" 0", " "),
        "weekday": now.strftime("%A"),
        "isotime": now.strftime("%H:%M"),
        "isodate": now.strftime("%Y-%m-%d"),
        "idle_duration": _duration(context.idle_seconds),
        "newline": "\n",
        "trim": "",
    }
    return values.get(name)


def _roll(spec: str, rng: random.Random) -> str | None:
    match = _ROLL.match(spec if "d" in spec.lower() else f"d{spec}")
    if not match:
        return None
    count = int(match.group(1) or 1)
    sides = int(match.group(2))
    if not 1 <= count <= 100 or sides < 1:
        return None
    return str(sum(rng.randint(1, sides) for _ in range(count)) + int(match.group(3) or 0))


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds < 45:
        return "just now"
    minutes = seconds / 60
    if minutes < 60:
        return f"{round(minutes)} minutes"
    hours = minutes / 60
    return f"{round(hours)} hours" if hours < 48 else f"{round(hours / 24)} days"
