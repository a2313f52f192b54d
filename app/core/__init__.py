"""Everything a headless Hermes Studio needs. Must never import Qt (a test enforces it)."""
