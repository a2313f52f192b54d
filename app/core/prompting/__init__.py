"""The core's vocabulary layer: pure Python, standard library and ``app.core.errors`` only.

``bounded_json`` parses JSON from people and clients with depth and size limits; ``schema_bounds`` checks a
JSON schema before it becomes a grammar; ``gbnf_bounds`` checks a GBNF grammar before llama.cpp parses it.
"""
