"""Hermes Studio: a desktop chat application for local LLMs."""

from importlib import metadata

try:
    __version__ = metadata.version("hermes-studio")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

APP_NAME = "Hermes Studio"
APP_ID = "hermes-studio"
