"""How the app reaches the Hub: endpoint and token (looked up here, once), huggingface_hub's settings, errors."""

from __future__ import annotations

import os
from typing import Any

from app.core.errors import HermesError


def configure_hub_environment() -> None:
    """Settings huggingface_hub reads when it is first imported; a face calls this before (or ``hub_api`` does).

    Plain HTTP with Range requests (no Xet) keeps downloads resumable and cancellable by the app; no telemetry.
    The user's own values win.
    """
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")


class HubError(HermesError):
    """The Hub could not answer (and why, for people)."""


class HubOffline(HubError):
    """No network (or HF_HUB_OFFLINE): the Discover page shows an "offline" state."""


class HubAuthError(HubError):
    """A gated or private repo: a token is needed."""


def hub_endpoint(endpoint: str | None = None) -> str | None:
    """An explicit endpoint, else ``$HF_ENDPOINT`` read now (huggingface_hub reads it once, at import)."""
    return endpoint or os.environ.get("HF_ENDPOINT") or None


def hub_token(token: str | None = None) -> str | None:
    """An explicit token, else ``$HF_TOKEN`` (gated models)."""
    return token or os.environ.get("HF_TOKEN") or None


def hub_api(endpoint: str | None = None, token: str | None = None) -> Any:
    configure_hub_environment()
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(endpoint), token=hub_token(token))


def translate_error(exc: Exception, what: str) -> HubError:
    """A huggingface_hub / network exception as a message for people."""
    from huggingface_hub import errors

    if isinstance(exc, HubError):
        return exc  # already said for people (a bound of app.core.hub.bounds, say)
    name = type(exc).__name__
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return HubOffline("Offline mode is on (HF_HUB_OFFLINE): the Hub cannot be searched. Your models still work.")
    if isinstance(exc, errors.GatedRepoError):
        return HubAuthError(
            f"{what}: this model needs a Hugging Face token "
            "(it is gated: accept its terms on the Hub, then set HF_TOKEN)."
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return HubError(f"{what}: no such repository (or it is private and needs a Hugging Face token).")
    if isinstance(exc, errors.RevisionNotFoundError):
        return HubError(f"{what}: no such branch or revision.")
    if isinstance(exc, errors.EntryNotFoundError):
        return HubError(f"{what}: no such file in the repository.")
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return HubAuthError(f"{what}: this model needs a Hugging Face token (HF_TOKEN).")
        if status == 429:
            return HubError(f"{what}: the Hub is rate-limiting requests; try again in a minute.")
        return HubError(f"{what}: the Hub answered with an error ({status or name}).")
    if "connect" in name.lower() or "timeout" in name.lower() or isinstance(exc, OSError):
        return HubOffline(f"{what}: the Hub cannot be reached ({name}). Check your connection; your models still work.")
    return HubError(f"{what}: {exc}")
