"""The command line, one package: ``main`` parses the command line and hands each command to its module, which adds its
own options (``add_parser``) and does the work: ``chat`` (which chat runs, and the plain one), ``group`` (``chat
--group``), ``tools`` (``chat --mcp``), ``terminal`` (a turn streamed to the terminal), ``model_args`` (the model a
command names, its load options), ``chats`` (the history), ``personas`` / ``user_personas`` (presets, lorebooks,
``prompt``, your personas), ``knowledge`` (documents), ``library`` (models, Hub, downloads, setup), ``engine_info``
(devices, saved states), ``serve`` (the server and remote engines)."""

from app.cli.main import main

__all__ = ["main"]
