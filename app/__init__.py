"""Hermes Studio: a desktop chat application for local LLMs."""

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it from here)

APP_NAME = "Hermes Studio"
APP_ID = "hermes-studio"
