"""The core's vocabulary, its lowest layer: message and sampling types, prompt formats, the template sandbox, the
context policy, and the bounds on what clients send (``schema_bounds`` a JSON schema before it becomes a grammar,
``gbnf_bounds`` a GBNF grammar before llama.cpp parses it; JSON itself is ``app.core.bounded_json``, a layer lower,
because settings read it too). Imports nothing else of app.core but errors/atomic."""
