"""What every self-test step gets and how it fails: the ``Probe`` (the model, a scratch folder, an engine service
loaded on first use), the ``Step`` record, and ``check``. A module of its own so that the steps' modules
(``steps``, ``media_steps``) import it and never each other back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.engines.load_options import LoadOptions
from app.core.engines.service import EngineService

OPTIONS = LoadOptions(context_size=2048)


class StepFailed(Exception):
    """A step's check did not hold (the message says what was expected and what came)."""


@dataclass
class Probe:
    """What every step may use; the service is loaded once, on the first step that needs it."""

    model: Path
    scratch: Path
    _service: EngineService | None = field(default=None, repr=False)

    @property
    def service(self) -> EngineService:
        if self._service is None:
            service = EngineService(name="self-test")
            try:
                service.load(self.model, OPTIONS).result()
            except BaseException:
                service.close()
                raise
            self._service = service
        return self._service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    run: Callable[[Probe], str]
    in_window: bool = False  # runs in the Qt window (the last step), not headless


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)
