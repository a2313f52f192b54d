"""The local OpenAI-compatible server: Hermes Studio's engine, reachable from other programs over HTTP.

Starlette (routing, CORS) on uvicorn; the engine is the window's or the CLI's ``EngineService``, so API
requests queue behind a chat in the window, first come first served. See docs/server.md.
"""
