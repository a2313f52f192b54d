"""The command line, one package: ``main`` parses and dispatches; ``library`` (models, Hub, downloads), ``serve``
(the server and remote engines), ``terminal`` (a turn streamed to the terminal) do the work."""

from app.cli.main import main

__all__ = ["main"]
