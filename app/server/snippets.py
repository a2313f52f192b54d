"""The endpoint cheat sheet: copyable ``curl`` and Python snippets that call this server for the loaded model.

Pure text (the Server page shows it, tests run it): a base URL, a model id and whether an API key is needed.
A key is never written into a snippet: it is read from ``HERMES_API_KEY`` in the caller's environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

KEY_VARIABLE = "HERMES_API_KEY"
PROMPT = "Say hello in five words."


@dataclass(frozen=True)
class Snippet:
    title: str
    language: str  # "shell" or "python"
    code: str


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def snippets(base_url: str, model: str, *, api_key: bool) -> list[Snippet]:
    """Snippets for ``base_url`` (ending in ``/v1``) and ``model``; ``api_key``: the server wants one."""
    model = model or "MODEL"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}]}, ensure_ascii=False)
    auth = f' \\\n  -H "Authorization: Bearer ${KEY_VARIABLE}"' if api_key else ""
    key = f'os.environ["{KEY_VARIABLE}"]' if api_key else '"not-needed"'
    imports = "import os\n\n" if api_key else ""
    client = f"{imports}from openai import OpenAI\n\nclient = OpenAI(base_url={json.dumps(base_url)}, api_key={key})\n"
    messages = f'[{{"role": "user", "content": {json.dumps(PROMPT)}}}]'
    return [
        Snippet(
            "curl: chat",
            "shell",
            f'curl {base_url}/chat/completions \\\n  -H "Content-Type: application/json"{auth} \\\n'
            f"  -d {_shell_quote(body)}",
        ),
        Snippet("curl: models", "shell", f"curl {base_url}/models" + (auth.replace(" \\\n ", "") if api_key else "")),
        Snippet(
            "Python (openai)",
            "python",
            client + f"reply = client.chat.completions.create(\n    model={json.dumps(model)},\n"
            f"    messages={messages},\n)\nprint(reply.choices[0].message.content)\n",
        ),
        Snippet(
            "Python, streaming",
            "python",
            client + f"stream = client.chat.completions.create(\n    model={json.dumps(model)},\n"
            f"    messages={messages},\n    stream=True,\n)\nfor chunk in stream:\n"
            "    if chunk.choices and chunk.choices[0].delta.content:\n"
            '        print(chunk.choices[0].delta.content, end="", flush=True)\nprint()\n',
        ),
    ]
