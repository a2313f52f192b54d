"""The core's vocabulary, its lowest layer: message and sampling types, prompt formats, the template sandbox, the
context policy, and the bounds on what users and clients send. Imports nothing else of app.core but errors/atomic."""
