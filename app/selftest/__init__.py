"""``hermes-studio --self-test``: prove that this build (from source, frozen or installed) can do each thing the app
does, as named steps, each with its own pass/fail line. Used by ``make package-test`` on the frozen app and the
installed package, and by the release workflow on every OS it builds.

Steps live in ``steps.py`` (headless, on the core), ``window.py`` (the real window chatting offscreen) and
``probe_server.py`` (a minimal MCP server the app starts from its own executable).
"""
