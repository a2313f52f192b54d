"""The few error types a user sees, each carrying a message written for people."""


class HermesError(Exception):
    """Base of every error whose message can be shown to a user as is."""


class ModelFileError(HermesError):
    """A file that is not a usable GGUF model (missing, truncated, corrupt, wrong format)."""


class ModelLoadError(HermesError):
    """llama.cpp refused to load a model that looked valid."""


class NoModelLoaded(HermesError):
    """A generation was requested while no model is loaded."""


class TemplateError(HermesError):
    """A chat template could not be rendered."""


class SetupError(HermesError):
    """The starter model or another setup step failed."""
